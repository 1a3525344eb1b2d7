package auth_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/api/auth"
	"github.com/kiln-ci/kiln/internal/coordinator"
	"github.com/kiln-ci/kiln/internal/coordinator/coordinatortest"
	"github.com/kiln-ci/kiln/internal/git"
	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/store"
)

func TestTokensAreReadFromGitLabsHeadersAndParameters(t *testing.T) {
	for _, tc := range []struct {
		set  func(r *http.Request)
		want string
	}{
		{func(r *http.Request) { r.Header.Set("PRIVATE-TOKEN", "glpat-a") }, "glpat-a"},
		{func(r *http.Request) { r.Header.Set("Authorization", "Bearer glpat-b") }, "glpat-b"},
		{func(r *http.Request) { r.URL.RawQuery = "private_token=glpat-c" }, "glpat-c"},
		{func(r *http.Request) { r.Header.Set("Authorization", "Basic eDp5") }, ""},
	} {
		r := httptest.NewRequest("GET", "/api/v4/user", nil)
		tc.set(r)
		if got := auth.PrivateToken(r); got != tc.want {
			t.Errorf("PrivateToken = %q, want %q", got, tc.want)
		}
	}
	r := httptest.NewRequest("GET", "/api/v4/jobs/1/artifacts?job_token=glcbt-q", nil)
	if got := auth.JobToken(r); got != "glcbt-q" {
		t.Errorf("JobToken from the query = %q", got)
	}
	r.Header.Set("Job-Token", "glcbt-h")
	if got := auth.JobToken(r); got != "glcbt-h" {
		t.Errorf("JobToken from the header = %q", got)
	}
}

func TestMiddlewareAuthenticatesOrAnswers401(t *testing.T) {
	e := coordinatortest.New(t, coordinatortest.Options{NoRun: true})
	a := auth.New(e.Store.Users, nil)
	var seen *auth.User
	h := a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = auth.FromContext(r.Context()) }))
	for _, tc := range []struct {
		token  string
		status int
		user   string
	}{{"", 200, ""}, {e.AdminToken, 200, "root"}, {"glpat-wrong", 401, ""}} {
		seen = nil
		w := httptest.NewRecorder()
		r := httptest.NewRequest("GET", "/api/v4/user", nil)
		if tc.token != "" {
			r.Header.Set("PRIVATE-TOKEN", tc.token)
		}
		h.ServeHTTP(w, r)
		name := ""
		if seen != nil {
			name = seen.Username
		}
		if w.Code != tc.status || name != tc.user {
			t.Errorf("token %q: %d as %q, want %d as %q (%s)", tc.token, w.Code, name, tc.status, tc.user, w.Body)
		}
	}
	w := httptest.NewRecorder()
	auth.RequireUser(h).ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if w.Code != 401 || w.Body.String() != "{\"message\":\"401 Unauthorized\"}\n" {
		t.Errorf("anonymous behind RequireUser: %d %s", w.Code, w.Body)
	}
}

// fixture is a coordinator with an administrator, a user who owns a group, a
// stranger, and projects of each visibility in that group.
type fixture struct {
	*coordinatortest.Env
	owner, stranger               *store.User
	ownerToken, strangerToken     string
	private, internal, publicProj *store.Project
	authz                         git.Authorizer
}

func newFixture(t *testing.T) *fixture {
	e := coordinatortest.New(t, coordinatortest.Options{})
	ctx := context.Background()
	f := &fixture{Env: e, authz: auth.GitAuthorizer(e.Store, auth.New(e.Store.Users, nil))}
	user := func(name string, scopes ...string) (*store.User, string) {
		u := &store.User{Username: name, Name: name, Email: name + "@example.com"}
		if err := e.Store.Users.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		token := "glpat-" + name + "-0123456789abcdef"
		if err := e.Store.Users.CreateToken(ctx, &store.PersonalAccessToken{UserID: u.ID, Name: "t", Scopes: scopes}, token); err != nil {
			t.Fatal(err)
		}
		return u, token
	}
	f.owner, f.ownerToken = user("owner", "api")
	f.stranger, f.strangerToken = user("stranger", "read_repository")
	g := &store.Namespace{Name: "team", Path: "team", OwnerID: f.owner.ID, Plan: machine.PlanFree}
	if err := e.Store.Namespaces.CreateGroup(ctx, g); err != nil {
		t.Fatal(err)
	}
	project := func(path, visibility string) *store.Project {
		p := &store.Project{NamespaceID: g.ID, Name: path, Path: path, Visibility: visibility}
		if err := e.Store.Projects.CreateProject(ctx, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	f.private, f.internal, f.publicProj = project("secret", "private"), project("shared", "internal"), project("open", "public")
	return f
}

func TestProjectAccessFollowsOwnershipAndVisibility(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, tc := range []struct {
		user *store.User
		p    *store.Project
		want auth.Access
	}{
		{f.Admin, f.private, auth.WriteAccess},
		{f.owner, f.private, auth.WriteAccess},
		{f.stranger, f.private, auth.NoAccess},
		{f.stranger, f.internal, auth.ReadAccess},
		{nil, f.internal, auth.NoAccess},
		{nil, f.publicProj, auth.ReadAccess},
	} {
		got, err := auth.ProjectAccess(ctx, f.Store.Namespaces, tc.user, tc.p)
		if err != nil || got != tc.want {
			name := "anonymous"
			if tc.user != nil {
				name = tc.user.Username
			}
			t.Errorf("%s on %s (%s): %v, %v; want %v", name, tc.p.FullPath, tc.p.Visibility, got, err, tc.want)
		}
	}
}

func TestTheOwnerOfAGroupOwnsTheGroupsBelowIt(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	team, err := f.Store.Namespaces.NamespaceByPath(ctx, "team")
	if err != nil {
		t.Fatal(err)
	}
	sub := &store.Namespace{Name: "ml", Path: "ml", ParentID: team.ID, OwnerID: f.stranger.ID}
	if err := f.Store.Namespaces.CreateGroup(ctx, sub); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		user *store.User
		ns   *store.Namespace
		want bool
	}{
		{f.owner, team, true}, {f.owner, sub, true}, {f.stranger, sub, true}, {f.stranger, team, false},
		{f.Admin, sub, false}, // an administrator may do what owners do, but owns nothing
	} {
		if got, err := auth.OwnsNamespace(ctx, f.Store.Namespaces, tc.user.ID, tc.ns.ID); err != nil || got != tc.want {
			t.Errorf("%s owns %s: %v, %v; want %v", tc.user.Username, tc.ns.FullPath, got, err, tc.want)
		}
	}
	if _, err := auth.OwnsNamespace(ctx, f.Store.Namespaces, f.owner.ID, 999999); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a missing namespace: %v, want ErrNotFound", err)
	}
}

