package localrun_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/executor/docker/apitrace"
	"github.com/kiln-ci/kiln/internal/localrun"
	"github.com/kiln-ci/kiln/internal/testenv"
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
// and the busybox image present (built by scripts/test-images.sh). Each pipeline's
// one job finds nothing made ahead for it (kiln exec makes nothing ahead once its
// last job has started): this is a one-job `kiln exec`.
func BenchmarkJobOverheadDocker(b *testing.B) {
	dir := gitRepo(b, map[string]string{".gitlab-ci.yml": "job:\n  image: " + busyboxImage + "\n  script: ['true']\n"})
	benchJobOverhead(b, localrun.Options{Dir: dir, Executor: newDockerExecutor(b), StateDir: b.TempDir(),
		Output: io.Discard, Concurrency: 1})
}

// BenchmarkJobOverheadInPipeline measures kiln exec's per-job overhead for the jobs
// of one pipeline: b.N jobs whose script is `true`, each in a stage of its own, so
// they run one after the other, each (but the first) on what the one before made
// ahead for it. It reports p50 and p95 of the jobs' wall time from their start to
// their final status:
//
//	go test ./internal/localrun -run '^$' -bench JobOverheadInPipeline -benchtime=50x
func BenchmarkJobOverheadInPipeline(b *testing.B) {
	for _, ex := range []string{"shell", "docker"} {
		b.Run(ex, func(b *testing.B) {
			var yml strings.Builder
			yml.WriteString("stages:\n")
			for i := range b.N {
				fmt.Fprintf(&yml, "  - s%d\n", i)
			}
			for i := range b.N {
				fmt.Fprintf(&yml, "job%d:\n  stage: s%d\n  image: %s\n  script: ['true']\n", i, i, busyboxImage)
			}
			opts := localrun.Options{Dir: gitRepo(b, map[string]string{".gitlab-ci.yml": yml.String()}), StateDir: b.TempDir(),
				Output: io.Discard, Concurrency: 1, Executor: shellExecutor(b), BaseEnvironment: hostEnv()}
			if ex == "docker" {
				opts.Executor, opts.BaseEnvironment = newDockerExecutor(b), nil
			}
			ctx := context.Background()
			p, err := localrun.New(ctx, opts)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			b.ResetTimer()
			res, err := p.Run(ctx)
			b.StopTimer()
			if err != nil || res.Status != localrun.StatusSuccess || len(res.Jobs) != b.N {
				b.Fatalf("pipeline %v, %v", res, err)
			}
			jobs := make([]time.Duration, 0, b.N)
			for _, j := range res.Jobs {
				jobs = append(jobs, j.Outcome.Duration)
			}
			report(b, "job", jobs)
		})
	}
}

// BenchmarkJobPhasesDocker is BenchmarkJobOverheadDocker with the Docker executor
// talking to the daemon through a recording proxy: it logs where the median job's
// time goes, as the times at which kiln exec printed each line of the job and the
// Docker calls with their starts and durations. The proxy adds a little to every
// call; take the overhead figures from BenchmarkJobOverheadDocker:
//
//	go test ./internal/localrun -run '^$' -bench JobPhasesDocker -benchtime=20x -v
func BenchmarkJobPhasesDocker(b *testing.B) {
	testenv.NeedDocker(b)
	proxy, err := apitrace.Start("")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { proxy.Close() })
	dir := gitRepo(b, map[string]string{".gitlab-ci.yml": "job:\n  image: " + busyboxImage + "\n  script: ['true']\n"})
	out := &stampedLines{}
	benchJobOverhead(b, localrun.Options{Dir: dir, Executor: newDockerExecutorAt(b, proxy.Host()), StateDir: b.TempDir(),
		Output: out, Concurrency: 1}, out, proxy)
}

func benchJobOverhead(b *testing.B, opts localrun.Options, lines ...any) {
	var out *stampedLines
	var proxy *apitrace.Proxy
	for _, l := range lines {
		switch l := l.(type) {
		case *stampedLines:
			out = l
		case *apitrace.Proxy:
			proxy = l
		}
	}
	ctx := context.Background()
	jobs := make([]time.Duration, 0, b.N)
	pipelines := make([]time.Duration, 0, b.N)
	var timelines []timeline
	b.ResetTimer()
	for range b.N {
		if out != nil {
			out.reset()
			proxy.Reset()
		}
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
		if out != nil {
			timelines = append(timelines, timeline{job: res.Jobs[0].Outcome.Duration, start: start, lines: out.take(), calls: proxy.Calls()})
		}
	}
	b.StopTimer()
	report(b, "job", jobs)
	report(b, "pipeline", pipelines)
	if len(timelines) > 0 {
		slices.SortFunc(timelines, func(x, y timeline) int { return int(x.job - y.job) })
		b.Logf("timeline of the median pipeline (%d runs, job %v):\n%s", len(timelines), timelines[len(timelines)/2].job, timelines[len(timelines)/2])
	}
}

// stampedLines notes when each line of kiln exec's output was written.
type stampedLines struct {
	mu    sync.Mutex
	lines []stampedLine
	part  []byte
}

type stampedLine struct {
	at   time.Time
	text string
}

func (s *stampedLines) Write(p []byte) (int, error) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.part = append(s.part, p...)
	for {
		i := bytes.IndexByte(s.part, '\n')
		if i < 0 {
			break
		}
		s.lines = append(s.lines, stampedLine{now, string(s.part[:i])})
		s.part = s.part[i+1:]
	}
	return len(p), nil
}

func (s *stampedLines) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lines, s.part = nil, nil
}

func (s *stampedLines) take() []stampedLine {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.lines)
}

// timeline is one pipeline's output lines and Docker calls by time since its start.
type timeline struct {
	job   time.Duration
	start time.Time
	lines []stampedLine
	calls []apitrace.Call
}

func (t timeline) String() string {
	var all []stampedLine
	all = append(all, t.lines...)
	for _, c := range t.calls {
		all = append(all, stampedLine{c.Start, "    docker " + c.String()})
	}
	slices.SortStableFunc(all, func(x, y stampedLine) int { return x.at.Compare(y.at) })
	var b strings.Builder
	for _, l := range all {
		fmt.Fprintf(&b, "%8.1f ms  %s\n", float64(l.at.Sub(t.start).Microseconds())/1000, l.text)
	}
	return b.String()
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
