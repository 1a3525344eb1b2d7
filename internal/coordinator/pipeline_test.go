package coordinator_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/coordinator"
	"github.com/kiln-ci/kiln/internal/coordinator/coordinatortest"
	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/store"
	"github.com/kiln-ci/kiln/internal/store/storetest"
)

// small is a hosted runner of the untagged machine type.
func small(t *testing.T, e *coordinatortest.Env) *store.Runner {
	r, _ := e.Runner(t, coordinator.CreateRunnerRequest{RunUntagged: true, MachineType: machine.TagSmall})
	return r
}

func wantStatuses(t *testing.T, e *coordinatortest.Env, pl *store.Pipeline, jobs string, status store.Status) {
	t.Helper()
	if got := e.Statuses(t, pl.ID); got != jobs {
		t.Errorf("jobs: %s\n          want %s", got, jobs)
	}
	if got := e.Pipeline(t, pl.ID).Status; got != status {
		t.Errorf("pipeline status %s, want %s", got, status)
	}
}

// setup starts a coordinator on engine with a project holding ci, in a group on plan.
func setup(t *testing.T, engine, plan, ci string, opts ...func(*coordinatortest.Options)) (*coordinatortest.Env, *store.Project) {
	t.Helper()
	o := coordinatortest.Options{Engine: engine}
	for _, f := range opts {
		f(&o)
	}
	e := coordinatortest.New(t, o)
	p := e.Project(t, e.Group(t, "acme", plan), "app", map[string]string{".gitlab-ci.yml": ci})
	return e, p
}

// withClock gives the store and the service a clock the test moves.
func withClock(c *storetest.Clock) func(*coordinatortest.Options) {
	return func(o *coordinatortest.Options) { o.Now = c.Now }
}

func TestAPipelineRunsStageByStage(t *testing.T) {
	coordinatortest.ForEachEngine(t, func(t *testing.T, engine string) {
		e, p := setup(t, engine, machine.PlanFree, `
stages: [build, test]
build:
  stage: build
  script: [echo build]
test:
  stage: test
  script: [echo test]
`)
		r := small(t, e)
		pl := e.CreatePipeline(t, p, "main")
		wantStatuses(t, e, pl, "build=pending test=created", store.StatusPending)

		job := e.MustTake(t, r, nil)
		if job.JobInfo.Name != "build" {
			t.Fatalf("first job %q, want build", job.JobInfo.Name)
		}
		wantStatuses(t, e, pl, "build=running test=created", store.StatusRunning)
		e.Succeed(t, job)
		wantStatuses(t, e, pl, "build=success test=pending", store.StatusRunning)
		e.Succeed(t, e.MustTake(t, r, nil))
		wantStatuses(t, e, pl, "build=success test=success", store.StatusSuccess)
		if got := e.Pipeline(t, pl.ID); got.FinishedAt.IsZero() || got.StartedAt.IsZero() {
			t.Errorf("finished pipeline times: started %v finished %v", got.StartedAt, got.FinishedAt)
		}
	})
}

func TestAFailureSkipsLaterJobsAndRunsOnFailureJobs(t *testing.T) {
	coordinatortest.ForEachEngine(t, func(t *testing.T, engine string) {
		e, p := setup(t, engine, machine.PlanFree, `
build:
  stage: build
  script: [exit 1]
test:
  stage: test
  script: [echo]
cleanup:
  stage: test
  when: on_failure
  script: [echo cleanup]
report:
  stage: deploy
  when: always
  script: [echo report]
`)
		r := small(t, e)
		pl := e.CreatePipeline(t, p, "main")
		e.Fail(t, e.MustTake(t, r, nil), 1)
		wantStatuses(t, e, pl, "build=failed cleanup=pending report=created test=skipped", store.StatusRunning)
		e.Succeed(t, e.MustTake(t, r, nil))
		wantStatuses(t, e, pl, "build=failed cleanup=success report=pending test=skipped", store.StatusRunning)
		e.Succeed(t, e.MustTake(t, r, nil))
		wantStatuses(t, e, pl, "build=failed cleanup=success report=success test=skipped", store.StatusFailed)
	})
}

