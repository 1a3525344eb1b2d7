package userapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/kiln-ci/kiln/internal/api/entity"
	"github.com/kiln-ci/kiln/internal/machine"
)

func TestTheCurrentUserIsTheTokensOwner(t *testing.T) {
	e := newEnv(t)
	var me entity.User
	e.call(t, "GET", "/api/v4/user", e.AdminToken, nil).want(t, http.StatusOK, &me)
	if me.Username != "root" || me.IsAdmin == nil || !*me.IsAdmin || me.State != "active" || me.NamespaceID == 0 {
		t.Errorf("GET /user = %+v, want root, an administrator, with a namespace", me)
	}
	if me.WebURL != e.URL+"/root" {
		t.Errorf("web_url %q, want %s/root", me.WebURL, e.URL)
	}
}

func TestTokensAreReadFromEveryPlaceGitLabReadsThem(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name string
		set  func(*http.Request)
	}{
		{"PRIVATE-TOKEN", func(r *http.Request) { r.Header.Set("PRIVATE-TOKEN", e.AdminToken) }},
		{"Authorization: Bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+e.AdminToken) }},
		{"private_token", func(r *http.Request) { r.URL.RawQuery = "private_token=" + e.AdminToken }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", e.api+"/api/v4/user", nil)
			tc.set(req)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				t.Errorf("status %d, want 200", res.StatusCode)
			}
		})
	}
}

func TestCallersWithoutAGoodTokenGet401(t *testing.T) {
	e := newEnv(t)
	e.call(t, "GET", "/api/v4/user", "", nil).wantError(t, http.StatusUnauthorized, "401 Unauthorized")
	e.call(t, "GET", "/api/v4/user", "glpat-not-a-real-token-at-all", nil).wantError(t, http.StatusUnauthorized, "401 Unauthorized")
	e.call(t, "POST", "/api/v4/projects", "", map[string]any{"name": "x"}).wantError(t, http.StatusUnauthorized)
}

func TestAReadOnlyTokenCannotWrite(t *testing.T) {
	e := newEnv(t)
	_, token := e.user(t, "reader", "read_api")
	e.call(t, "GET", "/api/v4/user", token, nil).want(t, http.StatusOK, nil)
	var body entity.Error
	e.call(t, "POST", "/api/v4/projects", token, map[string]any{"name": "app"}).want(t, http.StatusForbidden, &body)
	if body.Error != "insufficient_scope" || body.Scope != "api" {
		t.Errorf("answer %+v, want GitLab's insufficient_scope naming api", body)
	}
	var projects []entity.Project
	e.call(t, "GET", "/api/v4/projects", token, nil).want(t, http.StatusOK, &projects)
	if len(projects) != 0 {
		t.Errorf("projects %v, want none: nothing was created", projects)
	}
}

func TestAnAdministratorCreatesUsersAndTheirTokens(t *testing.T) {
	e := newEnv(t)
	var u entity.User
	e.call(t, "POST", "/api/v4/users", e.AdminToken, "username=ada&name=Ada+Lovelace&email=ada%40example.com&password=ignored").
		want(t, http.StatusCreated, &u)
	if u.Username != "ada" || u.Name != "Ada Lovelace" || u.Email != "ada@example.com" || *u.IsAdmin {
		t.Errorf("created %+v", u)
	}
	var tok entity.PersonalAccessToken
	e.call(t, "POST", "/api/v4/users/"+itoa(u.ID)+"/personal_access_tokens", e.AdminToken,
		map[string]any{"name": "ci", "scopes": []string{"api", "read_repository"}, "expires_at": "2999-12-31"}).
		want(t, http.StatusCreated, &tok)
	if !strings.HasPrefix(tok.Token, "glpat-") || !tok.Active || tok.ExpiresAt == nil || *tok.ExpiresAt != "2999-12-31" {
		t.Errorf("token %+v: want an active glpat- token expiring at the end of 2999-12-31", tok)
	}
	var me entity.User
	e.call(t, "GET", "/api/v4/user", tok.Token, nil).want(t, http.StatusOK, &me)
	if me.ID != u.ID {
		t.Errorf("the new token is user %d's, want %d", me.ID, u.ID)
	}
	e.noSecretInLogs(t, tok.Token, e.AdminToken)

	// Only administrators create users.
	e.call(t, "POST", "/api/v4/users", tok.Token, map[string]any{"username": "eve", "name": "Eve"}).wantError(t, http.StatusForbidden)
	e.call(t, "POST", "/api/v4/users", e.AdminToken, map[string]any{"username": "ada", "name": "Other"}).
		wantError(t, http.StatusConflict, "Username has already been taken")
}

func TestBadUserAndTokenInputIsRefusedNamingTheField(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		path string
		body any
		want string
	}{
		{"/api/v4/users", map[string]any{"name": "No Username"}, "username is missing"},
		{"/api/v4/users", map[string]any{"username": "bad name!", "name": "B"}, "username can contain only"},
		{"/api/v4/users", map[string]any{"username": "ok", "name": "B", "admin": "maybe"}, "admin is invalid"},
		{"/api/v4/users/1/personal_access_tokens", map[string]any{"name": "t"}, "scopes is missing"},
		{"/api/v4/users/1/personal_access_tokens", map[string]any{"name": "t", "scopes": []string{"everything"}}, "scopes does not have a valid value"},
		{"/api/v4/users/1/personal_access_tokens", map[string]any{"name": "t", "scopes": []string{"api"}, "expires_at": "soon"}, "expires_at is invalid"},
		{"/api/v4/users/1/personal_access_tokens", map[string]any{"name": "t", "scopes": []string{"api"}, "expires_at": "2001-01-01"}, "expires_at must be in the future"},
	} {
		e.call(t, "POST", tc.path, e.AdminToken, tc.body).wantError(t, http.StatusBadRequest, tc.want)
	}
	var users []entity.User
	e.call(t, "GET", "/api/v4/users", e.AdminToken, nil).want(t, http.StatusOK, &users)
	if len(users) != 1 {
		t.Errorf("users %v: a refused request created one", users)
	}
}

