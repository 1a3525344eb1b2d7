package userapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/kiln-ci/kiln/internal/api/entity"
)

func TestMaskedValuesFollowGitLabsMaskingRules(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		value string
		ok    bool
	}{
		{"abcdefgh", true},
		{"aB3+/=-_@:.~xyz", true},
		{"dGhpcyBpcyBiYXNlNjQ=", true},
		{"short", false},
		{"1234567", false},
		{"has spaces in it", false},
		{"line\nbreak!", false},
		{"dollar$sign", false},
		{"back\\slash0", false},
		{"quote\"d-value", false},
	} {
		t.Run(tc.value, func(t *testing.T) {
			res := e.call(t, "POST", "/api/v4/admin/ci/variables", e.AdminToken,
				map[string]any{"key": "K_" + strings.Map(keyChar, tc.value), "value": tc.value, "masked": true})
			if tc.ok {
				res.want(t, http.StatusCreated, nil)
				return
			}
			res.wantError(t, http.StatusBadRequest, "value is invalid", "at least 8 characters")
			if strings.Contains(string(res.body), tc.value) {
				t.Errorf("the error repeats the value: %s", res.body)
			}
		})
	}
	e.noSecretInLogs(t, "aB3+/=-_@:.~xyz", "dGhpcyBpcyBiYXNlNjQ=", "has spaces in it")
}

func keyChar(r rune) rune {
	if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
		return r
	}
	return '_'
}

// variablePaths are the three levels' variable endpoints, for a group acme and its
// project acme/app.
func variablePaths(t *testing.T, e *env) map[string]string {
	g := e.Group(t, "acme", "free")
	e.Project(t, g, "app", map[string]string{"README": "hi\n"})
	return map[string]string{
		"instance": "/api/v4/admin/ci/variables",
		"group":    "/api/v4/groups/acme/variables",
		"project":  "/api/v4/projects/" + url.PathEscape("acme/app") + "/variables",
	}
}

func TestVariablesAreKeptAtEachLevel(t *testing.T) {
	e := newEnv(t)
	const secret = "s3cr3t-Value:42"
	for level, path := range variablePaths(t, e) {
		t.Run(level, func(t *testing.T) {
			var v entity.Variable
			e.call(t, "POST", path, e.AdminToken, map[string]any{"key": "DEPLOY_TOKEN", "value": secret, "masked": true,
				"protected": true, "variable_type": "file", "description": "for deploys"}).want(t, http.StatusCreated, &v)
			if v.Key != "DEPLOY_TOKEN" || v.Value != secret || !v.Masked || !v.Protected || v.Raw || v.VariableType != "file" ||
				v.Description == nil || *v.Description != "for deploys" {
				t.Errorf("created %+v", v)
			}
			if (level == "instance") != (v.EnvironmentScope == "") {
				t.Errorf("environment_scope %q at the %s level", v.EnvironmentScope, level)
			}
			e.call(t, "POST", path, e.AdminToken, map[string]any{"key": "DEPLOY_TOKEN", "value": "other-value"}).
				wantError(t, http.StatusBadRequest, "key (DEPLOY_TOKEN) has already been taken")

			e.call(t, "PUT", path+"/DEPLOY_TOKEN", e.AdminToken, "raw=true&protected=false").want(t, http.StatusOK, &v)
			if !v.Raw || v.Protected || !v.Masked || v.Value != secret {
				t.Errorf("after PUT raw=true protected=false: %+v", v)
			}
			e.call(t, "PUT", path+"/DEPLOY_TOKEN", e.AdminToken, map[string]any{"value": "no good"}).
				wantError(t, http.StatusBadRequest, "value is invalid")
			e.call(t, "GET", path+"/DEPLOY_TOKEN", e.AdminToken, nil).want(t, http.StatusOK, &v)
			if v.Value != secret {
				t.Error("a refused update changed the value")
			}
			var list []entity.Variable
			e.call(t, "GET", path, e.AdminToken, nil).want(t, http.StatusOK, &list)
			if len(list) != 1 {
				t.Errorf("list %+v", list)
			}
			e.call(t, "DELETE", path+"/DEPLOY_TOKEN", e.AdminToken, nil).want(t, http.StatusNoContent, nil)
			e.call(t, "GET", path+"/DEPLOY_TOKEN", e.AdminToken, nil).wantError(t, http.StatusNotFound, "404 Variable Not Found")
		})
	}
	e.noSecretInLogs(t, secret)
}

func TestBadVariablesAreRefusedNamingTheField(t *testing.T) {
	e := newEnv(t)
	path := variablePaths(t, e)["project"]
	for _, tc := range []struct {
		body any
		want string
	}{
		{map[string]any{"value": "v"}, "key is missing"},
		{map[string]any{"key": "K"}, "value is missing"},
		{map[string]any{"key": "BAD-KEY", "value": "v"}, "key can contain only letters, digits and '_'"},
		{map[string]any{"key": strings.Repeat("K", 256), "value": "v"}, "key is too long"},
		{map[string]any{"key": "K", "value": "v", "variable_type": "secret"}, "variable_type does not have a valid value"},
		{map[string]any{"key": "K", "value": "v", "masked": "sometimes"}, "masked is invalid"},
		{`{"key": "K", "value": `, "the body is not a JSON object"},
	} {
		var res response
		if s, ok := tc.body.(string); ok {
			res = e.callRaw(t, "POST", path, e.AdminToken, "application/json", s)
		} else {
			res = e.call(t, "POST", path, e.AdminToken, tc.body)
		}
		res.wantError(t, http.StatusBadRequest, tc.want)
	}
	var list []entity.Variable
	e.call(t, "GET", path, e.AdminToken, nil).want(t, http.StatusOK, &list)
	if len(list) != 0 {
		t.Errorf("refused requests created %+v", list)
	}
}

func TestAKeyWithSeveralEnvironmentScopesNeedsAFilter(t *testing.T) {
	e := newEnv(t)
	path := variablePaths(t, e)["project"]
	e.call(t, "POST", path, e.AdminToken, map[string]any{"key": "URL", "value": "https://staging", "environment_scope": "staging"}).
		want(t, http.StatusCreated, nil)
	e.call(t, "POST", path, e.AdminToken, map[string]any{"key": "URL", "value": "https://prod", "environment_scope": "production"}).
		want(t, http.StatusCreated, nil)
	e.call(t, "GET", path+"/URL", e.AdminToken, nil).wantError(t, http.StatusConflict, "filter[environment_scope]")
	var v entity.Variable
	e.call(t, "GET", path+"/URL?filter%5Benvironment_scope%5D=production", e.AdminToken, nil).want(t, http.StatusOK, &v)
	if v.Value != "https://prod" || v.EnvironmentScope != "production" {
		t.Errorf("filtered variable %+v", v)
	}
}

func TestVariablesBelongToThoseWhoMayChangeTheirOwner(t *testing.T) {
	e := newEnv(t)
	paths := variablePaths(t, e)
	_, dev := e.user(t, "dev")
	e.call(t, "GET", paths["instance"], dev, nil).wantError(t, http.StatusForbidden)
	e.call(t, "GET", paths["group"], dev, nil).wantError(t, http.StatusNotFound)
	e.call(t, "POST", paths["project"], dev, map[string]any{"key": "K", "value": "v"}).wantError(t, http.StatusNotFound)
}
