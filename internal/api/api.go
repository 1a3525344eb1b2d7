// Package api is the coordinator's HTTP surface: it routes /api/v4 (the runner API of
// internal/api/runnerapi, and the user API and web UI other packages mount), the
// hosted git repositories (smart HTTP at /<full path>.git/...), /-/health,
// /-/readiness and /metrics, with request logging and GitLab's X-Request-Id.
//
// Subpackages: auth (tokens and project access), reply (GitLab's JSON and error
// shapes), runnerapi (the runner API). Only cmd (and tests) import this package.
package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/kiln-ci/kiln/internal/api/auth"
	"github.com/kiln-ci/kiln/internal/api/reply"
	"github.com/kiln-ci/kiln/internal/api/runnerapi"
	"github.com/kiln-ci/kiln/internal/coordinator"
	"github.com/kiln-ci/kiln/internal/git"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/store"
)

// Config configures the router.
type Config struct {
	Service *coordinator.Service // required
	Auth    *auth.Authenticator  // required
	// Git serves the hosted repositories (a *git.Handler); nil serves none.
	Git http.Handler
	// Metrics serves /metrics (promhttp); nil serves none.
	Metrics http.Handler
	// Mounts add routes to the same mux: the user API, the web UI (at "/").
	Mounts []func(mux *http.ServeMux)
	Logger *slog.Logger
}

// New returns the coordinator's HTTP handler.
func New(cfg Config) (http.Handler, error) {
	if cfg.Service == nil || cfg.Auth == nil {
		return nil, errors.New("api: Config needs Service and Auth")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	runners, err := runnerapi.New(runnerapi.Config{Service: cfg.Service, Auth: cfg.Auth, Logger: cfg.Logger.With("component", "runner-api")})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	runners.Register(mux)
	mux.HandleFunc("GET /-/health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("Kiln OK\n"))
	})
	mux.HandleFunc("GET /-/readiness", readiness(cfg.Service.Store()))
	if cfg.Metrics != nil {
		mux.Handle("GET /metrics", cfg.Metrics)
	}
	for _, mount := range cfg.Mounts {
		mount(mux)
	}
	var root http.Handler = mux
	if cfg.Git != nil {
		root = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if git.IsGitPath(r.URL.Path) {
				cfg.Git.ServeHTTP(w, r)
				return
			}
			mux.ServeHTTP(w, r)
		})
	}
	return logRequests(root, cfg.Logger), nil
}

// readiness answers 200 {"status":"ok"} when the database answers, else 503.
func readiness(st *store.Store) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if _, err := st.Users.CountUsers(ctx); err != nil {
			reply.JSON(w, http.StatusServiceUnavailable, map[string]string{"status": "failed", "message": "the database does not answer"})
			return
		}
		reply.JSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}
}

// statusWriter records the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection (flushes, deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logRequests gives every request an X-Request-Id (the caller's, when it sent a
// sane one) and logs it at debug level; server errors at warn. Query strings are left
// out of logs: they may carry tokens (private_token, job_token).
func logRequests(next http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(protocol.HeaderRequestID)
		if len(id) == 0 || len(id) > 64 || !printable(id) {
			var b [16]byte
			rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set(protocol.HeaderRequestID, id)
		sw := &statusWriter{ResponseWriter: w}
		start := time.Now()
		next.ServeHTTP(sw, r)
		level := slog.LevelDebug
		if sw.status >= 500 {
			level = slog.LevelWarn
		}
		log.Log(r.Context(), level, "request", "method", r.Method, "path", r.URL.Path, "status", sw.status,
			"duration", time.Since(start), "request_id", id)
	})
}

func printable(s string) bool {
	for _, c := range s {
		if c < '!' || c > '~' {
			return false
		}
	}
	return true
}
