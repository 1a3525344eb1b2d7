package runner_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/kiln-ci/kiln/internal/executor"
	"github.com/kiln-ci/kiln/internal/executor/docker"
	"github.com/kiln-ci/kiln/internal/executor/docker/apitrace"
	"github.com/kiln-ci/kiln/internal/executor/shell"
	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/runner"
	"github.com/kiln-ci/kiln/internal/runner/local"
	"github.com/kiln-ci/kiln/internal/testenv"
)

const busyboxImage = "kiln-test/busybox:latest" // built by scripts/test-images.sh

// phaseChannel is a local channel that notes when each section of the job log
// starts and ends, and when the final status arrives, as the log passes through.
type phaseChannel struct {
	*local.Channel
	mu     sync.Mutex
	marks  []mark
	final  time.Time
	before []byte // an incomplete line held from the last write
}

type mark struct {
	at   time.Time
	what string // "start prepare_executor", "end prepare_executor"
}

var sectionMarker = regexp.MustCompile(`section_(start|end):[0-9]+:([a-z_]+)`)

func (c *phaseChannel) Write(p []byte) (int, error) {
	now := time.Now()
	c.mu.Lock()
	data := append(c.before, p...)
	last := bytes.LastIndexByte(data, '\n')
	for _, m := range sectionMarker.FindAllSubmatch(data[:last+1], -1) {
		c.marks = append(c.marks, mark{now, string(m[1]) + " " + string(m[2])})
	}
	c.before = append([]byte(nil), data[last+1:]...)
	c.mu.Unlock()
	return c.Channel.Write(p)
}

func (c *phaseChannel) Finish(ctx context.Context, o runner.Outcome) error {
	c.mu.Lock()
	c.final = time.Now()
	c.mu.Unlock()
	return c.Channel.Finish(ctx, o)
}

// overheadRun is one job's timeline.
type overheadRun struct {
	start, final, returned time.Time
	marks                  []mark
	calls                  []apitrace.Call
}

// toFinal is the per-job overhead: from the job's start to its final status.
func (r overheadRun) toFinal() time.Duration { return r.final.Sub(r.start) }

// timeline lists the sections and Docker calls of the run by time since its start.
func (r overheadRun) timeline() string {
	type line struct {
		at   time.Duration
		text string
	}
	var lines []line
	for _, m := range r.marks {
		lines = append(lines, line{m.at.Sub(r.start), m.what})
	}
	for _, c := range r.calls {
		lines = append(lines, line{c.Start.Sub(r.start), fmt.Sprintf("    docker %s (%v)", c, c.Took.Round(100*time.Microsecond))})
	}
	lines = append(lines, line{r.final.Sub(r.start), "FINAL STATUS"}, line{r.returned.Sub(r.start), "Run returned"})
	slices.SortStableFunc(lines, func(a, b line) int { return int(a.at - b.at) })
	var b strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&b, "%8.1f ms  %s\n", float64(l.at.Microseconds())/1000, l.text)
	}
	return b.String()
}

