// Package runnerapi serves GitLab's runner API (/api/v4/runners... and /api/v4/jobs...)
// exactly as runner-protocol.md describes what the real gitlab-runner sends and
// expects: registration (legacy POST /runners and glrt- verify), unregistration,
// token reset, jobs/request with long polling and X-GitLab-Last-Update, job state
// updates with Job-Status (cancel signalling) and checksum verification (412), trace
// patches with Content-Range (202/416/400), and artifacts upload and download with
// job tokens. Handlers decode, authenticate and call the coordinator.Service; every
// JSON answer has Content-Type application/json.
//
// Only the coordinator side's wiring (internal/api, cmd) imports it.
package runnerapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/kiln-ci/kiln/internal/api/auth"
	"github.com/kiln-ci/kiln/internal/api/reply"
	"github.com/kiln-ci/kiln/internal/coordinator"
	"github.com/kiln-ci/kiln/internal/protocol"
)

// Default limits.
const (
	DefaultMaxJSONBytes  = 1 << 20  // runner info, job updates
	DefaultMaxPatchBytes = 16 << 20 // one trace patch (gitlab-runner sends at most 1 MiB)
)

// Config configures the handlers.
type Config struct {
	Service *coordinator.Service // required
	// Auth authenticates personal access tokens (POST /runners/:id/reset_authentication_token).
	Auth *auth.Authenticator // required
	// MaxJSONBytes bounds JSON request bodies; MaxPatchBytes one trace patch.
	MaxJSONBytes, MaxPatchBytes int64
	Logger                      *slog.Logger
}

// Handler serves the runner API.
type Handler struct {
	svc      *coordinator.Service
	auth     *auth.Authenticator
	maxJSON  int64
	maxPatch int64
	log      *slog.Logger
}

// New returns the runner API handlers.
func New(cfg Config) (*Handler, error) {
	if cfg.Service == nil || cfg.Auth == nil {
		return nil, errors.New("runner API: Config needs Service and Auth")
	}
	if cfg.MaxJSONBytes <= 0 {
		cfg.MaxJSONBytes = DefaultMaxJSONBytes
	}
	if cfg.MaxPatchBytes <= 0 {
		cfg.MaxPatchBytes = DefaultMaxPatchBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Handler{svc: cfg.Service, auth: cfg.Auth, maxJSON: cfg.MaxJSONBytes, maxPatch: cfg.MaxPatchBytes, log: cfg.Logger}, nil
}

// Register mounts the runner API on mux under /api/v4.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/v4/runners", h.registerRunner)
	mux.HandleFunc("DELETE /api/v4/runners", h.unregisterRunner)
	mux.HandleFunc("POST /api/v4/runners/verify", h.verifyRunner)
	mux.HandleFunc("DELETE /api/v4/runners/managers", h.unregisterManager)
	mux.HandleFunc("POST /api/v4/runners/reset_authentication_token", h.resetToken)
	mux.Handle("POST /api/v4/runners/{id}/reset_authentication_token", h.auth.Middleware(http.HandlerFunc(h.resetTokenByPAT)))
	mux.HandleFunc("GET /api/v4/runners/router/discovery", h.routerDiscovery)
	mux.HandleFunc("POST /api/v4/jobs/request", h.requestJob)
	mux.HandleFunc("PUT /api/v4/jobs/{id}", h.updateJob)
	mux.HandleFunc("PATCH /api/v4/jobs/{id}/trace", h.patchTrace)
	mux.HandleFunc("POST /api/v4/jobs/{id}/artifacts", h.uploadArtifacts)
	mux.HandleFunc("GET /api/v4/jobs/{id}/artifacts", h.downloadArtifacts)
}

// decode reads a JSON body into v; an empty body leaves v as it is.
func (h *Handler) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxJSON))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		reply.Text(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("413 Request Entity Too Large - the body is over %d bytes", h.maxJSON))
		return false
	case err != nil:
		reply.Text(w, http.StatusBadRequest, "400 Bad request - reading the body failed")
		return false
	case len(body) == 0:
		return true
	}
	if err := json.Unmarshal(body, v); err != nil {
		reply.Text(w, http.StatusBadRequest, "400 Bad request - the body is not valid JSON: "+jsonProblem(err))
		return false
	}
	return true
}

// jsonProblem describes a JSON error without quoting the body (it may hold tokens).
func jsonProblem(err error) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		return fmt.Sprintf("field %s must be %s, not %s", typeErr.Field, typeErr.Type, typeErr.Value)
	case errors.As(err, &syntaxErr):
		return fmt.Sprintf("syntax error at byte %d", syntaxErr.Offset)
	}
	return "unreadable"
}

// clientIP is the caller's address without its port.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// pathID reads the {id} path value.
func pathID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		reply.Text(w, http.StatusNotFound, "404 Not Found - no job or runner "+strconv.Quote(r.PathValue("id")))
		return 0, false
	}
	return id, true
}

// setJobHeaders puts Job-Status and X-GitLab-Trace-Update-Interval on a job answer.
func (h *Handler) setJobHeaders(w http.ResponseWriter, status string) {
	w.Header().Set(protocol.HeaderJobStatus, status)
	w.Header().Set(protocol.HeaderTraceUpdateInterval, strconv.Itoa(int(h.svc.TraceUpdateInterval()/time.Second)))
}
