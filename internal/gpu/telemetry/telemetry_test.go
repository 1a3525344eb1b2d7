package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kiln-ci/kiln/internal/gpu/device"
	"github.com/kiln-ci/kiln/internal/gpu/nvmlhost"
	"github.com/kiln-ci/kiln/internal/gpu/nvmltest"
	"github.com/kiln-ci/kiln/internal/gpu/telemetry"
	"github.com/kiln-ci/kiln/internal/machine"
)

var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func sample(uuid string, sec int, util, watts, temp float64, mem uint64) device.Sample {
	return device.Sample{Time: t0.Add(time.Duration(sec) * time.Second), UUID: uuid, UtilizationPct: util, PowerWatts: watts, TemperatureC: temp, MemoryUsedBytes: mem}
}

func TestAggregatesFromInjectedSamples(t *testing.T) {
	r := telemetry.New(telemetry.Config{UUIDs: []string{"GPU-a", "GPU-b"}, JobID: 42, Project: "ml/train", Now: func() time.Time { return t0 }})
	r.Add(sample("GPU-a", 0, 50, 100, 40, 1*machine.GiB))
	r.Add(sample("GPU-a", 1, 100, 300, 70, 12*machine.GiB))
	r.Add(sample("GPU-a", 2, 60, 200, 65, 4*machine.GiB))
	r.Add(sample("GPU-b", 0, 10, 50, 30, 0))
	r.Add(sample("GPU-x", 0, 99, 999, 99, 99)) // not the job's GPU: ignored
	rep := r.Stop()
	if len(rep.GPUs) != 2 {
		t.Fatalf("report has %d GPUs, want 2", len(rep.GPUs))
	}
	a := rep.GPUs[0]
	// Energy: trapezoids (100+300)/2·1 s + (300+200)/2·1 s = 450 J.
	if a.UUID != "GPU-a" || a.Samples != 3 || a.PeakMemoryBytes != 12*machine.GiB || a.PeakTemperatureC != 70 ||
		math.Abs(a.MeanUtilizationPct-70) > 1e-9 || math.Abs(a.MeanPowerWatts-200) > 1e-9 || math.Abs(a.EnergyJoules-450) > 1e-9 {
		t.Errorf("GPU-a = %+v", a)
	}
	if b := rep.GPUs[1]; b.Samples != 1 || b.EnergyJoules != 0 || b.MeanUtilizationPct != 10 {
		t.Errorf("GPU-b = %+v", b)
	}
	if len(rep.Samples) != 4 {
		t.Errorf("report keeps %d samples, want 4", len(rep.Samples))
	}
}

func TestEnergyPrefersTheDriversCounter(t *testing.T) {
	r := telemetry.New(telemetry.Config{UUIDs: []string{"GPU-a"}})
	s1 := sample("GPU-a", 0, 0, 100, 40, 0)
	s1.EnergyMillijoules = 1_000_000
	s2 := sample("GPU-a", 10, 0, 100, 40, 0)
	s2.EnergyMillijoules = 1_987_500
	r.Add(s1)
	r.Add(s2)
	if e := r.Summary()[0].EnergyJoules; e != 987.5 {
		t.Errorf("energy = %v J, want 987.5 J from the counter", e)
	}
}

func TestFooterIsAlignedAndNamesEachFigure(t *testing.T) {
	r := telemetry.New(telemetry.Config{UUIDs: []string{"GPU-6a7c5c8e", "GPU-1b"}, Interval: time.Second})
	r.Add(sample("GPU-6a7c5c8e", 0, 87.5, 250, 71, 12*machine.GiB))
	r.Add(sample("GPU-1b", 0, 3, 60, 35, 512*machine.MiB))
	footer := r.Stop().Footer()
	lines := strings.Split(strings.TrimRight(footer, "\n"), "\n")
	if len(lines) != 4 || lines[0] != "GPU telemetry (1 samples, every 1s):" {
		t.Fatalf("footer =\n%s", footer)
	}
	for _, want := range []string{"12 GiB", "87.5 %", "250 W", "0 J", "71 °C", "512 MiB"} {
		if !strings.Contains(footer, want) {
			t.Errorf("footer lacks %q:\n%s", want, footer)
		}
	}
	// Right-aligned columns: every row ends at the same width.
	if w := len([]rune(lines[1])); len([]rune(lines[2])) != w || len([]rune(lines[3])) != w {
		t.Errorf("footer rows are not aligned:\n%s", footer)
	}
}

