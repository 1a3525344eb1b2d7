package git

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// HandlerConfig configures a Handler.
type HandlerConfig struct {
	// Repos holds the repositories served. Required.
	Repos *Manager
	// Authorizer decides every request. Required.
	Authorizer Authorizer
	// OnPush, when set, is told about every push that updated refs.
	OnPush PushFunc
	// Realm is the HTTP Basic realm of the 401 challenge. Default "Kiln".
	Realm string
	// MaxPushBytes, when positive, refuses pushes whose pack is larger
	// (git's receive.maxInputSize).
	MaxPushBytes int64
	// Logger receives one line per request and the backend's errors; never
	// credentials. Nil discards them.
	Logger *slog.Logger
}

// Handler serves the repositories of a Manager over git's smart HTTP protocol
// (protocol v0, v1 and v2): `GET /<full path>.git/info/refs?service=...`,
// `POST /<full path>.git/git-upload-pack` and `POST /<full path>.git/git-receive-pack`,
// through `git http-backend`. It expects the URL path from the root: mount it where
// the API routes every path IsGitPath accepts, without stripping a prefix. Any other
// path, or a project path that breaks GitLab's rules, is answered 404 before the
// Authorizer or the disk is consulted.
//
// Request and response bodies are streamed to and from git, never held whole in
// memory, so a push may be larger than memory (give the http.Server no short read or
// write timeout). A Handler is safe for concurrent use.
type Handler struct {
	repos    *Manager
	auth     Authorizer
	onPush   PushFunc
	realm    string
	maxPush  int64
	log      *slog.Logger
	mu       sync.Mutex
	claimed  map[string]bool // push records being announced
	hookPath string
}

