package storetest

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/store"
)

func newRunner(t testing.TB, e *env, r *store.Runner) string {
	t.Helper()
	token, err := store.NewToken(store.PrefixRunnerToken)
	must(t, err)
	must(t, e.s.Runners.CreateRunner(e.ctx, r, token))
	return token
}

var runnerTests = map[string]func(*testing.T, *env){
	"a runner is found by its token and keeps its settings": func(t *testing.T, e *env) {
		u := e.user()
		r := &store.Runner{Type: store.RunnerInstance, Description: "gpu host 1", Tags: []string{"gpu", "docker", "gpu"},
			RunUntagged: false, Locked: true, AccessLevel: store.AccessRefProtected, MaximumTimeout: 10800,
			MachineType: "saas-linux-medium-amd64-gpu-standard", CreatorID: u.ID, GPUInventory: json.RawMessage(`{"gpus":[{"uuid":"GPU-1"}]}`)}
		token := newRunner(t, e, r)
		if r.ID == 0 || r.ShortToken != token[len("glrt-"):len("glrt-")+8] {
			t.Errorf("CreateRunner set id %d short token %q", r.ID, r.ShortToken)
		}
		got, err := e.s.Runners.RunnerByToken(e.ctx, token)
		must(t, err)
		if got.ID != r.ID || got.Description != "gpu host 1" || !slices.Equal(got.Tags, []string{"docker", "gpu"}) || got.RunUntagged ||
			!got.Locked || got.Paused || got.AccessLevel != store.AccessRefProtected || got.MaximumTimeout != 10800 ||
			got.MachineType != r.MachineType || got.CreatorID != u.ID || string(got.GPUInventory) != `{"gpus":[{"uuid":"GPU-1"}]}` {
			t.Errorf("RunnerByToken = %+v", got)
		}
		equalTime(t, "CreatedAt", got.CreatedAt, e.clock.Now())
		_, err = e.s.Runners.RunnerByToken(e.ctx, token+"x")
		wantErr(t, err, store.ErrNotFound)
		byID, err := e.s.Runners.Runner(e.ctx, r.ID)
		must(t, err)
		if byID.ShortToken != r.ShortToken {
			t.Errorf("Runner = %+v", byID)
		}
		_, err = e.s.Runners.Runner(e.ctx, r.ID+100)
		wantErr(t, err, store.ErrNotFound)
	},
	"CreateRunner checks the runner's type, scope and settings": func(t *testing.T, e *env) {
		g := e.group(0, "")
		p := e.project(g.ID)
		cases := []struct {
			name string
			r    store.Runner
			want error
		}{
			{"unknown type", store.Runner{Type: "shared"}, store.ErrInvalid},
			{"group runner without a group", store.Runner{Type: store.RunnerGroup}, store.ErrInvalid},
			{"instance runner with a project", store.Runner{Type: store.RunnerInstance, ProjectID: p.ID}, store.ErrInvalid},
			{"bad access level", store.Runner{Type: store.RunnerInstance, AccessLevel: "admin"}, store.ErrInvalid},
			{"negative timeout", store.Runner{Type: store.RunnerInstance, MaximumTimeout: -1}, store.ErrInvalid},
			{"empty tag", store.Runner{Type: store.RunnerInstance, Tags: []string{""}}, store.ErrInvalid},
			{"missing group", store.Runner{Type: store.RunnerGroup, NamespaceID: g.ID + 100}, store.ErrNotFound},
			{"missing project", store.Runner{Type: store.RunnerProject, ProjectID: p.ID + 100}, store.ErrNotFound},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := c.r
				wantErr(t, e.s.Runners.CreateRunner(e.ctx, &r, "glrt-0123456789abcdef"), c.want)
			})
		}
		wantErr(t, e.s.Runners.CreateRunner(e.ctx, &store.Runner{Type: store.RunnerInstance}, ""), store.ErrInvalid)
		group := &store.Runner{Type: store.RunnerGroup, NamespaceID: g.ID}
		newRunner(t, e, group)
		project := &store.Runner{Type: store.RunnerProject, ProjectID: p.ID}
		newRunner(t, e, project)
		if group.AccessLevel != store.AccessNotProtected {
			t.Errorf("default access level %q", group.AccessLevel)
		}
	},
	"an expired runner token stops working": func(t *testing.T, e *env) {
		r := &store.Runner{Type: store.RunnerInstance, TokenExpiresAt: e.clock.Now().Add(time.Hour)}
		token := newRunner(t, e, r)
		_, err := e.s.Runners.RunnerByToken(e.ctx, token)
		must(t, err)
		e.clock.Advance(time.Hour)
		_, err = e.s.Runners.RunnerByToken(e.ctx, token)
		wantErr(t, err, store.ErrNotFound)
	},
	"ResetRunnerToken retires the old token at once": func(t *testing.T, e *env) {
		r := &store.Runner{Type: store.RunnerInstance}
		old := newRunner(t, e, r)
		fresh, _ := store.NewToken(store.PrefixRunnerToken)
		exp := e.clock.Now().Add(30 * 24 * time.Hour)
		must(t, e.s.Runners.ResetRunnerToken(e.ctx, r.ID, fresh, exp))
		_, err := e.s.Runners.RunnerByToken(e.ctx, old)
		wantErr(t, err, store.ErrNotFound)
		got, err := e.s.Runners.RunnerByToken(e.ctx, fresh)
		must(t, err)
		equalTime(t, "TokenExpiresAt", got.TokenExpiresAt, exp)
		if got.ShortToken != fresh[5:13] {
			t.Errorf("ShortToken %q after reset", got.ShortToken)
		}
		wantErr(t, e.s.Runners.ResetRunnerToken(e.ctx, r.ID+100, "glrt-x", time.Time{}), store.ErrNotFound)
	},
	"ListRunners filters by type and paused, and UpdateRunner saves settings": func(t *testing.T, e *env) {
		g := e.group(0, "")
		a := &store.Runner{Type: store.RunnerInstance}
		b := &store.Runner{Type: store.RunnerGroup, NamespaceID: g.ID}
		c := &store.Runner{Type: store.RunnerInstance}
		for _, r := range []*store.Runner{a, b, c} {
			newRunner(t, e, r)
		}
		c.Paused, c.Description, c.Tags, c.RunUntagged, c.Locked = true, "retired", []string{"x"}, true, true
		c.AccessLevel, c.MaximumTimeout, c.MachineType = store.AccessRefProtected, 60, "small"
		must(t, e.s.Runners.UpdateRunner(e.ctx, c))
		got, err := e.s.Runners.Runner(e.ctx, c.ID)
		must(t, err)
		if !got.Paused || got.Description != "retired" || !slices.Equal(got.Tags, []string{"x"}) || !got.RunUntagged || !got.Locked ||
			got.AccessLevel != store.AccessRefProtected || got.MaximumTimeout != 60 || got.MachineType != "small" {
			t.Errorf("after UpdateRunner: %+v", got)
		}
		paused, active := true, false
		for _, q := range []struct {
			q    store.RunnerQuery
			want []int64
		}{
			{store.RunnerQuery{}, []int64{a.ID, b.ID, c.ID}},
			{store.RunnerQuery{Type: store.RunnerInstance}, []int64{a.ID, c.ID}},
			{store.RunnerQuery{Paused: &paused}, []int64{c.ID}},
			{store.RunnerQuery{Paused: &active, Page: store.Page{Offset: 1}}, []int64{b.ID}},
		} {
			list, err := e.s.Runners.ListRunners(e.ctx, q.q)
			must(t, err)
			var ids []int64
			for _, r := range list {
				ids = append(ids, r.ID)
			}
			if !slices.Equal(ids, q.want) {
				t.Errorf("ListRunners(%+v) = %v, want %v", q.q, ids, q.want)
			}
		}
		c.AccessLevel = "everyone"
		wantErr(t, e.s.Runners.UpdateRunner(e.ctx, c), store.ErrInvalid)
		wantErr(t, e.s.Runners.UpdateRunner(e.ctx, &store.Runner{ID: c.ID + 100}), store.ErrNotFound)
	},
	"RecordContact keeps what each runner manager reports": func(t *testing.T, e *env) {
		r := &store.Runner{Type: store.RunnerInstance}
		newRunner(t, e, r)
		e.clock.Advance(time.Minute)
		inv := json.RawMessage(`{"gpus":[{"uuid":"GPU-a","memory_bytes":17179869184}]}`)
		must(t, e.s.Runners.RecordContact(e.ctx, r.ID, store.RunnerContact{SystemID: "s_1746f8786189", Version: "19.4.0",
			Revision: "d79f3e7b", Platform: "linux", Architecture: "amd64", Executor: "docker", IPAddress: "10.0.0.5", GPUInventory: inv}))
		e.clock.Advance(time.Minute)
		must(t, e.s.Runners.RecordContact(e.ctx, r.ID, store.RunnerContact{SystemID: "s_000000000002", Version: "19.4.1",
			Platform: "linux", Architecture: "arm64", Executor: "shell"}))
		e.clock.Advance(time.Minute)
		must(t, e.s.Runners.RecordContact(e.ctx, r.ID, store.RunnerContact{SystemID: "s_1746f8786189", Version: "19.4.2",
			Platform: "linux", Architecture: "amd64", Executor: "docker"})) // no inventory: keep it
		got, err := e.s.Runners.Runner(e.ctx, r.ID)
		must(t, err)
		equalTime(t, "ContactedAt", got.ContactedAt, e.clock.Now())
		if got.Version != "19.4.2" || got.Executor != "docker" || string(got.GPUInventory) != string(inv) {
			t.Errorf("runner after contact = %+v", got)
		}
		ms, err := e.s.Runners.ListManagers(e.ctx, r.ID)
		must(t, err)
		if len(ms) != 2 || ms[0].SystemID != "s_000000000002" || ms[1].SystemID != "s_1746f8786189" {
			t.Fatalf("ListManagers = %+v", ms)
		}
		m := ms[1]
		if m.Version != "19.4.2" || m.Architecture != "amd64" || m.IPAddress != "" || string(m.GPUInventory) != string(inv) {
			t.Errorf("manager = %+v", m)
		}
		equalTime(t, "manager CreatedAt", m.CreatedAt, e.clock.Now().Add(-2*time.Minute))
		equalTime(t, "manager ContactedAt", m.ContactedAt, e.clock.Now())
		must(t, e.s.Runners.DeleteManager(e.ctx, r.ID, "s_000000000002"))
		wantErr(t, e.s.Runners.DeleteManager(e.ctx, r.ID, "s_000000000002"), store.ErrNotFound)
		wantErr(t, e.s.Runners.RecordContact(e.ctx, r.ID+100, store.RunnerContact{SystemID: "s_x"}), store.ErrNotFound)
		wantErr(t, e.s.Runners.RecordContact(e.ctx, r.ID+100, store.RunnerContact{}), store.ErrNotFound)
		if ms, err := e.s.Runners.ListManagers(e.ctx, r.ID+100); err != nil || len(ms) != 0 {
			t.Errorf("a missing runner's contact left managers %+v, %v", ms, err)
		}
	},
	"DeleteRunner removes the runner, its managers and its token, not its jobs' history": func(t *testing.T, e *env) {
		r := &store.Runner{Type: store.RunnerInstance, RunUntagged: true}
		token := newRunner(t, e, r)
		must(t, e.s.Runners.RecordContact(e.ctx, r.ID, store.RunnerContact{SystemID: "s_1"}))
		j := e.pendingJob()
		_, err := e.claim(store.ClaimRequest{RunnerID: r.ID, RunUntagged: true})
		must(t, err)
		must(t, e.s.Runners.DeleteRunner(e.ctx, r.ID))
		_, err = e.s.Runners.RunnerByToken(e.ctx, token)
		wantErr(t, err, store.ErrNotFound)
		ms, err := e.s.Runners.ListManagers(e.ctx, r.ID)
		must(t, err)
		if len(ms) != 0 {
			t.Errorf("managers left: %+v", ms)
		}
		got, err := e.s.Jobs.Job(e.ctx, j.ID)
		must(t, err)
		if got.RunnerID != r.ID {
			t.Errorf("job's runner id %d after the runner was deleted, want %d", got.RunnerID, r.ID)
		}
		wantErr(t, e.s.Runners.DeleteRunner(e.ctx, r.ID), store.ErrNotFound)
	},
	"registration tokens register runners of their scope": func(t *testing.T, e *env) {
		g := e.group(0, "")
		token, _ := store.NewToken(store.PrefixRegistrationToken)
		rt := &store.RegistrationToken{RunnerType: store.RunnerGroup, NamespaceID: g.ID}
		must(t, e.s.Runners.CreateRegistrationToken(e.ctx, rt, token))
		got, err := e.s.Runners.RegistrationTokenByToken(e.ctx, token)
		must(t, err)
		if got.ID != rt.ID || got.RunnerType != store.RunnerGroup || got.NamespaceID != g.ID || got.ProjectID != 0 {
			t.Errorf("RegistrationTokenByToken = %+v", got)
		}
		equalTime(t, "CreatedAt", got.CreatedAt, e.clock.Now())
		_, err = e.s.Runners.RegistrationTokenByToken(e.ctx, "GR1348941nope")
		wantErr(t, err, store.ErrNotFound)
		wantErr(t, e.s.Runners.CreateRegistrationToken(e.ctx, &store.RegistrationToken{RunnerType: store.RunnerProject}, "GR1348941a"), store.ErrInvalid)
		wantErr(t, e.s.Runners.CreateRegistrationToken(e.ctx, &store.RegistrationToken{RunnerType: store.RunnerInstance}, ""), store.ErrInvalid)
		wantErr(t, e.s.Runners.CreateRegistrationToken(e.ctx, &store.RegistrationToken{RunnerType: store.RunnerInstance}, token), store.ErrConflict)
		must(t, e.s.Runners.DeleteRegistrationToken(e.ctx, rt.ID))
		_, err = e.s.Runners.RegistrationTokenByToken(e.ctx, token)
		wantErr(t, err, store.ErrNotFound)
		wantErr(t, e.s.Runners.DeleteRegistrationToken(e.ctx, rt.ID), store.ErrNotFound)
	},
}
