package runner_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/kiln-ci/kiln/internal/executor"
	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/runner"
)

func testMachine(gpus int) machine.Type {
	mt := machine.Type{Tag: machine.TagGPUMedium, VCPU: 4, MemoryBytes: 15 * machine.GB, CostFactor: 7}
	mt.GPU.Count = gpus
	return mt
}

func TestCacheIsSavedAfterOneJobAndRestoredInTheNext(t *testing.T) {
	h := newHarness(t, nil)
	cache := []jobspec.Cache{{Key: "deps-$CI_COMMIT_REF_SLUG", Paths: []string{"vendor/"}, Policy: "pull-push", When: "on_success"}}
	first := h.job([]string{"mkdir -p vendor && echo cached-content > vendor/lib.txt"})
	first.Cache = cache
	first.Variables = append(first.Variables, jobspec.Variable{Key: "CI_COMMIT_REF_SLUG", Value: "main"})
	o, log := h.run(first)
	if o.Kind != runner.Success {
		t.Fatalf("%+v\n%s", o, log)
	}
	inOrder(t, log, "Saving cache for successful job", "Creating cache deps-main...", "vendor/: found 2 matching artifact files and directories", "Created cache")

	second := h.job([]string{"cat vendor/lib.txt"})
	second.Cache = []jobspec.Cache{{Key: "deps-feature", FallbackKeys: []string{"deps-$CI_COMMIT_REF_SLUG"}, Paths: []string{"vendor/"}, Policy: "pull"}}
	second.Variables = jobspec.Variables{{Key: "GIT_STRATEGY", Value: "empty"}, {Key: "CI_COMMIT_REF_SLUG", Value: "main"}}
	o, log = h.run(second)
	if o.Kind != runner.Success {
		t.Fatalf("%+v\n%s", o, log)
	}
	inOrder(t, log, "Restoring cache", "Checking cache for deps-feature...", "Using fallback cache deps-main", "Successfully extracted cache", "cached-content", "Not uploading cache deps-feature due to policy")
}

func TestArtifactsAndDotenvPassToADependentJob(t *testing.T) {
	h := newHarness(t, nil)
	build := h.job([]string{"mkdir -p out && echo built > out/app.bin && echo 'VERSION=1.2.3' > build.env"})
	build.Artifacts = []jobspec.Artifact{
		{Name: "build-out", Paths: []string{"out/"}, When: "on_success", ArtifactType: "archive", ArtifactFormat: "zip", ExpireIn: "1 day"},
		{Name: "dotenv", Paths: []string{"build.env"}, When: "on_success", ArtifactType: "dotenv", ArtifactFormat: "gzip"},
		{Name: "failure-logs", Paths: []string{"logs/"}, When: "on_failure", ArtifactType: "archive"},
	}
	o, log := h.run(build)
	if o.Kind != runner.Success {
		t.Fatalf("%+v\n%s", o, log)
	}
	if len(o.Dotenv) != 1 || o.Dotenv.Get("VERSION") != "1.2.3" {
		t.Errorf("dotenv = %+v", o.Dotenv)
	}
	if len(o.Artifacts) != 2 || strings.Join(o.Artifacts[0].Files, ",") != "out,out/app.bin" {
		t.Errorf("artifacts = %+v", o.Artifacts)
	}
	inOrder(t, log, "Uploading artifacts for successful job", `Uploading artifacts as "archive" to coordinator... 201 Created`, `Uploading artifacts as "dotenv" to coordinator... 201 Created`)

	test := h.job([]string{"cat out/app.bin"})
	test.Variables = jobspec.Variables{{Key: "GIT_STRATEGY", Value: "empty"}}
	test.Dependencies = []jobspec.Dependency{
		{ID: build.ID, Name: "build", Token: build.Token, ArtifactsFile: &jobspec.ArtifactsFile{Filename: "artifacts.zip", Size: 100}},
		{ID: 9999, Name: "no-artifacts", Token: "t"},
	}
	o, log = h.run(test)
	if o.Kind != runner.Success {
		t.Fatalf("%+v\n%s", o, log)
	}
	inOrder(t, log, "Downloading artifacts for build (", "built\n")
	if strings.Contains(log, "no-artifacts") {
		t.Error("a dependency without an artifacts file was downloaded")
	}
}