// countingNamespaces counts Ancestors calls per namespace.
type countingNamespaces struct {
	store.Namespaces
	calls map[int64]int
}

func (c *countingNamespaces) Ancestors(ctx context.Context, id int64) ([]store.Namespace, error) {
	c.calls[id]++
	return c.Namespaces.Ancestors(ctx, id)
}

func TestCachedAncestorsReadsEachNamespacesChainOnce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	counted := &countingNamespaces{Namespaces: f.Store.Namespaces, calls: map[int64]int{}}
	nss := auth.CachedAncestors(counted)
	for range 2 {
		for _, p := range []*store.Project{f.private, f.internal, f.publicProj} {
			if a, err := auth.ProjectAccess(ctx, nss, f.owner, p); err != nil || a != auth.WriteAccess {
				t.Fatalf("owner on %s: %v, %v; want write access", p.FullPath, a, err)
			}
		}
	}
	if n := counted.calls[f.private.NamespaceID]; n != 1 || len(counted.calls) != 1 {
		t.Errorf("Ancestors calls %v; want one, for the projects' namespace %d", counted.calls, f.private.NamespaceID)
	}
}

func TestGitAccessByPersonalAccessTokensAndJobTokens(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ask := func(project string, access git.Access, user, password string) error {
		req := git.AuthRequest{Project: project, Access: access}
		if user != "" || password != "" {
			req.Credentials = &git.Credentials{Username: user, Password: password}
		}
		_, err := f.authz.Authorize(ctx, req)
		return err
	}
	cases := []struct {
		name     string
		project  string
		access   git.Access
		user, pw string
		want     error
	}{
		{"no credentials get the challenge", f.private.FullPath, git.Read, "", "", git.ErrUnauthorized},
		{"owner reads", f.private.FullPath, git.Read, "owner", f.ownerToken, nil},
		{"owner pushes", f.private.FullPath, git.Write, "x", f.ownerToken, nil},
		{"stranger cannot see a private project", f.private.FullPath, git.Read, "stranger", f.strangerToken, git.ErrNotFound},
		{"stranger reads an internal one", f.internal.FullPath, git.Read, "stranger", f.strangerToken, nil},
		{"a read_repository token cannot push", f.internal.FullPath, git.Write, "stranger", f.strangerToken, git.ErrForbidden},
		{"a wrong token is challenged again", f.private.FullPath, git.Read, "owner", "glpat-nope", git.ErrUnauthorized},
		{"an unknown project, once authenticated", "team/none", git.Read, "owner", f.ownerToken, git.ErrNotFound},
	}
	for _, c := range cases {
		if err := ask(c.project, c.access, c.user, c.pw); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}

	// A job token reads its own project while the job runs, never writes, and does
	// not open other private projects.
	repoOf := f.Project(t, &store.Namespace{ID: f.private.NamespaceID}, "ci", map[string]string{".gitlab-ci.yml": "j:\n  script: [x]\n"})
	r, _ := f.Runner(t, coordinator.CreateRunnerRequest{RunUntagged: true})
	f.CreatePipeline(t, repoOf, "main")
	job := f.Take(t, r, nil, 5*time.Second)
	if job == nil {
		t.Fatal("no job")
	}
	if err := ask(repoOf.FullPath, git.Read, auth.JobTokenUser, job.Token); err != nil {
		t.Errorf("job token on its project: %v", err)
	}
	if err := ask(repoOf.FullPath, git.Write, auth.JobTokenUser, job.Token); !errors.Is(err, git.ErrForbidden) {
		t.Errorf("job token pushing: %v", err)
	}
	if err := ask(f.private.FullPath, git.Read, auth.JobTokenUser, job.Token); !errors.Is(err, git.ErrNotFound) {
		t.Errorf("job token on another private project: %v", err)
	}
	if err := ask(f.publicProj.FullPath, git.Read, auth.JobTokenUser, job.Token); err != nil {
		t.Errorf("job token on a public project: %v", err)
	}
	f.Succeed(t, job)
	if err := ask(repoOf.FullPath, git.Read, auth.JobTokenUser, job.Token); !errors.Is(err, git.ErrUnauthorized) {
		t.Errorf("a finished job's token: %v", err)
	}
}
