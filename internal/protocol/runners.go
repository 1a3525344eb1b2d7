package protocol

import (
	"context"
	"fmt"
	"net/http"
	"strings"
)

// CreatedRunnerTokenPrefix marks a runner authentication token created in the UI or
// API (POST /user/runners). Such a token is verified, never registered, and
// unregistering it removes only this machine's runner manager.
const CreatedRunnerTokenPrefix = "glrt-"

// IsCreatedRunnerToken reports whether token has the glrt- prefix.
func IsCreatedRunnerToken(token string) bool {
	return strings.HasPrefix(token, CreatedRunnerTokenPrefix)
}

func runnerHeader(token string) http.Header {
	return http.Header{HeaderRunnerToken: {token}}
}

// Register registers a runner with a (legacy) registration token: POST /runners,
// expecting 201. The token goes in both the body and the Runner-Token header.
func (c *Client) Register(ctx context.Context, req RegisterRunnerRequest) (RegisterRunnerResponse, error) {
	var out RegisterRunnerResponse
	resp, err := c.do(ctx, request{
		endpoint: "runners", method: http.MethodPost, path: "runners",
		header: runnerHeader(req.Token), json: req, accept: true,
	})
	if err != nil {
		return out, err
	}
	if err := decodeJSON(resp, http.StatusCreated, "register runner", &out); err != nil {
		return out, err
	}
	if out.Token == "" {
		return out, fmt.Errorf("register runner: the coordinator returned no token")
	}
	return out, nil
}

// Verify checks a runner authentication token: POST /runners/verify, expecting 200
// with {id, token, token_expires_at}. A 403 (ErrForbidden) means the token is invalid
// or the runner was removed. An answer without JSON is the legacy "200" and yields a
// zero ID; callers that need the ID (register with a glrt- token) must check it.
func (c *Client) Verify(ctx context.Context, req VerifyRunnerRequest) (VerifyRunnerResponse, error) {
	var out VerifyRunnerResponse
	resp, err := c.do(ctx, request{
		endpoint: "runners/verify", method: http.MethodPost, path: "runners/verify",
		header: runnerHeader(req.Token), json: req, accept: true,
	})
	if err != nil {
		return out, err
	}
	if resp.StatusCode == http.StatusOK && !isJSON(resp.Header.Get("Content-Type")) {
		drain(resp)
		out.Token = req.Token
		return out, nil
	}
	if err := decodeJSON(resp, http.StatusOK, "verify runner", &out); err != nil {
		return out, err
	}
	return out, nil
}

// Unregister removes a runner: DELETE /runners for registered tokens, or, for glrt-
// tokens, DELETE /runners/managers with the system id (only this machine's manager
// goes). Both expect 204.
func (c *Client) Unregister(ctx context.Context, token, systemID string) error {
	req := request{endpoint: "runners", method: http.MethodDelete, path: "runners",
		header: runnerHeader(token), json: UnregisterRunnerRequest{Token: token}, retryTransport: true}
	if IsCreatedRunnerToken(token) {
		req.endpoint, req.path = "runners/managers", "runners/managers"
		req.json = UnregisterRunnerRequest{Token: token, SystemID: systemID}
	}
	resp, err := c.do(ctx, req)
	if err != nil {
		return err
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusNoContent {
		return &StatusError{Op: "unregister runner", StatusCode: resp.StatusCode, Message: readMessage(resp)}
	}
	return nil
}

// ResetToken asks for a new authentication token: POST
// /runners/reset_authentication_token, expecting 201.
func (c *Client) ResetToken(ctx context.Context, token string) (ResetTokenResponse, error) {
	var out ResetTokenResponse
	resp, err := c.do(ctx, request{
		endpoint: "runners/reset_authentication_token", method: http.MethodPost,
		path: "runners/reset_authentication_token", header: runnerHeader(token),
		json: map[string]string{"token": token}, accept: true,
	})
	if err != nil {
		return out, err
	}
	err = decodeJSON(resp, http.StatusCreated, "reset runner token", &out)
	return out, err
}