func TestAllowFailureExitCodesDecideWhetherTheFailureCounts(t *testing.T) {
	coordinatortest.ForEachEngine(t, func(t *testing.T, engine string) {
		e, p := setup(t, engine, machine.PlanFree, `
flaky:
  script: [exit 3]
  allow_failure:
    exit_codes: [3]
`)
		r := small(t, e)
		allowed := e.CreatePipeline(t, p, "main")
		e.Fail(t, e.MustTake(t, r, nil), 3)
		wantStatuses(t, e, allowed, "flaky=failed", store.StatusSuccess) // passed with warnings
		counted := e.CreatePipeline(t, p, "main")
		e.Fail(t, e.MustTake(t, r, nil), 1)
		wantStatuses(t, e, counted, "flaky=failed", store.StatusFailed)
	})
}

func TestNeedsStartAJobBeforeItsStageWouldAllow(t *testing.T) {
	coordinatortest.ForEachEngine(t, func(t *testing.T, engine string) {
		e, p := setup(t, engine, machine.PlanFree, `
compile:
  stage: build
  script: [echo]
slow:
  stage: build
  script: [sleep 100]
unit:
  stage: test
  needs: [compile]
  script: [echo]
lint:
  stage: test
  needs: []
  script: [echo]
package:
  stage: deploy
  script: [echo]
`)
		r := small(t, e)
		pl := e.CreatePipeline(t, p, "main")
		wantStatuses(t, e, pl, "compile=pending lint=pending package=created slow=pending unit=created", store.StatusPending)
		for range 3 {
			if j := e.MustTake(t, r, nil); j.JobInfo.Name == "compile" {
				e.Succeed(t, j)
			}
		}
		// unit needs only compile: it runs while slow, of the stage before, still runs.
		wantStatuses(t, e, pl, "compile=success lint=pending package=created slow=running unit=running", store.StatusRunning)
	})
}

func TestManualJobsWaitForPlayAndOptionalOnesDoNotBlock(t *testing.T) {
	coordinatortest.ForEachEngine(t, func(t *testing.T, engine string) {
		e, p := setup(t, engine, machine.PlanFree, `
build:
  stage: build
  script: [echo]
deploy:
  stage: deploy
  when: manual
  script: [echo deploy]
`)
		r := small(t, e)
		pl := e.CreatePipeline(t, p, "main")
		e.Succeed(t, e.MustTake(t, r, nil))
		wantStatuses(t, e, pl, "build=success deploy=manual", store.StatusSuccess)
		if job := e.Take(t, r, nil, 200*time.Millisecond); job != nil {
			t.Fatalf("runner got manual job %s before it was played", job.JobInfo.Name)
		}
		deploy := e.Jobs(t, pl.ID)["deploy"]
		if _, err := e.Service.PlayJob(context.Background(), deploy.ID); err != nil {
			t.Fatal(err)
		}
		wantStatuses(t, e, pl, "build=success deploy=pending", store.StatusRunning)
		job := e.MustTake(t, r, nil)
		if v := job.Variables.Get("CI_JOB_MANUAL"); v != "true" {
			t.Errorf("CI_JOB_MANUAL = %q in a played manual job", v)
		}
		e.Succeed(t, job)
		wantStatuses(t, e, pl, "build=success deploy=success", store.StatusSuccess)
		if _, err := e.Service.PlayJob(context.Background(), deploy.ID); coordinator.KindOf(err) != coordinator.KindConflict {
			t.Errorf("playing a finished job: %v, want a conflict", err)
		}
	})
}

