package coordinator_test

import (
	"context"
	"slices"
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

const gpuJob = `
train:
  tags: [saas-linux-medium-amd64-gpu-standard]
  script: [nvidia-smi]
`

func wantRefused(t *testing.T, e *coordinatortest.Env, pl *store.Pipeline, name, reason string, words ...string) {
	t.Helper()
	j := e.Jobs(t, pl.ID)[name]
	if j.Status != store.StatusFailed || j.FailureReason != reason {
		t.Fatalf("job %s: %s (%s), want failed with %s", name, j.Status, j.FailureReason, reason)
	}
	trace := e.Trace(t, j.ID)
	for _, w := range words {
		if !strings.Contains(j.KilnMessage, w) || !strings.Contains(trace, w) {
			t.Errorf("message %q / trace %q lack %q", j.KilnMessage, trace, w)
		}
	}
}

func TestAGPUJobFromTheFreePlanFailsAtOnceNamingPlanAndMachineType(t *testing.T) {
	coordinatortest.ForEachEngine(t, func(t *testing.T, engine string) {
		e, p := setup(t, engine, machine.PlanFree, gpuJob)
		pl := e.CreatePipeline(t, p, "main")
		wantRefused(t, e, pl, "train", protocol.FailurePlanNotAllowed, "saas-linux-medium-amd64-gpu-standard", "free plan",
			"premium or ultimate")
		if e.Pipeline(t, pl.ID).Status != store.StatusFailed {
			t.Errorf("pipeline %s, want failed", e.Pipeline(t, pl.ID).Status)
		}
	})
}

// gpuRunner is a Kiln runner of the GPU machine type with GPUs as given.
func gpuRunner(t *testing.T, e *coordinatortest.Env) *store.Runner {
	r, _ := e.Runner(t, coordinator.CreateRunnerRequest{MachineType: machine.TagGPUMedium})
	return r
}

func t4(uuid string, leased bool) protocol.GPUInfo {
	return protocol.GPUInfo{UUID: uuid, Model: "Tesla T4", MemoryBytes: 15360 * machine.MiB, ComputeCapability: "7.5",
		CUDAVersion: "12.4", Healthy: true, Leased: leased}
}

func kilnInfo(gpus ...protocol.GPUInfo) *protocol.KilnInfo {
	free := 0
	for _, g := range gpus {
		if g.Healthy && !g.Leased {
			free++
		}
	}
	return &protocol.KilnInfo{MachineType: machine.TagGPUMedium, GPUs: gpus, FreeGPUs: free}
}

func TestAGPUJobGoesOnlyToARunnerWithAFreeFittingGPU(t *testing.T) {
	coordinatortest.ForEachEngine(t, func(t *testing.T, engine string) {
		e, p := setup(t, engine, machine.PlanPremium, gpuJob)
		busy, idle := gpuRunner(t, e), gpuRunner(t, e)
		cpu := small(t, e)
		e.Take(t, busy, kilnInfo(t4("GPU-a", true)), 50*time.Millisecond) // reports its inventory
		pl := e.CreatePipeline(t, p, "main")
		if j := e.Take(t, cpu, nil, 200*time.Millisecond); j != nil {
			t.Fatal("a CPU runner took the GPU job")
		}
		if j := e.Take(t, busy, kilnInfo(t4("GPU-a", true)), 200*time.Millisecond); j != nil {
			t.Fatal("a runner whose only GPU is leased took the GPU job")
		}
		job := e.MustTake(t, idle, kilnInfo(t4("GPU-b", false)))
		if job.JobInfo.Name != "train" {
			t.Fatalf("got %s", job.JobInfo.Name)
		}
		if g := job.Variables.Get("CI_RUNNER_TAGS"); !strings.Contains(g, machine.TagGPUMedium) {
			t.Errorf("CI_RUNNER_TAGS = %q", g)
		}
		if job.RunnerInfo.Timeout != 3600 {
			t.Errorf("timeout %d", job.RunnerInfo.Timeout)
		}
		wantStatuses(t, e, pl, "train=running", store.StatusRunning)
	})
}

func TestAGPURequestNoRegisteredRunnerCanEverSatisfyFailsWithAReason(t *testing.T) {
	coordinatortest.ForEachEngine(t, func(t *testing.T, engine string) {
		e, p := setup(t, engine, machine.PlanUltimate, `
train:
  tags: [saas-linux-medium-amd64-gpu-standard]
  variables:
    KILN_GPU_COMPUTE_CAPABILITY_MIN: "8.0"
  script: [python train.py]
`)
		r := gpuRunner(t, e)
		e.Take(t, r, kilnInfo(t4("GPU-a", false)), 50*time.Millisecond)
		pl := e.CreatePipeline(t, p, "main")
		wantRefused(t, e, pl, "train", protocol.FailureGPUUnavailable, "compute capability 8.0", "runner")
	})
}

func TestAGPUJobWaitsWhileNoRunnerServesItsMachineType(t *testing.T) {
	e, p := setup(t, coordinatortest.SQLite, machine.PlanPremium, gpuJob)
	pl := e.CreatePipeline(t, p, "main")
	wantStatuses(t, e, pl, "train=pending", store.StatusPending)
}

func TestAGPURequestBeyondTheMachineTypeIsAConfigurationError(t *testing.T) {
	e, p := setup(t, coordinatortest.SQLite, machine.PlanPremium, `
train:
  tags: [saas-linux-medium-amd64-gpu-standard]
  variables:
    KILN_GPU_COUNT: "4"
  script: [x]
`)
	_, err := e.Service.CreatePipeline(context.Background(), coordinator.CreatePipelineRequest{ProjectID: p.ID, Ref: "main"})
	if coordinator.KindOf(err) != coordinator.KindInvalid || !strings.Contains(err.Error(), "KILN_GPU_COUNT=4 exceeds machine type") {
		t.Errorf("error %v", err)
	}
}

func TestAGPURequestOnAJobForASelfManagedRunnerIsLeftToThatRunner(t *testing.T) {
	// A pipeline-wide KILN_CUDA_MIN (for its GPU jobs) and a job's own KILN_GPU_COUNT
	// on a job whose tags name no machine type: the pipeline is created, and the job
	// goes to the self-managed runner with its variables, which that runner honours.
	e, p := setup(t, coordinatortest.SQLite, machine.PlanPremium, `
variables: {KILN_CUDA_MIN: "12.2"}
train:
  tags: [saas-linux-medium-amd64-gpu-standard]
  script: [nvidia-smi]
own:
  tags: [my-own-runner]
  variables: {KILN_GPU_COUNT: "2"}
  script: [nvidia-smi]
`)
	own, _ := e.Runner(t, coordinator.CreateRunnerRequest{Tags: []string{"my-own-runner"}})
	pl := e.CreatePipeline(t, p, "main")
	jobs := e.Jobs(t, pl.ID)
	if j := jobs["own"]; j.Status != store.StatusPending || j.MachineType != "" || j.GPUCount != 0 {
		t.Fatalf("own: %s, machine type %q, %d GPUs; want pending on no machine type, GPUs left to its runner",
			j.Status, j.MachineType, j.GPUCount)
	}
	if j := jobs["train"]; j.MachineType != machine.TagGPUMedium || j.GPUCount != 1 || j.GPURequest.CUDAMin != (machine.Version{Major: 12, Minor: 2}) {
		t.Errorf("train: machine type %q, %d GPUs, request %+v; want the GPU type's one GPU with CUDA 12.2",
			j.MachineType, j.GPUCount, j.GPURequest)
	}
	job := e.MustTake(t, own, nil)
	if v, _ := job.Variables.Lookup(machine.VarGPUCount); job.JobInfo.Name != "own" || v != "2" || job.Kiln != nil {
		t.Errorf("self-managed runner got %s with %s=%q and kiln %+v; want own with its request as a variable",
			job.JobInfo.Name, machine.VarGPUCount, v, job.Kiln)
	}
}

func TestASpentQuotaFailsNewHostedJobsButNotSelfManagedOnes(t *testing.T) {
	coordinatortest.ForEachEngine(t, func(t *testing.T, engine string) {
		e, p := setup(t, engine, machine.PlanFree, `
hosted:
  script: [echo]
own:
  tags: [my-own-runner]
  script: [echo]
`)
		ctx := context.Background()
		if _, err := e.Store.Usage.AddMinutes(ctx, p.RootNamespaceID, store.MonthOf(time.Now()), 400); err != nil {
			t.Fatal(err)
		}
		own, _ := e.Runner(t, coordinator.CreateRunnerRequest{Tags: []string{"my-own-runner"}})
		pl := e.CreatePipeline(t, p, "main")
		wantRefused(t, e, pl, "hosted", protocol.FailureQuotaExceeded, "compute quota exceeded", "400 of 400")
		if j := e.MustTake(t, own, nil); j.JobInfo.Name != "own" {
			t.Errorf("self-managed runner got %s", j.JobInfo.Name)
		}
		report, err := e.Service.ComputeUsage(ctx, p.NamespaceID)
		if err != nil || !report.Exceeded || report.Level != 0 || report.Quota != 400 {
			t.Errorf("compute usage %+v, %v", report, err)
		}
	})
}

func TestComputeMinutesAreChargedAtTheCostFactorAndWarningsGoToTheTrace(t *testing.T) {
	coordinatortest.ForEachEngine(t, func(t *testing.T, engine string) {
		clock := storetest.NewClock()
		e, p := setup(t, engine, machine.PlanFree, `
big:
  tags: [saas-linux-medium-amd64]
  script: [make]
`, withClock(clock))
		ctx := context.Background()
		month := store.MonthOf(clock.Now())
		if _, err := e.Store.Usage.AddMinutes(ctx, p.RootNamespaceID, month, 280); err != nil {
			t.Fatal(err)
		}
		r, _ := e.Runner(t, coordinator.CreateRunnerRequest{MachineType: machine.TagMedium})
		e.CreatePipeline(t, p, "main")
		job := e.MustTake(t, r, nil)
		clock.Advance(10 * time.Minute) // 10 minutes × cost factor 2 = 20 minutes: 300 of 400 used
		e.Succeed(t, job)
		u, err := e.Store.Usage.Usage(ctx, p.RootNamespaceID, month)
		if err != nil || u.Minutes != 300 {
			t.Fatalf("usage %v minutes, %v; want 300", u.Minutes, err)
		}
		if trace := e.Trace(t, job.ID); !strings.Contains(trace, "WARNING: compute minutes running low: 25% (100 of 400 minutes) left") {
			t.Errorf("trace lacks the 25%% warning: %q", trace)
		}
		report, _ := e.Service.ComputeUsage(ctx, p.NamespaceID)
		if report.Level != 25 || report.Exceeded || !strings.Contains(report.Warning(), "25%") {
			t.Errorf("report %+v", report)
		}
		// The warning is given once per level and month.
		e.CreatePipeline(t, p, "main")
		again := e.MustTake(t, r, nil)
		clock.Advance(time.Minute)
		e.Succeed(t, again)
		if strings.Contains(e.Trace(t, again.ID), "WARNING") {
			t.Error("the 25% warning was repeated")
		}
	})
}

// longJob runs for hours on the hosted machine type of the highest cost factor (12).
const longJob = `
long:
  tags: [saas-linux-2xlarge-amd64]
  timeout: 3h
  script: [sleep 1000000]
`

func TestRunningJobsOverrunningASpentQuotaByTooMuchAreCanceled(t *testing.T) {
	coordinatortest.ForEachEngine(t, func(t *testing.T, engine string) {
		clock := storetest.NewClock()
		// Cost factor 12: 1,000 minutes of overrun take 83⅓ minutes of running.
		e, p := setup(t, engine, machine.PlanPremium, longJob, withClock(clock))
		ctx := context.Background()
		r, _ := e.Runner(t, coordinator.CreateRunnerRequest{MachineType: machine.Tag2XLarge})
		e.CreatePipeline(t, p, "main")
		job := e.MustTake(t, r, nil)
		if _, err := e.Store.Usage.AddMinutes(ctx, p.RootNamespaceID, store.MonthOf(clock.Now()), 10_000); err != nil {
			t.Fatal(err)
		}
		for _, step := range []struct {
			advance time.Duration
			want    store.Status
		}{{83 * time.Minute, store.StatusRunning}, {time.Minute, store.StatusCanceling}} {
			clock.Advance(step.advance)
			if err := e.Store.Jobs.TouchJob(ctx, job.ID); err != nil { // the runner keeps reporting
				t.Fatal(err)
			}
			e.Service.Reap(ctx)
			if j, _ := e.Store.Jobs.Job(ctx, job.ID); j.Status != step.want {
				t.Fatalf("after %s more: job %s, want %s", step.advance, j.Status, step.want)
			}
		}
	})
}

func TestARunnerWhoseGPUsDoNotFitTheOldestJobTakesTheNextOne(t *testing.T) {
	coordinatortest.ForEachEngine(t, func(t *testing.T, engine string) {
		e, p := setup(t, engine, machine.PlanPremium, `
big:
  tags: [saas-linux-medium-amd64-gpu-standard]
  variables:
    KILN_GPU_MODEL: A100
  script: [train]
small:
  tags: [saas-linux-medium-amd64-gpu-standard]
  script: [infer]
`)
		a100 := protocol.GPUInfo{UUID: "GPU-big", Model: "NVIDIA A100-SXM4-80GB", MemoryBytes: 80 * machine.GiB,
			ComputeCapability: "8.0", Healthy: true, Leased: true}
		withA100, withT4 := gpuRunner(t, e), gpuRunner(t, e)
		e.Take(t, withA100, kilnInfo(a100), 50*time.Millisecond) // registers an A100, busy now
		pl := e.CreatePipeline(t, p, "main")
		job := e.MustTake(t, withT4, kilnInfo(t4("GPU-t4", false)))
		if job.JobInfo.Name != "small" {
			t.Fatalf("the T4 runner got %s, want small", job.JobInfo.Name)
		}
		wantStatuses(t, e, pl, "big=pending small=running", store.StatusRunning)
	})
}

func TestAKilnRunnersReportedMachineTypeAndGPUsAreStored(t *testing.T) {
	e, _ := setup(t, coordinatortest.SQLite, machine.PlanPremium, gpuJob)
	r, _ := e.Runner(t, coordinator.CreateRunnerRequest{})
	e.Take(t, r, kilnInfo(t4("GPU-1", false), t4("GPU-2", true)), 50*time.Millisecond)
	got, err := e.Store.Runners.Runner(context.Background(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.MachineType != machine.TagGPUMedium || !slices.Contains(got.Tags, machine.TagGPUMedium) {
		t.Errorf("runner machine type %q tags %v, want the reported %s", got.MachineType, got.Tags, machine.TagGPUMedium)
	}
	if !strings.Contains(string(got.GPUInventory), `"GPU-2"`) || !strings.Contains(string(got.GPUInventory), `"free_gpus":1`) {
		t.Errorf("GPU inventory %s", got.GPUInventory)
	}
	// A machine type the catalog does not know is ignored.
	other, _ := e.Runner(t, coordinator.CreateRunnerRequest{})
	e.Take(t, other, &protocol.KilnInfo{MachineType: "no-such-type"}, 50*time.Millisecond)
	if got, _ := e.Store.Runners.Runner(context.Background(), other.ID); got.MachineType != "" {
		t.Errorf("adopted unknown machine type %q", got.MachineType)
	}
}

func TestASelfManagedRunnersJobIsNeverCanceledForAQuotaOverrun(t *testing.T) {
	coordinatortest.ForEachEngine(t, func(t *testing.T, engine string) {
		clock := storetest.NewClock()
		e, p := setup(t, engine, machine.PlanPremium, longJob, withClock(clock))
		ctx := context.Background()
		// A runner of the project's own that answers to the hosted tag: its minutes cost nothing.
		own, _ := e.Runner(t, coordinator.CreateRunnerRequest{Tags: []string{machine.Tag2XLarge}})
		e.CreatePipeline(t, p, "main")
		job := e.MustTake(t, own, nil)
		if _, err := e.Store.Usage.AddMinutes(ctx, p.RootNamespaceID, store.MonthOf(clock.Now()), 10_000); err != nil {
			t.Fatal(err)
		}
		clock.Advance(100 * time.Minute) // 1,200 minutes at the hosted type's cost factor of 12
		if err := e.Store.Jobs.TouchJob(ctx, job.ID); err != nil {
			t.Fatal(err)
		}
		e.Service.Reap(ctx)
		if j, _ := e.Store.Jobs.Job(ctx, job.ID); j.Status != store.StatusRunning {
			t.Fatalf("the self-managed runner's job is %s, want running: it is not charged", j.Status)
		}
	})
}

func TestAJobQueuedBeforeItsNamespaceLostThePlanItNeedsFailsAsNotAllowed(t *testing.T) {
	coordinatortest.ForEachEngine(t, func(t *testing.T, engine string) {
		e, p := setup(t, engine, machine.PlanPremium, `
big:
  tags: [saas-linux-large-amd64]
  script: [make]
`)
		ctx := context.Background()
		pl := e.CreatePipeline(t, p, "main")
		wantStatuses(t, e, pl, "big=pending", store.StatusPending)
		if err := e.Store.Namespaces.SetPlan(ctx, p.RootNamespaceID, machine.PlanFree); err != nil {
			t.Fatal(err)
		}
		r, _ := e.Runner(t, coordinator.CreateRunnerRequest{MachineType: machine.TagLarge})
		if j := e.Take(t, r, nil, 300*time.Millisecond); j != nil {
			t.Fatalf("the runner was handed %s, which the free plan may not run", j.JobInfo.Name)
		}
		e.Service.Reap(ctx) // rather than leave it pending for ever
		wantRefused(t, e, pl, "big", protocol.FailurePlanNotAllowed, "saas-linux-large-amd64", "free plan")
	})
}
