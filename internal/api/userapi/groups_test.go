package userapi_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/api/entity"
	"github.com/kiln-ci/kiln/internal/store"
)

func TestAGroupIsCreatedWithKilnsPlan(t *testing.T) {
	e := newEnv(t)
	var g entity.Group
	e.call(t, "POST", "/api/v4/groups", e.AdminToken, map[string]any{"name": "ML Team", "path": "ml-team", "plan": "premium"}).
		want(t, http.StatusCreated, &g)
	if g.FullPath != "ml-team" || g.Plan != "premium" || g.ParentID != nil || g.WebURL != e.URL+"/groups/ml-team" {
		t.Errorf("group %+v", g)
	}
	var sub entity.Group
	e.call(t, "POST", "/api/v4/groups", e.AdminToken, map[string]any{"name": "Vision", "path": "vision", "parent_id": g.ID}).
		want(t, http.StatusCreated, &sub)
	if sub.FullPath != "ml-team/vision" || sub.FullName != "ML Team / Vision" || sub.Plan != "premium" || sub.ParentID == nil || *sub.ParentID != g.ID {
		t.Errorf("subgroup %+v: want ml-team/vision on its root's plan", sub)
	}
	var byPath entity.Group
	e.call(t, "GET", "/api/v4/groups/"+url.PathEscape("ml-team/vision"), e.AdminToken, nil).want(t, http.StatusOK, &byPath)
	if byPath.ID != sub.ID {
		t.Errorf("GET by full path = %+v", byPath)
	}
}

func TestGroupRulesRefuseBadRequestsAndChangeNothing(t *testing.T) {
	e := newEnv(t)
	_, token := e.user(t, "dev")
	var top entity.Group
	e.call(t, "POST", "/api/v4/groups", e.AdminToken, map[string]any{"name": "Acme", "path": "acme"}).want(t, http.StatusCreated, &top)
	for _, tc := range []struct {
		name  string
		token string
		body  map[string]any
		code  int
		want  string
	}{
		{"no path", e.AdminToken, map[string]any{"name": "x"}, 400, "path is missing"},
		{"bad path", e.AdminToken, map[string]any{"name": "x", "path": "-x-"}, 400, "path can contain only"},
		{"unknown plan", e.AdminToken, map[string]any{"name": "x", "path": "x", "plan": "gold"}, 400, "plan does not have a valid value"},
		{"plan on a subgroup", e.AdminToken, map[string]any{"name": "x", "path": "x", "parent_id": top.ID, "plan": "free"}, 400, "plan is the top-level group's"},
		{"taken path", e.AdminToken, map[string]any{"name": "Acme", "path": "acme"}, 400, "path has already been taken"},
		{"paid plan by a user", token, map[string]any{"name": "x", "path": "x", "plan": "ultimate"}, 403, "only administrators may set a plan"},
		{"subgroup of another's group", token, map[string]any{"name": "x", "path": "x", "parent_id": top.ID}, 403, "subgroup"},
		{"missing parent", e.AdminToken, map[string]any{"name": "x", "path": "x", "parent_id": 999}, 404, "Parent Group Not Found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.call(t, "POST", "/api/v4/groups", tc.token, tc.body).wantError(t, tc.code, tc.want)
		})
	}
	var groups []entity.Group
	e.call(t, "GET", "/api/v4/groups", e.AdminToken, nil).want(t, http.StatusOK, &groups)
	if len(groups) != 1 {
		t.Errorf("groups %+v: want only acme", groups)
	}
}

