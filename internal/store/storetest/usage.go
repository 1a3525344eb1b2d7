package storetest

import (
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/store"
)

var usageTests = map[string]func(*testing.T, *env){
	"AddMinutes accumulates per namespace and month": func(t *testing.T, e *env) {
		g, other := e.group(0, ""), e.group(0, "")
		u, err := e.s.Usage.Usage(e.ctx, g.ID, "2026-03")
		must(t, err)
		if u.Minutes != 0 || u.Warned != store.NotWarned {
			t.Errorf("fresh usage = %+v", u)
		}
		_, err = e.s.Usage.AddMinutes(e.ctx, g.ID, "2026-03", 1.5)
		must(t, err)
		u, err = e.s.Usage.AddMinutes(e.ctx, g.ID, "2026-03", 7*2.25)
		must(t, err)
		if u.Minutes != 1.5+15.75 || u.Month != "2026-03" || u.RootNamespaceID != g.ID {
			t.Errorf("usage = %+v, want 17.25 minutes", u)
		}
		_, err = e.s.Usage.AddMinutes(e.ctx, g.ID, "2026-04", 2)
		must(t, err)
		_, err = e.s.Usage.AddMinutes(e.ctx, other.ID, "2026-03", 100)
		must(t, err)
		list, err := e.s.Usage.ListUsage(e.ctx, g.ID)
		must(t, err)
		if len(list) != 2 || list[0].Month != "2026-04" || list[0].Minutes != 2 || list[1].Minutes != 17.25 {
			t.Errorf("ListUsage = %+v", list)
		}
		if m := store.MonthOf(e.clock.Now()); m != "2026-03" {
			t.Errorf("MonthOf = %q", m)
		}
	},
	"concurrent charges all count": func(t *testing.T, e *env) {
		g := e.group(0, "")
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				if _, err := e.s.Usage.AddMinutes(e.ctx, g.ID, "2026-03", 0.5); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		u, err := e.s.Usage.Usage(e.ctx, g.ID, "2026-03")
		must(t, err)
		if u.Minutes != 10 {
			t.Errorf("minutes = %v after 20 × 0.5, want 10", u.Minutes)
		}
	},
	"every charge's answer counts all earlier charges and shows the warning recorded": func(t *testing.T, e *env) {
		g := e.group(0, "")
		first, err := e.s.Usage.MarkWarned(e.ctx, g.ID, "2026-03", 25)
		must(t, err)
		if !first {
			t.Fatal("the first 25 % warning was not first")
		}
		// Engines may spread a month over several rows for concurrent charges; the
		// usage each charge answers, and the month's, must not show it.
		var (
			mu   sync.Mutex
			seen []float64
			wg   sync.WaitGroup
		)
		for range 40 {
			wg.Go(func() {
				u, err := e.s.Usage.AddMinutes(e.ctx, g.ID, "2026-03", 0.25)
				if err != nil {
					t.Error(err)
					return
				}
				if u.Warned != 25 || u.Minutes < 0.25 || u.Minutes > 10 {
					t.Errorf("AddMinutes = %+v, want between 0.25 and 10 minutes, warned at 25", u)
				}
				mu.Lock()
				seen = append(seen, u.Minutes)
				mu.Unlock()
			})
		}
		wg.Wait()
		if slices.Max(seen) != 10 {
			t.Errorf("the last charge answered %v minutes, want 10", slices.Max(seen))
		}
		u, err := e.s.Usage.AddMinutes(e.ctx, g.ID, "2026-03", 2)
		must(t, err)
		if u.Minutes != 12 || u.Warned != 25 {
			t.Errorf("AddMinutes after the others = %+v, want 12 minutes warned at 25", u)
		}
		first, err = e.s.Usage.MarkWarned(e.ctx, g.ID, "2026-03", 5)
		must(t, err)
		u, err = e.s.Usage.Usage(e.ctx, g.ID, "2026-03")
		must(t, err)
		if !first || u.Minutes != 12 || u.Warned != 5 {
			t.Errorf("after the 5 %% warning (first %v): Usage = %+v, want 12 minutes warned at 5", first, u)
		}
		list, err := e.s.Usage.ListUsage(e.ctx, g.ID)
		must(t, err)
		if len(list) != 1 || list[0].Minutes != 12 || list[0].Warned != 5 || list[0].Month != "2026-03" {
			t.Errorf("ListUsage = %+v, want one month of 12 minutes warned at 5", list)
		}
	},
	"a finish charges the job's minutes with it": func(t *testing.T, e *env) {
		g := e.group(0, "")
		p := e.project(g.ID)
		run, never := newJob("run", store.StatusPending), newJob("never", store.StatusPending)
		e.pipeline(p.ID, run, never)
		_, err := e.claim(store.ClaimRequest{RunUntagged: true})
		must(t, err)
		e.clock.Advance(90 * time.Second)
		month := store.MonthOf(e.clock.Now())
		done, err := e.s.Jobs.TransitionJob(e.ctx, run.ID, store.JobTransition{From: []store.Status{store.StatusRunning},
			To: store.StatusSuccess, ChargeFactor: 2})
		must(t, err)
		u, err := e.s.Usage.Usage(e.ctx, g.ID, month)
		must(t, err)
		if done.Status != store.StatusSuccess || u.Minutes != 3 {
			t.Errorf("after a 90 s job at cost factor 2: job %s, usage %v minutes; want success and 3", done.Status, u.Minutes)
		}
		// A job that never started costs nothing; a refused move charges nothing.
		_, err = e.s.Jobs.TransitionJob(e.ctx, never.ID, store.JobTransition{From: []store.Status{store.StatusPending},
			To: store.StatusCanceled, ChargeFactor: 2})
		must(t, err)
		_, err = e.s.Jobs.TransitionJob(e.ctx, run.ID, store.JobTransition{From: []store.Status{store.StatusRunning},
			To: store.StatusFailed, ChargeFactor: 2})
		wantErr(t, err, store.ErrConflict)
		if u, err := e.s.Usage.Usage(e.ctx, g.ID, month); err != nil || u.Minutes != 3 {
			t.Errorf("usage = %v, %v; want 3 minutes still", u.Minutes, err)
		}
		for _, bad := range []store.JobTransition{
			{From: []store.Status{store.StatusPending}, To: store.StatusPending, ChargeFactor: 1},
			{From: []store.Status{store.StatusRunning}, To: store.StatusSuccess, ChargeFactor: -1},
			{From: []store.Status{store.StatusRunning}, To: store.StatusSuccess, ChargeFactor: math.Inf(1)},
		} {
			_, err := e.s.Jobs.TransitionJob(e.ctx, run.ID, bad)
			wantErr(t, err, store.ErrInvalid)
		}
	},
	"AddMinutes refuses bad amounts, months and namespaces": func(t *testing.T, e *env) {
		g := e.group(0, "")
		sub := e.group(g.ID, "")
		for _, c := range []struct {
			ns      int64
			month   string
			minutes float64
			want    error
		}{
			{g.ID, "2026-03", -1, store.ErrInvalid},
			{g.ID, "2026-03", math.NaN(), store.ErrInvalid},
			{g.ID, "2026-03", math.Inf(1), store.ErrInvalid},
			{g.ID, "2026-3", 1, store.ErrInvalid},
			{g.ID, "march", 1, store.ErrInvalid},
			{sub.ID, "2026-03", 1, store.ErrInvalid},
			{g.ID + 100, "2026-03", 1, store.ErrNotFound},
		} {
			_, err := e.s.Usage.AddMinutes(e.ctx, c.ns, c.month, c.minutes)
			wantErr(t, err, c.want)
		}
		_, err := e.s.Usage.Usage(e.ctx, g.ID, "2026/03")
		wantErr(t, err, store.ErrInvalid)
	},
	"each quota warning is recorded once, the lowest level winning": func(t *testing.T, e *env) {
		g := e.group(0, "")
		for _, c := range []struct {
			level int
			first bool
		}{{25, true}, {25, false}, {5, true}, {25, false}, {0, true}, {5, false}, {0, false}} {
			first, err := e.s.Usage.MarkWarned(e.ctx, g.ID, "2026-03", c.level)
			must(t, err)
			if first != c.first {
				t.Errorf("MarkWarned(%d) = %v, want %v", c.level, first, c.first)
			}
		}
		u, err := e.s.Usage.Usage(e.ctx, g.ID, "2026-03")
		must(t, err)
		if u.Warned != 0 {
			t.Errorf("Warned = %d, want 0", u.Warned)
		}
		first, err := e.s.Usage.MarkWarned(e.ctx, g.ID, "2026-04", 5)
		must(t, err)
		if !first {
			t.Error("a new month's first warning was not first")
		}
		_, err = e.s.Usage.MarkWarned(e.ctx, g.ID, "2026-03", 50)
		wantErr(t, err, store.ErrInvalid)
		_, err = e.s.Usage.MarkWarned(e.ctx, g.ID+100, "2026-03", 5)
		wantErr(t, err, store.ErrNotFound)
	},
	"of concurrent warnings exactly one is first": func(t *testing.T, e *env) {
		g := e.group(0, "")
		var wg sync.WaitGroup
		var mu sync.Mutex
		firsts := 0
		for range 10 {
			wg.Go(func() {
				first, err := e.s.Usage.MarkWarned(e.ctx, g.ID, "2026-03", 25)
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				defer mu.Unlock()
				if first {
					firsts++
				}
			})
		}
		wg.Wait()
		if firsts != 1 {
			t.Errorf("%d callers were first, want 1", firsts)
		}
	},
}
