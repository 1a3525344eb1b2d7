package localrun_test

import (
	"context"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/localrun"
)

// BenchmarkJobOverheadShell measures kiln exec's per-job overhead with the shell
// executor: a pipeline of one job whose script is `true`, run b.N times through
// localrun (New reads the repository with git and compiles the configuration; Run
// copies the working tree and runs the job through the runner's lifecycle). It
// reports, as p50 and p95, the job's wall time from its start to its final status
// (job-p50-ms, job-p95-ms) and the whole pipeline's, New included
// (pipeline-p50-ms, pipeline-p95-ms). Run it with -benchtime=50x for 50 runs:
//
//	go test ./internal/localrun -run '^$' -bench JobOverheadShell -benchtime=50x
func BenchmarkJobOverheadShell(b *testing.B) {
	dir := gitRepo(b, map[string]string{".gitlab-ci.yml": "job:\n  script: ['true']\n"})
	benchJobOverhead(b, localrun.Options{Dir: dir, Executor: shellExecutor(b), BaseEnvironment: hostEnv(),
		StateDir: b.TempDir(), Output: io.Discard, Concurrency: 1})
}

// BenchmarkJobOverheadDocker is BenchmarkJobOverheadShell with the Docker executor
// and the busybox image present (built by scripts/test-images.sh).
func BenchmarkJobOverheadDocker(b *testing.B) {
	dir := gitRepo(b, map[string]string{".gitlab-ci.yml": "job:\n  image: " + busyboxImage + "\n  script: ['true']\n"})
	benchJobOverhead(b, localrun.Options{Dir: dir, Executor: newDockerExecutor(b), StateDir: b.TempDir(),
		Output: io.Discard, Concurrency: 1})
}

func benchJobOverhead(b *testing.B, opts localrun.Options) {
	ctx := context.Background()
	jobs := make([]time.Duration, 0, b.N)
	pipelines := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		p, err := localrun.New(ctx, opts)
		if err != nil {
			b.Fatal(err)
		}
		res, err := p.Run(ctx)
		pipelines = append(pipelines, time.Since(start))
		p.Close()
		if err != nil || res.Status != localrun.StatusSuccess {
			b.Fatalf("pipeline %v, %v", res, err)
		}
		jobs = append(jobs, res.Jobs[0].Outcome.Duration)
	}
	b.StopTimer()
	report(b, "job", jobs)
	report(b, "pipeline", pipelines)
}

func report(b *testing.B, what string, ds []time.Duration) {
	slices.Sort(ds)
	pct := func(p int) float64 {
		i := max((len(ds)*p+99)/100-1, 0)
		return float64(ds[i]) / 1e6
	}
	b.ReportMetric(pct(50), what+"-p50-ms")
	b.ReportMetric(pct(95), what+"-p95-ms")
}
