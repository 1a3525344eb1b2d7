// Package predefined builds GitLab's predefined CI/CD variables (runner-protocol.md
// §11) that only a server knows: the server's own, the project's and the commit's
// (known before a pipeline exists, so that rules can read them), the pipeline's and
// the job's (known once they exist). Variables the runner sets itself
// (CI_PROJECT_DIR, CI_JOB_STATUS, ...) are not here. Only internal/coordinator
// imports it.
package predefined

import (
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kiln-ci/kiln/internal/ci"
	"github.com/kiln-ci/kiln/internal/git"
	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/store"
)

// Server describes the coordinator as jobs see it.
type Server struct {
	// URL is the external URL without a trailing slash, e.g. http://127.0.0.1:8080.
	URL      *url.URL
	Version  string // e.g. 0.1.0
	Revision string
}

func pub(k, v string) jobspec.Variable { return jobspec.Variable{Key: k, Value: v, Public: true} }

// port returns the URL's port, or the scheme's default.
func (s Server) port() string {
	if p := s.URL.Port(); p != "" {
		return p
	}
	if s.URL.Scheme == "https" {
		return "443"
	}
	return "80"
}

// Base returns the server URL as a string, e.g. http://127.0.0.1:8080.
func (s Server) Base() string { return strings.TrimRight(s.URL.String(), "/") }

// ProjectURL is the project's web URL.
func (s Server) ProjectURL(p *store.Project) string { return s.Base() + "/" + p.FullPath }

// RepoURL is the project's clone URL without credentials.
func (s Server) RepoURL(p *store.Project) string { return s.Base() + "/" + p.FullPath + ".git" }

// RepoURLWithToken is the clone URL with the job token as GitLab puts it in git_info
// and CI_REPOSITORY_URL: http://gitlab-ci-token:<token>@host/group/project.git.
func (s Server) RepoURLWithToken(p *store.Project, token string) string {
	u := *s.URL
	u.User = url.UserPassword("gitlab-ci-token", token)
	u.Path = strings.TrimRight(u.Path, "/") + "/" + p.FullPath + ".git"
	return u.String()
}

// ServerVariables are CI_SERVER_* and CI_API_*.
func (s Server) ServerVariables() jobspec.Variables {
	host := s.URL.Hostname()
	major, minor, patch := splitVersion(s.Version)
	hostPort := host
	if s.URL.Port() != "" {
		hostPort = net.JoinHostPort(host, s.URL.Port())
	}
	return jobspec.Variables{
		pub("CI_SERVER_URL", s.Base()),
		pub("CI_SERVER_HOST", host),
		pub("CI_SERVER_PORT", s.port()),
		pub("CI_SERVER_PROTOCOL", s.URL.Scheme),
		pub("CI_SERVER_FQDN", hostPort),
		pub("CI_SERVER_SHELL_SSH_HOST", host),
		pub("CI_SERVER_NAME", "GitLab"),
		pub("CI_SERVER_VERSION", s.Version),
		pub("CI_SERVER_VERSION_MAJOR", major),
		pub("CI_SERVER_VERSION_MINOR", minor),
		pub("CI_SERVER_VERSION_PATCH", patch),
		pub("CI_SERVER_REVISION", s.Revision),
		pub("CI_API_V4_URL", s.Base()+"/api/v4"),
		pub("CI_API_GRAPHQL_URL", s.Base()+"/api/graphql"),
	}
}

func splitVersion(v string) (major, minor, patch string) {
	core, _, _ := strings.Cut(v, "-")
	parts := append(strings.SplitN(core, ".", 3), "0", "0", "0")
	return parts[0], parts[1], parts[2]
}

