package storetest

import (
	"testing"

	"github.com/kiln-ci/kiln/internal/store"
)

var projectTests = map[string]func(*testing.T, *env){
	"CreateProject fills in GitLab's defaults and the full path": func(t *testing.T, e *env) {
		root := e.group(0, "")
		sub := e.group(root.ID, "")
		u := e.user()
		p := &store.Project{NamespaceID: sub.ID, Name: "Trainer", Path: "trainer", CreatorID: u.ID, Description: "trains"}
		must(t, e.s.Projects.CreateProject(e.ctx, p))
		if p.ID == 0 || p.FullPath != sub.FullPath+"/trainer" || p.RootNamespaceID != root.ID || p.DefaultBranch != "main" ||
			p.Visibility != store.VisibilityPrivate || p.CIConfigPath != store.DefaultCIConfigPath {
			t.Errorf("CreateProject set %+v", p)
		}
		got, err := e.s.Projects.Project(e.ctx, p.ID)
		must(t, err)
		if got.Name != "Trainer" || got.Description != "trains" || got.CreatorID != u.ID || got.NamespaceID != sub.ID ||
			got.FullPath != p.FullPath {
			t.Errorf("Project = %+v", got)
		}
		equalTime(t, "CreatedAt", got.CreatedAt, e.clock.Now())
		byPath, err := e.s.Projects.ProjectByPath(e.ctx, sub.FullPath+"/TRAINER")
		must(t, err)
		if byPath.ID != p.ID {
			t.Errorf("ProjectByPath found %d, want %d", byPath.ID, p.ID)
		}
	},
	"CreateProject refuses bad input, missing namespaces and taken paths": func(t *testing.T, e *env) {
		g := e.group(0, "")
		must(t, e.s.Projects.CreateProject(e.ctx, &store.Project{NamespaceID: g.ID, Path: "app"}))
		cases := []struct {
			name string
			p    store.Project
			want error
		}{
			{"taken", store.Project{NamespaceID: g.ID, Path: "App"}, store.ErrConflict},
			{"missing namespace", store.Project{NamespaceID: g.ID + 100, Path: "x"}, store.ErrNotFound},
			{"bad path", store.Project{NamespaceID: g.ID, Path: "x.git"}, store.ErrInvalid},
			{"no path or name", store.Project{NamespaceID: g.ID}, store.ErrInvalid},
			{"bad visibility", store.Project{NamespaceID: g.ID, Path: "y", Visibility: "secret"}, store.ErrInvalid},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				p := c.p
				wantErr(t, e.s.Projects.CreateProject(e.ctx, &p), c.want)
			})
		}
		list, err := e.s.Projects.ListProjects(e.ctx, store.ProjectQuery{})
		must(t, err)
		if len(list) != 1 {
			t.Errorf("%d projects after refused creations, want 1", len(list))
		}
	},
	"ListProjects lists newest first, by namespace or subtree": func(t *testing.T, e *env) {
		root := e.group(0, "")
		sub := e.group(root.ID, "")
		other := e.group(0, "")
		a, b, c := e.project(root.ID), e.project(sub.ID), e.project(other.ID)
		ids := func(q store.ProjectQuery) []int64 {
			t.Helper()
			list, err := e.s.Projects.ListProjects(e.ctx, q)
			must(t, err)
			var out []int64
			for _, p := range list {
				out = append(out, p.ID)
			}
			return out
		}
		if got := ids(store.ProjectQuery{}); len(got) != 3 || got[0] != c.ID || got[2] != a.ID {
			t.Errorf("all projects = %v, want [%d %d %d]", got, c.ID, b.ID, a.ID)
		}
		if got := ids(store.ProjectQuery{NamespaceID: root.ID}); len(got) != 1 || got[0] != a.ID {
			t.Errorf("projects in %s = %v, want [%d]", root.FullPath, got, a.ID)
		}
		if got := ids(store.ProjectQuery{Under: root.ID}); len(got) != 2 || got[0] != b.ID || got[1] != a.ID {
			t.Errorf("projects under %s = %v, want [%d %d]", root.FullPath, got, b.ID, a.ID)
		}
		if got := ids(store.ProjectQuery{Page: store.Page{Offset: 1, Limit: 1}}); len(got) != 1 || got[0] != b.ID {
			t.Errorf("second page = %v, want [%d]", got, b.ID)
		}
	},
	"UpdateProject saves the editable fields": func(t *testing.T, e *env) {
		p := e.project(e.group(0, "").ID)
		p.Name, p.Description, p.DefaultBranch, p.Visibility, p.CIConfigPath = "Renamed", "d", "trunk", store.VisibilityPublic, "ci/pipeline.yml"
		must(t, e.s.Projects.UpdateProject(e.ctx, p))
		got, err := e.s.Projects.Project(e.ctx, p.ID)
		must(t, err)
		if got.Name != "Renamed" || got.DefaultBranch != "trunk" || got.Visibility != store.VisibilityPublic ||
			got.CIConfigPath != "ci/pipeline.yml" || got.Description != "d" {
			t.Errorf("after UpdateProject: %+v", got)
		}
		p.Visibility = "hidden"
		wantErr(t, e.s.Projects.UpdateProject(e.ctx, p), store.ErrInvalid)
		missing := *got
		missing.ID += 100
		wantErr(t, e.s.Projects.UpdateProject(e.ctx, &missing), store.ErrNotFound)
		_, err = e.s.Projects.Project(e.ctx, missing.ID)
		wantErr(t, err, store.ErrNotFound)
		_, err = e.s.Projects.ProjectByPath(e.ctx, "no/such")
		wantErr(t, err, store.ErrNotFound)
	},
}
