package storetest

import (
	"slices"
	"sync"
	"testing"

	"github.com/kiln-ci/kiln/internal/store"
)

var pipelineTests = map[string]func(*testing.T, *env){
	"CreatePipeline stores the pipeline with its jobs and numbers it per project": func(t *testing.T, e *env) {
		root := e.group(0, "")
		p := e.project(e.group(root.ID, "").ID)
		u := e.user()
		pl := &store.Pipeline{ProjectID: p.ID, Ref: "v1.0", Tag: true, Protected: true, SHA: "0123456789abcdef0123456789abcdef01234567",
			BeforeSHA: "0000000000000000000000000000000000000000", Source: store.SourceAPI, Status: store.StatusCreated,
			Name: "release", UserID: u.ID,
			Variables: []store.PipelineVariable{{Key: "MODE", Value: "fast"}, {Key: "CFG", Value: "x", VariableType: store.VariableFile}}}
		build := newJob("build", store.StatusPending, "gpu", "docker", "gpu")
		test := newJob("test", store.StatusCreated)
		must(t, e.s.Pipelines.CreatePipeline(e.ctx, pl, []*store.Job{build, test}))
		if pl.ID == 0 || pl.IID != 1 {
			t.Errorf("pipeline id %d iid %d, want iid 1", pl.ID, pl.IID)
		}
		equalTime(t, "CreatedAt", pl.CreatedAt, e.clock.Now())
		for _, j := range []*store.Job{build, test} {
			if j.ID == 0 || j.PipelineID != pl.ID || j.ProjectID != p.ID || j.RootNamespaceID != root.ID || j.Attempt != 1 ||
				j.UserID != u.ID || j.When != store.WhenOnSuccess {
				t.Errorf("job %s = %+v", j.Name, j)
			}
		}
		if !slices.Equal(build.Tags, []string{"docker", "gpu"}) {
			t.Errorf("tags = %v, want sorted without duplicates", build.Tags)
		}
		equalTime(t, "pending job's QueuedAt", build.QueuedAt, e.clock.Now())
		if !test.QueuedAt.IsZero() {
			t.Errorf("created job has QueuedAt %v", test.QueuedAt)
		}
		got, err := e.s.Pipelines.Pipeline(e.ctx, pl.ID)
		must(t, err)
		if got.Ref != "v1.0" || !got.Tag || !got.Protected || got.SHA != pl.SHA || got.BeforeSHA != pl.BeforeSHA ||
			got.Source != store.SourceAPI || got.Status != store.StatusCreated || got.Name != "release" || got.UserID != u.ID ||
			!slices.Equal(got.Variables, pl.Variables) || got.IID != 1 || got.ProjectID != p.ID {
			t.Errorf("Pipeline = %+v, want %+v", got, pl)
		}
		second := e.pipeline(p.ID)
		other := e.pipeline(e.project(root.ID).ID)
		if second.IID != 2 || other.IID != 1 {
			t.Errorf("iids %d and %d, want 2 in the same project and 1 in another", second.IID, other.IID)
		}
		byIID, err := e.s.Pipelines.PipelineByIID(e.ctx, p.ID, 2)
		must(t, err)
		if byIID.ID != second.ID {
			t.Errorf("PipelineByIID(2) = %d, want %d", byIID.ID, second.ID)
		}
	},
	"concurrent pipelines of a project get distinct iids without gaps": func(t *testing.T, e *env) {
		p := e.project(e.group(0, "").ID)
		const n = 20
		iids := make([]int64, n)
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				pl := &store.Pipeline{ProjectID: p.ID, Ref: "main", SHA: "abc", Source: store.SourcePush, Status: store.StatusPending}
				if err := e.s.Pipelines.CreatePipeline(e.ctx, pl, []*store.Job{newJob("a", store.StatusPending)}); err != nil {
					errs <- err
				}
				iids[i] = pl.IID
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		slices.Sort(iids)
		for i, iid := range iids {
			if iid != int64(i+1) {
				t.Fatalf("iids = %v, want 1..%d", iids, n)
			}
		}
	},
	"CreatePipeline refuses bad input and creates nothing": func(t *testing.T, e *env) {
		p := e.project(e.group(0, "").ID)
		ok := func() store.Pipeline {
			return store.Pipeline{ProjectID: p.ID, Ref: "main", SHA: "abc", Source: store.SourcePush, Status: store.StatusPending}
		}
		cases := []struct {
			name string
			edit func(*store.Pipeline)
			jobs []*store.Job
			want error
		}{
			{"no ref", func(p *store.Pipeline) { p.Ref = "" }, nil, store.ErrInvalid},
			{"no sha", func(p *store.Pipeline) { p.SHA = "" }, nil, store.ErrInvalid},
			{"unknown status", func(p *store.Pipeline) { p.Status = "done" }, nil, store.ErrInvalid},
			{"missing project", func(p *store.Pipeline) { p.ProjectID += 100 }, nil, store.ErrNotFound},
			{"job without a name", nil, []*store.Job{newJob("a", store.StatusPending), newJob("", store.StatusPending)}, store.ErrInvalid},
			{"job without a stage", nil, []*store.Job{{Name: "a", Status: store.StatusPending}}, store.ErrInvalid},
			{"job already running", nil, []*store.Job{newJob("a", store.StatusRunning)}, store.ErrInvalid},
			{"job with an empty tag", nil, []*store.Job{newJob("a", store.StatusPending, "")}, store.ErrInvalid},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				pl := ok()
				if c.edit != nil {
					c.edit(&pl)
				}
				wantErr(t, e.s.Pipelines.CreatePipeline(e.ctx, &pl, c.jobs), c.want)
			})
		}
		list, err := e.s.Pipelines.ListPipelines(e.ctx, store.PipelineQuery{ProjectID: p.ID})
		must(t, err)
		jobs, err := e.s.Jobs.ListJobs(e.ctx, store.JobQuery{ProjectID: p.ID})
		must(t, err)
		if len(list) != 0 || len(jobs) != 0 {
			t.Errorf("refused creations left %d pipelines and %d jobs", len(list), len(jobs))
		}
		// The failed attempts did not use up numbers.
		if pl := e.pipeline(p.ID); pl.IID != 1 {
			t.Errorf("first pipeline after refusals has iid %d, want 1", pl.IID)
		}
	},
	"ListPipelines filters by ref, sha and status, newest first": func(t *testing.T, e *env) {
		p := e.project(e.group(0, "").ID)
		a := e.pipeline(p.ID)
		b := &store.Pipeline{ProjectID: p.ID, Ref: "dev", SHA: "bbb", Source: store.SourceWeb, Status: store.StatusSuccess}
		must(t, e.s.Pipelines.CreatePipeline(e.ctx, b, nil))
		c := e.pipeline(p.ID)
		e.pipeline(e.project(e.group(0, "").ID).ID) // another project's
		ids := func(q store.PipelineQuery) []int64 {
			t.Helper()
			q.ProjectID = p.ID
			list, err := e.s.Pipelines.ListPipelines(e.ctx, q)
			must(t, err)
			var out []int64
			for _, pl := range list {
				out = append(out, pl.ID)
			}
			return out
		}
		for _, c := range []struct {
			name  string
			q     store.PipelineQuery
			want  []int64
			count int // over all pages
		}{
			{"all", store.PipelineQuery{}, []int64{c.ID, b.ID, a.ID}, 3},
			{"ref", store.PipelineQuery{Ref: "main"}, []int64{c.ID, a.ID}, 2},
			{"sha", store.PipelineQuery{SHA: "bbb"}, []int64{b.ID}, 1},
			{"status", store.PipelineQuery{Statuses: []store.Status{store.StatusSuccess, store.StatusFailed}}, []int64{b.ID}, 1},
			{"page", store.PipelineQuery{Page: store.Page{Offset: 2, Limit: 2}}, []int64{a.ID}, 3},
			{"page of a ref", store.PipelineQuery{Ref: "main", Page: store.Page{Offset: 1, Limit: 1}}, []int64{a.ID}, 2},
			{"page past the end", store.PipelineQuery{Page: store.Page{Offset: 3, Limit: 2}}, nil, 3},
		} {
			if got := ids(c.q); !slices.Equal(got, c.want) {
				t.Errorf("%s: %v, want %v", c.name, got, c.want)
			}
			q := c.q
			q.ProjectID = p.ID
			n, err := e.s.Pipelines.CountPipelines(e.ctx, q, 0)
			must(t, err)
			if n != c.count {
				t.Errorf("%s: CountPipelines = %d, want %d", c.name, n, c.count)
			}
			if capped, err := e.s.Pipelines.CountPipelines(e.ctx, q, 2); err != nil || capped != min(c.count, 2) {
				t.Errorf("%s: CountPipelines up to 2 = %d, %v, want %d", c.name, capped, err, min(c.count, 2))
			}
		}
	},
	"SetPipelineStatus keeps start and finish times": func(t *testing.T, e *env) {
		pl := e.pipeline(e.project(e.group(0, "").ID).ID)
		e.clock.Advance(1e9)
		start := e.clock.Now()
		got, err := e.s.Pipelines.SetPipelineStatus(e.ctx, pl.ID, store.StatusRunning)
		must(t, err)
		equalTime(t, "StartedAt", got.StartedAt, start)
		e.clock.Advance(5e9)
		got, err = e.s.Pipelines.SetPipelineStatus(e.ctx, pl.ID, store.StatusFailed)
		must(t, err)
		equalTime(t, "FinishedAt", got.FinishedAt, e.clock.Now())
		if got.Status != store.StatusFailed || got.Duration() != 5e9 {
			t.Errorf("status %s duration %v, want failed after 5s", got.Status, got.Duration())
		}
		e.clock.Advance(1e9)
		got, err = e.s.Pipelines.SetPipelineStatus(e.ctx, pl.ID, store.StatusRunning) // retried
		must(t, err)
		equalTime(t, "StartedAt after a retry", got.StartedAt, start)
		if !got.FinishedAt.IsZero() {
			t.Errorf("FinishedAt = %v after running again, want unset", got.FinishedAt)
		}
		equalTime(t, "UpdatedAt", got.UpdatedAt, e.clock.Now())
		_, err = e.s.Pipelines.SetPipelineStatus(e.ctx, pl.ID, "finished")
		wantErr(t, err, store.ErrInvalid)
		_, err = e.s.Pipelines.SetPipelineStatus(e.ctx, pl.ID+100, store.StatusSuccess)
		wantErr(t, err, store.ErrNotFound)
		_, err = e.s.Pipelines.Pipeline(e.ctx, pl.ID+100)
		wantErr(t, err, store.ErrNotFound)
		_, err = e.s.Pipelines.PipelineByIID(e.ctx, pl.ProjectID, 7)
		wantErr(t, err, store.ErrNotFound)
	},
}
