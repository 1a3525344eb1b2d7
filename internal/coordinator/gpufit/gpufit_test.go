package gpufit

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/protocol"
)

func count(n int) *int { return &n }

func t4(uuid string, leased, healthy bool) protocol.GPUInfo {
	return protocol.GPUInfo{UUID: uuid, Model: "Tesla T4", MemoryBytes: 15360 * machine.MiB, ComputeCapability: "7.5",
		CUDAVersion: "12.4", Healthy: healthy, Leased: leased}
}

func a100(uuid string) protocol.GPUInfo {
	return protocol.GPUInfo{UUID: uuid, Model: "NVIDIA A100-SXM4-80GB", MemoryBytes: 80 * machine.GiB, ComputeCapability: "8.0",
		CUDAVersion: "12.4", Healthy: true}
}

func gpuType() machine.Type {
	t, _ := machine.DefaultCatalog().Get(machine.TagGPUMedium)
	return t
}

func resolve(t *testing.T, r machine.GPURequest) machine.GPURequest {
	t.Helper()
	out, err := gpuType().Resolve(r)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAFreeHealthyT4FitsTheGPUMachineTypesDefault(t *testing.T) {
	req := resolve(t, machine.GPURequest{})
	inv := Inventory{RunnerID: 1, MachineType: machine.TagGPUMedium, GPUs: []protocol.GPUInfo{t4("GPU-1", false, true)}}
	if ok, why := FitsNow(req, inv); !ok {
		t.Fatalf("FitsNow = false (%s)", why)
	}
}

func TestLeasedOrUnhealthyGPUsDoNotFitNowButCountForEver(t *testing.T) {
	req := resolve(t, machine.GPURequest{})
	inv := Inventory{RunnerID: 7, MachineType: machine.TagGPUMedium,
		GPUs: []protocol.GPUInfo{t4("GPU-1", true, true), t4("GPU-2", false, false)}}
	ok, why := FitsNow(req, inv)
	if ok || !strings.Contains(why, "runner 7 has 0 free GPU(s)") || !strings.Contains(why, "leased") {
		t.Errorf("FitsNow = %v, %q; want false naming the leased GPU", ok, why)
	}
	if ok, why := Satisfiable(req, machine.TagGPUMedium, []Inventory{inv}); !ok {
		t.Errorf("Satisfiable = false (%s); busy GPUs free up later", why)
	}
}

func TestARequestNoRunnerCanEverSatisfyIsExplained(t *testing.T) {
	req := resolve(t, machine.GPURequest{Model: "T4", ComputeCapabilityMin: machine.Version{Major: 8}})
	runners := []Inventory{
		{RunnerID: 1, MachineType: machine.TagGPUMedium, GPUs: []protocol.GPUInfo{t4("GPU-1", false, true)}},
		{RunnerID: 2, MachineType: "other", GPUs: []protocol.GPUInfo{a100("GPU-2")}},
	}
	ok, why := Satisfiable(req, machine.TagGPUMedium, runners)
	if ok {
		t.Fatal("Satisfiable = true for compute capability 8.0 on T4s")
	}
	for _, want := range []string{"machine type " + machine.TagGPUMedium, "1 GPU of model T4", "compute capability 8.0",
		"runner 1 has 0 fitting GPU(s)", "compute capability 7.5, less than 8.0"} {
		if !strings.Contains(why, want) {
			t.Errorf("message %q lacks %q", why, want)
		}
	}
	if strings.Contains(why, "runner 2") {
		t.Errorf("message %q names a runner of another machine type", why)
	}
}

func TestTwoGPUsNeedARunnerWithTwoFittingGPUs(t *testing.T) {
	typ := gpuType()
	typ.GPU.Count = 2
	req, err := typ.Resolve(machine.GPURequest{Count: count(2)})
	if err != nil {
		t.Fatal(err)
	}
	one := Inventory{RunnerID: 1, MachineType: typ.Tag, GPUs: []protocol.GPUInfo{t4("a", false, true)}}
	two := Inventory{RunnerID: 2, MachineType: typ.Tag, GPUs: []protocol.GPUInfo{t4("a", false, true), t4("b", false, true)}}
	if ok, _ := FitsNow(req, one); ok {
		t.Error("one GPU fits a two-GPU request")
	}
	if ok, why := FitsNow(req, two); !ok {
		t.Errorf("two GPUs do not fit: %s", why)
	}
}

func TestNoRunnerOfTheMachineTypeIsSaidPlainly(t *testing.T) {
	ok, why := Satisfiable(resolve(t, machine.GPURequest{}), machine.TagGPUMedium, nil)
	if ok || !strings.Contains(why, "no runner serves machine type") {
		t.Errorf("Satisfiable(no runners) = %v, %q", ok, why)
	}
}

func TestARequestForNoGPUsAlwaysFits(t *testing.T) {
	var req machine.GPURequest
	if ok, _ := FitsNow(req, Inventory{}); !ok {
		t.Error("no GPUs requested, FitsNow false")
	}
	if ok, _ := Satisfiable(req, "x", nil); !ok {
		t.Error("no GPUs requested, Satisfiable false")
	}
}

func TestParseInventoryReadsTheKilnInfoARunnerSent(t *testing.T) {
	raw, _ := json.Marshal(protocol.KilnInfo{MachineType: machine.TagGPUMedium, FreeGPUs: 1, GPUs: []protocol.GPUInfo{t4("GPU-1", false, true)}})
	inv, err := ParseInventory(3, raw)
	if err != nil || inv.RunnerID != 3 || inv.MachineType != machine.TagGPUMedium || len(inv.GPUs) != 1 {
		t.Fatalf("ParseInventory = %+v, %v", inv, err)
	}
	if _, err := ParseInventory(3, json.RawMessage(`{"gpus": 5}`)); err == nil || !strings.Contains(err.Error(), "runner 3") {
		t.Errorf("bad inventory error = %v", err)
	}
}
