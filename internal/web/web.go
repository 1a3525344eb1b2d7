package web

import (
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kiln-ci/kiln/internal/api/auth"
	"github.com/kiln-ci/kiln/internal/coordinator"
	"github.com/kiln-ci/kiln/internal/git"
	"github.com/kiln-ci/kiln/internal/store"
)

//go:embed assets templates
var files embed.FS

// Defaults of Config.
const (
	DefaultSessionTTL  = 7 * 24 * time.Hour
	DefaultMaxLogBytes = 1 << 20
	// SessionKeySize is the length of a session key.
	SessionKeySize = 32
)

// Config configures the web UI. Service and Auth are required.
type Config struct {
	Service *coordinator.Service
	// Auth resolves the personal access tokens people sign in with.
	Auth *auth.Authenticator
	// Repos, when set, lets pipeline pages show their commit's title and author.
	Repos *git.Manager
	// SessionKey seals session cookies: SessionKeySize random bytes, kept with the
	// server's data so that sessions survive a restart (LoadSessionKey). Nil makes a
	// random key: sessions then end when the process does.
	SessionKey []byte
	// SessionTTL is how long a sign-in lasts (never longer than its token).
	SessionTTL time.Duration
	// MaxLogBytes is how much of a log a job page shows at first: the last part of a
	// longer log, with a link to the raw log.
	MaxLogBytes int64
	// PollInterval is how often a job page asks for more log while the job runs;
	// zero means the coordinator's trace update interval.
	PollInterval time.Duration
	Logger       *slog.Logger
	// Now is the clock for "3 minutes ago"; nil means time.Now.
	Now func() time.Time
}

// Handler serves the web UI. It is safe for concurrent use.
type Handler struct {
	svc       *coordinator.Service
	st        *store.Store
	auth      *auth.Authenticator
	repos     *git.Manager
	log       *slog.Logger
	now       func() time.Time
	cfg       Config
	keys      keys
	secure    bool   // cookies only over https
	host      string // the external URL's host[:port]
	mux       *http.ServeMux
	subRoutes map[string]subRoute
	pages     map[string]*pageTemplate
	assetV    string // content hash of the assets, for cache busting
}

// New returns the web UI's handler; mount it at "/" (Mount).
func New(cfg Config) (*Handler, error) {
	if cfg.Service == nil || cfg.Auth == nil {
		return nil, errors.New("web: Config needs Service and Auth")
	}
	if cfg.SessionKey == nil {
		cfg.SessionKey = make([]byte, SessionKeySize)
		rand.Read(cfg.SessionKey)
	}
	if len(cfg.SessionKey) < SessionKeySize {
		return nil, fmt.Errorf("web: the session key has %d bytes, want at least %d", len(cfg.SessionKey), SessionKeySize)
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.MaxLogBytes <= 0 {
		cfg.MaxLogBytes = DefaultMaxLogBytes
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = cfg.Service.TraceUpdateInterval()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &Handler{
		svc: cfg.Service, st: cfg.Service.Store(), auth: cfg.Auth, repos: cfg.Repos, log: cfg.Logger, now: cfg.Now,
		cfg: cfg, keys: deriveKeys(cfg.SessionKey), secure: strings.HasPrefix(cfg.Service.ExternalURL(), "https://"),
	}
	if u, err := url.Parse(cfg.Service.ExternalURL()); err == nil {
		h.host = u.Host
	}
	var err error
	if h.assetV, err = assetVersion(); err != nil {
		return nil, err
	}
	if h.pages, err = h.parseTemplates(); err != nil {
		return nil, err
	}
	h.routes()
	return h, nil
}

// Mount registers the UI at "/" on mux (api.Config.Mounts).
func (h *Handler) Mount(mux *http.ServeMux) { mux.Handle("/", h) }

func (h *Handler) routes() {
	m := http.NewServeMux()
	assets, _ := fs.Sub(files, "assets")
	static := http.StripPrefix("/-/assets/", http.FileServerFS(assets))
	m.Handle("GET /-/assets/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		static.ServeHTTP(w, r)
	}))
	m.HandleFunc("GET /{$}", h.projectsPage)
	m.HandleFunc("GET /users/sign_in", h.signInPage)
	m.HandleFunc("POST /users/sign_in", h.signIn)
	m.HandleFunc("POST /users/sign_out", h.signOut)
	m.HandleFunc("GET /-/runners", h.runnersPage)
	m.HandleFunc("GET /-/runners/{id}", h.runnerPage)
	m.HandleFunc("GET /-/machine_types", h.machineTypesPage)
	m.HandleFunc("GET /-/usage_quotas", h.usagePage)
	m.HandleFunc("/", h.projectRoute)
	h.mux = m
	h.subRoutes = h.projectRoutes()
}

// ServeHTTP sets the security headers, resolves the session and routes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "+
		"img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "same-origin")
	switch {
	case strings.HasPrefix(r.URL.Path, "/-/assets/"):
		h.mux.ServeHTTP(w, r)
		return
	case strings.HasPrefix(r.URL.Path, "/api/"):
		// An API route nobody registered: API clients get GitLab's JSON, not a page.
		jsonError(w, http.StatusNotFound, "404 Not Found")
		return
	}
	hd.Set("Cache-Control", "no-store")
	u, err := h.sessionUser(w, r)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	if u != nil {
		r = r.WithContext(auth.WithUser(r.Context(), u))
	}
	h.mux.ServeHTTP(w, r)
}

// assetVersion hashes the embedded assets, so that their URLs change with them.
func assetVersion() (string, error) {
	sum := sha256.New()
	err := fs.WalkDir(files, "assets", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(path)
		sum.Write([]byte(path))
		sum.Write(b)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("web: reading the embedded assets: %w", err)
	}
	return hex.EncodeToString(sum.Sum(nil))[:12], nil
}

// viewer returns the signed-in user, or nil.
func viewer(r *http.Request) *auth.User { return auth.FromContext(r.Context()) }