// runOverhead runs b.N jobs whose script is `true` one after the other through one
// lifecycle and a local channel, and reports p50 and p95 of their overhead in
// milliseconds. With trace set, it logs the timeline of the median run.
func runOverhead(b *testing.B, cfg runner.Config, image string, trace bool, proxy *apitrace.Proxy) {
	lc, err := runner.NewLifecycle(cfg)
	if err != nil {
		b.Fatal(err)
	}
	store := local.NewArtifacts(b.TempDir())
	runs := make([]overheadRun, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		job := &jobspec.Job{ID: int64(i + 1), Token: "glcbt-benchmark-token",
			JobInfo:   jobspec.JobInfo{Name: "true", Stage: "test", ProjectID: 1},
			Image:     jobspec.Image{Name: image},
			Variables: jobspec.Variables{{Key: "GIT_STRATEGY", Value: "none"}},
			Steps:     []jobspec.Step{{Name: "script", Script: []string{"true"}, When: "on_success"}}}
		ch := &phaseChannel{Channel: local.NewChannel(io.Discard, job.ID, store)}
		if proxy != nil {
			proxy.Reset()
		}
		start := time.Now()
		o := lc.Run(context.Background(), job, runner.Slot{}, ch)
		r := overheadRun{start: start, final: ch.final, returned: time.Now(), marks: ch.marks}
		if o.Kind != runner.Success {
			b.Fatalf("job %d: %v: %s", job.ID, o.Kind, o.Message)
		}
		if proxy != nil {
			r.calls = proxy.Calls()
		}
		runs = append(runs, r)
	}
	b.StopTimer()
	slices.SortFunc(runs, func(a, b overheadRun) int { return int(a.toFinal() - b.toFinal()) })
	pct := func(p int) overheadRun { return runs[max((len(runs)*p+99)/100-1, 0)] }
	b.ReportMetric(float64(pct(50).toFinal().Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(pct(95).toFinal().Microseconds())/1000, "p95-ms")
	b.ReportMetric(0, "ns/op")
	if trace {
		b.Logf("timeline of the median job (%d runs):\n%s", len(runs), pct(50).timeline())
	}
}

func overheadConfig(b *testing.B, ex executor.Executor) runner.Config {
	return runner.Config{Name: "bench", Token: "glrt-benchmark-token", SystemID: "s_bench" + randomSuffix(),
		Executor: ex, BuildsDir: filepath.Join(b.TempDir(), "builds"), CacheDir: filepath.Join(b.TempDir(), "cache")}
}

func randomSuffix() string { return fmt.Sprintf("%x", time.Now().UnixNano()&0xffffff) }

// BenchmarkJobOverhead is issue 3's per-job overhead through the runner's lifecycle
// (the path both `kiln runner` and `kiln exec` take): a job whose script is `true`,
// from its start to its final status, with the shell executor and with the Docker
// executor (image present, a network of its own). Run it with -benchtime=50x for
// p50/p95 over 50 jobs:
//
//	go test ./internal/runner -run '^$' -bench JobOverhead -benchtime=50x
func BenchmarkJobOverhead(b *testing.B) {
	b.Run("shell", func(b *testing.B) {
		cfg := overheadConfig(b, shell.New(shell.Config{TempDir: b.TempDir()}))
		cfg.BaseEnvironment = []string{"PATH=" + os.Getenv("PATH")}
		runOverhead(b, cfg, "", false, nil)
	})
	b.Run("docker", func(b *testing.B) {
		ex := benchDockerExecutor(b, "")
		runOverhead(b, overheadConfig(b, ex), busyboxImage, false, nil)
	})
}

// BenchmarkJobPhases is BenchmarkJobOverhead with the Docker executor talking to the
// daemon through a recording proxy: it logs where the median job's time goes, each
// section of the job log and each Docker call with its start and duration. The proxy
// adds a little to every call, so take the overhead figures from BenchmarkJobOverhead:
//
//	go test ./internal/runner -run '^$' -bench JobPhases -benchtime=20x -v
func BenchmarkJobPhases(b *testing.B) {
	b.Run("shell", func(b *testing.B) {
		cfg := overheadConfig(b, shell.New(shell.Config{TempDir: b.TempDir()}))
		cfg.BaseEnvironment = []string{"PATH=" + os.Getenv("PATH")}
		runOverhead(b, cfg, "", true, nil)
	})
	b.Run("docker", func(b *testing.B) {
		testenv.NeedDocker(b)
		proxy, err := apitrace.Start("")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { proxy.Close() })
		ex := benchDockerExecutor(b, proxy.Host())
		runOverhead(b, overheadConfig(b, ex), busyboxImage, true, proxy)
	})
}

// benchDockerExecutor is a Docker executor (through host, when set) with local
// images only, or a skip without a daemon or the busybox image.
func benchDockerExecutor(b *testing.B, host string) *docker.Executor {
	testenv.NeedDocker(b)
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		b.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.ImageInspect(context.Background(), busyboxImage); err != nil {
		testenv.Missing(b, testenv.TierDocker, fmt.Sprintf("test image %s is missing (%v); run scripts/test-images.sh", busyboxImage, err))
	}
	ex, err := docker.New(docker.Config{Host: host, PullPolicy: []string{jobspec.PullIfNotPresent}, TempDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ex.Close() })
	return ex
}
