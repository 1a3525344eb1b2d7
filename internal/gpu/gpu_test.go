package gpu_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/kiln-ci/kiln/internal/gpu"
	"github.com/kiln-ci/kiln/internal/gpu/device"
	"github.com/kiln-ci/kiln/internal/gpu/inject"
	"github.com/kiln-ci/kiln/internal/gpu/nvmlhost"
	"github.com/kiln-ci/kiln/internal/gpu/nvmltest"
	"github.com/kiln-ci/kiln/internal/gpu/scrub"
	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/protocol"
)

func config(t *testing.T, s *nvmltest.Server, dir string) gpu.Config {
	cfg := gpu.Config{StateDir: dir, RunnerID: "test-runner", Injection: inject.ModeEnv,
		ScrubTimeout: 2 * time.Second, SampleInterval: 5 * time.Millisecond}
	if s != nil {
		cfg.Killer = scrub.KillerFunc(s.Kill)
	}
	return cfg
}

func newManager(t *testing.T, s *nvmltest.Server, dir string) *gpu.Manager {
	t.Helper()
	return newManagerWith(t, s, config(t, s, dir), nil)
}

func newManagerWith(t *testing.T, s *nvmltest.Server, cfg gpu.Config, kill func(int) error) *gpu.Manager {
	t.Helper()
	h, err := nvmlhost.Open(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if kill != nil {
		cfg.Killer = scrub.KillerFunc(kill)
	}
	m, err := gpu.New(context.Background(), h, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// request resolves a job's KILN_GPU_* variables against a machine type.
func request(t *testing.T, mt machine.Type, vars map[string]string) machine.GPURequest {
	t.Helper()
	r, err := machine.ParseGPURequest(func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	res, err := mt.Resolve(r)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

var oneGPU = machine.Type{Tag: "gpu-1", GPU: machine.GPU{Count: 1}}

func TestNullManagerHasZeroGPUsAndSaysSo(t *testing.T) {
	m, err := gpu.New(context.Background(), device.Null{}, config(t, nil, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(m.Inventory().GPUs); n != 0 {
		t.Fatalf("null manager has %d GPUs", n)
	}
	l, _ := m.List()
	var buf bytes.Buffer
	json.NewEncoder(&buf).Encode(l)
	if !strings.Contains(buf.String(), `"gpus":[]`) || !strings.Contains(buf.String(), `"source":"none"`) {
		t.Errorf("listing = %s", buf.String())
	}
	gpuType, _ := machine.DefaultCatalog().Get(machine.TagGPUMedium)
	_, err = m.Acquire(context.Background(), gpu.Job{ID: 1}, request(t, gpuType, nil))
	var u *gpu.UnavailableError
	if !errors.As(err, &u) || u.Busy || !strings.Contains(err.Error(), "no GPU of the machine type is available here") {
		t.Fatalf("Acquire = %v, want a clear 'no GPU available here'", err)
	}
	if reason, requeue, ok := gpu.Outcome(err); !ok || reason != protocol.FailureGPUUnavailable || requeue {
		t.Errorf("Outcome = %s, %v, %v", reason, requeue, ok)
	}
}

func TestOpenHostOnAMachineWithoutADriverGivesZeroGPUs(t *testing.T) {
	h, err := gpu.OpenHost(context.Background(), nil)
	if err != nil {
		t.Skipf("this machine has an NVIDIA driver or a failing one: %v", err)
	}
	defer h.Close()
	inv, err := h.Inventory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if inv.Source != device.SourceNone {
		t.Skipf("this machine has GPUs (%s)", inv.Source)
	}
	if len(inv.GPUs) != 0 {
		t.Errorf("Null host lists %d GPUs", len(inv.GPUs))
	}
}

func TestEightConcurrentJobsGetEightDistinctGPUs(t *testing.T) {
	m := newManager(t, nvmltest.NewDGXA100(), t.TempDir())
	req := request(t, oneGPU, nil)
	if n, _ := m.Free(req); n != 8 {
		t.Fatalf("Free = %d before any job, want 8", n)
	}
	leases := make([]*gpu.Lease, 8)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			l, err := m.Acquire(context.Background(), gpu.Job{ID: int64(100 + i)}, req)
			if err != nil {
				t.Error(err)
				return
			}
			leases[i] = l
		})
	}
	wg.Wait()
	seen := map[string]int64{}
	for i, l := range leases {
		if l == nil || len(l.UUIDs()) != 1 {
			t.Fatalf("job %d lease = %+v", i, l)
		}
		if other, dup := seen[l.UUIDs()[0]]; dup {
			t.Fatalf("GPU %s leased to jobs %d and %d", l.UUIDs()[0], other, 100+i)
		}
		seen[l.UUIDs()[0]] = int64(100 + i)
		if !slices.Contains(l.Devices().Env, "CUDA_VISIBLE_DEVICES="+l.UUIDs()[0]) {
			t.Errorf("job %d env = %v", i, l.Devices().Env)
		}
	}
	if n, _ := m.Free(req); n != 0 {
		t.Errorf("Free = %d with all GPUs leased", n)
	}
	_, err := m.Acquire(context.Background(), gpu.Job{ID: 9}, req)
	var u *gpu.UnavailableError
	if !errors.As(err, &u) || !u.Busy {
		t.Errorf("a ninth job = %v, want busy", err)
	}
	for _, l := range leases {
		if _, err := l.Finish(context.Background()); err != nil {
			t.Error(err)
		}
	}
	if n, _ := m.Free(req); n != 8 {
		t.Errorf("Free = %d after every job finished, want 8", n)
	}
}

func TestFitFollowsTheMachineTypeAndTheJobsVariables(t *testing.T) {
	m := newManager(t, nvmltest.NewDGXH100(), t.TempDir())
	h100x2 := machine.Type{Tag: "gpu-h100-2", GPU: machine.GPU{Count: 2, Model: "H100", MemoryMinBytes: 80 * machine.GiB}}
	l, err := m.Acquire(context.Background(), gpu.Job{ID: 1}, request(t, h100x2, nil))
	if err != nil || len(l.UUIDs()) != 2 {
		t.Fatalf("2 × H100 = %v, %v", l, err)
	}
	if n, _ := m.Free(request(t, h100x2, nil)); n != 3 {
		t.Errorf("Free(2 × H100) = %d with 6 GPUs left, want 3", n)
	}
	if n, _ := m.Free(request(t, h100x2, map[string]string{machine.VarGPUCount: "1"})); n != 6 {
		t.Errorf("Free(1 × H100) = %d, want 6", n)
	}
	cases := map[string]map[string]string{
		"model":              {machine.VarGPUModel: "A100"},
		"compute capability": {machine.VarGPUComputeCapabilityMin: "10.0"},
		"CUDA":               {machine.VarCUDAMin: "12.6"},
		"memory":             {machine.VarGPUMemoryMin: "141GiB"},
	}
	anyGPU := machine.Type{Tag: "gpu-any", GPU: machine.GPU{Count: 1}}
	for name, vars := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := m.Acquire(context.Background(), gpu.Job{ID: 2}, request(t, anyGPU, vars))
			var u *gpu.UnavailableError
			if !errors.As(err, &u) || u.Busy || !strings.Contains(err.Error(), "0 of this host's 8 fit") {
				t.Errorf("Acquire = %v, want 'never fits'", err)
			}
		})
	}
}

func TestMIGSlicesAreLeasedAsUnits(t *testing.T) {
	s := nvmltest.NewDGXA100()
	migs, err := s.GPU(0).EnableMIG(nvml.GPU_INSTANCE_PROFILE_1_SLICE, nvml.GPU_INSTANCE_PROFILE_1_SLICE)
	if err != nil {
		t.Fatal(err)
	}
	m := newManager(t, s, t.TempDir())
	slice := machine.Type{Tag: "a100-1g", GPU: machine.GPU{Count: 1, Model: "1g.5gb"}}
	var got []string
	for i := range 2 {
		l, err := m.Acquire(context.Background(), gpu.Job{ID: int64(i)}, request(t, slice, nil))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, l.UUIDs()...)
	}
	slices.Sort(got)
	want := slices.Clone(migs)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("leased %v, want the two MIG slices %v", got, want)
	}
	if _, err := m.Acquire(context.Background(), gpu.Job{ID: 3}, request(t, slice, nil)); !errors.Is(err, gpu.ErrUnavailable) {
		t.Errorf("a third 1g.5gb job = %v, want unavailable", err)
	}
}