func TestABlockingManualJobHoldsThePipelineUntilPlayed(t *testing.T) {
	coordinatortest.ForEachEngine(t, func(t *testing.T, engine string) {
		e, p := setup(t, engine, machine.PlanFree, `
approve:
  stage: build
  script: [echo approved]
  rules:
    - when: manual
ship:
  stage: deploy
  script: [echo ship]
`)
		r := small(t, e)
		pl := e.CreatePipeline(t, p, "main")
		wantStatuses(t, e, pl, "approve=manual ship=created", store.StatusManual)
		if _, err := e.Service.PlayJob(context.Background(), e.Jobs(t, pl.ID)["approve"].ID); err != nil {
			t.Fatal(err)
		}
		e.Succeed(t, e.MustTake(t, r, nil))
		wantStatuses(t, e, pl, "approve=success ship=pending", store.StatusRunning)
	})
}

func TestDelayedJobsBecomePendingWhenTheirTimeComes(t *testing.T) {
	coordinatortest.ForEachEngine(t, func(t *testing.T, engine string) {
		clock := storetest.NewClock()
		e, p := setup(t, engine, machine.PlanFree, `
later:
  when: delayed
  start_in: 30 minutes
  script: [echo]
`, withClock(clock))
		ctx := context.Background()
		pl := e.CreatePipeline(t, p, "main")
		wantStatuses(t, e, pl, "later=scheduled", store.StatusScheduled)
		clock.Advance(29 * time.Minute)
		e.Service.Reap(ctx)
		wantStatuses(t, e, pl, "later=scheduled", store.StatusScheduled)
		clock.Advance(2 * time.Minute)
		e.Service.Reap(ctx)
		wantStatuses(t, e, pl, "later=pending", store.StatusPending)
	})
}

func TestAPipelineOfAnInvalidConfigurationIsRefusedByTheAPI(t *testing.T) {
	e, p := setup(t, coordinatortest.SQLite, machine.PlanFree, "build:\n  stage: nope\n  script: [x]\n")
	_, err := e.Service.CreatePipeline(context.Background(), coordinator.CreatePipelineRequest{ProjectID: p.ID, Ref: "main"})
	if coordinator.KindOf(err) != coordinator.KindInvalid || !strings.Contains(err.Error(), "nope") {
		t.Errorf("invalid configuration: %v", err)
	}
	pls, _ := e.Store.Pipelines.ListPipelines(context.Background(), store.PipelineQuery{ProjectID: p.ID})
	if len(pls) != 0 {
		t.Errorf("%d pipelines stored for an API request with an invalid configuration", len(pls))
	}
	saved, err := e.Service.CreatePipeline(context.Background(), coordinator.CreatePipelineRequest{ProjectID: p.ID, Ref: "main",
		Source: store.SourcePush, SaveOnErrors: true})
	if err != nil || saved.Status != store.StatusFailed || !strings.Contains(saved.YAMLErrors, ".gitlab-ci.yml") {
		t.Errorf("push with an invalid configuration: %+v, %v; want a failed pipeline showing the error", saved, err)
	}
}

func TestWorkflowRulesThatFilterThePipelineOutCreateNothing(t *testing.T) {
	e, p := setup(t, coordinatortest.SQLite, machine.PlanFree, `
workflow:
  rules:
    - if: $CI_COMMIT_TAG
a:
  script: [x]
`)
	_, err := e.Service.CreatePipeline(context.Background(), coordinator.CreatePipelineRequest{ProjectID: p.ID, Ref: "main"})
	if coordinator.KindOf(err) != coordinator.KindInvalid || !strings.Contains(err.Error(), "filtered out by workflow rules") {
		t.Errorf("filtered pipeline: %v", err)
	}
	_, err = e.Service.CreatePipeline(context.Background(), coordinator.CreatePipelineRequest{ProjectID: p.ID, Ref: "no-such-branch"})
	if coordinator.KindOf(err) != coordinator.KindInvalid || !strings.Contains(err.Error(), "Reference not found") {
		t.Errorf("missing ref: %v", err)
	}
}