func TestReportJSONHoldsSummariesAndSamples(t *testing.T) {
	r := telemetry.New(telemetry.Config{UUIDs: []string{"GPU-a"}, JobID: 7})
	r.Add(sample("GPU-a", 0, 10, 100, 40, 1))
	var buf bytes.Buffer
	if err := r.Stop().WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var got struct {
		JobID int64 `json:"job_id"`
		GPUs  []struct {
			UUID    string `json:"uuid"`
			Samples int    `json:"samples"`
		} `json:"gpus"`
		Samples []map[string]any `json:"samples"`
	}
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.JobID != 7 || len(got.GPUs) != 1 || got.GPUs[0].UUID != "GPU-a" || got.GPUs[0].Samples != 1 || len(got.Samples) != 1 {
		t.Errorf("%s = %s", telemetry.ReportFile, buf.String())
	}
}

func TestRecorderSamplesTheMockGPUOnEachTick(t *testing.T) {
	s := nvmltest.NewDGXH100()
	h, _ := nvmlhost.Open(s, nil)
	defer h.Close()
	inv, _ := h.Inventory(context.Background())
	uuid := inv.GPUs[1].UUID
	ticks := make(chan time.Time)
	now := t0
	r := telemetry.Start(context.Background(), telemetry.Config{Sampler: h, UUIDs: []string{uuid}, Ticks: ticks, Now: func() time.Time { return now }})
	// The first sample is taken at once (idle); then the job loads the GPU.
	s.GPU(1).SetLoad(90, 400)
	s.GPU(1).StartProcess(100, 20<<30, -1)
	ticks <- t0
	s.GPU(1).SetLoad(70, 300)
	ticks <- t0
	ticks <- t0 // a third tick: the second has surely been sampled
	rep := r.Stop()
	g := rep.GPUs[0]
	if g.Samples < 3 || g.PeakMemoryBytes != 20<<30+nvmltest.IdleMemoryBytes || g.PeakTemperatureC != 35 {
		t.Errorf("summary = %+v", g)
	}
	if r2 := r.Stop(); r2.GPUs[0].Samples != g.Samples {
		t.Errorf("a second Stop changed the report")
	}
}

func TestCollectorExposesRunningJobsOnly(t *testing.T) {
	c := telemetry.NewCollector()
	r := telemetry.New(telemetry.Config{UUIDs: []string{"GPU-a"}, JobID: 42, Project: "ml/train"})
	r.Add(sample("GPU-a", 0, 87, 250, 71, 1024))
	c.Track(r)
	want := `
# HELP kiln_gpu_utilization_percent GPU utilisation of a running job's GPU, in percent.
# TYPE kiln_gpu_utilization_percent gauge
kiln_gpu_utilization_percent{job="42",project="ml/train",uuid="GPU-a"} 87
# HELP kiln_gpu_memory_used_bytes Memory in use on a running job's GPU.
# TYPE kiln_gpu_memory_used_bytes gauge
kiln_gpu_memory_used_bytes{job="42",project="ml/train",uuid="GPU-a"} 1024
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "kiln_gpu_utilization_percent", "kiln_gpu_memory_used_bytes"); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) != 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
	c.Untrack(r)
	if n := testutil.CollectAndCount(c); n != 0 {
		t.Errorf("after the job ended, %d series remain", n)
	}
}
