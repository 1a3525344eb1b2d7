package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/store"
)

var claimTests = map[string]func(*testing.T, *env){
	"ClaimJob starts the oldest matching pending job for the runner": func(t *testing.T, e *env) {
		p := e.project(e.group(0, "").ID)
		created, first, second := newJob("c", store.StatusCreated), newJob("a", store.StatusPending), newJob("b", store.StatusPending)
		e.pipeline(p.ID, created, first, second)
		e.clock.Advance(time.Second)
		got, err := e.claim(store.ClaimRequest{RunnerID: 7, RunUntagged: true})
		must(t, err)
		if got.ID != first.ID || got.Status != store.StatusRunning || got.RunnerID != 7 {
			t.Errorf("claimed %+v, want job %d running on runner 7", got, first.ID)
		}
		equalTime(t, "StartedAt", got.StartedAt, e.clock.Now())
		equalTime(t, "UpdatedAt", got.UpdatedAt, e.clock.Now())
		got, err = e.claim(store.ClaimRequest{RunnerID: 8, RunUntagged: true})
		must(t, err)
		if got.ID != second.ID {
			t.Errorf("second claim got %d, want %d", got.ID, second.ID)
		}
		_, err = e.claim(store.ClaimRequest{RunnerID: 9, RunUntagged: true})
		wantErr(t, err, store.ErrNotFound)
		stored, err := e.s.Jobs.Job(e.ctx, first.ID)
		must(t, err)
		if stored.Status != store.StatusRunning || stored.RunnerID != 7 {
			t.Errorf("stored job = %+v", stored)
		}
	},
	"ClaimJob brings the job's pipeline as it is at the claim": func(t *testing.T, e *env) {
		p := e.project(e.group(0, "").ID)
		j := newJob("a", store.StatusPending)
		pl := &store.Pipeline{ProjectID: p.ID, Ref: "feature", SHA: "abc123", Source: store.SourceWeb,
			Status: store.StatusPending, Variables: []store.PipelineVariable{{Key: "K", Value: "v"}}}
		must(t, e.s.Pipelines.CreatePipeline(e.ctx, pl, []*store.Job{j}))
		_, err := e.s.Pipelines.SetPipelineStatus(e.ctx, pl.ID, store.StatusRunning)
		must(t, err)
		for _, order := range []string{store.ClaimFIFO, store.ClaimFairShare} {
			tok, err := store.NewToken(store.PrefixJobToken)
			must(t, err)
			got, gotPl, err := e.s.Jobs.ClaimJob(e.ctx, store.ClaimRequest{RunnerID: 3, Token: tok, RunUntagged: true, Order: order})
			must(t, err)
			if got.ID != j.ID || gotPl == nil || gotPl.ID != pl.ID || gotPl.IID != pl.IID || gotPl.Ref != "feature" ||
				gotPl.SHA != "abc123" || gotPl.Source != store.SourceWeb || gotPl.Status != store.StatusRunning ||
				len(gotPl.Variables) != 1 || gotPl.Variables[0].Value != "v" || gotPl.StartedAt.IsZero() {
				t.Errorf("%s: claimed job %d with pipeline %+v, want job %d with pipeline %d as stored", order, got.ID, gotPl, j.ID, pl.ID)
			}
			_, err = e.s.Jobs.TransitionJob(e.ctx, j.ID, store.JobTransition{From: []store.Status{store.StatusRunning}, To: store.StatusPending})
			must(t, err)
		}
	},
	"ClaimJob matches tags as GitLab does": func(t *testing.T, e *env) {
		cases := []struct {
			name        string
			jobTags     []string
			runnerTags  []string
			runUntagged bool
			match       bool
		}{
			{"untagged job, runner runs untagged", nil, nil, true, true},
			{"untagged job, tagged runner runs untagged", nil, []string{"docker"}, true, true},
			{"untagged job, runner does not run untagged", nil, []string{"docker"}, false, false},
			{"job tags are a subset", []string{"docker", "gpu"}, []string{"gpu", "docker", "linux"}, false, true},
			{"job tags equal", []string{"gpu"}, []string{"gpu"}, false, true},
			{"a job tag is missing", []string{"docker", "gpu"}, []string{"docker"}, true, false},
			{"tagged job, untagged runner", []string{"gpu"}, nil, true, false},
			{"tags are case-sensitive", []string{"GPU"}, []string{"gpu"}, false, false},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				j := e.pendingJob(c.jobTags...)
				got, err := e.claim(store.ClaimRequest{Tags: c.runnerTags, RunUntagged: c.runUntagged})
				if c.match {
					must(t, err)
					if got.ID != j.ID {
						t.Errorf("claimed %d, want %d", got.ID, j.ID)
					}
					return
				}
				wantErr(t, err, store.ErrNotFound)
				_, err = e.s.Jobs.TransitionJob(e.ctx, j.ID, store.JobTransition{From: []store.Status{store.StatusPending}, To: store.StatusCanceled})
				must(t, err)
			})
		}
	},
	"ClaimJob honours the coordinator's filters": func(t *testing.T, e *env) {
		premium := e.group(0, machine.PlanPremium)
		free := e.group(0, machine.PlanFree)
		pp, fp := e.project(premium.ID), e.project(free.ID)
		gpu := newJob("gpu", store.StatusPending, "gpu-type")
		gpu.MachineType, gpu.GPUCount, gpu.Protected = "gpu-type", 2, true
		e.pipeline(pp.ID, gpu)
		plain := newJob("plain", store.StatusPending)
		plain.MachineType = "small"
		e.pipeline(fp.ID, plain)
		cases := []struct {
			name string
			req  store.ClaimRequest
			want *store.Job // nil: none
		}{
			{"no GPUs free", store.ClaimRequest{Tags: []string{"gpu-type"}, MaxGPUs: 0}, nil},
			{"one GPU free", store.ClaimRequest{Tags: []string{"gpu-type"}, MaxGPUs: 1}, nil},
			{"machine type", store.ClaimRequest{RunUntagged: true, Tags: []string{"gpu-type"}, MaxGPUs: store.NoGPULimit, MachineTypes: []string{"small"}}, plain},
			{"plans", store.ClaimRequest{RunUntagged: true, Tags: []string{"gpu-type"}, MaxGPUs: store.NoGPULimit, Plans: []string{machine.PlanFree}}, plain},
			{"projects", store.ClaimRequest{RunUntagged: true, Tags: []string{"gpu-type"}, MaxGPUs: 2, ProjectIDs: []int64{fp.ID}}, plain},
			{"protected only", store.ClaimRequest{RunUntagged: true, Tags: []string{"gpu-type"}, MaxGPUs: 2, ProtectedOnly: true}, gpu},
			{"excluded namespaces", store.ClaimRequest{RunUntagged: true, Tags: []string{"gpu-type"}, MaxGPUs: 2, ExcludeRootNamespaces: []int64{premium.ID}}, plain},
			{"excluded jobs", store.ClaimRequest{RunUntagged: true, Tags: []string{"gpu-type"}, MaxGPUs: 2, ExcludeJobs: []int64{gpu.ID}}, plain},
			{"all excluded", store.ClaimRequest{RunUntagged: true, Tags: []string{"gpu-type"}, MaxGPUs: 2, ExcludeRootNamespaces: []int64{premium.ID, free.ID}}, nil},
			{"two GPUs free", store.ClaimRequest{Tags: []string{"gpu-type"}, MaxGPUs: 2, Plans: []string{machine.PlanPremium, machine.PlanUltimate}}, gpu},
		}
		for _, order := range []string{store.ClaimFIFO, store.ClaimFairShare} {
			for _, c := range cases {
				t.Run(order+"/"+c.name, func(t *testing.T) {
					c.req.Order = order
					got, err := e.claim(c.req)
					if c.want == nil {
						wantErr(t, err, store.ErrNotFound)
						return
					}
					must(t, err)
					if got.ID != c.want.ID {
						t.Fatalf("claimed %s, want %s", got.Name, c.want.Name)
					}
					// Put it back for the next case.
					_, err = e.s.Jobs.TransitionJob(e.ctx, got.ID, store.JobTransition{From: []store.Status{store.StatusRunning}, To: store.StatusPending})
					must(t, err)
				})
			}
		}
	},
	"fair share prefers the namespace with the fewest running jobs": func(t *testing.T, e *env) {
		busy, idle := e.group(0, ""), e.group(0, "")
		bp, ip := e.project(busy.ID), e.project(idle.ID)
		e.pipeline(bp.ID, newJob("r1", store.StatusPending), newJob("r2", store.StatusPending))
		for range 2 {
			_, err := e.claim(store.ClaimRequest{RunUntagged: true})
			must(t, err)
		}
		older, older2 := newJob("older", store.StatusPending), newJob("older2", store.StatusPending)
		e.pipeline(bp.ID, older, older2)
		newer := newJob("newer", store.StatusPending)
		e.pipeline(ip.ID, newer)

		got, err := e.claim(store.ClaimRequest{RunUntagged: true, Order: store.ClaimFairShare})
		must(t, err)
		if got.ID != newer.ID {
			t.Errorf("fair share claimed %s, want %s from the idle namespace", got.Name, newer.Name)
		}
		// Only busy has pending jobs left: its oldest comes next.
		got, err = e.claim(store.ClaimRequest{RunUntagged: true, Order: store.ClaimFairShare})
		must(t, err)
		if got.ID != older.ID {
			t.Errorf("fair share claimed %s, want %s (FIFO within the namespace)", got.Name, older.Name)
		}
		got, err = e.claim(store.ClaimRequest{RunUntagged: true, Order: store.ClaimFIFO})
		must(t, err)
		if got.ID != older2.ID {
			t.Errorf("FIFO claimed %s, want %s", got.Name, older2.Name)
		}
	},
	"fair share breaks ties by the oldest waiting job, not the namespace id": func(t *testing.T, e *env) {
		first, second := e.group(0, ""), e.group(0, "")
		fp, sp := e.project(first.ID), e.project(second.ID)
		older, newer := newJob("older", store.StatusPending), newJob("newer", store.StatusPending)
		e.pipeline(sp.ID, older)
		e.pipeline(fp.ID, newer)
		got, err := e.claim(store.ClaimRequest{RunUntagged: true, Order: store.ClaimFairShare})
		must(t, err)
		if got.ID != older.ID {
			t.Errorf("claimed %s, want %s: no namespace runs anything, so the oldest job goes first", got.Name, older.Name)
		}
	},
	"fair share skips namespaces whose jobs the runner cannot take": func(t *testing.T, e *env) {
		idle, busy := e.group(0, ""), e.group(0, "")
		ip, bp := e.project(idle.ID), e.project(busy.ID)
		e.pipeline(bp.ID, newJob("running", store.StatusPending))
		_, err := e.claim(store.ClaimRequest{RunUntagged: true})
		must(t, err)
		e.pipeline(ip.ID, newJob("gpu only", store.StatusPending, "gpu"))
		plain := newJob("plain", store.StatusPending)
		e.pipeline(bp.ID, plain)
		got, err := e.claim(store.ClaimRequest{RunUntagged: true, Order: store.ClaimFairShare})
		must(t, err)
		if got.ID != plain.ID {
			t.Errorf("claimed %s, want %s", got.Name, plain.Name)
		}
	},
	"a job token is never held by two jobs at once": func(t *testing.T, e *env) {
		p := e.project(e.group(0, "").ID)
		first, second := newJob("a", store.StatusPending), newJob("b", store.StatusPending)
		e.pipeline(p.ID, first, second)
		_, err := e.claim(store.ClaimRequest{RunUntagged: true, Token: "glcbt-same"})
		must(t, err)
		_, err = e.claim(store.ClaimRequest{RunnerID: 2, RunUntagged: true, Token: "glcbt-same"})
		wantErr(t, err, store.ErrConflict)
		if j, err := e.s.Jobs.Job(e.ctx, second.ID); err != nil || j.Status != store.StatusPending {
			t.Errorf("the refused claim left job b %+v, %v; want it pending", j, err)
		}
		// Once the first job finishes, its token is revoked and may be issued again.
		_, err = e.s.Jobs.TransitionJob(e.ctx, first.ID, store.JobTransition{From: []store.Status{store.StatusRunning}, To: store.StatusSuccess})
		must(t, err)
		got, err := e.claim(store.ClaimRequest{RunnerID: 2, RunUntagged: true, Token: "glcbt-same"})
		must(t, err)
		if got.ID != second.ID {
			t.Errorf("claimed job %d, want %d", got.ID, second.ID)
		}
	},
	"ClaimJob refuses an incomplete request": func(t *testing.T, e *env) {
		e.pendingJob()
		_, _, err := e.s.Jobs.ClaimJob(e.ctx, store.ClaimRequest{RunnerID: 1, RunUntagged: true})
		wantErr(t, err, store.ErrInvalid)
		_, _, err = e.s.Jobs.ClaimJob(e.ctx, store.ClaimRequest{Token: "t", RunUntagged: true})
		wantErr(t, err, store.ErrInvalid)
		_, err = e.claim(store.ClaimRequest{RunUntagged: true, Order: "random"})
		wantErr(t, err, store.ErrInvalid)
	},
	"concurrent claims never hand one job to two runners": func(t *testing.T, e *env) {
		ClaimRace(t, []*store.Store{e.s}, 300, 16)
	},
}