// NewHandler installs the post-receive hook under the Manager's root (written again at
// every start) and checks that it runs.
func NewHandler(cfg HandlerConfig) (*Handler, error) {
	if cfg.Repos == nil || cfg.Authorizer == nil {
		return nil, errors.New("git handler: HandlerConfig needs Repos and Authorizer")
	}
	if strings.ContainsAny(cfg.Realm, "\"\r\n") {
		return nil, fmt.Errorf("git handler: realm %q contains a quote or line break", cfg.Realm)
	}
	h := &Handler{
		repos: cfg.Repos, auth: cfg.Authorizer, onPush: cfg.OnPush,
		realm: cfg.Realm, maxPush: cfg.MaxPushBytes, log: cfg.Logger,
		claimed: map[string]bool{},
	}
	if h.realm == "" {
		h.realm = "Kiln"
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.log = h.log.With("component", "git-http")
	hook, err := installHook(cfg.Repos)
	if err != nil {
		return nil, fmt.Errorf("git handler: %w", err)
	}
	h.hookPath = hook
	return h, nil
}

// The three smart-HTTP endpoints below `<full path>.git/`.
const (
	actionInfoRefs    = "info/refs"
	actionUploadPack  = "git-upload-pack"
	actionReceivePack = "git-receive-pack"
)

// parseGitPath splits `/<full path>.git/<action>`; ok is false unless the action is
// one of the three and the full path passes ValidatePath.
func parseGitPath(urlPath string) (project, action string, ok bool) {
	rest, ok := strings.CutPrefix(urlPath, "/")
	if !ok {
		return "", "", false
	}
	// No GitLab path segment ends in ".git", so the first ".git/" ends the project.
	project, action, ok = strings.Cut(rest, ".git/")
	if !ok {
		return "", "", false
	}
	switch action {
	case actionInfoRefs, actionUploadPack, actionReceivePack:
	default:
		return "", "", false
	}
	if ValidatePath(project) != nil {
		return "", "", false
	}
	return project, action, true
}

// IsGitPath reports whether urlPath is one the Handler serves: `/<full path>.git/`
// followed by `info/refs`, `git-upload-pack` or `git-receive-pack`, with a full path
// that passes ValidatePath. It does no I/O.
func IsGitPath(urlPath string) bool {
	_, _, ok := parseGitPath(urlPath)
	return ok
}

// ServeHTTP answers one smart-HTTP request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rw := &responseWriter{ResponseWriter: w}
	project, action, ok := parseGitPath(r.URL.Path)
	log := h.log.With("method", r.Method, "path", r.URL.Path)
	defer func() {
		log.Debug("git request", "status", rw.status(), "bytes", rw.written, "duration", time.Since(start))
	}()
	if !ok {
		http.NotFound(rw, r)
		return
	}
	access, problem, status := h.route(r, action)
	if problem != "" {
		if status == http.StatusMethodNotAllowed {
			rw.Header().Set("Allow", allowedMethod(action))
		}
		http.Error(rw, problem, status)
		return
	}
	var creds *Credentials
	if user, pass, ok := r.BasicAuth(); ok {
		// Not even the username is logged: some clients put a token there.
		creds = &Credentials{Username: user, Password: pass}
	}
	identity, err := h.auth.Authorize(r.Context(), AuthRequest{Project: project, Access: access, Credentials: creds})
	if err != nil {
		h.deny(rw, log, creds != nil, access, err)
		return
	}
	if strings.ContainsFunc(identity, isControl) {
		log.Error("authorizer returned an identity with a control character", "project", project)
		http.Error(rw, "internal server error", http.StatusInternalServerError)
		return
	}
	log = log.With("identity", identity)
	repo, err := h.repos.Open(project)
	if errors.Is(err, ErrNotFound) {
		http.Error(rw, projectNotFound, http.StatusNotFound)
		return
	}
	if err != nil {
		log.Error("opening repository", "project", project, "error", err)
		http.Error(rw, "internal server error", http.StatusInternalServerError)
		return
	}
	h.serveBackend(rw, r, log, repo, action, identity)
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// route checks the method and, for info/refs, the service, and says what access the
// request needs; problem is non-empty (with an HTTP status) when the request is bad.
func (h *Handler) route(r *http.Request, action string) (access Access, problem string, status int) {
	if r.Method != allowedMethod(action) {
		return 0, fmt.Sprintf("%s needs %s", action, allowedMethod(action)), http.StatusMethodNotAllowed
	}
	service := action
	if action == actionInfoRefs {
		service = r.URL.Query().Get("service")
	}
	switch service {
	case actionUploadPack:
		return Read, "", 0
	case actionReceivePack:
		return Write, "", 0
	}
	return 0, "only git's smart HTTP protocol is served: info/refs needs ?service=git-upload-pack or ?service=git-receive-pack", http.StatusForbidden
}

func allowedMethod(action string) string {
	if action == actionInfoRefs {
		return http.MethodGet
	}
	return http.MethodPost
}

// GitLab's wording for refusals.
const (
	accessDenied    = "HTTP Basic: Access denied"
	projectNotFound = "The project you were looking for could not be found or you don't have permission to view it."
	pushForbidden   = "You are not allowed to push code to this project."
	readForbidden   = "You are not allowed to download code from this project."
)

// deny answers a refused request. Without credentials every refusal is a 401
// challenge: git sends credentials only after one.
func (h *Handler) deny(w http.ResponseWriter, log *slog.Logger, hadCredentials bool, access Access, err error) {
	switch {
	case !hadCredentials || errors.Is(err, ErrUnauthorized):
		if hadCredentials {
			log.Info("git credentials refused")
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="`+h.realm+`"`)
		http.Error(w, accessDenied, http.StatusUnauthorized)
	case errors.Is(err, ErrForbidden):
		log.Info("git access forbidden", "access", access)
		msg := readForbidden
		if access == Write {
			msg = pushForbidden
		}
		http.Error(w, msg, http.StatusForbidden)
	case errors.Is(err, ErrNotFound):
		http.Error(w, projectNotFound, http.StatusNotFound)
	default:
		log.Error("authorizing git request", "error", err)
		http.Error(w, "internal server error", http.StatusInternalServerError)
	}
}

// responseWriter records the status and size of a response and flushes every write,
// so that git's progress and keep-alive packets reach the client at once.
type responseWriter struct {
	http.ResponseWriter
	code    int
	written int64
}

func (w *responseWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.written += int64(n)
	if f, ok := w.ResponseWriter.(http.Flusher); ok && err == nil {
		f.Flush()
	}
	return n, err
}

func (w *responseWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
