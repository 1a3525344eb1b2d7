package executortest

import (
	"context"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/executor"
)

// BenchmarkJob measures the executor's per-job overhead: the wall time of
// NewEnvironment, Prepare, Run of the script `true` and Cleanup, for b.N jobs one after
// the other. Besides ns/op it reports the median and 95th percentile as p50-ms and
// p95-ms; run it with -benchtime=50x for percentiles over 50 jobs.
func BenchmarkJob(b *testing.B, newEnv func(b *testing.B, spec executor.Spec) executor.Environment) {
	runner := "executortest-bench-" + randomHex(4)
	base := time.Now().Unix() % 1e6 * 1000
	dir := b.TempDir()
	took := make([]time.Duration, 0, b.N)
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		env := newEnv(b, executor.Spec{JobID: base + int64(i), RunnerID: runner, JobName: "bench", HostDir: dir})
		if err := env.Prepare(ctx, io.Discard); err != nil {
			b.Fatalf("Prepare: %v", err)
		}
		res, err := env.Run(ctx, executor.Command{Name: "step_script", Script: "true\n", Output: io.Discard})
		if err != nil || res.ExitCode != 0 {
			b.Fatalf("Run(true) = exit %d, %v", res.ExitCode, err)
		}
		if err := env.Cleanup(ctx); err != nil {
			b.Fatalf("Cleanup: %v", err)
		}
		took = append(took, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(float64(percentile(took, 50))/1e6, "p50-ms")
	b.ReportMetric(float64(percentile(took, 95))/1e6, "p95-ms")
}

// percentile returns the p-th percentile of sorted durations (nearest rank).
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[max(i-1, 0)]
}
