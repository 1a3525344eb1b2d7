package web_test

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-ci/kiln/internal/web"
)

func TestSigningInWithAPersonalAccessTokenStartsASession(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	wantContains(t, b.get("/"), `href="/users/sign_in?return_to=%2f"`)

	p := b.post("/users/sign_in", url.Values{"token": {e.AdminToken}, "return_to": {"/-/runners"}})
	wantStatus(t, p, http.StatusSeeOther)
	if loc := p.Header.Get("Location"); loc != "/-/runners" {
		t.Errorf("redirected to %q, want the page asked for", loc)
	}
	cookie := p.Header.Get("Set-Cookie")
	for _, want := range []string{"_kiln_session=", "HttpOnly", "SameSite=Lax", "Path=/"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("session cookie %q lacks %s", cookie, want)
		}
	}
	if strings.Contains(cookie, e.AdminToken) || strings.Contains(cookie, strings.TrimPrefix(e.AdminToken, "glpat-")) {
		t.Error("the session cookie holds the token in clear")
	}
	home := b.get("/")
	wantContains(t, home, "@root", "Sign out", `<span class="pill pill-info">Admin</span>`)
}

func TestSignInRefusesBadTokensWithoutShowingThem(t *testing.T) {
	e := newEnv(t)
	_, readRepo := e.user(t, "dev", "read_repository")
	b := e.browser(t)
	for _, c := range []struct {
		name, token string
		status      int
		message     string
	}{
		{"empty", "  ", http.StatusBadRequest, "Enter a personal access token."},
		{"unknown", "glpat-unknownunknownunknown12345", http.StatusUnauthorized, "Invalid personal access token"},
		{"without read_api", readRepo, http.StatusForbidden, "needs the read_api or api scope"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := b.post("/users/sign_in", url.Values{"token": {c.token}})
			wantStatus(t, p, c.status)
			wantContains(t, p, c.message)
			if strings.TrimSpace(c.token) != "" {
				wantNotContains(t, p, c.token)
			}
			if p.Header.Get("Set-Cookie") != "" {
				t.Errorf("a refused sign-in set a cookie: %s", p.Header.Get("Set-Cookie"))
			}
		})
	}
}

func TestReturnToStaysOnThisSite(t *testing.T) {
	e := newEnv(t)
	for _, to := range []string{"https://evil.example/", "//evil.example", "/\\evil.example", "javascript:alert(1)"} {
		b := e.browser(t)
		p := b.post("/users/sign_in", url.Values{"token": {e.AdminToken}, "return_to": {to}})
		if loc := p.Header.Get("Location"); loc != "/" {
			t.Errorf("return_to %q redirected to %q, want /", to, loc)
		}
	}
}

func TestRevokingTheTokenEndsTheSession(t *testing.T) {
	e := newEnv(t)
	u, token := e.user(t, "dev", "api")
	b := e.browser(t)
	b.signIn(token)
	wantContains(t, b.get("/"), "@dev")
	tokens, _ := e.Store.Users.ListTokens(context.Background(), u.ID)
	if err := e.Store.Users.RevokeToken(context.Background(), tokens[0].ID); err != nil {
		t.Fatal(err)
	}
	p := b.get("/")
	wantNotContains(t, p, "@dev")
	if !strings.Contains(p.Header.Get("Set-Cookie"), "_kiln_session=;") {
		t.Errorf("the dead session's cookie was not cleared: %q", p.Header.Get("Set-Cookie"))
	}
}

func TestAForgedSessionCookieIsIgnored(t *testing.T) {
	e := newEnv(t)
	for _, value := range []string{e.AdminToken, "garbage", strings.Repeat("A", 200)} {
		req, _ := http.NewRequest(http.MethodGet, e.UI.URL+"/-/runners", nil)
		req.AddCookie(&http.Cookie{Name: "_kiln_session", Value: value})
		res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/users/sign_in") {
			t.Errorf("cookie %.10q…: %d %s, want a redirect to sign in", value, res.StatusCode, res.Header.Get("Location"))
		}
	}
}

func TestSigningOutNeedsTheSessionsCSRFToken(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	b.signIn(e.AdminToken)
	wantStatus(t, b.post("/users/sign_out", nil), http.StatusForbidden)
	wantStatus(t, b.post("/users/sign_out", url.Values{"authenticity_token": {"forged"}}), http.StatusForbidden)
	wantContains(t, b.get("/"), "@root")

	p := b.post("/users/sign_out", url.Values{"authenticity_token": {b.csrf("/")}})
	wantStatus(t, p, http.StatusSeeOther)
	wantNotContains(t, b.get("/"), "@root")
}

func TestPostsFromAnotherSiteAreRefused(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	req, _ := http.NewRequest(http.MethodPost, e.UI.URL+"/users/sign_in", strings.NewReader(url.Values{"token": {e.AdminToken}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	p := b.do(req)
	wantStatus(t, p, http.StatusForbidden)
}

func TestSessionsSurviveARestartWithAKeptSessionKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secrets", "web-session.key")
	key, err := web.LoadSessionKey(path)
	if err != nil || len(key) != web.SessionKeySize {
		t.Fatalf("LoadSessionKey = %d bytes, %v", len(key), err)
	}
	again, err := web.LoadSessionKey(path)
	if err != nil || string(again) != string(key) {
		t.Fatalf("the key changed when read again (%v)", err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
	os.WriteFile(path, []byte("short"), 0o600)
	if _, err := web.LoadSessionKey(path); err == nil || !strings.Contains(err.Error(), "5 bytes") {
		t.Errorf("a short key file: %v", err)
	}
}

func TestPagesCarrySecurityHeaders(t *testing.T) {
	e := newEnv(t)
	p := e.browser(t).get("/")
	wantStatus(t, p, http.StatusOK)
	for header, want := range map[string]string{
		"Content-Security-Policy": "script-src 'self'",
		"X-Content-Type-Options":  "nosniff",
		"X-Frame-Options":         "DENY",
		"Cache-Control":           "no-store",
		"Content-Type":            "text/html; charset=utf-8",
	} {
		if got := p.Header.Get(header); !strings.Contains(got, want) {
			t.Errorf("%s: %q, want %q", header, got, want)
		}
	}
}

func TestAssetsAreEmbeddedAndVersioned(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	home := b.get("/")
	for _, asset := range []string{"kiln.css", "kiln.js"} {
		m := strings.Index(home.Body, "/-/assets/"+asset+"?v=")
		if m < 0 {
			t.Fatalf("the layout does not link %s", asset)
		}
		p := b.get("/-/assets/" + asset)
		wantStatus(t, p, http.StatusOK)
		if !strings.Contains(p.Header.Get("Cache-Control"), "immutable") || len(p.Body) < 500 {
			t.Errorf("%s: cache %q, %d bytes", asset, p.Header.Get("Cache-Control"), len(p.Body))
		}
	}
	wantStatus(t, b.get("/-/assets/nope.css"), http.StatusNotFound)
}
