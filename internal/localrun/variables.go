package localrun

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/kiln-ci/kiln/internal/ci"
	"github.com/kiln-ci/kiln/internal/jobspec"
)

// ParseVariables turns --variable KEY=VALUE arguments into pipeline variables (the
// variables of GitLab's "Run pipeline" form: the highest precedence). A value may
// hold anything, "=" and new lines included; the key must be a variable name.
func ParseVariables(args []string) (jobspec.Variables, error) {
	vs := make(jobspec.Variables, 0, len(args))
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return nil, fmt.Errorf("--variable %q is not KEY=VALUE", redactArg(a))
		}
		if !validKey(k) {
			return nil, fmt.Errorf("--variable %q: %q is not a variable name (letters, digits and _ only)", redactArg(a), k)
		}
		vs = append(vs, jobspec.Variable{Key: k, Value: v, Public: true})
	}
	return vs, nil
}

// redactArg keeps a bad argument's key and hides its value, which may be a secret.
func redactArg(a string) string {
	if k, _, ok := strings.Cut(a, "="); ok {
		return k + "=…"
	}
	if len(a) > 20 {
		return a[:20] + "…"
	}
	return a
}

func validKey(k string) bool {
	if k == "" {
		return false
	}
	for _, c := range k {
		if c != '_' && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// pipelineInfo is what identifies one kiln exec run.
type pipelineInfo struct {
	ID        int64
	CreatedAt time.Time
}

// compileContext is the pipeline context of a push of r's HEAD with the given
// pipeline variables: what GitLab would know when the push arrives.
func compileContext(r *Repo, p pipelineInfo, vars jobspec.Variables) ci.Context {
	return ci.Context{
		Ref:           r.Ref,
		Tag:           r.Tag,
		SHA:           r.SHA,
		BeforeSHA:     r.BeforeSHA,
		Source:        ci.SourcePush,
		DefaultBranch: r.DefaultBranch,
		ChangedFiles:  r.Changed,
		Files:         os.DirFS(r.Dir),
		Predefined:    predefined(r, p),
		Pipeline:      vars,
	}
}

// predefined are the project's and the pipeline's predefined variables that only a
// server would know; the commit's own (CI_COMMIT_SHA, CI_COMMIT_BRANCH, ...) come
// from the context, the runner's (CI_PROJECT_DIR, CI_BUILDS_DIR, ...) from the runner.
func predefined(r *Repo, p pipelineInfo) jobspec.Variables {
	var vs jobspec.Variables
	add := func(k, v string) { vs = append(vs, jobspec.Variable{Key: k, Value: v, Public: true}) }
	title, desc := splitMessage(r.Message)
	add("CI_COMMIT_MESSAGE", r.Message)
	add("CI_COMMIT_TITLE", title)
	add("CI_COMMIT_DESCRIPTION", desc)
	add("CI_COMMIT_AUTHOR", r.Author)
	add("CI_COMMIT_TIMESTAMP", r.Timestamp)
	add("CI_PROJECT_NAME", r.Name)
	add("CI_PROJECT_TITLE", r.Name)
	add("CI_PROJECT_NAMESPACE", r.Namespace)
	root, _, _ := strings.Cut(r.Namespace, "/")
	add("CI_PROJECT_ROOT_NAMESPACE", root)
	add("CI_PROJECT_PATH", r.Path())
	add("CI_PROJECT_PATH_SLUG", ci.Slug(r.Path()))
	add("CI_PROJECT_ID", strconv.Itoa(projectID))
	add("CI_PIPELINE_ID", strconv.FormatInt(p.ID, 10))
	add("CI_PIPELINE_IID", strconv.FormatInt(p.ID, 10))
	add("CI_PIPELINE_CREATED_AT", p.CreatedAt.UTC().Format(time.RFC3339))
	if r.Host != "" {
		add("CI_SERVER_HOST", r.Host)
		add("CI_SERVER_URL", "https://"+r.Host)
		add("CI_PROJECT_URL", r.URL)
		add("CI_PIPELINE_URL", fmt.Sprintf("%s/-/pipelines/%d", r.URL, p.ID))
	}
	add("GITLAB_USER_NAME", r.UserName)
	add("GITLAB_USER_EMAIL", r.UserEmail)
	add("GITLAB_USER_LOGIN", r.Login)
	add("GITLAB_USER_ID", r.UID)
	return vs
}

// projectID stands for the project's id, which only a GitLab server assigns.
const projectID = 1

// jobVariables are the predefined variables of one job: the lowest precedence, so
// the YAML may override them as on GitLab.
func jobVariables(r *Repo, id int64, started time.Time) jobspec.Variables {
	vs := jobspec.Variables{
		{Key: "CI_JOB_ID", Value: strconv.FormatInt(id, 10), Public: true},
		{Key: "CI_JOB_STARTED_AT", Value: started.UTC().Format(time.RFC3339), Public: true},
	}
	if r.URL != "" {
		vs = append(vs, jobspec.Variable{Key: "CI_JOB_URL", Value: fmt.Sprintf("%s/-/jobs/%d", r.URL, id), Public: true})
	}
	return vs
}

// splitMessage is GitLab's CI_COMMIT_TITLE (the first line) and
// CI_COMMIT_DESCRIPTION (the rest, without the blank line after the title).
func splitMessage(msg string) (title, desc string) {
	title, desc, _ = strings.Cut(msg, "\n")
	return title, strings.TrimLeft(desc, "\n")
}