func TestServicesGetGPUsOnlyWhenConfigured(t *testing.T) {
	for _, on := range []bool{false, true} {
		s := nvmltest.NewDGXA100()
		cfg := config(t, s, t.TempDir())
		cfg.ServicesGetGPUs = on
		m := newManagerWith(t, s, cfg, nil)
		l, err := m.Acquire(context.Background(), gpu.Job{ID: 1}, request(t, oneGPU, nil))
		if err != nil {
			t.Fatal(err)
		}
		if l.Devices().Services != on {
			t.Errorf("ServicesGetGPUs=%v gave Devices.Services=%v", on, l.Devices().Services)
		}
	}
}

// BenchmarkAcquireFinish measures one job's whole GPU cycle on a mock 8-GPU host: fit,
// health gate, durable lease (fsync), check, scrub and release.
func BenchmarkAcquireFinish(b *testing.B) {
	s := nvmltest.NewDGXH100()
	h, _ := nvmlhost.Open(s, nil)
	m, err := gpu.New(context.Background(), h, gpu.Config{StateDir: b.TempDir(), Injection: inject.ModeEnv, SampleInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	req := machine.GPURequest{Count: new(int)}
	*req.Count = 1
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		l, err := m.Acquire(ctx, gpu.Job{ID: int64(i)}, req)
		if err != nil {
			b.Fatal(err)
		}
		if err := l.Check(ctx, nil); err != nil {
			b.Fatal(err)
		}
		if _, err := l.Finish(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
