package coordinator_test

import (
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/coordinator"
	"github.com/kiln-ci/kiln/internal/coordinator/coordinatortest"
	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/store"
)

// failUnserved configures the coordinator as kiln up does on a host without GPUs.
func failUnserved(o *coordinatortest.Options) {
	o.Configure = func(c *coordinator.Config) {
		c.FailUnserved = true
		c.UnservedHint = "this host has no GPU"
	}
}

func TestWithFailUnservedAGPUJobNoRunnerServesFailsAtOnceSayingNoGPUIsAvailable(t *testing.T) {
	coordinatortest.ForEachEngine(t, func(t *testing.T, engine string) {
		e, p := setup(t, engine, machine.PlanPremium, gpuJob+`
build:
  script: [make]
`, failUnserved)
		small(t, e)
		pl := e.CreatePipeline(t, p, "main")
		wantRefused(t, e, pl, "train", protocol.FailureGPUUnavailable,
			"no GPU of machine type saas-linux-medium-amd64-gpu-standard is available: no runner serves it; this host has no GPU")
		if got := e.Jobs(t, pl.ID)["build"].Status; got != store.StatusPending {
			t.Errorf("the untagged job, which a runner serves, is %s; want pending", got)
		}
	})
}

func TestWithFailUnservedACPUJobNoRunnerServesFailsAsNoMatchingRunner(t *testing.T) {
	e, p := setup(t, coordinatortest.SQLite, machine.PlanPremium, `
big:
  tags: [saas-linux-large-amd64]
  script: [make]
`, failUnserved)
	small(t, e)
	pl := e.CreatePipeline(t, p, "main")
	wantRefused(t, e, pl, "big", protocol.FailureNoMatchingRunner, "no runner serves machine type saas-linux-large-amd64")
	wantStatuses(t, e, pl, "big=failed", store.StatusFailed)
}

func TestWithFailUnservedAGPUJobARunnerServesStillWaitsForItsGPU(t *testing.T) {
	e, p := setup(t, coordinatortest.SQLite, machine.PlanPremium, gpuJob, failUnserved)
	r := gpuRunner(t, e)
	e.Take(t, r, kilnInfo(t4("GPU-a", true)), 50*time.Millisecond) // its only GPU is leased now
	pl := e.CreatePipeline(t, p, "main")
	wantStatuses(t, e, pl, "train=pending", store.StatusPending)
}
