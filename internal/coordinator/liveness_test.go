package coordinator_test

import (
	"context"
	"fmt"
	"hash/crc32"
	"strings"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/coordinator"
	"github.com/kiln-ci/kiln/internal/coordinator/coordinatortest"
	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/store"
	"github.com/kiln-ci/kiln/internal/store/storetest"
)

func TestAJobWhoseRunnerFallsSilentFailsAsRunnerSystemFailureAndIsRetried(t *testing.T) {
	coordinatortest.ForEachEngine(t, func(t *testing.T, engine string) {
		clock := storetest.NewClock()
		e, p := setup(t, engine, machine.PlanFree, "work:\n  script: [make]\n  retry: 1\n", withClock(clock))
		ctx := context.Background()
		r := small(t, e)
		pl := e.CreatePipeline(t, p, "main")
		job := e.MustTake(t, r, nil)
		clock.Advance(60 * time.Second)
		j, _ := e.Service.AuthenticateJob(ctx, job.Token)
		if _, _, err := e.Service.AppendTrace(ctx, j, 0, []byte("working\n")); err != nil { // a sign of life
			t.Fatal(err)
		}
		clock.Advance(60 * time.Second)
		e.Service.Reap(ctx)
		wantStatuses(t, e, pl, "work=running", store.StatusRunning)
		clock.Advance(31 * time.Second) // 91 s since the runner last reported
		e.Service.Reap(ctx)
		all, _ := e.Store.Jobs.ListJobs(ctx, store.JobQuery{PipelineID: pl.ID, IncludeRetried: true})
		if len(all) != 2 || all[0].Status != store.StatusFailed || all[0].FailureReason != protocol.FailureRunnerSystem ||
			!all[0].Retried || all[1].Status != store.StatusPending {
			t.Fatalf("after the runner fell silent: %+v", all)
		}
		if trace := e.Trace(t, all[0].ID); !strings.Contains(trace, "working\n") || !strings.Contains(trace, "the runner stopped reporting") {
			t.Errorf("trace %q", trace)
		}
		// The silent runner's token is dead: if it comes back it is told to stop.
		if _, err := e.Service.AuthenticateJob(ctx, job.Token); coordinator.KindOf(err) != coordinator.KindForbidden {
			t.Errorf("old token: %v", err)
		}
		e.Succeed(t, e.MustTake(t, r, nil))
		wantStatuses(t, e, pl, "work=success", store.StatusSuccess)
	})
}

func TestAJobPastItsTimeoutIsFailedByTheCoordinatorToo(t *testing.T) {
	coordinatortest.ForEachEngine(t, func(t *testing.T, engine string) {
		clock := storetest.NewClock()
		e, p := setup(t, engine, machine.PlanFree, "work:\n  timeout: 10 minutes\n  script: [sleep 100000]\n", withClock(clock))
		ctx := context.Background()
		r := small(t, e)
		pl := e.CreatePipeline(t, p, "main")
		job := e.MustTake(t, r, nil)
		if job.RunnerInfo.Timeout != 600 {
			t.Fatalf("runner_info.timeout %d, want 600", job.RunnerInfo.Timeout)
		}
		for range 11 { // the runner keeps reporting, but the job runs too long
			clock.Advance(time.Minute)
			e.Store.Jobs.TouchJob(ctx, job.ID)
			e.Service.Reap(ctx)
		}
		wantStatuses(t, e, pl, "work=running", store.StatusRunning) // within the grace
		clock.Advance(time.Minute)
		e.Store.Jobs.TouchJob(ctx, job.ID)
		e.Service.Reap(ctx)
		j := e.Jobs(t, pl.ID)["work"]
		if j.Status != store.StatusFailed || j.FailureReason != protocol.FailureJobExecutionTimeout {
			t.Fatalf("job %s %s, want failed with job_execution_timeout", j.Status, j.FailureReason)
		}
	})
}

func TestHostedMachineTypesCapTimeoutsAtThreeHours(t *testing.T) {
	clock := storetest.NewClock()
	e, p := setup(t, coordinatortest.SQLite, machine.PlanFree, "long:\n  timeout: 5h\n  script: [x]\n", withClock(clock))
	ctx := context.Background()
	r := small(t, e)
	own, _ := e.Runner(t, coordinator.CreateRunnerRequest{RunUntagged: true, MaximumTimeout: 1800})
	pl := e.CreatePipeline(t, p, "main")
	job := e.MustTake(t, r, nil)
	if job.RunnerInfo.Timeout != 3*3600 {
		t.Errorf("hosted timeout %d, want 10800", job.RunnerInfo.Timeout)
	}
	// The coordinator enforces the cap too, not the 5 h the job asks for: a runner
	// that keeps reporting past 3 h (and the grace) has its job failed.
	for _, step := range []struct {
		advance time.Duration
		want    store.Status
	}{{3*time.Hour + coordinator.TimeoutGrace, store.StatusRunning}, {time.Minute, store.StatusFailed}} {
		clock.Advance(step.advance)
		if err := e.Store.Jobs.TouchJob(ctx, job.ID); err != nil {
			t.Fatal(err)
		}
		e.Service.Reap(ctx)
		if j := e.Jobs(t, pl.ID)["long"]; j.Status != step.want {
			t.Fatalf("%s after the start: job %s, want %s", clock.Now().Sub(j.StartedAt), j.Status, step.want)
		}
	}
	if j := e.Jobs(t, pl.ID)["long"]; j.FailureReason != protocol.FailureJobExecutionTimeout {
		t.Errorf("failure reason %q, want %s", j.FailureReason, protocol.FailureJobExecutionTimeout)
	}
	e.CreatePipeline(t, p, "main")
	if j := e.MustTake(t, own, nil); j.RunnerInfo.Timeout != 1800 {
		t.Errorf("timeout under a runner's maximum_timeout of 1800: %d", j.RunnerInfo.Timeout)
	}
}

