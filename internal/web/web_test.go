package web_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/kiln-ci/kiln/internal/api/auth"
	"github.com/kiln-ci/kiln/internal/coordinator/coordinatortest"
	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/store"
	"github.com/kiln-ci/kiln/internal/web"
)

// env is a real coordinator (SQLite, real git) with the web UI on an httptest server.
type env struct {
	*coordinatortest.Env
	UI  *httptest.Server
	Web *web.Handler
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := coordinatortest.New(t, coordinatortest.Options{})
	log := slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	h, err := web.New(web.Config{Service: e.Service, Auth: auth.New(e.Store.Users, nil), Repos: e.Repos, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ui := httptest.NewServer(h)
	t.Cleanup(ui.Close)
	return &env{Env: e, UI: ui, Web: h}
}

// testLog sends the UI's warnings and errors to the test's log.
type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// browser is an HTTP client with a cookie jar that does not follow redirects.
type browser struct {
	t   *testing.T
	c   *http.Client
	url string
}

func (e *env) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, url: e.UI.URL, c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// page is an answer: its status, headers and body.
type page struct {
	Status int
	Header http.Header
	Body   string
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return page{Status: res.StatusCode, Header: res.Header, Body: string(body)}
}

func (b *browser) get(path string) page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.url+path, nil)
	return b.do(req)
}

// post sends a form as a browser does, with this site as its Origin.
func (b *browser) post(path string, form url.Values) page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.url+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.url)
	return b.do(req)
}

// signIn signs in with a token and fails the test unless it works.
func (b *browser) signIn(token string) {
	b.t.Helper()
	p := b.post("/users/sign_in", url.Values{"token": {token}})
	if p.Status != http.StatusSeeOther {
		b.t.Fatalf("signing in: %d\n%s", p.Status, p.Body)
	}
}

var csrfRE = regexp.MustCompile(`name="authenticity_token" value="([^"]*)"`)

// csrf returns the CSRF token of the forms on a page.
func (b *browser) csrf(path string) string {
	b.t.Helper()
	m := csrfRE.FindStringSubmatch(b.get(path).Body)
	if m == nil || m[1] == "" {
		b.t.Fatalf("no CSRF token on %s", path)
	}
	return m[1]
}

// user creates a user with a personal access token of the given scopes.
func (e *env) user(t *testing.T, name string, scopes ...string) (*store.User, string) {
	t.Helper()
	ctx := context.Background()
	u := &store.User{Username: name, Name: name, Email: name + "@example.com"}
	if err := e.Store.Users.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	token, _ := store.NewToken(store.PrefixPersonalAccessToken)
	if err := e.Store.Users.CreateToken(ctx, &store.PersonalAccessToken{UserID: u.ID, Name: "web", Scopes: scopes}, token); err != nil {
		t.Fatal(err)
	}
	return u, token
}

// project creates a project of group acme (free plan) with visibility and a CI file.
func (e *env) project(t *testing.T, path, visibility, ci string) *store.Project {
	t.Helper()
	ns, err := e.Store.Namespaces.NamespaceByPath(context.Background(), "acme")
	if err != nil {
		ns = e.Group(t, "acme", machine.PlanFree)
	}
	p := e.Project(t, ns, path, map[string]string{".gitlab-ci.yml": ci})
	p.Visibility = visibility
	if err := e.Store.Projects.UpdateProject(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	return p
}

func wantContains(t *testing.T, p page, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(p.Body, w) {
			t.Errorf("page misses %q\n%s", w, p.Body)
		}
	}
}

func wantNotContains(t *testing.T, p page, unwanted ...string) {
	t.Helper()
	for _, w := range unwanted {
		if strings.Contains(p.Body, w) {
			t.Errorf("page contains %q", w)
		}
	}
}

func wantStatus(t *testing.T, p page, status int) {
	t.Helper()
	if p.Status != status {
		t.Fatalf("status %d, want %d\n%s", p.Status, status, p.Body)
	}
}