func TestABadDotenvReportFailsTheJobWithGitLabsMessage(t *testing.T) {
	h := newHarness(t, nil)
	job := h.job([]string{"printf 'GOOD=1\\n\\nBAD\\n' > build.env"})
	job.Artifacts = []jobspec.Artifact{{Paths: []string{"build.env"}, ArtifactType: "dotenv", ArtifactFormat: "gzip"}}
	o, _ := h.run(job)
	if o.Kind != runner.ScriptFailure || !strings.Contains(o.Message, "Invalid Format") {
		t.Errorf("outcome %+v", o)
	}
}

func TestADotenvReportThatLinksOutOfTheProjectIsNotRead(t *testing.T) {
	h := newHarness(t, nil)
	outside := filepath.Join(t.TempDir(), "host.env")
	if err := os.WriteFile(outside, []byte("STOLEN=host-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	job := h.job([]string{"ln -s " + outside + " build.env"})
	job.Artifacts = []jobspec.Artifact{{Paths: []string{"build.env"}, ArtifactType: "dotenv", ArtifactFormat: "gzip"}}
	o, log := h.run(job)
	if o.Kind != runner.Success {
		t.Fatalf("%+v\n%s", o, log)
	}
	if v := o.Dotenv.Get("STOLEN"); v != "" || strings.Contains(log, "host-secret") {
		t.Errorf("the runner read the file a job's link points to: STOLEN=%q\n%s", v, log)
	}
}

func TestFailedJobUploadsOnlyOnFailureArtifacts(t *testing.T) {
	h := newHarness(t, nil)
	job := h.job([]string{"mkdir -p logs out && echo boom > logs/err.txt && touch out/x", "exit 1"})
	job.Artifacts = []jobspec.Artifact{
		{Name: "out", Paths: []string{"out/"}, When: "on_success"},
		{Name: "logs", Paths: []string{"logs/"}, When: "on_failure"},
		{Name: "always", Paths: []string{"out/"}, When: "always"},
	}
	o, log := h.run(job)
	if o.Kind != runner.ScriptFailure || len(o.Artifacts) != 2 || o.Artifacts[0].Name != "logs" || o.Artifacts[1].Name != "always" {
		t.Fatalf("outcome %+v\n%s", o, log)
	}
	if !strings.Contains(log, "Uploading artifacts for failed job") {
		t.Error("no upload_artifacts_on_failure section")
	}
}

// fakeProvider leases one pretend GPU: faithful to the DeviceProvider contract, for a
// machine without GPUs.
type fakeProvider struct {
	checkErr error
	finished atomic.Int32
	checked  atomic.Int32
}

type fakeLease struct{ p *fakeProvider }

func (p *fakeProvider) Acquire(_ context.Context, _ *jobspec.Job, req machine.GPURequest) (runner.DeviceLease, error) {
	if req.Wanted() > 1 {
		return nil, gpuError{errors.New("no 2 free GPUs"), protocol.FailureGPUUnavailable, true}
	}
	return fakeLease{p}, nil
}

func (l fakeLease) Devices() executor.Devices {
	return executor.Devices{IDs: []string{"GPU-fake-0"}, Env: []string{"CUDA_VISIBLE_DEVICES=GPU-fake-0", "NVIDIA_VISIBLE_DEVICES=GPU-fake-0"}}
}

func (l fakeLease) Check(context.Context, []string) error {
	l.p.checked.Add(1)
	return l.p.checkErr
}

func (l fakeLease) Finish(context.Context) (runner.DeviceReport, error) {
	l.p.finished.Add(1)
	return runner.DeviceReport{Footer: "GPU telemetry: peak memory 1 GiB", GPUs: []string{"GPU-fake-0"}}, nil
}

type gpuError struct {
	error
	reason  string
	requeue bool
}

func (e gpuError) FailureReason() string { return e.reason }
func (e gpuError) Requeue() bool         { return e.requeue }

func TestJobThatNeedsAGPUFailsAtOnceOnARunnerWithout(t *testing.T) {
	mt := testMachine(1)
	h := newHarness(t, func(c *runner.Config) { c.MachineType = &mt })
	o, log := h.run(h.job([]string{"echo never"}))
	if o.Kind != runner.GPUFailure || o.FailureReason != protocol.FailureGPUUnavailable ||
		!strings.Contains(o.Message, "no GPU of that machine type is available on this runner") {
		t.Fatalf("outcome %+v", o)
	}
	if strings.Contains(log, "Running on") {
		t.Error("the job ran scripts before failing")
	}
}

func TestLeasedGPUsAreInjectedCheckedAndReleased(t *testing.T) {
	mt := testMachine(1)
	p := &fakeProvider{}
	h := newHarness(t, func(c *runner.Config) { c.MachineType = &mt; c.Devices = p })
	job := h.job([]string{`echo "visible: $CUDA_VISIBLE_DEVICES"`})
	job.Variables = append(job.Variables, jobspec.Variable{Key: "CUDA_VISIBLE_DEVICES", Value: "all"})
	o, log := h.run(job)
	if o.Kind != runner.Success || o.Devices == nil || o.Devices.GPUs[0] != "GPU-fake-0" {
		t.Fatalf("%+v\n%s", o, log)
	}
	inOrder(t, log, "Leased GPUs: GPU-fake-0", "visible: GPU-fake-0\n", "GPU telemetry: peak memory 1 GiB", "Job succeeded")
	if p.checked.Load() != 1 || p.finished.Load() != 1 {
		t.Errorf("Check called %d times, Finish %d times", p.checked.Load(), p.finished.Load())
	}

	p2 := &fakeProvider{checkErr: gpuError{errors.New("GPU-fake-0 failed its health gate: uncorrectable ECC errors"), protocol.FailureGPUFault, true}}
	h2 := newHarness(t, func(c *runner.Config) { c.MachineType = &mt; c.Devices = p2 })
	o, _ = h2.run(h2.job([]string{"echo never"}))
	if o.Kind != runner.GPUFailure || !o.Requeue || o.FailureReason != protocol.FailureGPUFault || p2.finished.Load() != 1 {
		t.Errorf("health gate failure: %+v, finished %d", o, p2.finished.Load())
	}
	job = h.job([]string{"true"})
	job.Variables = append(job.Variables, jobspec.Variable{Key: machine.VarGPUCount, Value: "2"})
	if o, _ = h.run(job); o.Kind != runner.ConfigurationError || !strings.Contains(o.Message, machine.VarGPUCount) {
		t.Errorf("asking for more GPUs than the machine type gives: %+v", o)
	}
}

func TestOutcomeFinalLinesAndWireState(t *testing.T) {
	cases := []struct {
		o     runner.Outcome
		line  string
		state string
	}{
		{runner.Outcome{Kind: runner.Success}, "\x1b[32;1mJob succeeded\x1b[0;m\n", "success"},
		{runner.Outcome{Kind: runner.ScriptFailure, Message: "exit code 1"}, "\x1b[31;1mERROR: Job failed: exit code 1\x1b[0;m\n", "failed"},
		{runner.Outcome{Kind: runner.Canceled, Message: "canceled"}, "\x1b[31;1mERROR: Job failed: canceled\x1b[0;m\n", "failed"},
	}
	for _, c := range cases {
		if c.o.FinalLine() != c.line || c.o.State() != c.state {
			t.Errorf("%v: %q %q", c.o.Kind, c.o.FinalLine(), c.o.State())
		}
	}
}