func TestUsersSeeTheirOwnTokensAndMayRevokeThem(t *testing.T) {
	e := newEnv(t)
	u, token := e.user(t, "bob", "read_api", "api")
	_, other := e.user(t, "carol")
	var self entity.PersonalAccessToken
	e.call(t, "GET", "/api/v4/personal_access_tokens/self", token, nil).want(t, http.StatusOK, &self)
	if self.UserID != u.ID || self.Token != "" || !self.Active {
		t.Errorf("self %+v: want bob's live token, without its value", self)
	}
	var mine []entity.PersonalAccessToken
	e.call(t, "GET", "/api/v4/personal_access_tokens", token, nil).want(t, http.StatusOK, &mine)
	if len(mine) != 1 || mine[0].ID != self.ID {
		t.Errorf("bob's tokens %+v", mine)
	}
	// Carol cannot revoke Bob's token (it is not hers to see), Bob can.
	e.call(t, "DELETE", "/api/v4/personal_access_tokens/"+itoa(self.ID), other, nil).wantError(t, http.StatusNotFound)
	e.call(t, "GET", "/api/v4/user", token, nil).want(t, http.StatusOK, nil)
	e.call(t, "DELETE", "/api/v4/personal_access_tokens/self", token, nil).want(t, http.StatusNoContent, nil)
	e.call(t, "GET", "/api/v4/user", token, nil).wantError(t, http.StatusUnauthorized)
}

func TestVersionAndMachineTypes(t *testing.T) {
	e := newEnv(t)
	var v entity.Version
	e.call(t, "GET", "/api/v4/version", e.AdminToken, nil).want(t, http.StatusOK, &v)
	if v.Version == "" || v.Revision == "" {
		t.Errorf("version %+v", v)
	}
	var types []entity.MachineType
	e.call(t, "GET", "/api/v4/machine_types", "", nil).want(t, http.StatusOK, &types)
	var gpu *entity.MachineType
	for i := range types {
		if types[i].Tag == machine.TagGPUMedium {
			gpu = &types[i]
		}
	}
	if len(types) != len(machine.Defaults()) || gpu == nil {
		t.Fatalf("machine types %+v, want the default catalog", types)
	}
	if gpu.GPU.Count != 1 || gpu.CostFactor != 7 || strings.Join(gpu.Plans, ",") != "premium,ultimate" {
		t.Errorf("GPU machine type %+v", gpu)
	}
}

func TestUnknownAPIPathsAnswerGitLabs404(t *testing.T) {
	e := newEnv(t)
	var body entity.Error
	e.call(t, "GET", "/api/v4/no/such/thing", e.AdminToken, nil).want(t, http.StatusNotFound, &body)
	if body.Error != "404 Not Found" {
		t.Errorf("body %+v", body)
	}
}

func TestUsersAreShownWithPrivateFieldsOnlyToThemselvesAndAdministrators(t *testing.T) {
	e := newEnv(t)
	bob, bobToken := e.user(t, "bob")
	ctx := context.Background()
	bob.Email = "bob@example.com"
	if err := e.Store.Users.UpdateUser(ctx, bob); err != nil {
		t.Fatal(err)
	}
	_, carolToken := e.user(t, "carol")
	for _, tc := range []struct {
		who, token string
		private    bool
	}{{"bob", bobToken, true}, {"admin", e.AdminToken, true}, {"carol", carolToken, false}} {
		var u entity.User
		e.call(t, "GET", "/api/v4/users/"+itoa(bob.ID), tc.token, nil).want(t, http.StatusOK, &u)
		if u.Username != "bob" || (u.Email != "") != tc.private || (u.IsAdmin != nil) != tc.private {
			t.Errorf("%s sees %+v", tc.who, u)
		}
	}
	var found []entity.User
	e.call(t, "GET", "/api/v4/users?username=carol", bobToken, nil).want(t, http.StatusOK, &found)
	if len(found) != 1 || found[0].Username != "carol" {
		t.Errorf("users?username=carol: %+v", found)
	}
	e.call(t, "GET", "/api/v4/users?username=nobody", bobToken, nil).want(t, http.StatusOK, &found)
	if len(found) != 0 {
		t.Errorf("users?username=nobody: %+v", found)
	}
	e.call(t, "GET", "/api/v4/users/999", bobToken, nil).wantError(t, http.StatusNotFound, "404 User Not Found")
}

func TestMetadataSaysWhatIsRunning(t *testing.T) {
	e := newEnv(t)
	var m struct {
		Version    string `json:"version"`
		Revision   string `json:"revision"`
		Enterprise *bool  `json:"enterprise"`
	}
	e.call(t, "GET", "/api/v4/metadata", e.AdminToken, nil).want(t, http.StatusOK, &m)
	if m.Version == "" || m.Revision == "" || m.Enterprise == nil || *m.Enterprise {
		t.Errorf("metadata %+v", m)
	}
	e.call(t, "GET", "/api/v4/metadata", "", nil).wantError(t, http.StatusUnauthorized)
}