func TestARestartedCoordinatorLosesNothing(t *testing.T) {
	coordinatortest.ForEachEngine(t, func(t *testing.T, engine string) {
		dir := t.TempDir()
		first := coordinatortest.New(t, coordinatortest.Options{Engine: engine, Dir: dir})
		p := first.Project(t, first.Group(t, "acme", machine.PlanFree), "app", map[string]string{".gitlab-ci.yml": `
build:
  stage: build
  script: [make]
test:
  stage: test
  script: [make test]
`})
		r, token := first.Runner(t, coordinator.CreateRunnerRequest{RunUntagged: true, MachineType: machine.TagSmall})
		pl := first.CreatePipeline(t, p, "main")
		build := first.MustTake(t, r, nil)
		ctx := context.Background()
		j, _ := first.Service.AuthenticateJob(ctx, build.Token)
		if _, _, err := first.Service.AppendTrace(ctx, j, 0, []byte("part one\n")); err != nil {
			t.Fatal(err)
		}
		first.Stop()

		second := coordinatortest.New(t, coordinatortest.Options{Engine: engine, Dir: dir, Schema: first.Schema})
		// The runner kept working: it resumes its trace uploads with the same token.
		j, err := second.Service.AuthenticateJob(ctx, build.Token)
		if err != nil {
			t.Fatalf("the job token did not survive the restart: %v", err)
		}
		if _, _, err := second.Service.AppendTrace(ctx, j, 0, []byte("again")); err == nil {
			t.Fatal("a patch from the wrong offset was accepted after the restart")
		}
		if _, _, err := second.Service.AppendTrace(ctx, j, 9, []byte("part two\n")); err != nil {
			t.Fatal(err)
		}
		full := "part one\npart two\n"
		res, err := second.Service.UpdateJob(ctx, j, coordinator.JobUpdate{State: protocol.StateSuccess,
			Checksum: fmt.Sprintf("crc32:%08x", crc32.ChecksumIEEE([]byte(full))), Bytesize: int64(len(full))})
		if err != nil || res.TraceMismatch || res.Status != "success" {
			t.Fatalf("final update after the restart: %+v, %v", res, err)
		}
		runner, err := second.Service.AuthenticateRunner(ctx, token)
		if err != nil {
			t.Fatal(err)
		}
		test := second.MustTake(t, runner, nil)
		if test.JobInfo.Name != "test" {
			t.Errorf("next job %s", test.JobInfo.Name)
		}
		wantStatuses(t, second, pl, "build=success test=running", store.StatusRunning)
	})
}

func TestJobsOfTheNamespaceWithFewestRunningJobsGoFirstAndFIFOWithinAProject(t *testing.T) {
	coordinatortest.ForEachEngine(t, func(t *testing.T, engine string) {
		e := coordinatortest.New(t, coordinatortest.Options{Engine: engine})
		ci := map[string]string{".gitlab-ci.yml": "a:\n  script: [x]\nb:\n  script: [x]\nc:\n  script: [x]\n"}
		busy := e.Project(t, e.Group(t, "busy", machine.PlanFree), "app", ci)
		quiet := e.Project(t, e.Group(t, "quiet", machine.PlanFree), "app", ci)
		r := small(t, e)
		e.CreatePipeline(t, busy, "main")
		e.CreatePipeline(t, busy, "main")
		e.CreatePipeline(t, quiet, "main") // created last
		var order []string
		for range 4 {
			j := e.MustTake(t, r, nil)
			order = append(order, j.JobInfo.ProjectFullPath+":"+j.JobInfo.Name)
		}
		// busy's oldest job first; then quiet (no running jobs) before busy's second; FIFO
		// within each project.
		want := "busy/app:a quiet/app:a busy/app:b quiet/app:b"
		if got := strings.Join(order, " "); got != want {
			t.Errorf("claim order %s, want %s", got, want)
		}
	})
}

func TestAJobCreatedOnOneReplicaWakesARunnerWaitingOnAnother(t *testing.T) {
	dir := t.TempDir()
	a := coordinatortest.New(t, coordinatortest.Options{Engine: coordinatortest.Postgres, Dir: dir,
		Configure: func(c *coordinator.Config) { c.LongPoll = 20 * time.Second }})
	b := coordinatortest.New(t, coordinatortest.Options{Engine: coordinatortest.Postgres, Dir: dir, Schema: a.Schema})
	p := a.Project(t, a.Group(t, "acme", machine.PlanFree), "app", map[string]string{".gitlab-ci.yml": "job:\n  script: [x]\n"})
	r := small(t, a)
	got := make(chan string, 1)
	go func() {
		if j := a.Take(t, r, nil, 15*time.Second); j != nil {
			got <- j.JobInfo.Name
		}
		close(got)
	}()
	time.Sleep(300 * time.Millisecond) // the runner waits on replica a
	start := time.Now()
	b.CreatePipeline(t, p, "main") // the pipeline is made on replica b
	name, ok := <-got
	if !ok || name != "job" {
		t.Fatalf("the runner waiting on replica a got %q", name)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the wake-up took %s: replica b's job should reach replica a's waiter through LISTEN/NOTIFY", d)
	}
}