// ProjectVariables are CI_PROJECT_* and CI_CONFIG_PATH. namespaces are the project's
// namespace and its ancestors, top-level first (store.Namespaces.Ancestors).
func (s Server) ProjectVariables(p *store.Project, namespaces []store.Namespace) jobspec.Variables {
	ns, root := "", ""
	var nsID int64
	if n := len(namespaces); n > 0 {
		ns, nsID, root = namespaces[n-1].FullPath, namespaces[n-1].ID, namespaces[0].Path
	}
	title := p.Name
	if title == "" {
		title = p.Path
	}
	return jobspec.Variables{
		pub("CI_PROJECT_ID", strconv.FormatInt(p.ID, 10)),
		pub("CI_PROJECT_NAME", p.Path),
		pub("CI_PROJECT_TITLE", title),
		pub("CI_PROJECT_DESCRIPTION", p.Description),
		pub("CI_PROJECT_PATH", p.FullPath),
		pub("CI_PROJECT_PATH_SLUG", ci.Slug(p.FullPath)),
		pub("CI_PROJECT_NAMESPACE", ns),
		pub("CI_PROJECT_NAMESPACE_ID", strconv.FormatInt(nsID, 10)),
		pub("CI_PROJECT_ROOT_NAMESPACE", root),
		pub("CI_PROJECT_URL", s.ProjectURL(p)),
		pub("CI_PROJECT_VISIBILITY", p.Visibility),
		pub("CI_PROJECT_REPOSITORY_LANGUAGES", ""),
		pub("CI_CONFIG_PATH", p.CIConfigPath),
	}
}

// CommitVariables are the commit's CI_COMMIT_* variables that need the commit object
// (the compiler derives the ref and SHA ones from its context).
func CommitVariables(c git.Commit) jobspec.Variables {
	return jobspec.Variables{
		pub("CI_COMMIT_MESSAGE", c.Message),
		pub("CI_COMMIT_TITLE", c.Title()),
		pub("CI_COMMIT_DESCRIPTION", c.Description()),
		pub("CI_COMMIT_AUTHOR", c.Author()),
		pub("CI_COMMIT_TIMESTAMP", c.Timestamp()),
	}
}

// UserVariables are GITLAB_USER_* for the user who triggered the pipeline (none for
// a nil user).
func UserVariables(u *store.User) jobspec.Variables {
	if u == nil {
		return nil
	}
	return jobspec.Variables{
		pub("GITLAB_USER_ID", strconv.FormatInt(u.ID, 10)),
		pub("GITLAB_USER_LOGIN", u.Username),
		pub("GITLAB_USER_NAME", u.Name),
		pub("GITLAB_USER_EMAIL", u.Email),
	}
}

// PipelineVariables are CI_PIPELINE_*, known once the pipeline is stored.
func (s Server) PipelineVariables(p *store.Project, pl *store.Pipeline) jobspec.Variables {
	return jobspec.Variables{
		pub("CI_PIPELINE_ID", strconv.FormatInt(pl.ID, 10)),
		pub("CI_PIPELINE_IID", strconv.FormatInt(pl.IID, 10)),
		pub("CI_PIPELINE_URL", s.ProjectURL(p)+"/-/pipelines/"+strconv.FormatInt(pl.ID, 10)),
		pub("CI_PIPELINE_CREATED_AT", pl.CreatedAt.UTC().Format(time.RFC3339)),
	}
}

// JobVariables are the job's own: CI_JOB_ID, CI_JOB_URL, CI_JOB_TOKEN (masked, not
// public), CI_JOB_STARTED_AT, CI_JOB_MANUAL, CI_REPOSITORY_URL (not public, it holds
// the token) and CI_RUNNER_*.
func (s Server) JobVariables(p *store.Project, j *store.Job, token string, r *store.Runner) jobspec.Variables {
	secret := func(k, v string) jobspec.Variable { return jobspec.Variable{Key: k, Value: v, Masked: true} }
	vs := jobspec.Variables{
		pub("CI_JOB_ID", strconv.FormatInt(j.ID, 10)),
		pub("CI_JOB_URL", s.ProjectURL(p)+"/-/jobs/"+strconv.FormatInt(j.ID, 10)),
		secret("CI_JOB_TOKEN", token),
		secret("CI_BUILD_TOKEN", token),
		pub("CI_JOB_STARTED_AT", j.StartedAt.UTC().Format(time.RFC3339)),
		{Key: "CI_REPOSITORY_URL", Value: s.RepoURLWithToken(p, token)},
	}
	if j.When == store.WhenManual {
		vs = append(vs, pub("CI_JOB_MANUAL", "true"))
	}
	if r != nil {
		vs = append(vs,
			pub("CI_RUNNER_ID", strconv.FormatInt(r.ID, 10)),
			pub("CI_RUNNER_DESCRIPTION", r.Description),
			pub("CI_RUNNER_TAGS", strings.Join(r.Tags, ", ")),
		)
	}
	return vs
}