func TestUsersSeeOnlyTheNamespacesTheyOwn(t *testing.T) {
	e := newEnv(t)
	_, dev := e.user(t, "dev")
	e.call(t, "POST", "/api/v4/groups", dev, map[string]any{"name": "Mine", "path": "mine"}).want(t, http.StatusCreated, nil)
	e.call(t, "POST", "/api/v4/groups", e.AdminToken, map[string]any{"name": "Theirs", "path": "theirs"}).want(t, http.StatusCreated, nil)
	var nss []entity.Namespace
	e.call(t, "GET", "/api/v4/namespaces", dev, nil).want(t, http.StatusOK, &nss)
	if len(nss) != 2 || nss[0].FullPath != "dev" || nss[0].Kind != "user" || nss[1].FullPath != "mine" || nss[1].Plan != "free" {
		t.Errorf("dev's namespaces %+v, want dev (user) and mine (group)", nss)
	}
	e.call(t, "GET", "/api/v4/groups/theirs", dev, nil).wantError(t, http.StatusNotFound, "404 Group Not Found")
	e.call(t, "GET", "/api/v4/namespaces?search=the", e.AdminToken, nil).want(t, http.StatusOK, &nss)
	if len(nss) != 1 || nss[0].FullPath != "theirs" {
		t.Errorf("search=the: %+v", nss)
	}
}

func TestAdministratorsChangeAPlan(t *testing.T) {
	e := newEnv(t)
	_, dev := e.user(t, "dev")
	var g entity.Group
	e.call(t, "POST", "/api/v4/groups", dev, map[string]any{"name": "Lab", "path": "lab"}).want(t, http.StatusCreated, &g)
	e.call(t, "PUT", "/api/v4/namespaces/lab", dev, map[string]any{"plan": "ultimate"}).wantError(t, http.StatusForbidden)
	var ns entity.Namespace
	e.call(t, "PUT", "/api/v4/namespaces/lab", e.AdminToken, "plan=ultimate").want(t, http.StatusOK, &ns)
	if ns.Plan != "ultimate" {
		t.Errorf("plan %q after the change", ns.Plan)
	}
	e.call(t, "PUT", "/api/v4/namespaces/lab", e.AdminToken, map[string]any{"plan": "platinum"}).
		wantError(t, http.StatusBadRequest, "plan does not have a valid value")
	e.call(t, "GET", "/api/v4/namespaces/"+itoa(g.ID), dev, nil).want(t, http.StatusOK, &ns)
	if ns.Plan != "ultimate" {
		t.Errorf("plan %q, want ultimate", ns.Plan)
	}
}

func TestComputeUsageShowsQuotaLeftAndWarnings(t *testing.T) {
	e := newEnv(t)
	g := e.Group(t, "acme", "free")
	var sub entity.Group
	e.call(t, "POST", "/api/v4/groups", e.AdminToken, map[string]any{"name": "Sub", "path": "sub", "parent_id": g.ID}).
		want(t, http.StatusCreated, &sub)
	var u entity.ComputeUsage
	e.call(t, "GET", "/api/v4/namespaces/acme/compute_usage", e.AdminToken, nil).want(t, http.StatusOK, &u)
	if u.Used != 0 || u.Quota == nil || *u.Quota != 400 || u.PercentLeft != 100 || u.WarningLevel != nil || u.Warning != "" {
		t.Errorf("fresh usage %+v", u)
	}
	month := store.MonthOf(time.Now())
	if _, err := e.Store.Usage.AddMinutes(context.Background(), g.ID, month, 390); err != nil {
		t.Fatal(err)
	}
	// A subgroup reports its top-level group's minutes.
	e.call(t, "GET", "/api/v4/namespaces/"+itoa(sub.ID)+"/compute_usage", e.AdminToken, nil).want(t, http.StatusOK, &u)
	if u.RootNamespaceID != g.ID || u.Used != 390 || *u.Left != 10 || u.PercentLeft != 2.5 || u.WarningLevel == nil || *u.WarningLevel != 5 || u.Exceeded || u.Warning == "" {
		t.Errorf("usage at 2.5%% left %+v, want warning level 5", u)
	}
	if _, err := e.Store.Usage.AddMinutes(context.Background(), g.ID, month, 20); err != nil {
		t.Fatal(err)
	}
	e.call(t, "GET", "/api/v4/namespaces/acme/compute_usage", e.AdminToken, nil).want(t, http.StatusOK, &u)
	if !u.Exceeded || *u.WarningLevel != 0 || *u.Left != 0 {
		t.Errorf("spent usage %+v", u)
	}
	_, dev := e.user(t, "dev")
	e.call(t, "GET", "/api/v4/namespaces/acme/compute_usage", dev, nil).wantError(t, http.StatusNotFound)
}
