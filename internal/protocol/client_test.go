package protocol_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/protocol/protocoltest"
)

func newClient(t *testing.T, url string) *protocol.Client {
	t.Helper()
	c, err := protocol.NewClient(protocol.ClientConfig{URL: url, Retry: protocol.RetryPolicy{Base: time.Millisecond, Max: 10 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestAPIBaseStripsTrailingSlashAndCI(t *testing.T) {
	for in, want := range map[string]string{
		"https://gitlab.example.com":          "https://gitlab.example.com/api/v4/",
		"https://gitlab.example.com/":         "https://gitlab.example.com/api/v4/",
		"https://gitlab.example.com/ci":       "https://gitlab.example.com/api/v4/",
		"https://gitlab.example.com/ci/":      "https://gitlab.example.com/api/v4/",
		"http://127.0.0.1:8080/gitlab":        "http://127.0.0.1:8080/gitlab/api/v4/",
		" http://127.0.0.1:8080/gitlab/ci/  ": "http://127.0.0.1:8080/gitlab/api/v4/",
	} {
		u, err := protocol.APIBase(in)
		if err != nil || u.String() != want {
			t.Errorf("APIBase(%q) = %v, %v; want %s", in, u, err, want)
		}
	}
	for _, bad := range []string{"ftp://x", "gitlab.example.com", "http://", "https://user:secretpw@host"} {
		_, err := protocol.APIBase(bad)
		if err == nil {
			t.Errorf("APIBase(%q) accepted a bad URL", bad)
		} else if strings.Contains(err.Error(), "secretpw") {
			t.Errorf("APIBase error leaks a password: %v", err)
		}
	}
}

func TestVerifyCreatedRunnerToken(t *testing.T) {
	s := protocoltest.New(t, protocoltest.Options{})
	r := s.AddRunner("glrt-abcdefghijklmnop")
	c := newClient(t, s.URL)
	got, err := c.Verify(ctx(t), protocol.VerifyRunnerRequest{Token: r.Token, SystemID: "s_0123456789ab"})
	if err != nil || got.ID != r.ID || got.Token != r.Token {
		t.Fatalf("Verify = %+v, %v; want id %d", got, err, r.ID)
	}
	_, err = c.Verify(ctx(t), protocol.VerifyRunnerRequest{Token: "glrt-unknown-token-123"})
	if !errors.Is(err, protocol.ErrForbidden) {
		t.Fatalf("Verify(unknown) error = %v, want ErrForbidden", err)
	}
	if strings.Contains(err.Error(), "glrt-unknown-token-123") {
		t.Errorf("error leaks the token: %v", err)
	}
	req := s.Requests()[0]
	if req.Header.Get("Runner-Token") != r.Token || req.Header.Get("Content-Type") != "application/json" ||
		req.Header.Get("Accept") != "application/json" {
		t.Errorf("verify headers = %v", req.Header)
	}
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(req.Header.Get("X-Request-Id")) {
		t.Errorf("X-Request-Id = %q, want 32 hex digits", req.Header.Get("X-Request-Id"))
	}
	if !strings.HasPrefix(req.Header.Get("User-Agent"), "kiln-runner ") {
		t.Errorf("User-Agent = %q", req.Header.Get("User-Agent"))
	}
}

func TestRegisterWithRegistrationTokenThenUnregister(t *testing.T) {
	s := protocoltest.New(t, protocoltest.Options{})
	s.AddRegistrationToken("REGTOKEN")
	c := newClient(t, s.URL)
	got, err := c.Register(ctx(t), protocol.RegisterRunnerRequest{Token: "REGTOKEN", Description: "gpu-1", Tags: "gpu,linux"})
	if err != nil || got.ID == 0 || got.Token == "" {
		t.Fatalf("Register = %+v, %v", got, err)
	}
	if _, err := c.Register(ctx(t), protocol.RegisterRunnerRequest{Token: "WRONG"}); !errors.Is(err, protocol.ErrForbidden) {
		t.Fatalf("Register(wrong token) error = %v, want ErrForbidden", err)
	}
	if err := c.Unregister(ctx(t), got.Token, "s_0123456789ab"); err != nil {
		t.Fatal(err)
	}
	last := s.Requests()[len(s.Requests())-1]
	if last.Method != http.MethodDelete || last.Path != "/api/v4/runners" {
		t.Errorf("legacy token unregistered with %s %s, want DELETE /api/v4/runners", last.Method, last.Path)
	}
}

func TestUnregisterCreatedTokenRemovesOnlyTheManager(t *testing.T) {
	s := protocoltest.New(t, protocoltest.Options{})
	r := s.AddRunner("glrt-manager-test-token")
	c := newClient(t, s.URL)
	if err := c.Unregister(ctx(t), r.Token, "s_0123456789ab"); err != nil {
		t.Fatal(err)
	}
	u := s.Unregistered()
	if len(u) != 1 || u[0].SystemID != "s_0123456789ab" {
		t.Fatalf("unregistered = %+v", u)
	}
	if last := s.Requests()[0]; last.Path != "/api/v4/runners/managers" {
		t.Errorf("path = %s, want /api/v4/runners/managers", last.Path)
	}
	if _, ok := s.Runners()[r.Token]; !ok {
		t.Error("the runner itself was removed; only its manager should be")
	}
}

func TestRequestJobEchoesLastUpdateAndDecodesTheJob(t *testing.T) {
	s := protocoltest.New(t, protocoltest.Options{})
	r := s.AddRunner("glrt-poller")
	c := newClient(t, s.URL)
	job, err := c.RequestJob(ctx(t), protocol.JobRequest{Token: r.Token})
	if err != nil || job != nil {
		t.Fatalf("empty queue: RequestJob = %v, %v; want nil, nil", job, err)
	}
	lu := c.LastUpdate(r.Token)
	if lu == "" {
		t.Fatal("no X-GitLab-Last-Update remembered")
	}
	id := s.Enqueue(jobspec.Job{Steps: []jobspec.Step{{Name: "script", Script: []string{"echo hi"}}}})
	job, err = c.RequestJob(ctx(t), protocol.JobRequest{Token: r.Token})
	if err != nil || job == nil || job.ID != id || job.Steps[0].Script[0] != "echo hi" {
		t.Fatalf("RequestJob = %+v, %v", job, err)
	}
	var body protocol.JobRequest
	if err := json.Unmarshal(s.Requests()[1].Body, &body); err != nil || body.LastUpdate != lu {
		t.Errorf("second request last_update = %q (%v), want %q", body.LastUpdate, err, lu)
	}
	if _, err := c.RequestJob(ctx(t), protocol.JobRequest{Token: "glrt-nobody"}); !errors.Is(err, protocol.ErrForbidden) || !protocol.Unhealthy(err) {
		t.Errorf("bad token: error = %v, want an unhealthy ErrForbidden", err)
	}
}

func TestRequestJobStatusesThatKeepTheRunnerHealthy(t *testing.T) {
	for _, code := range []int{http.StatusConflict, http.StatusServiceUnavailable} {
		s := protocoltest.New(t, protocoltest.Options{})
		r := s.AddRunner("glrt-x")
		s.Inject(protocoltest.Fault{Path: "/api/v4/jobs/request", Status: code, Times: 10})
		_, err := newClient(t, s.URL).RequestJob(ctx(t), protocol.JobRequest{Token: r.Token})
		if err == nil || protocol.Unhealthy(err) {
			t.Errorf("%d: error = %v, want a healthy error", code, err)
		}
	}
}

func TestRequestJobWithoutJSONContentTypeSaysTheJobIsLost(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"id":1}`)
	}))
	defer srv.Close()
	_, err := newClient(t, srv.URL).RequestJob(ctx(t), protocol.JobRequest{Token: "t"})
	if err == nil || !strings.Contains(err.Error(), "lost") {
		t.Fatalf("error = %v, want one saying the job is lost", err)
	}
}

func TestRetriesServerErrorsThenSucceeds(t *testing.T) {
	s := protocoltest.New(t, protocoltest.Options{})
	r := s.AddRunner("glrt-x")
	id := s.Enqueue(jobspec.Job{})
	c := newClient(t, s.URL)
	job, _ := c.RequestJob(ctx(t), protocol.JobRequest{Token: r.Token})
	s.Inject(protocoltest.Fault{Method: http.MethodPut, Path: "/api/v4/jobs/" + itoa(id), Status: 503, Times: 2, Header: map[string]string{"Retry-After": "0"}})
	s.Inject(protocoltest.Fault{Method: http.MethodPut, Path: "/api/v4/jobs/" + itoa(id), Status: 429, Times: 1})
	res, err := c.UpdateJob(ctx(t), id, protocol.UpdateJobRequest{Token: job.Token, State: protocol.StateRunning})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("UpdateJob = %+v, %v; want 200 after retries", res, err)
	}
	if n := countPath(s, "/api/v4/jobs/"+itoa(id)); n != 4 {
		t.Errorf("%d PUTs, want 4 (3 retried + 1)", n)
	}
	s.Inject(protocoltest.Fault{Method: http.MethodPut, Path: "/api/v4/jobs/" + itoa(id), Status: 500, Times: 10})
	_, err = c.UpdateJob(ctx(t), id, protocol.UpdateJobRequest{Token: job.Token, State: protocol.StateRunning})
	var se *protocol.StatusError
	if !errors.As(err, &se) || se.StatusCode != 500 {
		t.Fatalf("error = %v, want a 500 StatusError after 5 tries", err)
	}
}

func TestUpdateJobReportsJobStatusAndGoneJobs(t *testing.T) {
	s := protocoltest.New(t, protocoltest.Options{})
	r := s.AddRunner("glrt-x")
	id := s.Enqueue(jobspec.Job{})
	c := newClient(t, s.URL)
	job, _ := c.RequestJob(ctx(t), protocol.JobRequest{Token: r.Token})
	s.Cancel(id)
	res, err := c.UpdateJob(ctx(t), id, protocol.UpdateJobRequest{Token: job.Token, State: protocol.StateRunning})
	if err != nil || !res.Canceling() {
		t.Fatalf("UpdateJob = %+v, %v; want Job-Status canceling", res, err)
	}
	_, err = c.UpdateJob(ctx(t), id, protocol.UpdateJobRequest{Token: "wrong", State: protocol.StateRunning})
	if !errors.Is(err, protocol.ErrForbidden) {
		t.Errorf("wrong job token: %v, want ErrForbidden", err)
	}
	_, err = c.UpdateJob(ctx(t), 999999, protocol.UpdateJobRequest{Token: job.Token, State: protocol.StateRunning})
	if !errors.Is(err, protocol.ErrNotFound) {
		t.Errorf("unknown job: %v, want ErrNotFound", err)
	}
}

func TestPatchTraceSendsInclusiveContentRangeAndReads416Range(t *testing.T) {
	s := protocoltest.New(t, protocoltest.Options{})
	r := s.AddRunner("glrt-x")
	id := s.Enqueue(jobspec.Job{})
	c := newClient(t, s.URL)
	job, _ := c.RequestJob(ctx(t), protocol.JobRequest{Token: r.Token})
	res, err := c.PatchTrace(ctx(t), id, job.Token, 0, []byte("hello\n"), false)
	if err != nil || res.StatusCode != 202 || res.RemoteSize != 6 {
		t.Fatalf("PatchTrace = %+v, %v", res, err)
	}
	reqs := s.Requests()
	p := reqs[len(reqs)-1]
	if p.Header.Get("Content-Range") != "0-5" || p.Query != "debug_trace=false" || p.Header.Get("Content-Type") != "text/plain" {
		t.Errorf("patch: Content-Range %q, query %q, type %q", p.Header.Get("Content-Range"), p.Query, p.Header.Get("Content-Type"))
	}
	res, err = c.PatchTrace(ctx(t), id, job.Token, 3, []byte("xyz"), false)
	if err != nil || res.StatusCode != 416 || res.RemoteSize != 6 {
		t.Fatalf("misplaced patch = %+v, %v; want 416 with remote size 6", res, err)
	}
	if got, _ := s.Job(id); string(got.Trace) != "hello\n" {
		t.Errorf("trace = %q", got.Trace)
	}
}

func TestArtifactsUploadIsMultipartAndDownloadRetriesWithoutDirectDownload(t *testing.T) {
	s := protocoltest.New(t, protocoltest.Options{})
	r := s.AddRunner("glrt-x")
	id := s.Enqueue(jobspec.Job{})
	c := newClient(t, s.URL)
	job, _ := c.RequestJob(ctx(t), protocol.JobRequest{Token: r.Token})
	archive := []byte("PK\x03\x04 fake zip bytes")
	up := protocol.ArtifactUpload{Name: "build-out", Format: "zip", Type: "archive", ExpireIn: "1 day",
		Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(archive)), nil }}
	s.Inject(protocoltest.Fault{Method: http.MethodPost, Path: "/api/v4/jobs/" + itoa(id) + "/artifacts", Status: 502})
	if err := c.UploadArtifacts(ctx(t), id, job.Token, up); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Job(id)
	if len(got.Artifacts) != 1 || got.Artifacts[0].FileName != "build-out.zip" || !bytes.Equal(got.Artifacts[0].Data, archive) ||
		got.Artifacts[0].ExpireIn != "1 day" || got.Artifacts[0].Type != "archive" {
		t.Fatalf("artifacts = %+v", got.Artifacts)
	}
	reqs := s.Requests()
	if q := reqs[len(reqs)-1].Query; q != "artifact_format=zip&artifact_type=archive&expire_in=1+day" {
		t.Errorf("query = %q", q)
	}

	path := "/api/v4/jobs/" + itoa(id) + "/artifacts"
	s.Inject(protocoltest.Fault{Method: http.MethodGet, Path: path, Status: 502, Times: 5})
	f, err := os.Create(filepath.Join(t.TempDir(), "a.zip"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := c.DownloadArtifacts(ctx(t), id, job.Token, f, 3); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(f.Name())
	if !bytes.Equal(data, archive) {
		t.Errorf("downloaded %q", data)
	}
	var queries []string
	for _, r := range s.Requests() {
		if r.Method == http.MethodGet && r.Path == path {
			queries = append(queries, r.Query)
		}
	}
	if len(queries) < 2 || queries[0] != "direct_download=true" || queries[len(queries)-1] != "" {
		t.Errorf("download queries = %q; want direct_download=true first, then none", queries)
	}
	if err := c.DownloadArtifacts(ctx(t), id, "wrong-token", f, 3); !errors.Is(err, protocol.ErrForbidden) {
		t.Errorf("wrong token: %v, want ErrForbidden", err)
	}
}

func TestArtifactUploadRedirectRetargetsHost(t *testing.T) {
	s := protocoltest.New(t, protocoltest.Options{})
	r := s.AddRunner("glrt-x")
	id := s.Enqueue(jobspec.Job{})
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if strings.HasSuffix(req.URL.Path, "/artifacts") {
			w.Header().Set("Location", s.URL+req.URL.RequestURI())
			w.WriteHeader(http.StatusTemporaryRedirect)
			return
		}
		http.NotFound(w, req)
	}))
	defer front.Close()
	c := newClient(t, s.URL)
	job, _ := c.RequestJob(ctx(t), protocol.JobRequest{Token: r.Token})
	cf := newClient(t, front.URL)
	up := protocol.ArtifactUpload{Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("zip")), nil }}
	if err := cf.UploadArtifacts(ctx(t), id, job.Token, up); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Job(id); len(got.Artifacts) != 1 || got.Artifacts[0].FileName != "default.zip" {
		t.Fatalf("artifacts = %+v", got.Artifacts)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func countPath(s *protocoltest.Server, path string) int {
	n := 0
	for _, r := range s.Requests() {
		if r.Path == path {
			n++
		}
	}
	return n
}
