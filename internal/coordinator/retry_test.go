package coordinator_test

import (
	"context"
	"testing"

	"github.com/kiln-ci/kiln/internal/coordinator"
	"github.com/kiln-ci/kiln/internal/coordinator/coordinatortest"
	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/store"
)

func TestRetryPolicyRetriesFailuresAsNewAttempts(t *testing.T) {
	coordinatortest.ForEachEngine(t, func(t *testing.T, engine string) {
		e, p := setup(t, engine, machine.PlanFree, `
flaky:
  script: [exit 1]
  retry:
    max: 2
    when: [script_failure]
`)
		r := small(t, e)
		pl := e.CreatePipeline(t, p, "main")
		first := e.MustTake(t, r, nil)
		e.Fail(t, first, 1)
		wantStatuses(t, e, pl, "flaky=pending", store.StatusPending)
		second := e.MustTake(t, r, nil)
		if second.ID == first.ID {
			t.Fatal("the retry reused the job id; a retried job is a new job")
		}
		e.Fail(t, second, 1)
		third := e.MustTake(t, r, nil)
		e.Fail(t, third, 1)
		wantStatuses(t, e, pl, "flaky=failed", store.StatusFailed)
		all, err := e.Store.Jobs.ListJobs(context.Background(), store.JobQuery{PipelineID: pl.ID, IncludeRetried: true})
		if err != nil || len(all) != 3 {
			t.Fatalf("attempts: %d, %v; want 3", len(all), err)
		}
		for i, j := range all {
			if j.Attempt != i+1 || j.Retried != (i < 2) {
				t.Errorf("attempt %d: Attempt %d Retried %v", i+1, j.Attempt, j.Retried)
			}
		}
	})
}

func TestRetryWhenOtherReasonsOrExitCodesDoesNotRetryAScriptFailure(t *testing.T) {
	e, p := setup(t, coordinatortest.SQLite, machine.PlanFree, `
a:
  script: [exit 1]
  retry:
    max: 2
    when: [runner_system_failure]
b:
  script: [exit 1]
  retry:
    max: 1
    exit_codes: [137]
`)
	r := small(t, e)
	pl := e.CreatePipeline(t, p, "main")
	e.Fail(t, e.MustTake(t, r, nil), 1)
	e.Fail(t, e.MustTake(t, r, nil), 1)
	wantStatuses(t, e, pl, "a=failed b=failed", store.StatusFailed)
}

func TestRetryingAFailedJobRunsTheJobsItsFailureSkipped(t *testing.T) {
	coordinatortest.ForEachEngine(t, func(t *testing.T, engine string) {
		e, p := setup(t, engine, machine.PlanFree, `
build:
  stage: build
  script: [exit 1]
test:
  stage: test
  script: [echo]
`)
		r := small(t, e)
		pl := e.CreatePipeline(t, p, "main")
		e.Fail(t, e.MustTake(t, r, nil), 1)
		wantStatuses(t, e, pl, "build=failed test=skipped", store.StatusFailed)
		retried, err := e.Service.RetryJob(context.Background(), e.Jobs(t, pl.ID)["build"].ID)
		if err != nil {
			t.Fatal(err)
		}
		if retried.Attempt != 2 || retried.Status != store.StatusPending {
			t.Errorf("retried job attempt %d status %s", retried.Attempt, retried.Status)
		}
		wantStatuses(t, e, pl, "build=pending test=created", store.StatusPending)
		e.Succeed(t, e.MustTake(t, r, nil))
		e.Succeed(t, e.MustTake(t, r, nil))
		wantStatuses(t, e, pl, "build=success test=success", store.StatusSuccess)
		if _, err := e.Service.RetryJob(context.Background(), e.Jobs(t, pl.ID)["test"].ID+1000); coordinator.KindOf(err) != coordinator.KindNotFound {
			t.Errorf("retrying a missing job: %v", err)
		}
	})
}

func TestRetryingAPipelineRetriesItsFailedAndSkippedJobs(t *testing.T) {
	coordinatortest.ForEachEngine(t, func(t *testing.T, engine string) {
		e, p := setup(t, engine, machine.PlanFree, `
a:
  stage: build
  script: [exit 1]
ok:
  stage: build
  script: [echo]
b:
  stage: test
  script: [echo]
`)
		r := small(t, e)
		pl := e.CreatePipeline(t, p, "main")
		for range 2 {
			j := e.MustTake(t, r, nil)
			if j.JobInfo.Name == "a" {
				e.Fail(t, j, 1)
			} else {
				e.Succeed(t, j)
			}
		}
		wantStatuses(t, e, pl, "a=failed b=skipped ok=success", store.StatusFailed)
		if _, err := e.Service.RetryPipeline(context.Background(), pl.ID); err != nil {
			t.Fatal(err)
		}
		wantStatuses(t, e, pl, "a=pending b=created ok=success", store.StatusRunning)
		e.Succeed(t, e.MustTake(t, r, nil))
		e.Succeed(t, e.MustTake(t, r, nil))
		wantStatuses(t, e, pl, "a=success b=success ok=success", store.StatusSuccess)
		if _, err := e.Service.RetryPipeline(context.Background(), pl.ID); coordinator.KindOf(err) != coordinator.KindConflict {
			t.Errorf("retrying a successful pipeline: %v", err)
		}
	})
}

func TestCancelingAPipelineStopsItsRunningJobsGracefully(t *testing.T) {
	coordinatortest.ForEachEngine(t, func(t *testing.T, engine string) {
		e, p := setup(t, engine, machine.PlanFree, `
a:
  stage: build
  script: [sleep 100]
b:
  stage: build
  script: [echo]
  tags: [nobody-has-this]
c:
  stage: test
  script: [echo]
`)
		r := small(t, e)
		pl := e.CreatePipeline(t, p, "main")
		a := e.MustTake(t, r, nil)
		if _, err := e.Service.CancelPipeline(context.Background(), pl.ID); err != nil {
			t.Fatal(err)
		}
		wantStatuses(t, e, pl, "a=canceling b=canceled c=canceled", store.StatusCanceling)
		if got := e.Finish(t, a, protocol.StateFailed, "Terminated\n", 143); got != string(store.StatusCanceled) {
			t.Errorf("final update answered %s, want canceled", got)
		}
		wantStatuses(t, e, pl, "a=canceled b=canceled c=canceled", store.StatusCanceled)
		if _, err := e.Service.CancelJob(context.Background(), e.Jobs(t, pl.ID)["a"].ID); coordinator.KindOf(err) != coordinator.KindConflict {
			t.Errorf("canceling a canceled job: %v, want a conflict", err)
		}
	})
}
