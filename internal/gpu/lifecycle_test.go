package gpu_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kiln-ci/kiln/internal/gpu"
	"github.com/kiln-ci/kiln/internal/gpu/cuda"
	"github.com/kiln-ci/kiln/internal/gpu/lease"
	"github.com/kiln-ci/kiln/internal/gpu/nvmltest"
	"github.com/kiln-ci/kiln/internal/protocol"
)

// The seed's image environment (testing.md's CUDA-like image).
var seedImage = []string{"CUDA_VERSION=12.1.1", "NVIDIA_REQUIRE_CUDA=cuda>=12.1 brand=tesla,driver>=470,driver<471"}

func index(s *nvmltest.Server, uuid string) int { return slices.Index(s.UUIDs(), uuid) }

func TestJobLifecycleInjectsChecksSamplesScrubsAndReleases(t *testing.T) {
	s := nvmltest.NewDGXA100()
	m := newManager(t, s, t.TempDir())
	ctx := context.Background()
	l, err := m.Acquire(ctx, gpu.Job{ID: 42, Project: "ml/train"}, request(t, oneGPU, nil))
	if err != nil {
		t.Fatal(err)
	}
	uuid := l.UUIDs()[0]
	g := s.GPU(index(s, uuid))
	if err := l.Check(ctx, seedImage); err != nil {
		t.Fatalf("Check: %v", err)
	}
	// The job runs: it loads the GPU and leaves a process behind.
	g.SetLoad(95, 300)
	g.StartProcess(777, 10<<30, -1)
	waitForSample(t, m, "kiln_gpu_memory_used_bytes", uuid, 10<<30)
	g.SetTemperature(41)
	waitForSample(t, m, "kiln_gpu_temperature_celsius", uuid, 41) // a second sample
	res, err := l.Finish(ctx)
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	if len(res.Scrubbed) != 1 || !slices.Equal(res.Scrubbed[0].Killed, []int{777}) || len(res.Quarantined) != 0 {
		t.Errorf("scrub = %+v, quarantined %v; want pid 777 killed", res.Scrubbed, res.Quarantined)
	}
	tel := res.Report.GPUs
	if len(tel) != 1 || tel[0].UUID != uuid || tel[0].Samples < 2 || tel[0].PeakMemoryBytes < 10<<30 || res.Report.JobID != 42 {
		t.Errorf("telemetry = %+v", res.Report.GPUs)
	}
	if !strings.Contains(res.Footer, uuid) || !strings.Contains(res.Footer, "GPU telemetry") {
		t.Errorf("footer = %q", res.Footer)
	}
	list, _ := m.List()
	if list.Free != 8 {
		t.Errorf("after Finish %d GPUs are free, want 8", list.Free)
	}
	if again, err := l.Finish(ctx); err != nil || again.Report.JobID != 42 {
		t.Errorf("second Finish = %+v, %v; want the first result", again, err)
	}
}

func TestHealthFaultAtCheckQuarantinesAndRequeues(t *testing.T) {
	cases := map[string]func(g *nvmltest.GPU){
		"ECC":      func(g *nvmltest.GPU) { g.SetUncorrectableECC(3) },
		"Xid":      func(g *nvmltest.GPU) { g.InjectXid(79, -1) },
		"lost GPU": func(g *nvmltest.GPU) { g.Lose() },
		"retired":  func(g *nvmltest.GPU) { g.SetRetiredPagesPending(true) },
	}
	for name, inject := range cases {
		t.Run(name, func(t *testing.T) {
			s := nvmltest.NewDGXH100()
			dir := t.TempDir()
			m := newManager(t, s, dir)
			ctx := context.Background()
			l, err := m.Acquire(ctx, gpu.Job{ID: 5}, request(t, oneGPU, nil))
			if err != nil {
				t.Fatal(err)
			}
			uuid := l.UUIDs()[0]
			inject(s.GPU(index(s, uuid)))
			err = l.Check(ctx, seedImage)
			var f *gpu.FaultError
			if !errors.As(err, &f) || !f.Requeue || !slices.Equal(f.UUIDs, []string{uuid}) {
				t.Fatalf("Check = %v, want a requeue fault on %s", err, uuid)
			}
			if reason, requeue, _ := gpu.Outcome(err); reason != protocol.FailureGPUFault || !requeue {
				t.Errorf("Outcome = %s, %v", reason, requeue)
			}
			infos, free, _ := m.Advertise()
			i := slices.IndexFunc(infos, func(g protocol.GPUInfo) bool { return g.UUID == uuid })
			if infos[i].Healthy || infos[i].HealthReason == "" || infos[i].Leased || free != 7 {
				t.Errorf("advertised %+v, free %d; want unhealthy with a reason, unleased, 7 free", infos[i], free)
			}
			if res, err := l.Finish(ctx); err != nil || len(res.Scrubbed) != 0 {
				t.Errorf("Finish after a fault = %+v, %v; want nothing to do", res, err)
			}
			// The quarantine persists across a restart until released.
			m2 := newManager(t, s, dir)
			l2, _ := m2.List()
			if !slices.ContainsFunc(l2.Quarantined, func(q lease.Quarantine) bool { return q.UUID == uuid && q.JobID == 5 }) {
				t.Errorf("after a restart the quarantine of %s is gone: %+v", uuid, l2.Quarantined)
			}
			if err := m2.ReleaseQuarantine(uuid); err != nil {
				t.Fatal(err)
			}
			if l3, _ := m2.List(); len(l3.Quarantined) != 0 {
				t.Errorf("after release: %+v", l3.Quarantined)
			}
		})
	}
}

