package predefined

import (
	"net/url"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/store"
)

func server(t *testing.T, raw string) Server {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return Server{URL: u, Version: "1.4.2-dev", Revision: "abcdef12"}
}

func wantVars(t *testing.T, vs jobspec.Variables, want map[string]string) {
	t.Helper()
	for k, v := range want {
		got, ok := vs.Lookup(k)
		if !ok || got != v {
			t.Errorf("%s = %q (present %v), want %q", k, got, ok, v)
		}
	}
}

func TestServerVariablesSplitTheURLAsGitLabDoes(t *testing.T) {
	wantVars(t, server(t, "https://ci.example.com").ServerVariables(), map[string]string{
		"CI_SERVER_URL": "https://ci.example.com", "CI_SERVER_HOST": "ci.example.com", "CI_SERVER_PORT": "443",
		"CI_SERVER_PROTOCOL": "https", "CI_SERVER_FQDN": "ci.example.com", "CI_API_V4_URL": "https://ci.example.com/api/v4",
		"CI_SERVER_VERSION_MAJOR": "1", "CI_SERVER_VERSION_MINOR": "4", "CI_SERVER_VERSION_PATCH": "2",
	})
	wantVars(t, server(t, "http://127.0.0.1:8080").ServerVariables(), map[string]string{
		"CI_SERVER_PORT": "8080", "CI_SERVER_FQDN": "127.0.0.1:8080", "CI_SERVER_HOST": "127.0.0.1",
	})
}

func TestProjectVariables(t *testing.T) {
	p := &store.Project{ID: 7, Name: "My App", Path: "my-app", FullPath: "acme/ml.team/my-app", Visibility: "private",
		CIConfigPath: ".gitlab-ci.yml"}
	nss := []store.Namespace{{ID: 1, Path: "acme", FullPath: "acme"}, {ID: 3, Path: "ml.team", FullPath: "acme/ml.team"}}
	wantVars(t, server(t, "http://h:1").ProjectVariables(p, nss), map[string]string{
		"CI_PROJECT_ID": "7", "CI_PROJECT_NAME": "my-app", "CI_PROJECT_TITLE": "My App",
		"CI_PROJECT_PATH": "acme/ml.team/my-app", "CI_PROJECT_PATH_SLUG": "acme-ml-team-my-app",
		"CI_PROJECT_NAMESPACE": "acme/ml.team", "CI_PROJECT_NAMESPACE_ID": "3", "CI_PROJECT_ROOT_NAMESPACE": "acme",
		"CI_PROJECT_URL": "http://h:1/acme/ml.team/my-app", "CI_PROJECT_VISIBILITY": "private",
	})
}

func TestJobVariablesHideTheTokenAndTheAuthenticatedRepositoryURL(t *testing.T) {
	s := server(t, "http://h:1")
	p := &store.Project{FullPath: "g/p"}
	j := &store.Job{ID: 42, When: store.WhenManual, StartedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	r := &store.Runner{ID: 9, Description: "gpu box", Tags: []string{"a", "b"}}
	vs := s.JobVariables(p, j, "glcbt-secret", r)
	wantVars(t, vs, map[string]string{"CI_JOB_ID": "42", "CI_JOB_URL": "http://h:1/g/p/-/jobs/42", "CI_JOB_MANUAL": "true",
		"CI_JOB_STARTED_AT": "2026-01-02T03:04:05Z", "CI_RUNNER_ID": "9", "CI_RUNNER_TAGS": "a, b",
		"CI_REPOSITORY_URL": "http://gitlab-ci-token:glcbt-secret@h:1/g/p.git"})
	for _, k := range []string{"CI_JOB_TOKEN", "CI_REPOSITORY_URL"} {
		if v, _ := vs.Find(k); v.Public {
			t.Errorf("%s is public", k)
		}
	}
	if v, _ := vs.Find("CI_JOB_TOKEN"); !v.Masked || v.Value != "glcbt-secret" {
		t.Errorf("CI_JOB_TOKEN %+v", v)
	}
}
