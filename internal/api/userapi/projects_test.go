package userapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/kiln-ci/kiln/internal/api/entity"
	"github.com/kiln-ci/kiln/internal/git"
)

func TestAProjectIsCreatedWithItsRepository(t *testing.T) {
	e := newEnv(t)
	var g entity.Group
	e.call(t, "POST", "/api/v4/groups", e.AdminToken, map[string]any{"name": "Acme", "path": "acme"}).want(t, http.StatusCreated, &g)
	var p entity.Project
	e.call(t, "POST", "/api/v4/projects", e.AdminToken, map[string]any{"name": "Model Zoo", "namespace_id": g.ID, "description": "models"}).
		want(t, http.StatusCreated, &p)
	if p.Path != "model-zoo" || p.PathWithNamespace != "acme/model-zoo" || p.Visibility != "private" || p.DefaultBranch != "main" ||
		p.NameWithNamespace != "Acme / Model Zoo" || p.Namespace.ID != g.ID || p.CIConfigPath != ".gitlab-ci.yml" {
		t.Errorf("project %+v", p)
	}
	if p.HTTPURLToRepo != e.URL+"/acme/model-zoo.git" || p.WebURL != e.URL+"/acme/model-zoo" {
		t.Errorf("http_url_to_repo %q web_url %q", p.HTTPURLToRepo, p.WebURL)
	}
	repo, err := e.Repos.Open("acme/model-zoo")
	if err != nil {
		t.Fatalf("the project has no repository: %v", err)
	}
	if b, err := repo.DefaultBranch(context.Background()); err != nil || b != "main" {
		t.Errorf("repository HEAD %q (%v), want main", b, err)
	}
	for _, id := range []string{itoa(p.ID), url.PathEscape("acme/model-zoo")} {
		var got entity.Project
		e.call(t, "GET", "/api/v4/projects/"+id, e.AdminToken, nil).want(t, http.StatusOK, &got)
		if got.ID != p.ID {
			t.Errorf("GET /projects/%s = %d, want %d", id, got.ID, p.ID)
		}
	}
}

func TestAProjectGoesToTheCallersNamespaceByDefault(t *testing.T) {
	e := newEnv(t)
	u, token := e.user(t, "dev")
	var p entity.Project
	e.call(t, "POST", "/api/v4/projects", token, "path=tools&visibility=internal&default_branch=trunk").want(t, http.StatusCreated, &p)
	if p.PathWithNamespace != "dev/tools" || p.Name != "tools" || p.Namespace.Kind != "user" || p.CreatorID != u.ID ||
		p.Visibility != "internal" || p.DefaultBranch != "trunk" {
		t.Errorf("project %+v", p)
	}
}

func TestBadProjectsAreRefusedAndLeaveNothingBehind(t *testing.T) {
	e := newEnv(t)
	_, dev := e.user(t, "dev")
	g := e.Group(t, "acme", "free")
	e.call(t, "POST", "/api/v4/projects", e.AdminToken, map[string]any{"path": "app", "namespace_id": g.ID}).want(t, http.StatusCreated, nil)
	for _, tc := range []struct {
		name  string
		token string
		body  map[string]any
		code  int
		want  string
	}{
		{"no name or path", e.AdminToken, map[string]any{"description": "x"}, 400, "name, path are missing"},
		{"bad path", e.AdminToken, map[string]any{"path": "a..b", "namespace_id": g.ID}, 400, "path can contain only"},
		{"taken path", e.AdminToken, map[string]any{"path": "app", "namespace_id": g.ID}, 400, "path has already been taken"},
		{"bad visibility", e.AdminToken, map[string]any{"path": "x", "visibility": "secret"}, 400, "visibility does not have a valid value"},
		{"bad branch", e.AdminToken, map[string]any{"path": "x", "default_branch": "a..b"}, 400, "default_branch is not a valid branch name"},
		{"missing namespace", e.AdminToken, map[string]any{"path": "x", "namespace_id": 999}, 404, "404 Namespace Not Found"},
		{"another's namespace", dev, map[string]any{"path": "x", "namespace_id": g.ID}, 403, "acme"},
		{"not JSON", e.AdminToken, nil, 400, "name, path are missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.call(t, "POST", "/api/v4/projects", tc.token, tc.body).wantError(t, tc.code, tc.want)
		})
	}
	var all []entity.Project
	e.call(t, "GET", "/api/v4/projects", e.AdminToken, nil).want(t, http.StatusOK, &all)
	if len(all) != 1 {
		t.Errorf("projects %+v, want only acme/app", all)
	}
	if _, err := e.Repos.Open("acme/x"); !errors.Is(err, git.ErrNotFound) {
		t.Errorf("a refused project left a repository: %v", err)
	}
}

