package storetest

import (
	"strings"
	"testing"

	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/store"
)

var namespaceTests = map[string]func(*testing.T, *env){
	"a top-level group holds a plan, free by default": func(t *testing.T, e *env) {
		g := &store.Namespace{Name: "Acme", Path: "acme"}
		must(t, e.s.Namespaces.CreateGroup(e.ctx, g))
		if g.ID == 0 || g.Kind != store.NamespaceGroup || g.FullPath != "acme" || g.RootID != g.ID || g.Plan != machine.PlanFree {
			t.Errorf("CreateGroup set %+v", g)
		}
		p := &store.Namespace{Name: "Paid", Path: "paid", Plan: machine.PlanPremium}
		must(t, e.s.Namespaces.CreateGroup(e.ctx, p))
		got, err := e.s.Namespaces.Namespace(e.ctx, p.ID)
		must(t, err)
		if got.Plan != machine.PlanPremium || got.Name != "Paid" {
			t.Errorf("Namespace = %+v", got)
		}
	},
	"subgroups nest under their parent's full path and follow the root's plan": func(t *testing.T, e *env) {
		root := &store.Namespace{Name: "Acme", Path: "acme", Plan: machine.PlanUltimate}
		must(t, e.s.Namespaces.CreateGroup(e.ctx, root))
		mid := &store.Namespace{Name: "ML", Path: "ml", ParentID: root.ID}
		must(t, e.s.Namespaces.CreateGroup(e.ctx, mid))
		leaf := &store.Namespace{Name: "Vision", Path: "vision", ParentID: mid.ID}
		must(t, e.s.Namespaces.CreateGroup(e.ctx, leaf))
		if leaf.FullPath != "acme/ml/vision" || leaf.RootID != root.ID || leaf.Plan != machine.PlanUltimate {
			t.Errorf("subgroup = %+v", leaf)
		}
		got, err := e.s.Namespaces.NamespaceByPath(e.ctx, "ACME/ml/Vision")
		must(t, err)
		if got.ID != leaf.ID || got.ParentID != mid.ID || got.Plan != machine.PlanUltimate {
			t.Errorf("NamespaceByPath = %+v", got)
		}
		anc, err := e.s.Namespaces.Ancestors(e.ctx, leaf.ID)
		must(t, err)
		if len(anc) != 3 || anc[0].ID != root.ID || anc[1].ID != mid.ID || anc[2].ID != leaf.ID {
			t.Errorf("Ancestors = %+v, want acme, acme/ml, acme/ml/vision", anc)
		}
		must(t, e.s.Namespaces.SetPlan(e.ctx, root.ID, machine.PlanFree))
		got, err = e.s.Namespaces.Namespace(e.ctx, leaf.ID)
		must(t, err)
		if got.Plan != machine.PlanFree {
			t.Errorf("subgroup plan after the root changed = %q, want free", got.Plan)
		}
	},
	"CreateGroup refuses bad input and taken paths": func(t *testing.T, e *env) {
		u := e.user()
		root := e.group(0, "")
		cases := []struct {
			name string
			g    store.Namespace
			want error
		}{
			{"taken path, other case", store.Namespace{Name: "x", Path: strings.ToUpper(root.Path)}, store.ErrConflict},
			{"a user's path", store.Namespace{Name: "x", Path: u.Username}, store.ErrConflict},
			{"bad path", store.Namespace{Name: "x", Path: "a b"}, store.ErrInvalid},
			{"empty name", store.Namespace{Name: " ", Path: "ok"}, store.ErrInvalid},
			{"unknown plan", store.Namespace{Name: "x", Path: "ok", Plan: "gold"}, store.ErrInvalid},
			{"plan on a subgroup", store.Namespace{Name: "x", Path: "ok", ParentID: root.ID, Plan: machine.PlanPremium}, store.ErrInvalid},
			{"missing parent", store.Namespace{Name: "x", Path: "ok", ParentID: root.ID + 100}, store.ErrNotFound},
			{"parent is a user", store.Namespace{Name: "x", Path: "ok", ParentID: u.NamespaceID}, store.ErrInvalid},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				g := c.g
				wantErr(t, e.s.Namespaces.CreateGroup(e.ctx, &g), c.want)
			})
		}
		all, err := e.s.Namespaces.ListNamespaces(e.ctx, store.Page{})
		must(t, err)
		if len(all) != 2 {
			t.Errorf("ListNamespaces has %d namespaces after refused creations, want 2", len(all))
		}
	},
	"ListNamespaces pages by id": func(t *testing.T, e *env) {
		a, b, c := e.group(0, ""), e.group(0, ""), e.group(0, "")
		got, err := e.s.Namespaces.ListNamespaces(e.ctx, store.Page{Offset: 1, Limit: 5})
		must(t, err)
		if len(got) != 2 || got[0].ID != b.ID || got[1].ID != c.ID {
			t.Errorf("ListNamespaces(offset 1) = %v (ids %d %d %d)", got, a.ID, b.ID, c.ID)
		}
	},
	"SetPlan changes only top-level namespaces, to known plans": func(t *testing.T, e *env) {
		root := e.group(0, "")
		sub := e.group(root.ID, "")
		must(t, e.s.Namespaces.SetPlan(e.ctx, root.ID, machine.PlanPremium))
		wantErr(t, e.s.Namespaces.SetPlan(e.ctx, sub.ID, machine.PlanUltimate), store.ErrInvalid)
		wantErr(t, e.s.Namespaces.SetPlan(e.ctx, root.ID, "platinum"), store.ErrInvalid)
		wantErr(t, e.s.Namespaces.SetPlan(e.ctx, root.ID+100, machine.PlanFree), store.ErrNotFound)
		got, err := e.s.Namespaces.Namespace(e.ctx, sub.ID)
		must(t, err)
		if got.Plan != machine.PlanPremium {
			t.Errorf("plan = %q, want premium", got.Plan)
		}
	},
	"missing namespaces are ErrNotFound": func(t *testing.T, e *env) {
		_, err := e.s.Namespaces.Namespace(e.ctx, 4242)
		wantErr(t, err, store.ErrNotFound)
		_, err = e.s.Namespaces.NamespaceByPath(e.ctx, "nope")
		wantErr(t, err, store.ErrNotFound)
		_, err = e.s.Namespaces.Ancestors(e.ctx, 4242)
		wantErr(t, err, store.ErrNotFound)
	},
}
