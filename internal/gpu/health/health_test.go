package health_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/kiln-ci/kiln/internal/gpu/health"
	"github.com/kiln-ci/kiln/internal/gpu/nvmlhost"
	"github.com/kiln-ci/kiln/internal/gpu/nvmltest"
)

// gateOn opens fake host s through NVML and returns its units' UUIDs and a gate on it.
func gateOn(t *testing.T, s *nvmltest.Server) ([]string, *health.Gate) {
	t.Helper()
	h, err := nvmlhost.Open(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	inv, err := h.Inventory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var uuids []string
	for _, g := range inv.GPUs {
		uuids = append(uuids, g.UUID)
	}
	return uuids, health.New(h, nil)
}

func TestHealthGateOnMockGPUs(t *testing.T) {
	cases := []struct {
		name   string
		inject func(g *nvmltest.GPU)
		want   string // substring of the fault; empty means healthy
	}{
		{"a healthy GPU passes", func(*nvmltest.GPU) {}, ""},
		{"uncorrectable ECC errors rising", func(g *nvmltest.GPU) { g.SetUncorrectableECC(1) }, "uncorrectable ECC errors rose from 0 to 1"},
		{"pending retired pages", func(g *nvmltest.GPU) { g.SetRetiredPagesPending(true) }, "retired pages are pending"},
		{"pending remapped rows", func(g *nvmltest.GPU) { g.SetRemappedRowsPending(true) }, "remapped rows are pending"},
		{"a failed row remapping", func(g *nvmltest.GPU) { g.SetRemappingFailed(true) }, "a row remapping failed"},
		{"a critical Xid", func(g *nvmltest.GPU) { g.InjectXid(79, -1) }, "Xid 79 (GPU has fallen off the bus)"},
		{"a job's own Xid is not a fault", func(g *nvmltest.GPU) { g.InjectXid(13, -1) }, ""},
		{"at the slowdown temperature", func(g *nvmltest.GPU) { g.SetTemperature(87) }, "temperature 87 °C is at or above its slowdown threshold 87 °C"},
		{"one degree below the slowdown temperature", func(g *nvmltest.GPU) { g.SetTemperature(86) }, ""},
		{"a lost GPU (fail closed)", func(g *nvmltest.GPU) { g.Lose() }, "health check failed"},
		{"an NVML error on one reading (fail closed)", func(g *nvmltest.GPU) {
			g.Dev.GetTotalEccErrorsFunc = func(nvml.MemoryErrorType, nvml.EccCounterType) (uint64, nvml.Return) {
				return 0, nvml.ERROR_UNKNOWN
			}
		}, "health check failed: reading GPU-"},
		{"a missing slowdown threshold is no fault", func(g *nvmltest.GPU) {
			g.Dev.GetTemperatureThresholdFunc = func(nvml.TemperatureThresholds) (uint32, nvml.Return) { return 0, nvml.ERROR_NOT_SUPPORTED }
		}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := nvmltest.NewDGXA100()
			uuids, gate := gateOn(t, s)
			uuid := uuids[6]
			if err := gate.Check(context.Background(), uuid); err != nil {
				t.Fatalf("first check of a healthy GPU: %v", err)
			}
			c.inject(s.GPU(6))
			err := gate.Check(context.Background(), uuid)
			if c.want == "" {
				if err != nil {
					t.Fatalf("Check = %v, want healthy", err)
				}
				return
			}
			var f *health.Fault
			if !errors.As(err, &f) || f.UUID != uuid || !strings.Contains(f.Reason, c.want) {
				t.Fatalf("Check = %v, want a fault on %s containing %q", err, uuid, c.want)
			}
		})
	}
}

func TestAnXidIsAFaultAtTheFirstCheckAfterItOnly(t *testing.T) {
	s := nvmltest.NewDGXH100()
	uuids, gate := gateOn(t, s)
	uuid := uuids[2]
	ctx := context.Background()
	s.GPU(2).InjectXid(95, -1)
	if err := gate.Check(ctx, uuid); err == nil || !strings.Contains(err.Error(), "Xid 95") {
		t.Fatalf("the check after Xid 95 = %v, want a fault naming it", err)
	}
	if err := gate.Check(ctx, uuid); err != nil {
		t.Fatalf("no Xid since the previous check, got %v", err)
	}
	s.GPU(2).InjectXid(48, -1)
	if err := gate.Check(ctx, uuid); err == nil || !strings.Contains(err.Error(), "Xid 48") || strings.Contains(err.Error(), "Xid 95") {
		t.Fatalf("the check after Xid 48 = %v, want a fault naming it alone", err)
	}
	if err := gate.Check(ctx, uuids[3]); err != nil {
		t.Fatalf("another GPU's Xids are not this one's: %v", err)
	}
}

func TestECCBaselineMovesWithEachCheck(t *testing.T) {
	s := nvmltest.NewDGXH100()
	uuids, gate := gateOn(t, s)
	uuid := uuids[0]
	s.GPU(0).SetUncorrectableECC(5) // errors from before the runner started
	ctx := context.Background()
	if err := gate.Check(ctx, uuid); err != nil {
		t.Fatalf("first check takes the count as baseline, got %v", err)
	}
	s.GPU(0).SetUncorrectableECC(6)
	if err := gate.Check(ctx, uuid); err == nil {
		t.Fatalf("an increase from 5 to 6 passed")
	}
	if err := gate.Check(ctx, uuid); err != nil {
		t.Fatalf("no increase since the last check, got %v", err)
	}
}

func TestCriticalXidList(t *testing.T) {
	for _, xid := range []uint64{48, 63, 64, 74, 79, 92, 94, 95} {
		if _, ok := health.Critical(xid); !ok {
			t.Errorf("Xid %d must be critical", xid)
		}
	}
	for _, xid := range []uint64{13, 31, 43, 45} {
		if _, ok := health.Critical(xid); ok {
			t.Errorf("Xid %d is the job's own fault, not the GPU's", xid)
		}
	}
}
