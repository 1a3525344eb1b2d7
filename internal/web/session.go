package web

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kiln-ci/kiln/internal/api/auth"
)

// Cookie and form field names.
const (
	sessionCookie = "_kiln_session"
	// csrfField is the hidden field of every form that changes something (GitLab's name).
	csrfField = "authenticity_token"
)

// keys are the session key's two uses.
type keys struct {
	seal cipher.AEAD // seals the session cookie
	csrf []byte      // signs CSRF tokens
}

func deriveKeys(secret []byte) keys {
	sealKey, err := hkdf.Key(sha256.New, secret, nil, "kiln web session cookie", 32)
	if err != nil {
		panic(fmt.Sprintf("web: deriving the session key: %v", err)) // cannot happen for 32 bytes of SHA-256
	}
	csrfKey, _ := hkdf.Key(sha256.New, secret, nil, "kiln web csrf", 32)
	block, _ := aes.NewCipher(sealKey)
	aead, _ := cipher.NewGCM(block)
	return keys{seal: aead, csrf: csrfKey}
}

// LoadSessionKey reads the session key kept at path, or makes one there (mode 0600)
// when the file does not exist yet, so that sessions survive restarts.
func LoadSessionKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	switch {
	case err == nil && len(b) >= SessionKeySize:
		return b[:SessionKeySize], nil
	case err == nil:
		return nil, fmt.Errorf("web: session key %s has %d bytes, want %d", path, len(b), SessionKeySize)
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("web: reading the session key: %w", err)
	}
	key := make([]byte, SessionKeySize)
	rand.Read(key)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("web: making the session key's directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) { // another process made it first
		return LoadSessionKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("web: creating the session key: %w", err)
	}
	if _, err := f.Write(key); err != nil {
		f.Close()
		return nil, fmt.Errorf("web: writing the session key: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("web: writing the session key: %w", err)
	}
	return key, nil
}

// session is what the cookie holds, sealed.
type session struct {
	Token   string `json:"t"`
	Expires int64  `json:"e"` // unix seconds
}

func (k keys) sealSession(s session) string {
	plain, _ := json.Marshal(s)
	nonce := make([]byte, k.seal.NonceSize())
	rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(k.seal.Seal(nonce, nonce, plain, []byte(sessionCookie)))
}

func (k keys) openSession(value string) (session, bool) {
	var s session
	b, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil || len(b) < k.seal.NonceSize() {
		return s, false
	}
	plain, err := k.seal.Open(nil, b[:k.seal.NonceSize()], b[k.seal.NonceSize():], []byte(sessionCookie))
	if err != nil || json.Unmarshal(plain, &s) != nil || s.Token == "" {
		return s, false
	}
	return s, true
}

// csrfToken is the CSRF token of a session cookie: an HMAC of it.
func (k keys) csrfToken(cookie string) string {
	m := hmac.New(sha256.New, k.csrf)
	m.Write([]byte(cookie))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// sessionUser resolves the session cookie. A cookie that does not open, has expired
// or holds a token that no longer works is cleared and the request is anonymous; an
// error means the token could not be checked.
func (h *Handler) sessionUser(w http.ResponseWriter, r *http.Request) (*auth.User, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, nil
	}
	s, ok := h.keys.openSession(c.Value)
	if !ok || h.now().Unix() >= s.Expires {
		h.clearSession(w)
		return nil, nil
	}
	u, err := h.auth.UserByToken(r.Context(), s.Token)
	if errors.Is(err, auth.ErrUnauthorized) {
		h.clearSession(w)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return u, nil
}

func (h *Handler) setSession(w http.ResponseWriter, s session) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: h.keys.sealSession(s), Path: "/", Expires: time.Unix(s.Expires, 0),
		HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteLaxMode,
	})
}

func (h *Handler) clearSession(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteLaxMode})
}

// csrfFor returns the CSRF token forms on this request's page must carry ("" when
// signed out: nothing can be changed then).
func (h *Handler) csrfFor(r *http.Request) string {
	c, err := r.Cookie(sessionCookie)
	if err != nil || viewer(r) == nil {
		return ""
	}
	return h.keys.csrfToken(c.Value)
}