func TestAnUnhealthyGPUAtAcquireIsSkippedForAHealthyOne(t *testing.T) {
	s := nvmltest.NewDGXA100()
	s.GPU(0).SetRetiredPagesPending(true)
	s.GPU(1).InjectXid(48, -1) // not yet registered: NVML drops events before registration
	m := newManager(t, s, t.TempDir())
	s.GPU(1).InjectXid(48, -1)
	l, err := m.Acquire(context.Background(), gpu.Job{ID: 1}, request(t, oneGPU, nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := l.UUIDs()[0]; got != s.UUIDs()[2] {
		t.Errorf("leased %s, want GPU 2 (GPU 0 has pending retired pages, GPU 1 an Xid 48)", got)
	}
	list, _ := m.List()
	if len(list.Quarantined) != 2 || list.GPUs[0].Healthy || list.GPUs[1].Healthy || !strings.Contains(list.GPUs[1].Quarantine.Reason, "Xid 48") {
		t.Errorf("quarantined = %+v", list.Quarantined)
	}
}

func TestScrubFailureQuarantinesTheGPU(t *testing.T) {
	s := nvmltest.NewDGXA100()
	cfg := config(t, s, t.TempDir())
	cfg.ScrubTimeout = 50 * time.Millisecond
	cfg.Killer = nil
	m := newManagerWith(t, s, cfg, func(int) error { return nil }) // SIGKILL does not end it (D state)
	ctx := context.Background()
	l, _ := m.Acquire(ctx, gpu.Job{ID: 8}, request(t, oneGPU, nil))
	if err := l.Check(ctx, nil); err != nil {
		t.Fatal(err)
	}
	uuid := l.UUIDs()[0]
	s.GPU(index(s, uuid)).StartProcess(999, 1<<30, -1)
	res, err := l.Finish(ctx)
	if err != nil || !slices.Equal(res.Quarantined, []string{uuid}) {
		t.Fatalf("Finish = %+v, %v; want %s quarantined", res, err, uuid)
	}
	list, _ := m.List()
	if e := list.GPUs[index(s, uuid)]; e.Lease != nil || e.Healthy || !strings.Contains(e.Quarantine.Reason, "scrub failed") {
		t.Errorf("GPU after a failed scrub = %+v", e)
	}
}

func TestCUDAMismatchFailsTheJobAndKeepsTheLeaseUntilFinish(t *testing.T) {
	s := nvmltest.NewDGXA100() // driver 550.54.15, CUDA 12.4
	m := newManager(t, s, t.TempDir())
	ctx := context.Background()
	l, _ := m.Acquire(ctx, gpu.Job{ID: 3}, request(t, oneGPU, nil))
	err := l.Check(ctx, []string{"NVIDIA_REQUIRE_CUDA=cuda>=12.6"})
	if !errors.Is(err, cuda.ErrMismatch) || !strings.Contains(err.Error(), "the image needs CUDA 12.6") || !strings.Contains(err.Error(), "driver 550.54.15 supports CUDA 12.4") {
		t.Fatalf("Check = %v", err)
	}
	if reason, requeue, _ := gpu.Outcome(err); reason != protocol.FailureCUDAIncompatible || requeue {
		t.Errorf("Outcome = %s, %v", reason, requeue)
	}
	if list, _ := m.List(); list.Free != 7 {
		t.Errorf("lease released before Finish: %d free", list.Free)
	}
	if _, err := l.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	if list, _ := m.List(); list.Free != 8 {
		t.Errorf("after Finish %d free, want 8", list.Free)
	}
}

func TestRestartScrubsAndReleasesLeasesOfGoneJobs(t *testing.T) {
	s := nvmltest.NewDGXA100()
	dir := t.TempDir()
	store, err := lease.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("true")
	cmd.Run()
	dead := lease.Owner{Runner: "old", PID: cmd.Process.Pid, Start: 1}
	sleeper := exec.Command("sleep", "30")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sleeper.Process.Kill(); sleeper.Wait() }()
	live := lease.Owner{Runner: "other", PID: sleeper.Process.Pid}
	gone, _ := store.Acquire(lease.Job{ID: 1}, dead, s.UUIDs()[:1], 1, map[string]uint64{s.UUIDs()[0]: nvmltest.IdleMemoryBytes})
	kept, _ := store.Acquire(lease.Job{ID: 2}, dead, s.UUIDs()[1:2], 1, nil)
	other, _ := store.Acquire(lease.Job{ID: 3}, live, s.UUIDs()[2:3], 1, nil)
	s.GPU(0).StartProcess(555, 2<<30, -1) // the crashed job's process

	m := newManager(t, s, dir)
	released, err := m.Recover(context.Background(), func(job int64) bool { return job == 2 })
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(released, []string{gone.ID}) {
		t.Errorf("released %v, want only %s", released, gone.ID)
	}
	st, _ := store.Read()
	if _, ok := st.Holder(s.UUIDs()[0]); ok {
		t.Errorf("the gone job's GPU is still leased")
	}
	if h, ok := st.Holder(s.UUIDs()[1]); !ok || h.ID != kept.ID || h.Owner.PID != os.Getpid() {
		t.Errorf("the running job's lease = %+v, want adopted by this process", h)
	}
	if h, ok := st.Holder(s.UUIDs()[2]); !ok || h.ID != other.ID || h.Owner.PID != live.PID {
		t.Errorf("a live runner's lease = %+v, want left alone", h)
	}
	if ps, _ := s.GPU(0).Dev.GetComputeRunningProcesses(); len(ps) != 0 {
		t.Errorf("the crashed job's process survived the recovery scrub: %v", ps)
	}
}

// waitForSample waits until the latest telemetry sample of uuid shows at least min in
// the series name, as /metrics would.
func waitForSample(t *testing.T, m *gpu.Manager, name, uuid string, min float64) {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.Collector())
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
			for _, mt := range mf.GetMetric() {
				for _, lp := range mt.GetLabel() {
					if lp.GetName() == "uuid" && lp.GetValue() == uuid && mt.GetGauge().GetValue() >= min {
						return
					}
				}
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("telemetry never sampled %s ≥ %v on %s", name, min, uuid)
}

func TestWhenNoHealthyGPUIsLeftAcquireReturnsAFaultThatRequeues(t *testing.T) {
	s := nvmltest.NewDGXA100()
	cfg := config(t, s, t.TempDir())
	cfg.Only = []string{"0", "1"}
	m := newManagerWith(t, s, cfg, nil)
	s.GPU(0).SetRetiredPagesPending(true)
	s.GPU(1).SetTemperature(99)
	_, err := m.Acquire(context.Background(), gpu.Job{ID: 12}, request(t, oneGPU, nil))
	var f *gpu.FaultError
	if !errors.As(err, &f) || !f.Requeue || !slices.Equal(f.UUIDs, s.UUIDs()[:2]) ||
		!strings.Contains(err.Error(), "retired") || !strings.Contains(err.Error(), "temperature 99") {
		t.Fatalf("Acquire = %v; want a requeue fault naming both GPUs and why", err)
	}
	if reason, requeue, _ := gpu.Outcome(err); reason != protocol.FailureGPUFault || !requeue {
		t.Errorf("Outcome = %s, %v", reason, requeue)
	}
	if list, _ := m.List(); len(list.Quarantined) != 2 || list.Free != 0 {
		t.Errorf("after Acquire: %d quarantined, %d free", len(list.Quarantined), list.Free)
	}
}
