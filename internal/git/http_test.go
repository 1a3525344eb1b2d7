package git

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCloneAndFetchWithValidCredentials(t *testing.T) {
	s := newTestServer(t, nil)
	c := newClient(t)
	repo, wt := s.seed(c, "group/sub/project", map[string]string{"README.md": "hello\n"})

	dst := filepath.Join(t.TempDir(), "clone")
	c.must("", "clone", "--quiet", s.url("group/sub/project", "reader", "reader-secret-token"), dst)
	if got, _ := os.ReadFile(filepath.Join(dst, "README.md")); string(got) != "hello\n" {
		t.Fatalf("cloned README.md = %q", got)
	}

	// A new commit on the server arrives with fetch.
	want := c.commit(wt, "Second commit", map[string]string{"README.md": "hello again\n"})
	c.must(wt, "push", "--quiet", repo.Dir(), "main")
	c.must(dst, "fetch", "--quiet", "origin")
	if got := c.must(dst, "rev-parse", "origin/main"); got != want {
		t.Fatalf("fetched origin/main = %s, want %s", got, want)
	}
}

func TestAnonymousRequestIsChallengedAndGitRetriesWithCredentials(t *testing.T) {
	s := newTestServer(t, nil)
	c := newClient(t)
	s.seed(c, "group/project", map[string]string{"a.txt": "a"})

	resp, err := http.Get(s.URL + "/group/project.git/info/refs?service=git-upload-pack")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != `Basic realm="GitLab"` {
		t.Fatalf("anonymous info/refs = %d, WWW-Authenticate %q; want 401 with a Basic challenge",
			resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}

	c.must("", "clone", "--quiet", s.url("group/project", "reader", "reader-secret-token"), filepath.Join(t.TempDir(), "clone"))
	reqs := s.requests()[1:] // after the raw request above
	if len(reqs) < 3 {
		t.Fatalf("clone made %d requests: %+v", len(reqs), reqs)
	}
	first, second := reqs[0], reqs[1]
	if first.Path != "/group/project.git/info/refs" || first.Authorization || first.Status != http.StatusUnauthorized {
		t.Errorf("first clone request = %+v, want info/refs without credentials answered 401", first)
	}
	if second.Path != "/group/project.git/info/refs" || !second.Authorization || second.Status != http.StatusOK {
		t.Errorf("second clone request = %+v, want info/refs with credentials answered 200", second)
	}
	for _, r := range reqs[2:] {
		if r.Path != "/group/project.git/git-upload-pack" || !r.Authorization || r.Status != http.StatusOK {
			t.Errorf("later clone request = %+v, want an authorized git-upload-pack answered 200", r)
		}
	}
}

func TestWrongCredentialsAreRefused(t *testing.T) {
	s := newTestServer(t, nil)
	c := newClient(t)
	s.seed(c, "group/project", map[string]string{"a.txt": "a"})

	for _, cred := range [][2]string{{"alice", "wrong"}, {"mallory", "alice-secret-token"}} {
		dst := filepath.Join(t.TempDir(), "clone")
		out, err := c.run("", nil, "clone", "--quiet", s.url("group/project", cred[0], cred[1]), dst)
		if err == nil {
			t.Fatalf("clone as %s:%s succeeded", cred[0], cred[1])
		}
		if !strings.Contains(out, "Authentication failed") {
			t.Errorf("clone as %s: git said %q, want Authentication failed", cred[0], out)
		}
		if _, err := os.Stat(dst); !os.IsNotExist(err) {
			t.Errorf("failed clone left %s behind", dst)
		}
	}
}

func TestPushWithoutWritePermissionIsRefusedAndChangesNothing(t *testing.T) {
	s := newTestServer(t, nil)
	c := newClient(t)
	repo, _ := s.seed(c, "group/project", map[string]string{"a.txt": "a"})
	before := refsOf(t, c, repo)
	objectsBefore := c.must(repo.Dir(), "count-objects", "-v")

	dst := filepath.Join(t.TempDir(), "clone")
	c.must("", "clone", "--quiet", s.url("group/project", "reader", "reader-secret-token"), dst)
	c.commit(dst, "Reader's change", map[string]string{"a.txt": "changed"})
	c.must(dst, "tag", "v9")
	out, err := c.run(dst, nil, "push", "origin", "main", "v9", "HEAD:refs/heads/new")
	if err == nil {
		t.Fatal("push with read-only credentials succeeded")
	}
	if !strings.Contains(out, "You are not allowed to push code to this project.") || !strings.Contains(out, "403") {
		t.Errorf("git said %q, want GitLab's 403 message", out)
	}

	// Going straight to git-receive-pack does not help.
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/group/project.git/git-receive-pack", strings.NewReader("0000"))
	req.SetBasicAuth("reader", "reader-secret-token")
	req.Header.Set("Content-Type", "application/x-git-receive-pack-request")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("direct git-receive-pack as reader = %d, want 403", resp.StatusCode)
	}

	if after := refsOf(t, c, repo); after != before {
		t.Errorf("refs changed:\nbefore %s\nafter  %s", before, after)
	}
	if after := c.must(repo.Dir(), "count-objects", "-v"); after != objectsBefore {
		t.Errorf("objects changed:\nbefore %s\nafter  %s", objectsBefore, after)
	}
	if ps := s.recordedPushes(); len(ps) != 0 {
		t.Errorf("OnPush called for a refused push: %s", fmtPushes(ps))
	}
}

