package runnerapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/kiln-ci/kiln/internal/store"
)

func TestLegacyRegistrationAnswers201WithIDAndTokenAsGitLabRunnerExpects(t *testing.T) {
	e := newEnv(t, "x:\n  script: [true]\n", nil)
	ctx := context.Background()
	rt := &store.RegistrationToken{RunnerType: store.RunnerInstance}
	if err := e.Store.Runners.CreateRegistrationToken(ctx, rt, "GR1348941regtoken0000000"); err != nil {
		t.Fatal(err)
	}
	// The body gitlab-runner register --registration-token sends (§2.2): tag_list is a
	// comma-joined string, info comes from an empty runner config, the token also goes in
	// the RUNNER-TOKEN header.
	body := `{"description":"my-runner","tag_list":"shell,linux","run_untagged":false,"locked":true,"paused":false,
		"info":{"name":"gitlab-runner","version":"19.4.0","features":{"trace_reset":true}},"token":"GR1348941regtoken0000000"}`
	resp := call(t, "POST", e.URL+"/api/v4/runners", map[string]string{"Runner-Token": "GR1348941regtoken0000000"}, body)
	resp.wantStatus(t, http.StatusCreated)
	var got struct {
		ID             *int64  `json:"id"`
		Token          string  `json:"token"`
		TokenExpiresAt *string `json:"token_expires_at"`
	}
	resp.json(t, &got)
	if got.ID == nil || *got.ID == 0 || got.Token == "" || got.TokenExpiresAt != nil {
		t.Fatalf("registration answer %s", resp.body)
	}
	if !strings.Contains(string(resp.body), `"token_expires_at":null`) {
		t.Errorf("token_expires_at must be null (no rotation): %s", resp.body)
	}
	r, err := e.Store.Runners.RunnerByToken(ctx, got.Token)
	if err != nil {
		t.Fatalf("the returned token does not authenticate: %v", err)
	}
	if strings.Join(r.Tags, ",") != "linux,shell" || r.RunUntagged || !r.Locked || r.Description != "my-runner" {
		t.Errorf("registered runner %+v", r)
	}
	if r.Version != "19.4.0" {
		t.Errorf("runner version %q, want the info's 19.4.0", r.Version)
	}
}

func TestRegistrationWithABadTokenIs403(t *testing.T) {
	e := newEnv(t, "x:\n  script: [true]\n", nil)
	resp := call(t, "POST", e.URL+"/api/v4/runners", nil, `{"token":"nope","info":{}}`)
	resp.wantStatus(t, http.StatusForbidden)
	var msg struct{ Message string }
	resp.json(t, &msg)
	if !strings.HasPrefix(msg.Message, "403 Forbidden") || strings.Contains(string(resp.body), "nope") {
		t.Errorf("403 body %s", resp.body)
	}
}

func TestVerifyAnswers200JSONWithANonZeroIDAndRecordsTheHost(t *testing.T) {
	e := newEnv(t, "x:\n  script: [true]\n", nil)
	resp := call(t, "POST", e.URL+"/api/v4/runners/verify", map[string]string{"Runner-Token": e.token},
		`{"info":`+runnerInfo+`,"token":"`+e.token+`","system_id":"s_1746f8786189"}`)
	resp.wantStatus(t, http.StatusOK)
	var got struct {
		ID             int64   `json:"id"`
		Token          string  `json:"token"`
		TokenExpiresAt *string `json:"token_expires_at"`
	}
	resp.json(t, &got)
	if got.ID != e.runner.ID || got.Token != e.token || got.TokenExpiresAt != nil {
		t.Errorf("verify answer %s", resp.body)
	}
	managers, err := e.Store.Runners.ListManagers(context.Background(), e.runner.ID)
	if err != nil || len(managers) != 1 || managers[0].SystemID != "s_1746f8786189" || managers[0].Executor != "shell" {
		t.Errorf("managers after verify: %+v, %v", managers, err)
	}
	bad := call(t, "POST", e.URL+"/api/v4/runners/verify", nil, `{"token":"glrt-unknown"}`)
	bad.wantStatus(t, http.StatusForbidden)
}