// ClaimRace creates jobs pending jobs over several namespaces, lets runners
// goroutines claim (alternating FIFO and fair share) until none is left, and fails t
// unless every job was claimed exactly once, by the runner the store recorded. The
// stores share one database (replicas); runner r claims through stores[r % len].
func ClaimRace(t testing.TB, stores []*store.Store, jobs, runners int) {
	ctx := t.Context()
	s := stores[0]
	const namespaces = 5
	var projects []int64
	for i := range namespaces {
		g := &store.Namespace{Name: "race", Path: fmt.Sprintf("race%d", i)}
		must(t, s.Namespaces.CreateGroup(ctx, g))
		p := &store.Project{NamespaceID: g.ID, Path: "p"}
		must(t, s.Projects.CreateProject(ctx, p))
		projects = append(projects, p.ID)
	}
	want := map[int64]bool{}
	for i := 0; i < jobs; {
		var batch []*store.Job
		for ; i < jobs && len(batch) < 50; i++ {
			batch = append(batch, newJob(fmt.Sprintf("j%d", i), store.StatusPending))
		}
		pl := &store.Pipeline{ProjectID: projects[i%namespaces], Ref: "main", SHA: "abc", Source: store.SourcePush, Status: store.StatusPending}
		must(t, s.Pipelines.CreatePipeline(ctx, pl, batch))
		for _, j := range batch {
			want[j.ID] = true
		}
	}
	var (
		mu      sync.Mutex
		claimed = map[int64]int64{} // job → runner
		wg      sync.WaitGroup
		errs    = make(chan error, runners)
	)
	for r := 1; r <= runners; r++ {
		wg.Go(func() {
			order := store.ClaimFIFO
			if r%2 == 0 {
				order = store.ClaimFairShare
			}
			for {
				tok, err := store.NewToken(store.PrefixJobToken)
				if err != nil {
					errs <- err
					return
				}
				j, _, err := stores[r%len(stores)].Jobs.ClaimJob(ctx, store.ClaimRequest{RunnerID: int64(r), Token: tok, RunUntagged: true, Order: order})
				if err != nil {
					if !errorsIs(err, store.ErrNotFound) {
						errs <- err
					}
					return
				}
				mu.Lock()
				if prev, dup := claimed[j.ID]; dup {
					errs <- fmt.Errorf("job %d handed to runner %d and runner %d", j.ID, prev, r)
				}
				claimed[j.ID] = int64(r)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(claimed) != len(want) {
		t.Errorf("%d of %d jobs claimed", len(claimed), len(want))
	}
	running, err := s.Jobs.ListJobs(ctx, store.JobQuery{Statuses: []store.Status{store.StatusRunning}, Page: store.Page{Limit: store.MaxPageLimit}})
	must(t, err)
	for _, j := range running {
		if claimed[j.ID] != j.RunnerID {
			t.Errorf("job %d runs on runner %d but was handed to runner %d", j.ID, j.RunnerID, claimed[j.ID])
		}
		delete(want, j.ID)
	}
	if len(want) != 0 {
		t.Errorf("%d jobs are not running after the race", len(want))
	}
}
