package storetest

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/store"
)

// fullJob sets every field a caller may give a new job.
func fullJob() *store.Job {
	two := 2
	return &store.Job{
		Name: "train", Stage: "build", StageIdx: 1, Status: store.StatusPending, When: store.WhenManual,
		AllowFailure: true, AllowFailureExitCodes: []int{3, 137},
		Needs:        []store.Need{{Name: "prepare", Artifacts: true}, {Name: "lint", Optional: true}},
		Dependencies: []string{"prepare"},
		Retry:        store.RetryPolicy{Max: 2, When: []string{"runner_system_failure"}, ExitCodes: []int{137}},
		Protected:    true, TimeoutSeconds: 3600, Scheduling: store.SchedulingDAG, StartIn: 90 * time.Second,
		Tags:        []string{"saas-linux-medium-amd64-gpu-standard"},
		MachineType: "saas-linux-medium-amd64-gpu-standard", GPUCount: 2,
		GPURequest: machine.GPURequest{Count: &two, Model: "T4", MemoryMinBytes: 16 << 30,
			CUDAMin: machine.Version{Major: 12, Minor: 2}},
		Payload:     json.RawMessage(`{"id": 0, "job_info": {"name": "train"},  "steps": [{"name":"script","script":["nvidia-smi"]}]}`),
		KilnMessage: "waiting for a GPU",
	}
}