func TestUnregisteringAManagerThenTheRunner(t *testing.T) {
	e := newEnv(t, "x:\n  script: [true]\n", nil)
	call(t, "POST", e.URL+"/api/v4/runners/verify", nil, `{"token":"`+e.token+`","system_id":"s_000000000abc"}`).wantStatus(t, http.StatusOK)
	resp := call(t, "DELETE", e.URL+"/api/v4/runners/managers", map[string]string{"Runner-Token": e.token},
		`{"token":"`+e.token+`","system_id":"s_000000000abc"}`)
	resp.wantStatus(t, http.StatusNoContent)
	again := call(t, "DELETE", e.URL+"/api/v4/runners/managers", nil, `{"token":"`+e.token+`","system_id":"s_000000000abc"}`)
	again.wantStatus(t, http.StatusNotFound)
	// The runner itself stays until DELETE /runners.
	call(t, "POST", e.URL+"/api/v4/runners/verify", nil, `{"token":"`+e.token+`"}`).wantStatus(t, http.StatusOK)
	call(t, "DELETE", e.URL+"/api/v4/runners", nil, `{"token":"`+e.token+`"}`).wantStatus(t, http.StatusNoContent)
	call(t, "POST", e.URL+"/api/v4/runners/verify", nil, `{"token":"`+e.token+`"}`).wantStatus(t, http.StatusForbidden)
	call(t, "DELETE", e.URL+"/api/v4/runners", nil, `{"token":"`+e.token+`"}`).wantStatus(t, http.StatusForbidden)
}

func TestResetAuthenticationTokenAnswers201AndRetiresTheOldToken(t *testing.T) {
	e := newEnv(t, "x:\n  script: [true]\n", nil)
	resp := call(t, "POST", e.URL+"/api/v4/runners/reset_authentication_token", nil, `{"token":"`+e.token+`"}`)
	resp.wantStatus(t, http.StatusCreated)
	var got struct {
		Token          string  `json:"token"`
		TokenExpiresAt *string `json:"token_expires_at"`
	}
	resp.json(t, &got)
	if !strings.HasPrefix(got.Token, "glrt-") || got.Token == e.token || got.TokenExpiresAt != nil {
		t.Fatalf("reset answer %s", resp.body)
	}
	call(t, "POST", e.URL+"/api/v4/runners/verify", nil, `{"token":"`+e.token+`"}`).wantStatus(t, http.StatusForbidden)
	call(t, "POST", e.URL+"/api/v4/runners/verify", nil, `{"token":"`+got.Token+`"}`).wantStatus(t, http.StatusOK)

	// With an administrator's PRIVATE-TOKEN (reset-token --pat).
	byPAT := call(t, "POST", e.URL+"/api/v4/runners/"+itoa(e.runner.ID)+"/reset_authentication_token",
		map[string]string{"Private-Token": e.AdminToken}, nil)
	byPAT.wantStatus(t, http.StatusCreated)
	noPAT := call(t, "POST", e.URL+"/api/v4/runners/"+itoa(e.runner.ID)+"/reset_authentication_token", nil, nil)
	noPAT.wantStatus(t, http.StatusUnauthorized)
}

func TestRouterDiscoveryIsNotImplemented(t *testing.T) {
	e := newEnv(t, "x:\n  script: [true]\n", nil)
	call(t, "GET", e.URL+"/api/v4/runners/router/discovery", map[string]string{"Runner-Token": e.token}, nil).
		wantStatus(t, http.StatusNotImplemented)
}

func TestMalformedJSONIs400NamingTheProblemWithoutEchoingTheBody(t *testing.T) {
	e := newEnv(t, "x:\n  script: [true]\n", nil)
	resp := call(t, "POST", e.URL+"/api/v4/runners/verify", nil, `{"token": 42, "secret":"s3cr3t"}`)
	resp.wantStatus(t, http.StatusBadRequest)
	if !strings.Contains(string(resp.body), "token must be string") || strings.Contains(string(resp.body), "s3cr3t") {
		t.Errorf("400 body %s", resp.body)
	}
}
