package gpu_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/gpu"
	"github.com/kiln-ci/kiln/internal/gpu/device"
	"github.com/kiln-ci/kiln/internal/gpu/inject"
	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/testenv"
)

// workload runs a PyTorch matmul on the one GPU it may see for a few seconds, and
// leaves behind a child process holding 1 GiB of GPU memory, as a careless job would.
const workload = `
import os, sys, time, subprocess
import torch
assert torch.cuda.is_available(), "torch sees no CUDA device"
if len(sys.argv) > 2 and sys.argv[1] == "hold":
    x = torch.empty(1 << 30, dtype=torch.uint8, device="cuda")
    torch.cuda.synchronize()
    open(sys.argv[2], "w").write(str(os.getpid()))
    time.sleep(600)
    sys.exit(0)
print("visible devices:", torch.cuda.device_count(), torch.cuda.get_device_name(0), flush=True)
marker = sys.argv[1]
# The holder gets none of this process's output pipe: a reader of it (the test) would
# otherwise wait for the holder to end, not for this process.
subprocess.Popen([sys.executable, __file__, "hold", marker], start_new_session=True,
                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(marker + ".err", "w"))
a = torch.randn(8192, 8192, device="cuda")
b = torch.randn(8192, 8192, device="cuda")
n, end = 0, time.time() + 4
while time.time() < end:
    c = a @ b
    n += 1
torch.cuda.synchronize()
print("matmuls:", n, flush=True)
deadline = time.time() + 120
while not os.path.exists(marker) and time.time() < deadline:
    time.sleep(0.2)
print("left behind pid", open(marker).read(), flush=True)
`

// TestRealGPULeaseTelemetryAndScrub is the gpu tier (scripts/gpu-smoke.sh runs it on
// a machine with an NVIDIA GPU): discovery through the real NVML, a lease giving
// CUDA_VISIBLE_DEVICES, telemetry sampled while a PyTorch matmul runs, and a scrub
// that kills the process the job left behind.
func TestRealGPULeaseTelemetryAndScrub(t *testing.T) {
	ctx := context.Background()
	host, err := gpu.OpenHost(ctx, nil)
	if err != nil {
		t.Fatalf("opening NVML: %v", err)
	}
	defer host.Close()
	inv, err := host.Inventory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if inv.Source != device.SourceNVML || len(inv.GPUs) == 0 {
		testenv.Missing(t, testenv.TierGPU, "no GPU through NVML here (source "+inv.Source+")")
	}
	python := os.Getenv("KILN_GPU_SMOKE_PYTHON")
	if python == "" {
		python = "python3"
	}
	rows := [][2]string{{"driver / CUDA", inv.DriverVersion + " / " + inv.CUDAVersion.String()}}
	for _, g := range inv.GPUs {
		rows = append(rows, [2]string{fmt.Sprintf("GPU %d", g.Index), fmt.Sprintf("%s %s, %s, CC %s", g.UUID, g.Name, machine.FormatBytes(g.MemoryBytes), g.ComputeCapability)})
	}
	m, err := gpu.New(ctx, host, gpu.Config{StateDir: t.TempDir(), RunnerID: "smoke", Injection: inject.ModeEnv,
		SampleInterval: 250 * time.Millisecond, ScrubTimeout: 60 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	l, err := m.Acquire(ctx, gpu.Job{ID: 1, Project: "smoke"}, machine.GPURequest{Count: ptr(1)})
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	uuid := l.UUIDs()[0]
	if !slices.Contains(l.Devices().Env, "CUDA_VISIBLE_DEVICES="+uuid) {
		t.Errorf("lease env = %v, want CUDA_VISIBLE_DEVICES=%s", l.Devices().Env, uuid)
	}
	rows = append(rows, [2]string{"lease", "CUDA_VISIBLE_DEVICES=" + uuid})
	if err := l.Check(ctx, []string{"NVIDIA_REQUIRE_CUDA=cuda>=11.0"}); err != nil {
		t.Fatalf("health gate / pre-flight: %v", err)
	}
	rows = append(rows, [2]string{"health + pre-flight", "passed"})

	dir := t.TempDir()
	script := filepath.Join(dir, "workload.py")
	os.WriteFile(script, []byte(workload), 0o644)
	cmd := exec.CommandContext(ctx, python, script, filepath.Join(dir, "holder.pid"))
	cmd.Env = append(os.Environ(), l.Devices().Env...)
	cmd.WaitDelay = 10 * time.Second // should the holder keep the output pipe after all
	out, err := cmd.CombinedOutput()
	t.Logf("workload output:\n%s", out)
	if holder, _ := os.ReadFile(filepath.Join(dir, "holder.pid.err")); len(holder) > 0 {
		t.Logf("the left-behind process wrote:\n%s", holder)
	}
	if err != nil {
		t.Fatalf("the PyTorch workload failed: %v", err)
	}
	if !strings.Contains(string(out), "visible devices: 1 ") {
		t.Errorf("the job saw other than exactly one GPU:\n%s", out)
	}
	rows = append(rows, [2]string{"workload", strings.TrimSpace(strings.ReplaceAll(string(out), "\n", "; "))})
	res, err := l.Finish(ctx)
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	tel := res.Report.GPUs[0]
	t.Logf("footer:\n%s", res.Footer)
	// NVML gives no utilisation of a GPU in MIG mode: a MIG slice's is 0.
	mig := l.GPUs()[0].MIG != nil
	if tel.Samples < 4 || tel.PeakMemoryBytes < 1<<30 || (tel.MeanUtilizationPct <= 0 && !mig) || tel.EnergyJoules <= 0 || tel.PeakTemperatureC <= 0 {
		t.Errorf("telemetry = %+v, want samples, memory, utilisation, energy and temperature", tel)
	}
	rows = append(rows, [2]string{"telemetry", fmt.Sprintf("%d samples, peak %s, mean util %.1f %%, %.0f J, peak %.0f °C",
		tel.Samples, machine.FormatBytes(tel.PeakMemoryBytes), tel.MeanUtilizationPct, tel.EnergyJoules, tel.PeakTemperatureC)})
	if len(res.Quarantined) != 0 || len(res.Scrubbed) != 1 || len(res.Scrubbed[0].Killed) == 0 {
		t.Errorf("scrub = %+v, quarantined %v; want the left-behind process killed", res.Scrubbed, res.Quarantined)
	}
	sc := res.Scrubbed[0]
	rows = append(rows, [2]string{"scrub", fmt.Sprintf("killed %v, memory %s (idle %s)", sc.Killed, machine.FormatBytes(sc.MemoryUsedBytes), machine.FormatBytes(sc.BaselineBytes))})
	if list, _ := m.List(); list.Free != len(inv.GPUs) {
		t.Errorf("after Finish %d of %d GPUs are free", list.Free, len(inv.GPUs))
	}
	var table strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&table, "%-20s %s\n", r[0], r[1])
	}
	t.Logf("summary:\n%s", table.String())
	if p := os.Getenv("KILN_GPU_SMOKE_TABLE"); p != "" {
		os.WriteFile(p, []byte(table.String()), 0o644)
	}
}

func ptr(n int) *int { return &n }
