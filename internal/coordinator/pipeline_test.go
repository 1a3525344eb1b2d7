package coordinator_test

import (
	"context"
	"testing"

	"github.com/kiln-ci/kiln/internal/coordinator"
	"github.com/kiln-ci/kiln/internal/coordinator/coordinatortest"
	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/store"
)

const twoStages = `
stages: [build, test]
build:
  stage: build
  script: [echo build]
test:
  stage: test
  script: [echo test]
`

// small is a hosted runner of the untagged machine type.
func small(t *testing.T, e *coordinatortest.Env) *store.Runner {
	r, _ := e.Runner(t, coordinator.CreateRunnerRequest{RunUntagged: true, MachineType: machine.TagSmall})
	return r
}

func wantStatuses(t *testing.T, e *coordinatortest.Env, pl *store.Pipeline, jobs string, status store.Status) {
	t.Helper()
	if got := e.Statuses(t, pl.ID); got != jobs {
		t.Errorf("jobs: %s, want %s", got, jobs)
	}
	if got := e.Pipeline(t, pl.ID).Status; got != status {
		t.Errorf("pipeline status %s, want %s", got, status)
	}
}

func TestAPipelineRunsStageByStage(t *testing.T) {
	e := coordinatortest.New(t, coordinatortest.Options{})
	p := e.Project(t, e.Group(t, "acme", machine.PlanFree), "app", map[string]string{".gitlab-ci.yml": twoStages})
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
	_ = context.Background()
}
