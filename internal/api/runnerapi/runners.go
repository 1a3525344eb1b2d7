package runnerapi

import (
	"net/http"

	"github.com/kiln-ci/kiln/internal/api/auth"
	"github.com/kiln-ci/kiln/internal/api/reply"
	"github.com/kiln-ci/kiln/internal/coordinator"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/store"
)

// runnerToken is the RUNNER-TOKEN header, or the body's token.
func runnerToken(r *http.Request, body string) string {
	if t := auth.RunnerToken(r); t != "" {
		return t
	}
	return body
}

// registerRunner is POST /runners: legacy registration with a registration token.
// 201 {id, token, token_expires_at: null}; 403 for a bad registration token.
func (h *Handler) registerRunner(w http.ResponseWriter, r *http.Request) {
	var req protocol.RegisterRunnerRequest
	if !h.decode(w, r, &req) {
		return
	}
	req.Token = runnerToken(r, req.Token)
	runner, token, err := h.svc.RegisterRunner(r.Context(), req, clientIP(r))
	if err != nil {
		reply.Error(w, r, h.log, err)
		return
	}
	reply.JSON(w, http.StatusCreated, protocol.RegisterRunnerResponse{ID: runner.ID, Token: token})
}

// verifyRunner is POST /runners/verify: 200 {id, token, token_expires_at: null}
// (JSON with a non-zero id, which `register --token glrt-…` needs); 403 if unknown.
func (h *Handler) verifyRunner(w http.ResponseWriter, r *http.Request) {
	var req protocol.VerifyRunnerRequest
	if !h.decode(w, r, &req) {
		return
	}
	token := runnerToken(r, req.Token)
	runner, err := h.svc.VerifyRunner(r.Context(), token, coordinator.Contact{SystemID: req.SystemID, Info: req.Info, IP: clientIP(r)})
	if err != nil {
		reply.Error(w, r, h.log, err)
		return
	}
	var resp protocol.VerifyRunnerResponse
	resp.ID, resp.Token = runner.ID, token
	if !runner.TokenExpiresAt.IsZero() {
		t := runner.TokenExpiresAt
		resp.TokenExpiresAt = &t
	}
	reply.JSON(w, http.StatusOK, resp)
}

// unregisterRunner is DELETE /runners: 204, or 403 for an unknown token.
func (h *Handler) unregisterRunner(w http.ResponseWriter, r *http.Request) {
	var req protocol.UnregisterRunnerRequest
	if !h.decode(w, r, &req) {
		return
	}
	if err := h.svc.UnregisterRunner(r.Context(), runnerToken(r, req.Token)); err != nil {
		reply.Error(w, r, h.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// unregisterManager is DELETE /runners/managers: removes one host (system_id) of a
// glrt- runner. 204; 403 for an unknown token; 404 for an unknown system_id.
func (h *Handler) unregisterManager(w http.ResponseWriter, r *http.Request) {
	var req protocol.UnregisterRunnerRequest
	if !h.decode(w, r, &req) {
		return
	}
	if err := h.svc.UnregisterManager(r.Context(), runnerToken(r, req.Token), req.SystemID); err != nil {
		reply.Error(w, r, h.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// resetToken is POST /runners/reset_authentication_token with the runner's own
// token: 201 {token, token_expires_at: null} (null keeps the runner's rotation off).
func (h *Handler) resetToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Token string `json:"token"`
	}
	if !h.decode(w, r, &req) {
		return
	}
	token := runnerToken(r, req.Token)
	runner, err := h.svc.AuthenticateRunner(r.Context(), token)
	if err != nil {
		reply.Error(w, r, h.log, err)
		return
	}
	h.replyNewToken(w, r, runner, token)
}

// resetTokenByPAT is POST /runners/:id/reset_authentication_token with a
// PRIVATE-TOKEN of an administrator or the runner's creator.
func (h *Handler) resetTokenByPAT(w http.ResponseWriter, r *http.Request) {
	u := auth.FromContext(r.Context())
	if u == nil {
		reply.Status(w, http.StatusUnauthorized)
		return
	}
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	runner, err := h.svc.Store().Runners.Runner(r.Context(), id)
	if err != nil {
		reply.Error(w, r, h.log, coordinator.LookupError(err, "runner", id))
		return
	}
	if !u.Admin && runner.CreatorID != u.ID || !u.HasScope("manage_runner") && !u.HasScope("api") {
		reply.Status(w, http.StatusForbidden)
		return
	}
	h.replyNewToken(w, r, runner, store.PrefixRunnerToken)
}

func (h *Handler) replyNewToken(w http.ResponseWriter, r *http.Request, runner *store.Runner, oldToken string) {
	token, err := h.svc.ResetRunnerToken(r.Context(), runner, oldToken)
	if err != nil {
		reply.Error(w, r, h.log, err)
		return
	}
	reply.JSON(w, http.StatusCreated, protocol.ResetTokenResponse{Token: token})
}

// routerDiscovery answers the job router discovery (FF_USE_JOB_ROUTER) with 501:
// Kiln hands out jobs over REST only.
func (h *Handler) routerDiscovery(w http.ResponseWriter, r *http.Request) {
	reply.Text(w, http.StatusNotImplemented, "501 Not Implemented - the job router is not available; use the REST API")
}
