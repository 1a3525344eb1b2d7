package git

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// newTestManager returns a Manager over a fresh root.
func newTestManager(t testing.TB) *Manager {
	t.Helper()
	m, err := NewManager(context.Background(), Config{Root: filepath.Join(t.TempDir(), "repos")})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// client runs the real git client as a user would, with its own empty HOME and
// configuration, and never prompts.
type client struct {
	t   testing.TB
	env []string
}

func newClient(t testing.TB) *client {
	t.Helper()
	home := t.TempDir()
	env := hermeticEnv(os.Environ())
	env = append(env,
		"HOME="+home,
		"GIT_AUTHOR_NAME=Test Author", "GIT_AUTHOR_EMAIL=author@example.com",
		"GIT_COMMITTER_NAME=Test Committer", "GIT_COMMITTER_EMAIL=committer@example.com",
		"GIT_ASKPASS=/bin/false", // wrong or missing credentials fail instead of prompting
	)
	return &client{t: t, env: env}
}

// run runs git in dir and returns its combined output.
func (c *client) run(dir string, env []string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(append([]string(nil), c.env...), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// must runs git and fails the test when it fails; it returns trimmed output.
func (c *client) must(dir string, args ...string) string {
	c.t.Helper()
	out, err := c.run(dir, nil, args...)
	if err != nil {
		c.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(out)
}

// commit writes files (path -> contents) in the work tree dir and commits them.
func (c *client) commit(dir, message string, files map[string]string) string {
	c.t.Helper()
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			c.t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			c.t.Fatal(err)
		}
	}
	c.must(dir, "add", "--all")
	c.must(dir, "commit", "--quiet", "--allow-empty", "-m", message)
	return c.must(dir, "rev-parse", "HEAD")
}

// workTree makes a new local repository with one commit of files.
func (c *client) workTree(files map[string]string) string {
	c.t.Helper()
	dir := c.t.TempDir()
	c.must(dir, "init", "--quiet", "--initial-branch=main")
	c.commit(dir, "Initial commit", files)
	return dir
}

// testAuth is an Authorizer over fixed users: alice may write, reader may read.
type testAuth struct {
	mu    sync.Mutex
	calls []AuthRequest
}

var testUsers = map[string]struct {
	password string
	access   Access
}{
	"alice":  {"alice-secret-token", Write},
	"reader": {"reader-secret-token", Read},
}

func (a *testAuth) Authorize(_ context.Context, req AuthRequest) (string, error) {
	a.mu.Lock()
	a.calls = append(a.calls, req)
	a.mu.Unlock()
	if req.Credentials == nil {
		return "", ErrUnauthorized
	}
	u, ok := testUsers[req.Credentials.Username]
	if !ok || u.password != req.Credentials.Password {
		return "", ErrUnauthorized
	}
	if req.Access > u.access {
		return "", ErrForbidden
	}
	return "user:" + req.Credentials.Username, nil
}

func (a *testAuth) callCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.calls)
}

// loggedRequest is what the test server saw.
type loggedRequest struct {
	Method, Path, Query string
	Authorization       bool
	GitProtocol         string
	Chunked             bool
	Status              int
}

// testServer is a Handler behind a real HTTP server.
type testServer struct {
	*httptest.Server
	tb      testing.TB
	repos   *Manager
	handler *Handler
	auth    *testAuth
	mu      sync.Mutex
	log     []loggedRequest
	pushes  []Push
}

// newTestServer serves a fresh Manager. onPush, when set, replaces the default of
// recording pushes in s.pushes.
func newTestServer(t testing.TB, onPush PushFunc) *testServer {
	t.Helper()
	s := &testServer{tb: t, repos: newTestManager(t), auth: &testAuth{}}
	if onPush == nil {
		onPush = func(_ context.Context, p Push) error {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.pushes = append(s.pushes, p)
			return nil
		}
	}
	h, err := NewHandler(HandlerConfig{Repos: s.repos, Authorizer: s.auth, OnPush: onPush, Realm: "GitLab"})
	if err != nil {
		t.Fatal(err)
	}
	s.handler = h
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		s.mu.Lock()
		defer s.mu.Unlock()
		s.log = append(s.log, loggedRequest{
			Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
			Authorization: r.Header.Get("Authorization") != "",
			GitProtocol:   r.Header.Get("Git-Protocol"),
			Chunked:       len(r.TransferEncoding) > 0 && r.TransferEncoding[0] == "chunked",
			Status:        rec.code,
		})
	}))
	t.Cleanup(s.Close)
	return s
}

// url returns the clone URL of project with user's credentials ("" for none).
func (s *testServer) url(project, user, password string) string {
	u, _ := url.Parse(s.URL + "/" + project + ".git")
	if user != "" {
		u.User = url.UserPassword(user, password)
	}
	return u.String()
}

func (s *testServer) requests() []loggedRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]loggedRequest(nil), s.log...)
}

func (s *testServer) recordedPushes() []Push {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Push(nil), s.pushes...)
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(p []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(p)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// seed creates project on the server with the files of a local work tree pushed to
// main (straight to the bare repository, not over HTTP) and returns the work tree.
func (s *testServer) seed(c *client, project string, files map[string]string) (*Repo, string) {
	s.tb.Helper()
	repo, err := s.repos.Create(context.Background(), project, CreateOptions{})
	if err != nil {
		s.tb.Fatal(err)
	}
	wt := c.workTree(files)
	c.must(wt, "push", "--quiet", repo.Dir(), "main")
	return repo, wt
}

func refsOf(t testing.TB, c *client, repo *Repo) string {
	t.Helper()
	return c.must(repo.Dir(), "for-each-ref", "--format=%(refname) %(objectname)")
}

func fmtPushes(ps []Push) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "%s by %s:", p.Project, p.Pusher)
		for _, u := range p.Updates {
			fmt.Fprintf(&b, " %s %s..%s", u.Ref, u.OldSHA[:7], u.NewSHA[:7])
		}
		b.WriteString("\n")
	}
	return b.String()
}

func httptestServer(h http.Handler) *httptest.Server { return httptest.NewServer(h) }