func TestARepositoryLeftByAnInterruptedCreationIsTakenOver(t *testing.T) {
	e := newEnv(t)
	g := e.Group(t, "acme", "free")
	if _, err := e.Repos.Create(context.Background(), "acme/app", git.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.call(t, "POST", "/api/v4/projects", e.AdminToken, map[string]any{"path": "app", "namespace_id": g.ID}).want(t, http.StatusCreated, nil)
}

func TestPrivateProjectsAreHiddenFromOthers(t *testing.T) {
	e := newEnv(t)
	_, alice := e.user(t, "alice")
	_, bob := e.user(t, "bob")
	var priv, pub, internal entity.Project
	e.call(t, "POST", "/api/v4/projects", alice, map[string]any{"path": "secret"}).want(t, http.StatusCreated, &priv)
	e.call(t, "POST", "/api/v4/projects", alice, map[string]any{"path": "open", "visibility": "public"}).want(t, http.StatusCreated, &pub)
	e.call(t, "POST", "/api/v4/projects", alice, map[string]any{"path": "inside", "visibility": "internal"}).want(t, http.StatusCreated, &internal)

	e.call(t, "GET", "/api/v4/projects/"+itoa(priv.ID), bob, nil).wantError(t, http.StatusNotFound, "404 Project Not Found")
	e.call(t, "GET", "/api/v4/projects/"+itoa(pub.ID), "", nil).want(t, http.StatusOK, nil)
	e.call(t, "GET", "/api/v4/projects/"+itoa(internal.ID), "", nil).wantError(t, http.StatusNotFound)

	for _, tc := range []struct {
		who, token string
		query      string
		want       []int64
	}{
		{"anonymous", "", "", []int64{pub.ID}},
		{"bob", bob, "", []int64{internal.ID, pub.ID}},
		{"alice", alice, "", []int64{internal.ID, pub.ID, priv.ID}},
		{"alice owned", alice, "?owned=true", []int64{internal.ID, pub.ID, priv.ID}},
		{"bob owned", bob, "?owned=true", nil},
		{"alice search", alice, "?search=SEC", []int64{priv.ID}},
		{"admin visibility", e.AdminToken, "?visibility=public", []int64{pub.ID}},
		{"admin", e.AdminToken, "", []int64{internal.ID, pub.ID, priv.ID}},
	} {
		var got []entity.Project
		e.call(t, "GET", "/api/v4/projects"+tc.query, tc.token, nil).want(t, http.StatusOK, &got)
		ids := []int64{}
		for _, p := range got {
			ids = append(ids, p.ID)
		}
		if fmt.Sprint(ids) != fmt.Sprint(orEmpty(tc.want)) {
			t.Errorf("%s sees %v, want %v", tc.who, ids, tc.want)
		}
	}
	// Bob may read alice's public project but not change it.
	e.call(t, "POST", "/api/v4/projects/"+itoa(pub.ID)+"/pipeline?ref=main", bob, nil).wantError(t, http.StatusForbidden)
}

func orEmpty(ids []int64) []int64 {
	if ids == nil {
		return []int64{}
	}
	return ids
}

func TestListsArePaginatedWithGitLabsHeaders(t *testing.T) {
	e := newEnv(t)
	for i := range 7 {
		e.call(t, "POST", "/api/v4/projects", e.AdminToken, map[string]any{"path": fmt.Sprintf("p%d", i)}).want(t, http.StatusCreated, nil)
	}
	for _, tc := range []struct {
		query                      string
		n                          int
		page, next, prev, total, p string
	}{
		{"?per_page=3", 3, "1", "2", "", "7", "3"},
		{"?per_page=3&page=2", 3, "2", "3", "1", "7", "3"},
		{"?per_page=3&page=3", 1, "3", "", "2", "7", "3"},
		{"?per_page=3&page=9", 0, "9", "", "8", "7", "3"},
		{"?per_page=7", 7, "1", "", "", "7", "1"},
		{"", 7, "1", "", "", "7", "1"},
	} {
		var got []entity.Project
		res := e.call(t, "GET", "/api/v4/projects"+tc.query, e.AdminToken, nil).want(t, http.StatusOK, &got)
		h := res.header
		if len(got) != tc.n || h.Get("X-Page") != tc.page || h.Get("X-Next-Page") != tc.next || h.Get("X-Prev-Page") != tc.prev ||
			h.Get("X-Total") != tc.total || h.Get("X-Total-Pages") != tc.p {
			t.Errorf("%s: %d projects, X-Page %q X-Next-Page %q X-Prev-Page %q X-Total %q X-Total-Pages %q; want %d %s %q %q %s %s",
				tc.query, len(got), h.Get("X-Page"), h.Get("X-Next-Page"), h.Get("X-Prev-Page"), h.Get("X-Total"), h.Get("X-Total-Pages"),
				tc.n, tc.page, tc.next, tc.prev, tc.total, tc.p)
		}
	}
	res := e.call(t, "GET", "/api/v4/projects?per_page=3&page=2&private_token=x", e.AdminToken, nil)
	if l := res.header.Get("Link"); !contains(l, `page=3&per_page=3>; rel="next"`) || !contains(l, `rel="last"`) || contains(l, "private_token") {
		t.Errorf("Link %q", l)
	}
}
