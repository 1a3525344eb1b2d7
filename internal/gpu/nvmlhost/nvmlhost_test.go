package nvmlhost_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/kiln-ci/kiln/internal/gpu/device"
	"github.com/kiln-ci/kiln/internal/gpu/nvmlhost"
	"github.com/kiln-ci/kiln/internal/gpu/nvmltest"
	"github.com/kiln-ci/kiln/internal/machine"
)

func open(t *testing.T, s *nvmltest.Server) *nvmlhost.Host {
	t.Helper()
	h, err := nvmlhost.Open(s, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func inventory(t *testing.T, h *nvmlhost.Host) device.Inventory {
	t.Helper()
	inv, err := h.Inventory(context.Background())
	if err != nil {
		t.Fatalf("Inventory: %v", err)
	}
	return inv
}

func TestDiscoveryListsEightGPUsOfEachMockDGX(t *testing.T) {
	cases := []struct {
		name   string
		server *nvmltest.Server
		model  string
		mem    uint64
		cc     machine.Version
	}{
		{"dgxa100", nvmltest.NewDGXA100(), "Mock NVIDIA A100-SXM4-40GB", 40960 * machine.MiB, machine.Version{Major: 8}},
		{"dgxh100", nvmltest.NewDGXH100(), "NVIDIA H100 80GB HBM3", 81920 * machine.MiB, machine.Version{Major: 9}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			inv := inventory(t, open(t, c.server))
			if inv.Source != device.SourceNVML || inv.DriverVersion != "550.54.15" || inv.CUDAVersion != (machine.Version{Major: 12, Minor: 4}) {
				t.Errorf("inventory source/driver/CUDA = %s/%s/%s, want nvml/550.54.15/12.4", inv.Source, inv.DriverVersion, inv.CUDAVersion)
			}
			if len(inv.GPUs) != 8 {
				t.Fatalf("got %d GPUs, want 8", len(inv.GPUs))
			}
			if err := inv.Validate(); err != nil {
				t.Fatal(err)
			}
			for i, g := range inv.GPUs {
				if g.Index != i || g.Minor != i || g.UUID != c.server.UUIDs()[i] || g.Name != c.model ||
					g.MemoryBytes != c.mem || g.ComputeCapability != c.cc || g.CUDAVersion.String() != "12.4" ||
					g.DriverVersion != "550.54.15" || g.Brand != "nvidia" || g.IsMIG() {
					t.Errorf("GPU %d = %+v", i, g)
				}
				if !strings.HasPrefix(g.PCIBusID, "0000:0") || !strings.HasSuffix(g.PCIBusID, ":00.0") {
					t.Errorf("GPU %d PCI bus id = %q", i, g.PCIBusID)
				}
			}
		})
	}
}

func TestOpenWithoutTheLibraryReportsErrNoLibrary(t *testing.T) {
	// This machine has no NVIDIA driver: the real library cannot be loaded.
	_, err := nvmlhost.Open(nvml.New(nvml.WithLibraryPath("/nonexistent/libnvidia-ml.so.1")), nil)
	if !errors.Is(err, nvmlhost.ErrNoLibrary) {
		t.Fatalf("Open = %v, want ErrNoLibrary", err)
	}
}

func TestMIGSlicesAreUnitsOfTheirOwn(t *testing.T) {
	s := nvmltest.NewDGXA100()
	migs, err := s.GPU(0).EnableMIG(nvml.GPU_INSTANCE_PROFILE_3_SLICE, nvml.GPU_INSTANCE_PROFILE_1_SLICE, nvml.GPU_INSTANCE_PROFILE_1_SLICE)
	if err != nil {
		t.Fatal(err)
	}
	inv := inventory(t, open(t, s))
	if len(inv.GPUs) != 3+7 {
		t.Fatalf("got %d units, want 3 MIG slices + 7 GPUs", len(inv.GPUs))
	}
	if _, ok := inv.Get(s.UUIDs()[0]); ok {
		t.Errorf("GPU 0 is in MIG mode and must not be a unit itself")
	}
	want := []struct {
		profile string
		mem     uint64
	}{{"3g.20gb", 19968 * machine.MiB}, {"1g.5gb", 4864 * machine.MiB}, {"1g.5gb", 4864 * machine.MiB}}
	for i, uuid := range migs {
		g, ok := inv.Get(uuid)
		if !ok {
			t.Fatalf("MIG device %s missing from inventory", uuid)
		}
		if !g.IsMIG() || g.MIG.ParentUUID != s.UUIDs()[0] || g.MIG.Profile != want[i].profile || g.MemoryBytes != want[i].mem ||
			g.Name != "Mock NVIDIA A100-SXM4-40GB MIG "+want[i].profile || g.ComputeCapability.String() != "8.0" {
			t.Errorf("MIG unit %d = %+v (mig %+v)", i, g, g.MIG)
		}
	}
}

func TestHealthReadingReflectsInjectedFaults(t *testing.T) {
	s := nvmltest.NewDGXH100()
	h := open(t, s)
	inv := inventory(t, h)
	uuid := inv.GPUs[3].UUID
	ctx := context.Background()
	r, err := h.ReadHealth(ctx, uuid)
	if err != nil {
		t.Fatal(err)
	}
	if !r.ECCSupported || r.UncorrectableECC != 0 || r.RetiredPagesPending || r.RemappedRowsPending ||
		r.TemperatureC != 35 || r.SlowdownC != 87 || len(r.Xids) != 0 || !r.XidsSupported {
		t.Fatalf("healthy reading = %+v", r)
	}
	g := s.GPU(3)
	g.SetUncorrectableECC(2)
	g.SetRetiredPagesPending(true)
	g.SetRemappedRowsPending(true)
	g.InjectXid(79, -1)
	s.GPU(4).InjectXid(13, -1)
	r, err = h.ReadHealth(ctx, uuid)
	if err != nil {
		t.Fatal(err)
	}
	if r.UncorrectableECC != 2 || !r.RetiredPagesPending || !r.RemappedRowsPending || !slices.Equal(r.Xids, []uint64{79}) {
		t.Errorf("faulty reading = %+v", r)
	}
	if r, _ = h.ReadHealth(ctx, uuid); len(r.Xids) != 0 {
		t.Errorf("an Xid is reported once, got it again: %v", r.Xids)
	}
	if r, _ = h.ReadHealth(ctx, inv.GPUs[4].UUID); !slices.Equal(r.Xids, []uint64{13}) {
		t.Errorf("GPU 4's Xids = %v, want [13]", r.Xids)
	}
}

func TestXidOnOneMIGInstanceConcernsOnlyThatSlice(t *testing.T) {
	s := nvmltest.NewDGXA100()
	migs, err := s.GPU(1).EnableMIG(nvml.GPU_INSTANCE_PROFILE_1_SLICE, nvml.GPU_INSTANCE_PROFILE_1_SLICE)
	if err != nil {
		t.Fatal(err)
	}
	h := open(t, s)
	inv := inventory(t, h)
	a, _ := inv.Get(migs[0])
	s.GPU(1).InjectXid(94, a.MIG.GPUInstanceID)
	ra, _ := h.ReadHealth(context.Background(), migs[0])
	rb, _ := h.ReadHealth(context.Background(), migs[1])
	if !slices.Equal(ra.Xids, []uint64{94}) || len(rb.Xids) != 0 {
		t.Errorf("slice A Xids %v (want [94]), slice B Xids %v (want none)", ra.Xids, rb.Xids)
	}
}

func TestLostGPUFailsEveryReading(t *testing.T) {
	s := nvmltest.NewDGXA100()
	h := open(t, s)
	uuid := inventory(t, h).GPUs[2].UUID
	s.GPU(2).Lose()
	ctx := context.Background()
	if _, err := h.ReadHealth(ctx, uuid); err == nil || !strings.Contains(err.Error(), "not reachable") {
		t.Errorf("ReadHealth of a lost GPU = %v, want 'not reachable'", err)
	}
	if _, err := h.Sample(ctx, uuid); err == nil {
		t.Errorf("Sample of a lost GPU succeeded")
	}
	if _, err := h.Processes(ctx, uuid); err == nil {
		t.Errorf("Processes of a lost GPU succeeded")
	}
	if _, err := h.ReadHealth(ctx, "GPU-unknown"); !errors.Is(err, device.ErrUnknownGPU) {
		t.Errorf("ReadHealth of an unknown UUID = %v, want ErrUnknownGPU", err)
	}
}

func TestSampleAndProcessesReadTheGPU(t *testing.T) {
	s := nvmltest.NewDGXA100()
	h := open(t, s)
	uuid := inventory(t, h).GPUs[5].UUID
	s.GPU(5).SetLoad(87, 250)
	s.GPU(5).StartProcess(4242, 3<<30, -1)
	ctx := context.Background()
	sm, err := h.Sample(ctx, uuid)
	if err != nil {
		t.Fatal(err)
	}
	if sm.UtilizationPct != 87 || sm.PowerWatts != 250 || sm.MemoryUsedBytes != 3<<30+nvmltest.IdleMemoryBytes || sm.TemperatureC != 35 {
		t.Errorf("sample = %+v", sm)
	}
	ps, err := h.Processes(ctx, uuid)
	if err != nil || len(ps) != 1 || ps[0].PID != 4242 || ps[0].UsedMemoryBytes != 3<<30 {
		t.Errorf("processes = %+v, %v", ps, err)
	}
}