// checkPost verifies that a form post comes from this site: its Origin (when the
// browser sends one) is the request's host or the external URL's (behind a proxy), and, for a signed-in user, it carries the
// session's CSRF token. It answers 403 itself and returns false otherwise.
func (h *Handler) checkPost(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || (!strings.EqualFold(u.Host, r.Host) && !strings.EqualFold(u.Host, h.host)) {
			h.errorPage(w, r, http.StatusForbidden, "The request came from another site.")
			return false
		}
	}
	if viewer(r) == nil {
		return true
	}
	want := h.csrfFor(r)
	if err := r.ParseForm(); err != nil {
		h.errorPage(w, r, http.StatusBadRequest, "The form could not be read.")
		return false
	}
	if got := r.PostFormValue(csrfField); want == "" || !hmac.Equal([]byte(got), []byte(want)) {
		h.errorPage(w, r, http.StatusForbidden, "The form has expired or did not come from this site. Reload the page and try again.")
		return false
	}
	return true
}

// safeReturn returns a local path to go back to after signing in, or "/".
func safeReturn(to string) string {
	if to == "" || to[0] != '/' || strings.HasPrefix(to, "//") || strings.HasPrefix(to, "/\\") ||
		strings.ContainsAny(to, "\r\n\t\\") || strings.HasPrefix(to, "/users/sign_") {
		return "/"
	}
	return to
}

type signInData struct {
	ReturnTo string
	Error    string
}

func (h *Handler) signInPage(w http.ResponseWriter, r *http.Request) {
	if viewer(r) != nil {
		http.Redirect(w, r, safeReturn(r.URL.Query().Get("return_to")), http.StatusSeeOther)
		return
	}
	h.render(w, r, http.StatusOK, "sign_in", "Sign in", signInData{ReturnTo: safeReturn(r.URL.Query().Get("return_to"))})
}

// signIn checks a personal access token and starts a session. The token never
// appears in an answer or a log.
func (h *Handler) signIn(w http.ResponseWriter, r *http.Request) {
	if !h.checkPost(w, r) {
		return
	}
	if err := r.ParseForm(); err != nil {
		h.errorPage(w, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	data := signInData{ReturnTo: safeReturn(r.PostFormValue("return_to"))}
	token := strings.TrimSpace(r.PostFormValue("token"))
	if token == "" {
		data.Error = "Enter a personal access token."
		h.render(w, r, http.StatusBadRequest, "sign_in", "Sign in", data)
		return
	}
	u, err := h.auth.UserByToken(r.Context(), token)
	if errors.Is(err, auth.ErrUnauthorized) {
		data.Error = "Invalid personal access token: it is unknown, revoked or expired."
		h.render(w, r, http.StatusUnauthorized, "sign_in", "Sign in", data)
		return
	}
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	if !u.HasScope("read_api") {
		data.Error = "This token cannot be used to sign in: it needs the read_api or api scope."
		h.render(w, r, http.StatusForbidden, "sign_in", "Sign in", data)
		return
	}
	expires := h.now().Add(h.cfg.SessionTTL)
	if t := u.Token.ExpiresAt; !t.IsZero() && t.Before(expires) {
		expires = t
	}
	h.setSession(w, session{Token: token, Expires: expires.Unix()})
	h.log.Info("signed in to the web UI", "user", u.Username, "token_id", u.Token.ID)
	http.Redirect(w, r, data.ReturnTo, http.StatusSeeOther)
}

func (h *Handler) signOut(w http.ResponseWriter, r *http.Request) {
	if !h.checkPost(w, r) {
		return
	}
	h.clearSession(w)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// requireUser redirects an anonymous request to the sign-in page and returns nil.
func (h *Handler) requireUser(w http.ResponseWriter, r *http.Request) *auth.User {
	u := viewer(r)
	if u == nil {
		http.Redirect(w, r, "/users/sign_in?return_to="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
	}
	return u
}
