package smi_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/kiln-ci/kiln/internal/gpu/device"
	"github.com/kiln-ci/kiln/internal/gpu/smi"
	"github.com/kiln-ci/kiln/internal/machine"
)

func fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseInventoryReadsEveryFieldAndToleratesPlaceholders(t *testing.T) {
	cuda := machine.Version{Major: 12, Minor: 2}
	inv, skipped, err := smi.ParseInventory(fixture(t, "query-gpu.csv"), cuda)
	if err != nil {
		t.Fatal(err)
	}
	if inv.Source != device.SourceNvidiaSMI || inv.DriverVersion != "535.104.05" || inv.CUDAVersion != cuda {
		t.Errorf("inventory header = %+v", inv)
	}
	if !slices.Equal(skipped, []string{"GPU-9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"}) {
		t.Errorf("skipped = %v, want the GPU in MIG mode", skipped)
	}
	if len(inv.GPUs) != 3 {
		t.Fatalf("got %d GPUs, want 3", len(inv.GPUs))
	}
	t4 := inv.GPUs[0]
	if t4.Index != 0 || t4.Name != "Tesla T4" || t4.MemoryBytes != 15360*machine.MiB || t4.ComputeCapability != (machine.Version{Major: 7, Minor: 5}) ||
		t4.PCIBusID != "00000000:00:1E.0" || t4.CUDAVersion != cuda || t4.DriverVersion != "535.104.05" {
		t.Errorf("T4 = %+v", t4)
	}
	// The machine type's T4 (15 GiB) fits the parsed T4.
	gpuType, _ := machine.DefaultCatalog().Get(machine.TagGPUMedium)
	req, _ := gpuType.Resolve(machine.GPURequest{})
	if ok, why := req.Fits(t4.Machine()); !ok {
		t.Errorf("the parsed T4 does not fit %s: %s", machine.TagGPUMedium, why)
	}
	odd := inv.GPUs[2]
	if odd.MemoryBytes != 0 || !odd.ComputeCapability.IsZero() || odd.Name != "NVIDIA GeForce RTX 3090" {
		t.Errorf("GPU with [Not Supported]/[N/A] values = %+v, want them left zero", odd)
	}
}

func TestParseQueryRejectsMalformedLinesNamingThem(t *testing.T) {
	cases := map[string]string{
		"too few values":  "0, GPU-a, Tesla T4\n",
		"bad memory":      "0, GPU-a, Tesla T4, lots, 7.5, 535.1, 0:0, [N/A]\n",
		"bad index":       "zero, GPU-a, Tesla T4, 15360, 7.5, 535.1, 0:0, [N/A]\n",
		"no uuid":         "0, [N/A], Tesla T4, 15360, 7.5, 535.1, 0:0, [N/A]\n",
		"duplicate uuids": "0, GPU-a, T4, 1, 7.5, 535, 0:0, [N/A]\n1, GPU-a, T4, 1, 7.5, 535, 0:1, [N/A]\n",
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			if _, _, err := smi.ParseInventory(in, machine.Version{}); err == nil {
				t.Errorf("ParseInventory(%q) succeeded", in)
			}
		})
	}
	_, _, err := smi.ParseInventory("0, GPU-a, T4, 1, 7.5, 535, 0:0, [N/A]\n1, GPU-b, T4\n", machine.Version{})
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("error = %v, want it to name line 2", err)
	}
}

func TestParseCUDAVersionFromTheBanner(t *testing.T) {
	v, err := smi.ParseCUDAVersion(fixture(t, "banner.txt"))
	if err != nil || v != (machine.Version{Major: 12, Minor: 2}) {
		t.Errorf("ParseCUDAVersion = %v, %v; want 12.2", v, err)
	}
	if v, err := smi.ParseCUDAVersion("    CUDA Version                          : 12.4\n"); err != nil || v.String() != "12.4" {
		t.Errorf("nvidia-smi -q form = %v, %v", v, err)
	}
	if _, err := smi.ParseCUDAVersion("no banner"); err == nil {
		t.Errorf("a banner without a CUDA version parsed")
	}
}

// fakeSMI answers like nvidia-smi from canned text, by the first argument.
func fakeSMI(t *testing.T, answers map[string]string) smi.Runner {
	return func(_ context.Context, args ...string) ([]byte, error) {
		key := ""
		if len(args) > 0 {
			key, _, _ = strings.Cut(args[0], "=")
		}
		if a, ok := answers[key]; ok {
			return []byte(a), nil
		}
		return nil, errors.New("unexpected nvidia-smi " + strings.Join(args, " "))
	}
}

func TestHostReadsInventoryHealthSamplesAndProcesses(t *testing.T) {
	const uuid = "GPU-6a7c5c8e-0d3b-4c5e-9a51-7b0f9d7c1a01"
	ctx := context.Background()
	h := smi.New(fakeSMI(t, map[string]string{
		"":                     fixture(t, "banner.txt"),
		"--query-gpu":          fixture(t, "query-gpu.csv"),
		"--query-compute-apps": "4242, " + uuid + ", 2048\n77, GPU-other, 10\n",
	}))
	inv, err := h.Inventory(ctx)
	if err != nil || len(inv.GPUs) != 3 || inv.CUDAVersion.String() != "12.2" {
		t.Fatalf("Inventory = %+v, %v", inv, err)
	}
	ps, err := h.Processes(ctx, uuid)
	if err != nil || len(ps) != 1 || ps[0].PID != 4242 || ps[0].UsedMemoryBytes != 2048<<20 {
		t.Errorf("Processes = %+v, %v", ps, err)
	}
	h = smi.New(fakeSMI(t, map[string]string{"--query-gpu": "3, [N/A], No, 1, 41\n"}))
	r, err := h.ReadHealth(ctx, uuid)
	if err != nil || !r.ECCSupported || r.UncorrectableECC != 3 || r.RetiredPagesPending || r.RemappedRowsPending || !r.RemappingFailed || r.TemperatureC != 41 || r.XidsSupported {
		t.Errorf("ReadHealth = %+v, %v", r, err)
	}
	h = smi.New(fakeSMI(t, map[string]string{"--query-gpu": "87, 1024, 70.5, 60\n"}))
	s, err := h.Sample(ctx, uuid)
	if err != nil || s.UtilizationPct != 87 || s.MemoryUsedBytes != 1<<30 || s.PowerWatts != 70.5 || s.TemperatureC != 60 {
		t.Errorf("Sample = %+v, %v", s, err)
	}
}