func TestUnknownProjectIsNotFoundForCallersAndChallengedForAnonymous(t *testing.T) {
	s := newTestServer(t, nil)
	for _, tc := range []struct {
		user, pass string
		want       int
	}{
		{"", "", http.StatusUnauthorized},
		{"reader", "reader-secret-token", http.StatusNotFound},
	} {
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/group/missing.git/info/refs?service=git-upload-pack", nil)
		if tc.user != "" {
			req.SetBasicAuth(tc.user, tc.pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("missing project as %q = %d, want %d", tc.user, resp.StatusCode, tc.want)
		}
	}
}

func TestProtocolV2Fetch(t *testing.T) {
	s := newTestServer(t, nil)
	c := newClient(t)
	_, wt := s.seed(c, "group/project", map[string]string{"a.txt": "a"})
	head := c.must(wt, "rev-parse", "HEAD")

	// The advertisement itself: protocol v2 when the client asks for it, v0 otherwise.
	for _, tc := range []struct {
		header string
		v2     bool
	}{{"version=2", true}, {"", false}} {
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/group/project.git/info/refs?service=git-upload-pack", nil)
		req.SetBasicAuth("reader", "reader-secret-token")
		if tc.header != "" {
			req.Header.Set("Git-Protocol", tc.header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := bytes.Contains(body, []byte("version 2\n")); got != tc.v2 {
			t.Errorf("Git-Protocol %q: advertisement speaks v2 = %v, want %v:\n%s", tc.header, got, tc.v2, body)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/x-git-upload-pack-advertisement" {
			t.Errorf("Content-Type = %q", ct)
		}
	}

	// A real v2 fetch.
	dst := t.TempDir()
	c.must(dst, "init", "--quiet")
	out, err := c.run(dst, []string{"GIT_TRACE_PACKET=1"}, "-c", "protocol.version=2", "fetch",
		s.url("group/project", "reader", "reader-secret-token"), "+refs/heads/main:refs/remotes/origin/main")
	if err != nil {
		t.Fatalf("v2 fetch: %v\n%s", err, out)
	}
	if !strings.Contains(out, "git< version 2") || !strings.Contains(out, "> command=fetch") {
		t.Errorf("fetch did not speak protocol v2:\n%s", out)
	}
	if got := c.must(dst, "rev-parse", "refs/remotes/origin/main"); got != head {
		t.Errorf("fetched %s, want %s", got, head)
	}
	sawHeader := false
	for _, r := range s.requests() {
		sawHeader = sawHeader || r.GitProtocol == "version=2"
	}
	if !sawHeader {
		t.Error("no request carried Git-Protocol: version=2")
	}
}

// TestRunnerFetchesPipelineRefShallow repeats what gitlab-runner's shell executor does
// for GIT_STRATEGY=fetch with GIT_DEPTH=1 (runner-protocol.md §8).
func TestRunnerFetchesPipelineRefShallow(t *testing.T) {
	s := newTestServer(t, nil)
	c := newClient(t)
	repo, wt := s.seed(c, "group/project", map[string]string{"a.txt": "1"})
	c.commit(wt, "two", map[string]string{"a.txt": "2"})
	sha := c.commit(wt, "three", map[string]string{"a.txt": "3", "dir/b.txt": "b"})
	c.must(wt, "push", "--quiet", repo.Dir(), "main")
	if err := repo.UpdateRef(context.Background(), "refs/pipelines/42", sha, ZeroSHA); err != nil {
		t.Fatal(err)
	}

	dir := filepath.Join(t.TempDir(), "builds", "precreate", "0", "group", "project")
	plain := s.URL + "/group/project.git"
	authed := s.url("group/project", "gitlab-ci-token", "reader-secret-token")
	// The runner's job token user is gitlab-ci-token; let this test's authorizer accept it.
	s.auth.mu.Lock()
	testUsers["gitlab-ci-token"] = testUsers["reader"]
	s.auth.mu.Unlock()
	t.Cleanup(func() { delete(testUsers, "gitlab-ci-token") })

	c.must("", "init", "--quiet", dir)
	c.must(dir, "remote", "add", "origin", plain)
	c.must(dir, "-c", "url."+authed+".insteadOf="+plain, "-c", "http.userAgent=gitlab-runner 19.4.0 linux/amd64",
		"fetch", "origin", "--no-recurse-submodules",
		"+refs/pipelines/42:refs/pipelines/42", "+refs/heads/main:refs/remotes/origin/main",
		"--depth", "1", "--prune", "--quiet")
	c.must(dir, "checkout", "-f", "-q", sha)

	if got := c.must(dir, "rev-parse", "HEAD"); got != sha {
		t.Fatalf("checked out %s, want %s", got, sha)
	}
	if got := c.must(dir, "rev-list", "--count", "HEAD"); got != "1" {
		t.Errorf("history has %s commits, want 1 (depth 1)", got)
	}
	if _, err := os.Stat(filepath.Join(dir, ".git", "shallow")); err != nil {
		t.Errorf("not a shallow clone: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "dir", "b.txt")); string(got) != "b" {
		t.Errorf("dir/b.txt = %q", got)
	}
	if got := c.must(dir, "config", "remote.origin.url"); strings.Contains(got, "secret") {
		t.Errorf("remote URL stored with credentials: %s", got)
	}
}

func TestBadPathsAnswer404WithoutAskingTheAuthorizer(t *testing.T) {
	s := newTestServer(t, nil)
	c := newClient(t)
	s.seed(c, "group/project", map[string]string{"a.txt": "a"})
	secret := filepath.Join(s.repos.Root(), "..", "secret.git")
	if err := os.MkdirAll(secret, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{
		"/../secret.git/info/refs",
		"/group/../../secret.git/info/refs",
		"/%2e%2e/secret.git/info/refs",
		"/group/%2e%2e/%2e%2e/secret.git/info/refs",
		"/group/..%2f..%2fsecret.git/info/refs",
		"/+kiln/hooks.git/info/refs",
		"/group/project.git/HEAD",
		"/group/project.git/config",
		"/group/project.git/objects/info/packs",
		"/group/project.git/hooks/post-receive",
		"/group/project/info/refs",
		"/project.git/info/refs",
		"/group/project.git.git/info/refs",
		"/group//project.git/info/refs",
		"/Group/pro%20ject.git/info/refs",
		"/group/project.git/info/refs/../../config",
	} {
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/", nil)
		req.URL.Opaque = p // sent exactly as written, not cleaned by the client
		req.URL.RawQuery = "service=git-upload-pack"
		req.SetBasicAuth("alice", "alice-secret-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d %q, want 404", p, resp.StatusCode, body)
		}
	}
	if n := s.auth.callCount(); n != 0 {
		t.Errorf("the authorizer was asked %d times about bad paths", n)
	}
}

func TestOnlySmartHTTPWithTheRightMethodsIsServed(t *testing.T) {
	s := newTestServer(t, nil)
	c := newClient(t)
	s.seed(c, "group/project", map[string]string{"a.txt": "a"})
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, "/group/project.git/info/refs", http.StatusForbidden},
		{http.MethodGet, "/group/project.git/info/refs?service=git-upload-archive", http.StatusForbidden},
		{http.MethodPost, "/group/project.git/info/refs?service=git-upload-pack", http.StatusMethodNotAllowed},
		{http.MethodGet, "/group/project.git/git-upload-pack", http.StatusMethodNotAllowed},
		{http.MethodPut, "/group/project.git/git-receive-pack", http.StatusMethodNotAllowed},
	} {
		req, _ := http.NewRequest(tc.method, s.URL+tc.path, nil)
		req.SetBasicAuth("alice", "alice-secret-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s = %d, want %d", tc.method, tc.path, resp.StatusCode, tc.want)
		}
	}
}

func TestIsGitPath(t *testing.T) {
	for p, want := range map[string]bool{
		"/group/project.git/info/refs":           true,
		"/group/sub/project.git/git-upload-pack": true,
		"/g/p.git/git-receive-pack":              true,
		"/group/project.git/HEAD":                false,
		"/api/v4/projects":                       false,
		"/group/project/info/refs":               false,
		"group/project.git/info/refs":            false,
		"/../x.git/info/refs":                    false,
	} {
		if got := IsGitPath(p); got != want {
			t.Errorf("IsGitPath(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestCredentialsNeverReachTheLog(t *testing.T) {
	var logs bytes.Buffer
	repos := newTestManager(t)
	h, err := NewHandler(HandlerConfig{
		Repos:      repos,
		Authorizer: &testAuth{},
		OnPush:     func(context.Context, Push) error { return nil },
		Logger:     slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := newServerFor(t, h)
	c := newClient(t)
	if _, err := repos.Create(context.Background(), "group/project", CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "clone")
	c.run("", nil, "clone", "--quiet", srv+"/group/project.git", dst) // anonymous: refused
	c.run("", nil, "clone", "--quiet", strings.Replace(srv, "http://", "http://token-as-username-xyz@", 1)+"/group/project.git", dst)
	c.run("", nil, "clone", "--quiet", strings.Replace(srv, "http://", "http://alice:wrong-password-xyz@", 1)+"/group/project.git", dst)
	c.must("", "clone", "--quiet", strings.Replace(srv, "http://", "http://alice:alice-secret-token@", 1)+"/group/project.git", dst)
	c.commit(dst, "change", map[string]string{"f": "x"})
	c.must(dst, "push", "--quiet", "origin", "main")

	if !strings.Contains(logs.String(), "git push served") || !strings.Contains(logs.String(), "identity=user:alice") {
		t.Fatalf("the push was not logged with the caller's identity:\n%s", logs.String())
	}
	for _, secret := range []string{"alice-secret-token", "wrong-password-xyz", "token-as-username-xyz", "YWxpY2U6"} { // base64("alice:")
		if strings.Contains(logs.String(), secret) {
			t.Errorf("log contains %q:\n%s", secret, logs.String())
		}
	}
	creds := Credentials{Username: "tok-as-user", Password: "p4ss"}
	for _, text := range []string{slogText(creds), slogText(&creds), fmt.Sprintf("%v %+v %#v %s", creds, creds, creds, creds)} {
		if strings.Contains(text, "p4ss") || strings.Contains(text, "tok-as-user") {
			t.Errorf("Credentials leak through formatting: %s", text)
		}
	}
}

func newServerFor(t *testing.T, h http.Handler) string {
	srv := httptestServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func slogText(v any) string {
	var b bytes.Buffer
	slog.New(slog.NewTextHandler(&b, nil)).Info("x", "v", v)
	return b.String()
}
