package runnerapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/coordinator"
	"github.com/kiln-ci/kiln/internal/coordinator/coordinatortest"
	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/store"
)

// response is an answer read whole.
type response struct {
	*http.Response
	body []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json (gitlab-runner ignores anything else)", ct)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decoding %s: %v", r.body, err)
	}
}

func (r response) wantStatus(t *testing.T, status int) {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d; body %s", r.Request.Method, r.Request.URL.Path, r.StatusCode, status, r.body)
	}
}

// call sends a request as gitlab-runner does: JSON bodies with
// Content-Type application/json, the headers given.
func call(t *testing.T, method, url string, headers map[string]string, body any) response {
	t.Helper()
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case []byte:
		rd, ctype = bytes.NewReader(b), "text/plain"
	case string:
		rd, ctype = strings.NewReader(b), "application/json"
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd, ctype = bytes.NewReader(data), "application/json"
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("User-Agent", "gitlab-runner 19.4.0 (main; go1.24; linux/amd64)")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{Response: resp, body: data}
}

// runnerInfo is the info object gitlab-runner 19.4 sends from the shell executor
// (runner-protocol.md §3.1, observed).
const runnerInfo = `{"name":"gitlab-runner","version":"19.4.0","revision":"d79f3e7b","platform":"linux",
"architecture":"amd64","executor":"shell","shell":"bash","features":{"variables":true,"image":false,"services":false,
"artifacts":true,"cache":true,"fallback_cache_keys":true,"shared":true,"upload_multiple_artifacts":true,
"upload_raw_artifacts":true,"session":true,"terminal":true,"refspecs":true,"masking":true,"proxy":false,
"raw_variables":true,"artifacts_exclude":true,"multi_build_steps":true,"trace_reset":true,"trace_checksum":true,
"trace_size":true,"vault_secrets":true,"cancelable":true,"return_exit_code":true,"service_variables":false,
"service_multiple_aliases":false,"image_executor_opts":false,"service_executor_opts":false,"cancel_gracefully":true,
"native_steps_integration":true,"two_phase_job_commit":true,"job_inputs":true},"config":{"gpus":""}}`

// env is a coordinator with a project and a hosted small runner.
type env struct {
	*coordinatortest.Env
	project *store.Project
	runner  *store.Runner
	token   string // the runner's glrt- token
}

func newEnv(t *testing.T, ci string, configure func(*coordinator.Config)) *env {
	e := coordinatortest.New(t, coordinatortest.Options{Configure: func(c *coordinator.Config) {
		c.LongPoll = 300 * time.Millisecond
		if configure != nil {
			configure(c)
		}
	}})
	g := e.Group(t, "group", machine.PlanPremium)
	p := e.Project(t, g, "project", map[string]string{".gitlab-ci.yml": ci, "README.md": "hello\n"})
	r, token := e.Runner(t, coordinator.CreateRunnerRequest{RunUntagged: true, Description: "shell runner"})
	return &env{Env: e, project: p, runner: r, token: token}
}

// request is POST /jobs/request as gitlab-runner sends it.
func (e *env) request(t *testing.T, lastUpdate string) response {
	t.Helper()
	body := `{"info":` + runnerInfo + `,"token":"` + e.token + `","system_id":"s_1746f8786189"`
	if lastUpdate != "" {
		body += `,"last_update":"` + lastUpdate + `"`
	}
	return call(t, "POST", e.URL+"/api/v4/jobs/request", map[string]string{"Runner-Token": e.token, "Accept": "application/json"}, body+"}")
}

// take requests a job and returns the 201 body.
func (e *env) take(t *testing.T) (specJob, []byte) {
	t.Helper()
	resp := e.request(t, "")
	resp.wantStatus(t, http.StatusCreated)
	var job specJob
	resp.json(t, &job)
	return job, resp.body
}

func jobHeaders(token string) map[string]string { return map[string]string{"Job-Token": token} }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

type coordinatorConfig = coordinator.Config

type storeVariable = store.Variable

func storeProjectOwner(id int64) store.VariableOwner { return store.ProjectOwner(id) }
