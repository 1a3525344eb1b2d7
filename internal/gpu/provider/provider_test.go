package provider_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/gpu"
	"github.com/kiln-ci/kiln/internal/gpu/device"
	"github.com/kiln-ci/kiln/internal/gpu/inject"
	"github.com/kiln-ci/kiln/internal/gpu/lease"
	"github.com/kiln-ci/kiln/internal/gpu/nvmlhost"
	"github.com/kiln-ci/kiln/internal/gpu/nvmltest"
	"github.com/kiln-ci/kiln/internal/gpu/provider"
	"github.com/kiln-ci/kiln/internal/gpu/scrub"
	"github.com/kiln-ci/kiln/internal/gpu/telemetry"
	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/runner"
)

// oneGPU is a machine type giving each job one GPU of any model.
var oneGPU = machine.Type{Tag: "gpu-a100-test", VCPU: 2, MemoryBytes: 8 * machine.GB, GPU: machine.GPU{Count: 1}}

func openHost(t testing.TB, s *nvmltest.Server) device.Host {
	t.Helper()
	h, err := nvmlhost.Open(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// config is a provider of the shell executor on a fake host, with fast telemetry and
// a killer that ends the fake host's processes.
func config(s *nvmltest.Server, dir string) provider.Config {
	mt := oneGPU
	return provider.Config{Executor: provider.ExecutorShell, StateDir: dir, RunnerID: "provider-test",
		SampleInterval: 5 * time.Millisecond, ScrubTimeout: 2 * time.Second, Killer: scrub.KillerFunc(s.Kill), MachineType: &mt}
}

func open(t testing.TB, host device.Host, cfg provider.Config) *provider.Provider {
	t.Helper()
	p, err := provider.Open(context.Background(), host, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func job(id int64) *jobspec.Job {
	return &jobspec.Job{ID: id, JobInfo: jobspec.JobInfo{Name: "train", ProjectFullPath: "ml/train"}}
}

func request(t testing.TB, vars map[string]string) machine.GPURequest {
	t.Helper()
	r, err := machine.ParseGPURequest(func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if r, err = oneGPU.Resolve(r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestModeFollowsTheExecutor(t *testing.T) {
	cases := []struct {
		executor, injection string
		want                inject.Mode
		err                 string
	}{
		{"shell", "", inject.ModeEnv, ""},
		{"shell", "cdi", "", "does not apply to the shell executor"},
		{"docker", "", inject.ModeCDI, ""},
		{"docker", "cdi", inject.ModeCDI, ""},
		{"docker", "nvidia-runtime", inject.ModeNvidiaRuntime, ""},
		{"docker", "env", "", "no device nodes"},
		{"docker", "magic", "", `"magic" is not cdi or nvidia-runtime`},
	}
	for _, c := range cases {
		got, err := provider.Mode(c.executor, c.injection)
		if got != c.want || (c.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("Mode(%q, %q) = %q, %v; want %q, error containing %q", c.executor, c.injection, got, err, c.want, c.err)
		}
	}
}

// outcomeOf reads the failure reason and requeue flag the runner reads from an error.
func outcomeOf(t *testing.T, err error) (string, bool) {
	t.Helper()
	var e *provider.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *provider.Error", err, err)
	}
	return e.FailureReason(), e.Requeue()
}

func TestAHealthFaultAtCheckRequeuesTheJobAndQuarantinesTheGPU(t *testing.T) {
	s := nvmltest.NewDGXH100()
	p := open(t, openHost(t, s), config(s, t.TempDir()))
	ctx := context.Background()
	l, err := p.Acquire(ctx, job(1), request(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	uuid := l.Devices().IDs[0]
	s.GPU(slices.Index(s.UUIDs(), uuid)).SetUncorrectableECC(2)
	err = l.Check(ctx, nil)
	if reason, requeue := outcomeOf(t, err); reason != protocol.FailureGPUFault || !requeue || !errors.Is(err, gpu.ErrFault) {
		t.Errorf("Check = %v (%s, requeue %v); want a GPU fault that requeues", err, reason, requeue)
	}
	if _, err := l.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	info := p.KilnInfo()
	i := slices.IndexFunc(info.GPUs, func(g protocol.GPUInfo) bool { return g.UUID == uuid })
	if info.MachineType != oneGPU.Tag || info.GPUs[i].Healthy || !strings.Contains(info.GPUs[i].HealthReason, "ECC") || info.FreeGPUs != 7 {
		t.Errorf("KilnInfo = %+v; want %s unhealthy, 7 free", info, uuid)
	}
}

func TestACUDAMismatchFailsAtOnceNamingBothVersions(t *testing.T) {
	s := nvmltest.NewDGXA100() // driver 550.54.15, CUDA 12.4
	p := open(t, openHost(t, s), config(s, t.TempDir()))
	ctx := context.Background()
	l, err := p.Acquire(ctx, job(2), request(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Finish(ctx)
	err = l.Check(ctx, []string{"CUDA_VERSION=12.8.0", "NVIDIA_REQUIRE_CUDA=cuda>=12.8"})
	reason, requeue := outcomeOf(t, err)
	if reason != protocol.FailureCUDAIncompatible || requeue || !strings.Contains(err.Error(), "CUDA 12.8") || !strings.Contains(err.Error(), "supports CUDA 12.4") {
		t.Errorf("Check = %v (%s, requeue %v)", err, reason, requeue)
	}
}

func TestNoGPUOfTheMachineTypeHereFailsFast(t *testing.T) {
	p := open(t, device.Null{}, config(nil, t.TempDir()))
	_, err := p.Acquire(context.Background(), job(3), request(t, nil))
	reason, requeue := outcomeOf(t, err)
	if reason != protocol.FailureGPUUnavailable || requeue || !strings.Contains(err.Error(), "no GPU of the machine type is available here") {
		t.Errorf("Acquire = %v (%s, requeue %v)", err, reason, requeue)
	}
	if release, ok := p.Admit(); ok {
		release()
		t.Error("a host without GPUs admits a GPU job")
	}
	if info := p.KilnInfo(); len(info.GPUs) != 0 || info.FreeGPUs != 0 || info.MachineType != oneGPU.Tag {
		t.Errorf("KilnInfo = %+v", info)
	}
}

func TestGPUsThatFitButAreTakenRequeue(t *testing.T) {
	s := nvmltest.NewDGXA100()
	cfg := config(s, t.TempDir())
	cfg.Only = []string{"0"}
	p := open(t, openHost(t, s), cfg)
	ctx := context.Background()
	l, err := p.Acquire(ctx, job(4), request(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Finish(ctx)
	_, err = p.Acquire(ctx, job(5), request(t, nil))
	if reason, requeue := outcomeOf(t, err); reason != protocol.FailureGPUUnavailable || !requeue {
		t.Errorf("second Acquire = %v (%s, requeue %v); want a requeue", err, reason, requeue)
	}
}

func TestAdmitHoldsOnePlacePerJobUntilReleased(t *testing.T) {
	s := nvmltest.NewDGXA100()
	dir := t.TempDir()
	p := open(t, openHost(t, s), config(s, dir))
	ctx := context.Background()
	var releases []func()
	for i := range 8 {
		release, ok := p.Admit()
		if !ok {
			t.Fatalf("admission %d of 8 refused", i+1)
		}
		releases = append(releases, release)
	}
	if _, ok := p.Admit(); ok {
		t.Fatal("a ninth job was admitted on 8 GPUs")
	}
	// Admitted jobs lease their GPUs: that frees no place.
	l, err := p.Acquire(ctx, job(6), request(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Admit(); ok || p.Capacity() != 8 {
		t.Fatalf("after a lease: admitted a ninth job, or capacity %d != 8", p.Capacity())
	}
	// A job ends: its place comes back once, however often release is called.
	if _, err := l.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	releases[0]()
	releases[0]()
	if release, ok := p.Admit(); !ok {
		t.Fatal("no place after a job ended")
	} else {
		releases[0] = release
	}
	if _, ok := p.Admit(); ok {
		t.Fatal("a double release gave two places")
	}
	// Another runner process leasing a GPU, or a quarantine, takes a place away.
	store, _ := lease.Open(dir)
	store.Quarantine(lease.Quarantine{UUID: s.UUIDs()[3], Reason: "Xid 79"})
	if n := p.Capacity(); n != 7 {
		t.Errorf("capacity with a quarantined GPU = %d, want 7", n)
	}
	for _, r := range releases {
		r()
	}
	if _, ok := p.Admit(); !ok {
		t.Error("no admission after every job ended")
	}
}

func TestFinishReportsTelemetryFooterScrubAndTheReportFile(t *testing.T) {
	s := nvmltest.NewDGXA100()
	p := open(t, openHost(t, s), config(s, t.TempDir()))
	ctx := context.Background()
	l, err := p.Acquire(ctx, job(7), request(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	uuid := l.Devices().IDs[0]
	if got := l.Devices().Env; !slices.Contains(got, "CUDA_VISIBLE_DEVICES="+uuid) {
		t.Errorf("shell devices env = %q", got)
	}
	if err := l.Check(ctx, nil); err != nil {
		t.Fatal(err)
	}
	g := s.GPU(slices.Index(s.UUIDs(), uuid))
	g.SetLoad(80, 250)
	g.StartProcess(4242, 3<<30, -1)
	time.Sleep(30 * time.Millisecond)
	rep, err := l.Finish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"GPU telemetry (", uuid, "killed 1 process(es) the job left running (pid 4242)"} {
		if !strings.Contains(rep.Footer, want) {
			t.Errorf("footer lacks %q:\n%s", want, rep.Footer)
		}
	}
	if !slices.Equal(rep.GPUs, []string{uuid}) || len(rep.Telemetry) != 1 || rep.Telemetry[0].UUID != uuid {
		t.Errorf("report GPUs %v, telemetry %+v", rep.GPUs, rep.Telemetry)
	}
	if len(rep.Files) != 1 || rep.Files[0].Name != telemetry.ReportFile || rep.Files[0].Type != protocol.ArtifactTypeGPUTelemetry {
		t.Fatalf("files = %+v", rep.Files)
	}
	var r telemetry.Report
	if err := json.Unmarshal(rep.Files[0].Content, &r); err != nil || r.JobID != 7 || r.Project != "ml/train" || len(r.GPUs) != 1 || len(r.Samples) == 0 {
		t.Errorf("gpu-telemetry.json = %+v, %v", r, err)
	}
	var _ runner.DeviceLease = l
}

func TestOpenRecoversTheLeasesOfAPreviousRunnerProcess(t *testing.T) {
	s := nvmltest.NewDGXA100()
	dir := t.TempDir()
	store, _ := lease.Open(dir)
	dead := lease.Owner{Runner: "provider-test", PID: 1 << 22, Start: 1} // above pid_max: never alive
	if _, err := store.Acquire(lease.Job{ID: 9}, dead, s.UUIDs()[:1], 1, map[string]uint64{s.UUIDs()[0]: nvmltest.IdleMemoryBytes}); err != nil {
		t.Fatal(err)
	}
	s.GPU(0).StartProcess(31337, 1<<30, -1)
	p := open(t, openHost(t, s), config(s, dir))
	if n := p.Capacity(); n != 8 {
		t.Errorf("capacity after recovery = %d, want 8", n)
	}
	if ps, _ := s.GPU(0).Dev.GetComputeRunningProcesses(); len(ps) != 0 {
		t.Errorf("the gone job's process survived: %v", ps)
	}
}