var jobTests = map[string]func(*testing.T, *env){
	"a job keeps every field it was created with": func(t *testing.T, e *env) {
		want := fullJob()
		p := e.project(e.group(0, "").ID)
		e.pipeline(p.ID, want)
		got, err := e.s.Jobs.Job(e.ctx, want.ID)
		must(t, err)
		if string(got.Payload) != string(want.Payload) {
			t.Errorf("Payload = %s, want the bytes given: %s", got.Payload, want.Payload)
		}
		gotJSON, _ := json.Marshal(withoutPayload(got))
		wantJSON, _ := json.Marshal(withoutPayload(want))
		if string(gotJSON) != string(wantJSON) {
			t.Errorf("Job =\n%s\nwant\n%s", gotJSON, wantJSON)
		}
	},
	"ListJobs filters and hides retried jobs unless asked": func(t *testing.T, e *env) {
		p := e.project(e.group(0, "").ID)
		a, b := newJob("a", store.StatusPending), newJob("b", store.StatusCreated)
		pl := e.pipeline(p.ID, a, b)
		c := newJob("c", store.StatusPending)
		e.pipeline(p.ID, c)
		claimed, err := e.claim(store.ClaimRequest{RunUntagged: true})
		must(t, err)
		_, err = e.s.Jobs.TransitionJob(e.ctx, claimed.ID, store.JobTransition{From: []store.Status{store.StatusRunning}, To: store.StatusFailed})
		must(t, err)
		retry, err := e.s.Jobs.RetryJob(e.ctx, claimed.ID, store.StatusPending)
		must(t, err)
		ids := func(q store.JobQuery) []int64 {
			t.Helper()
			list, err := e.s.Jobs.ListJobs(e.ctx, q)
			must(t, err)
			var out []int64
			for _, j := range list {
				out = append(out, j.ID)
			}
			return out
		}
		for _, c := range []struct {
			name  string
			q     store.JobQuery
			want  []int64
			count int // over all pages
		}{
			{"pipeline", store.JobQuery{PipelineID: pl.ID}, []int64{b.ID, retry.ID}, 2},
			{"pipeline with retried", store.JobQuery{PipelineID: pl.ID, IncludeRetried: true}, []int64{a.ID, b.ID, retry.ID}, 3},
			{"project newest first", store.JobQuery{ProjectID: p.ID, Newest: true}, []int64{retry.ID, c.ID, b.ID}, 3},
			{"status", store.JobQuery{ProjectID: p.ID, Statuses: []store.Status{store.StatusPending}}, []int64{c.ID, retry.ID}, 2},
			{"runner", store.JobQuery{RunnerID: 1, IncludeRetried: true}, []int64{a.ID}, 1},
			{"page", store.JobQuery{ProjectID: p.ID, Page: store.Page{Offset: 1, Limit: 1}}, []int64{c.ID}, 3},
			{"page newest first", store.JobQuery{ProjectID: p.ID, Newest: true, Page: store.Page{Offset: 1, Limit: 5}}, []int64{c.ID, b.ID}, 3},
			{"page of a status with retried", store.JobQuery{ProjectID: p.ID, IncludeRetried: true, Newest: true,
				Statuses: []store.Status{store.StatusPending, store.StatusFailed}, Page: store.Page{Offset: 1, Limit: 1}}, []int64{c.ID}, 3},
			{"page past the end", store.JobQuery{ProjectID: p.ID, Page: store.Page{Offset: 3, Limit: 1}}, nil, 3},
		} {
			if got := ids(c.q); !slices.Equal(got, c.want) {
				t.Errorf("%s: %v, want %v", c.name, got, c.want)
			}
			n, err := e.s.Jobs.CountJobs(e.ctx, c.q, 0)
			must(t, err)
			if n != c.count {
				t.Errorf("%s: CountJobs = %d, want %d", c.name, n, c.count)
			}
			if capped, err := e.s.Jobs.CountJobs(e.ctx, c.q, 2); err != nil || capped != min(c.count, 2) {
				t.Errorf("%s: CountJobs up to 2 = %d, %v, want %d", c.name, capped, err, min(c.count, 2))
			}
		}
	},
	"PipelineJobs reads a pipeline's current jobs with its status": func(t *testing.T, e *env) {
		p := e.project(e.group(0, "").ID)
		a, b := fullJob(), newJob("b", store.StatusPending)
		pl := e.pipeline(p.ID, a, b)
		e.pipeline(p.ID, newJob("other pipeline's", store.StatusPending))
		_, err := e.s.Pipelines.SetPipelineStatus(e.ctx, pl.ID, store.StatusRunning)
		must(t, err)
		_, err = e.s.Jobs.TransitionJob(e.ctx, b.ID, store.JobTransition{From: []store.Status{store.StatusPending}, To: store.StatusFailed})
		must(t, err)
		retry, err := e.s.Jobs.RetryJob(e.ctx, b.ID, store.StatusCreated)
		must(t, err)
		state, err := e.s.Jobs.PipelineJobs(e.ctx, pl.ID)
		must(t, err)
		status, jobs := state.Status, state.Jobs
		if status != store.StatusRunning || len(jobs) != 2 || jobs[0].ID != a.ID || jobs[1].ID != retry.ID {
			t.Fatalf("PipelineJobs = %s, %+v; want running with jobs %d and %d", status, jobs, a.ID, retry.ID)
		}
		got, want := jobs[0], *a
		want.Payload = nil
		gotJSON, _ := json.Marshal(withoutPayload(&got))
		wantJSON, _ := json.Marshal(withoutPayload(&want))
		if got.Payload != nil || string(gotJSON) != string(wantJSON) {
			t.Errorf("job =\n%s\nwant, without its payload,\n%s", gotJSON, wantJSON)
		}
		state, err = e.s.Jobs.PipelineJobs(e.ctx, pl.ID+100)
		if err != nil || state.Status != "" || len(state.Jobs) != 0 {
			t.Errorf("PipelineJobs of a missing pipeline = %+v, %v; want nothing", state, err)
		}
	},
	"ListJobs leaves payloads out when asked": func(t *testing.T, e *env) {
		j := fullJob()
		pl := e.pipeline(e.project(e.group(0, "").ID).ID, j)
		list, err := e.s.Jobs.ListJobs(e.ctx, store.JobQuery{PipelineID: pl.ID, OmitPayload: true})
		must(t, err)
		if len(list) != 1 || list[0].Payload != nil || list[0].Name != j.Name || !slices.Equal(list[0].Tags, j.Tags) ||
			list[0].GPUCount != j.GPUCount || list[0].Scheduling != j.Scheduling {
			t.Errorf("ListJobs without payload = %+v, want job %q without its payload", list, j.Name)
		}
		list, err = e.s.Jobs.ListJobs(e.ctx, store.JobQuery{PipelineID: pl.ID})
		must(t, err)
		if len(list) != 1 || string(list[0].Payload) != string(j.Payload) {
			t.Errorf("ListJobs = %+v, want the payload", list)
		}
	},
	"ListJobs finds stale running jobs and due delayed jobs": func(t *testing.T, e *env) {
		j := e.pendingJob()
		_, err := e.claim(store.ClaimRequest{RunUntagged: true})
		must(t, err)
		d := newJob("deploy", store.StatusScheduled)
		d.ScheduledAt = e.clock.Now().Add(time.Hour)
		e.pipeline(j.ProjectID, d)
		e.clock.Advance(2 * time.Minute)
		stale, err := e.s.Jobs.ListJobs(e.ctx, store.JobQuery{Statuses: []store.Status{store.StatusRunning},
			UpdatedBefore: e.clock.Now().Add(-90 * time.Second)})
		must(t, err)
		if len(stale) != 1 || stale[0].ID != j.ID {
			t.Errorf("stale jobs = %v, want [%d]", stale, j.ID)
		}
		must(t, e.s.Jobs.TouchJob(e.ctx, j.ID))
		stale, err = e.s.Jobs.ListJobs(e.ctx, store.JobQuery{Statuses: []store.Status{store.StatusRunning},
			UpdatedBefore: e.clock.Now().Add(-90 * time.Second)})
		must(t, err)
		if len(stale) != 0 {
			t.Errorf("a touched job is still stale: %v", stale)
		}
		due, err := e.s.Jobs.ListJobs(e.ctx, store.JobQuery{Statuses: []store.Status{store.StatusScheduled}, ScheduledBefore: e.clock.Now()})
		must(t, err)
		if len(due) != 0 {
			t.Errorf("delayed job due early: %v", due)
		}
		e.clock.Advance(time.Hour)
		due, err = e.s.Jobs.ListJobs(e.ctx, store.JobQuery{Statuses: []store.Status{store.StatusScheduled}, ScheduledBefore: e.clock.Now()})
		must(t, err)
		if len(due) != 1 || due[0].ID != d.ID {
			t.Errorf("due delayed jobs = %v, want [%d]", due, d.ID)
		}
	},
	"TransitionJob records the outcome of a finished job": func(t *testing.T, e *env) {
		e.pendingJob()
		j, err := e.claim(store.ClaimRequest{RunUntagged: true})
		must(t, err)
		e.clock.Advance(90 * time.Second)
		code, cov := 137, 81.5
		got, err := e.s.Jobs.TransitionJob(e.ctx, j.ID, store.JobTransition{
			From: []store.Status{store.StatusRunning, store.StatusCanceling}, To: store.StatusFailed,
			FailureReason: "out_of_memory", ExitCode: &code, Coverage: &cov, KilnMessage: "the job hit its 15 GB memory limit",
			GPUTelemetry: json.RawMessage(`{"peak_memory_bytes":1024}`),
		})
		must(t, err)
		if got.Status != store.StatusFailed || got.FailureReason != "out_of_memory" || got.ExitCode == nil || *got.ExitCode != 137 ||
			got.Coverage == nil || *got.Coverage != 81.5 || got.KilnMessage != "the job hit its 15 GB memory limit" ||
			string(got.GPUTelemetry) != `{"peak_memory_bytes":1024}` {
			t.Errorf("after TransitionJob: %+v", got)
		}
		equalTime(t, "FinishedAt", got.FinishedAt, e.clock.Now())
		if got.Duration() != 90*time.Second {
			t.Errorf("Duration = %v, want 90s", got.Duration())
		}
		again, err := e.s.Jobs.Job(e.ctx, j.ID)
		must(t, err)
		if again.ExitCode == nil || *again.ExitCode != 137 || again.FailureReason != "out_of_memory" {
			t.Errorf("stored job = %+v", again)
		}
	},
	"TransitionJob is a compare-and-set on the status": func(t *testing.T, e *env) {
		j := e.pendingJob()
		_, err := e.s.Jobs.TransitionJob(e.ctx, j.ID, store.JobTransition{From: []store.Status{store.StatusRunning}, To: store.StatusSuccess})
		wantErr(t, err, store.ErrConflict)
		got, err := e.s.Jobs.Job(e.ctx, j.ID)
		must(t, err)
		if got.Status != store.StatusPending {
			t.Errorf("a refused transition changed the status to %s", got.Status)
		}
		e.clock.Advance(time.Minute)
		got, err = e.s.Jobs.TransitionJob(e.ctx, j.ID, store.JobTransition{From: []store.Status{store.StatusPending}, To: store.StatusCanceled})
		must(t, err)
		if got.Status != store.StatusCanceled {
			t.Errorf("status %s, want canceled", got.Status)
		}
		equalTime(t, "UpdatedAt", got.UpdatedAt, e.clock.Now())
		got, err = e.s.Jobs.TransitionJob(e.ctx, j.ID, store.JobTransition{From: []store.Status{store.StatusCanceled}, To: store.StatusPending})
		must(t, err)
		equalTime(t, "QueuedAt after re-queueing", got.QueuedAt, e.clock.Now())
		at := e.clock.Now().Add(time.Hour)
		got, err = e.s.Jobs.TransitionJob(e.ctx, j.ID, store.JobTransition{From: []store.Status{store.StatusPending}, To: store.StatusScheduled, ScheduledAt: at})
		must(t, err)
		equalTime(t, "ScheduledAt", got.ScheduledAt, at)
	},
	"TransitionJob refuses bad transitions": func(t *testing.T, e *env) {
		j := e.pendingJob()
		for _, c := range []struct {
			name string
			tr   store.JobTransition
			want error
		}{
			{"no from", store.JobTransition{To: store.StatusSuccess}, store.ErrInvalid},
			{"to running", store.JobTransition{From: []store.Status{store.StatusPending}, To: store.StatusRunning}, store.ErrInvalid},
			{"unknown status", store.JobTransition{From: []store.Status{store.StatusPending}, To: "done"}, store.ErrInvalid},
			{"scheduled without a time", store.JobTransition{From: []store.Status{store.StatusPending}, To: store.StatusScheduled}, store.ErrInvalid},
		} {
			_, err := e.s.Jobs.TransitionJob(e.ctx, j.ID, c.tr)
			if err == nil || !errorsIs(err, c.want) {
				t.Errorf("%s: got %v, want %v", c.name, err, c.want)
			}
		}
		_, err := e.s.Jobs.TransitionJob(e.ctx, j.ID+100, store.JobTransition{From: []store.Status{store.StatusPending}, To: store.StatusCanceled})
		wantErr(t, err, store.ErrNotFound)
		_, err = e.s.Jobs.Job(e.ctx, j.ID+100)
		wantErr(t, err, store.ErrNotFound)
	},
	"a job token works while the job runs or cancels, and not after": func(t *testing.T, e *env) {
		e.pendingJob()
		token, _ := store.NewToken(store.PrefixJobToken)
		j, err := e.claim(store.ClaimRequest{RunUntagged: true, Token: token})
		must(t, err)
		got, err := e.s.Jobs.JobByToken(e.ctx, token)
		must(t, err)
		if got.ID != j.ID {
			t.Errorf("JobByToken = %d, want %d", got.ID, j.ID)
		}
		_, err = e.s.Jobs.JobByToken(e.ctx, token[:len(token)-1])
		wantErr(t, err, store.ErrNotFound)
		_, err = e.s.Jobs.TransitionJob(e.ctx, j.ID, store.JobTransition{From: []store.Status{store.StatusRunning}, To: store.StatusCanceling})
		must(t, err)
		_, err = e.s.Jobs.JobByToken(e.ctx, token)
		must(t, err)
		_, err = e.s.Jobs.TransitionJob(e.ctx, j.ID, store.JobTransition{From: []store.Status{store.StatusCanceling}, To: store.StatusCanceled})
		must(t, err)
		_, err = e.s.Jobs.JobByToken(e.ctx, token)
		wantErr(t, err, store.ErrNotFound)
	},
	"TouchJob records contact only for an active job": func(t *testing.T, e *env) {
		j := e.pendingJob()
		wantErr(t, e.s.Jobs.TouchJob(e.ctx, j.ID), store.ErrConflict)
		wantErr(t, e.s.Jobs.TouchJob(e.ctx, j.ID+100), store.ErrNotFound)
		_, err := e.claim(store.ClaimRequest{RunUntagged: true})
		must(t, err)
		e.clock.Advance(time.Minute)
		must(t, e.s.Jobs.TouchJob(e.ctx, j.ID))
		got, err := e.s.Jobs.Job(e.ctx, j.ID)
		must(t, err)
		equalTime(t, "UpdatedAt", got.UpdatedAt, e.clock.Now())
	},
	"a job waits for the earlier stages unless it is a DAG job": func(t *testing.T, e *env) {
		p := e.project(e.group(0, "").ID)
		staged, dag := newJob("staged", store.StatusCreated), newJob("dag", store.StatusCreated)
		dag.Scheduling, dag.StartIn = store.SchedulingDAG, 30*time.Minute
		e.pipeline(p.ID, staged, dag)
		for _, c := range []struct {
			job        *store.Job
			scheduling string
			startIn    time.Duration
		}{{staged, store.SchedulingStage, 0}, {dag, store.SchedulingDAG, 30 * time.Minute}} {
			got, err := e.s.Jobs.Job(e.ctx, c.job.ID)
			must(t, err)
			if got.Scheduling != c.scheduling || got.StartIn != c.startIn {
				t.Errorf("job %s: scheduling %q start_in %s, want %q %s", got.Name, got.Scheduling, got.StartIn, c.scheduling, c.startIn)
			}
		}
		bad := newJob("bad", store.StatusCreated)
		bad.Scheduling = "sideways"
		err := e.s.Pipelines.CreatePipeline(e.ctx, &store.Pipeline{ProjectID: p.ID, Ref: "main", SHA: strings.Repeat("a", 40),
			Source: store.SourcePush, Status: store.StatusCreated}, []*store.Job{bad})
		wantErr(t, err, store.ErrInvalid)
	},
	"RetryJob replaces a finished job with its next attempt": func(t *testing.T, e *env) {
		orig := fullJob()
		orig.Status = store.StatusPending
		e.pipeline(e.project(e.group(0, "").ID).ID, orig)
		_, err := e.s.Jobs.RetryJob(e.ctx, orig.ID, store.StatusPending)
		wantErr(t, err, store.ErrConflict) // not finished
		_, err = e.s.Jobs.TransitionJob(e.ctx, orig.ID, store.JobTransition{From: []store.Status{store.StatusPending}, To: store.StatusFailed,
			FailureReason: "runner_system_failure"})
		must(t, err)
		_, err = e.s.Jobs.RetryJob(e.ctx, orig.ID, store.StatusRunning)
		wantErr(t, err, store.ErrInvalid)
		e.clock.Advance(time.Minute)
		retry, err := e.s.Jobs.RetryJob(e.ctx, orig.ID, store.StatusPending)
		must(t, err)
		if retry.ID == orig.ID || retry.Attempt != 2 || retry.Status != store.StatusPending || retry.Retried ||
			retry.PipelineID != orig.PipelineID || retry.FailureReason != "" || retry.RunnerID != 0 {
			t.Errorf("retry = %+v", retry)
		}
		equalTime(t, "retry's QueuedAt", retry.QueuedAt, e.clock.Now())
		a, _ := json.Marshal(withoutPayload(definition(retry)))
		b, _ := json.Marshal(withoutPayload(definition(orig)))
		if string(a) != string(b) || string(retry.Payload) != string(orig.Payload) {
			t.Errorf("retry's definition\n%s\ndiffers from the original's\n%s", a, b)
		}
		old, err := e.s.Jobs.Job(e.ctx, orig.ID)
		must(t, err)
		if !old.Retried || old.Status != store.StatusFailed {
			t.Errorf("original after retry = %+v", old)
		}
		_, err = e.s.Jobs.RetryJob(e.ctx, orig.ID, store.StatusPending)
		wantErr(t, err, store.ErrConflict) // already retried
		_, err = e.s.Jobs.RetryJob(e.ctx, retry.ID+100, store.StatusPending)
		wantErr(t, err, store.ErrNotFound)
	},
}

// withoutPayload returns a copy of j without its payload (compared byte for byte
// separately) and times (compared where they matter).
func withoutPayload(j *store.Job) store.Job {
	c := *j
	c.Payload = nil
	c.CreatedAt, c.QueuedAt, c.UpdatedAt = time.Time{}, time.Time{}, time.Time{}
	return c
}

// definition keeps what a retry copies: the job's definition, not its run.
func definition(j *store.Job) *store.Job {
	c := withoutPayload(j)
	c.ID, c.Status, c.Attempt, c.Retried, c.KilnMessage, c.FailureReason = 0, "", 0, false, "", ""
	c.StartedAt, c.FinishedAt, c.RunnerID, c.ExitCode, c.Coverage, c.GPUTelemetry = time.Time{}, time.Time{}, 0, nil, nil, nil
	return &c
}
