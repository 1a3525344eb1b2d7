package remote_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	dockerclient "github.com/docker/docker/client"

	"github.com/kiln-ci/kiln/internal/executor/docker"
	"github.com/kiln-ci/kiln/internal/executor/shell"
	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/protocol/protocoltest"
	"github.com/kiln-ci/kiln/internal/runner"
	"github.com/kiln-ci/kiln/internal/runner/local"
	"github.com/kiln-ci/kiln/internal/runner/remote"
	"github.com/kiln-ci/kiln/internal/testenv"
)

// percentiles reports p50 and p95 of ds in milliseconds.
func percentiles(b *testing.B, ds []time.Duration) {
	slices.Sort(ds)
	at := func(p float64) float64 {
		i := int(float64(len(ds)-1) * p)
		return float64(ds[i].Microseconds()) / 1000
	}
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.95), "p95-ms")
	b.ReportMetric(0, "ns/op")
}

func benchLifecycle(b *testing.B, tweak func(*runner.Config)) *runner.Lifecycle {
	cfg := runner.Config{Name: "bench", Token: "glrt-benchmark-token", SystemID: "s_0123456789ab",
		Executor: shell.New(shell.Config{}), BuildsDir: b.TempDir(), CacheDir: b.TempDir(),
		BaseEnvironment: []string{"PATH=" + os.Getenv("PATH")}}
	if tweak != nil {
		tweak(&cfg)
	}
	lc, err := runner.NewLifecycle(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return lc
}

func trueJob() jobspec.Job {
	return jobspec.Job{JobInfo: jobspec.JobInfo{Name: "true", ProjectID: 1},
		Variables: jobspec.Variables{{Key: "GIT_STRATEGY", Value: "none"}},
		Steps:     []jobspec.Step{{Name: "script", Script: []string{"true"}}}}
}

// BenchmarkJobOverheadOverHTTP is a job whose script is `true` through the whole
// runner path against the fake coordinator on loopback: from the moment the job is
// received (201) through the running PUT, every stage, the trace PATCH and the final
// PUT, to the coordinator having the final status; with the shell executor and with
// the Docker executor (busybox image present, a network of its own). The cleanup of
// the job's environment, which follows the final status, is waited for before the
// next job, as the agent does. Run with -benchtime=50x for p50/p95 over 50 jobs:
//
//	go test ./internal/runner/remote -run '^$' -bench JobOverheadOverHTTP -benchtime=50x
func BenchmarkJobOverheadOverHTTP(b *testing.B) {
	b.Run("shell", func(b *testing.B) { benchOverHTTP(b, benchLifecycle(b, nil), "") })
	b.Run("docker", func(b *testing.B) {
		ex := benchDockerExecutor(b)
		lc := benchLifecycle(b, func(c *runner.Config) { c.Executor, c.BaseEnvironment = ex, nil })
		benchOverHTTP(b, lc, busyboxImage)
	})
}

func benchOverHTTP(b *testing.B, lc *runner.Lifecycle, image string) {
	s := protocoltest.New(b, protocoltest.Options{})
	r := s.AddRunner("glrt-benchmark-token")
	client, _ := protocol.NewClient(protocol.ClientConfig{URL: s.URL})
	traceDir := b.TempDir()
	var ds []time.Duration
	for i := 0; i < b.N; i++ {
		spec := trueJob()
		spec.Image = jobspec.Image{Name: image}
		id := s.Enqueue(spec)
		job, err := client.RequestJob(context.Background(), protocol.JobRequest{Token: r.Token})
		if err != nil || job == nil {
			b.Fatal(err)
		}
		start := time.Now()
		ch, err := remote.Start(context.Background(), remote.Config{Client: client, Job: job, TraceDir: traceDir})
		if err != nil {
			b.Fatal(err)
		}
		o, cleanup := lc.RunReported(context.Background(), job, runner.Slot{}, ch)
		ds = append(ds, time.Since(start))
		cleanup.Wait()
		if rec, _ := s.Job(id); o.Kind != runner.Success || rec.State != protocol.StateSuccess || !rec.ChecksumOK {
			b.Fatalf("job %d: %v (%s), server %s", id, o.Kind, o.Message, rec.State)
		}
	}
	percentiles(b, ds)
}

// benchDockerExecutor is a Docker executor using local images only, or a skip (a
// failure when the docker tier is required) without a daemon or the busybox image.
func benchDockerExecutor(b *testing.B) *docker.Executor {
	testenv.NeedDocker(b)
	cli, err := dockerclient.NewClientWithOpts(dockerclient.FromEnv, dockerclient.WithAPIVersionNegotiation())
	if err != nil {
		b.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.ImageInspect(context.Background(), busyboxImage); err != nil {
		testenv.Missing(b, testenv.TierDocker, fmt.Sprintf("test image %s is missing (%v); run scripts/test-images.sh", busyboxImage, err))
	}
	ex, err := docker.New(docker.Config{PullPolicy: []string{jobspec.PullIfNotPresent}, TempDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ex.Close() })
	return ex
}

const busyboxImage = "kiln-test/busybox:latest" // built by scripts/test-images.sh

// BenchmarkJobOverheadLocal is the same job through the lifecycle with the local
// channel (kiln exec's path): stages and the shell executor only.
func BenchmarkJobOverheadLocal(b *testing.B) {
	lc := benchLifecycle(b, nil)
	store := local.NewArtifacts(b.TempDir())
	var ds []time.Duration
	for i := 0; i < b.N; i++ {
		job := trueJob()
		job.ID = int64(i + 1)
		start := time.Now()
		o := lc.Run(context.Background(), &job, runner.Slot{}, local.NewChannel(io.Discard, job.ID, store))
		ds = append(ds, time.Since(start))
		if o.Kind != runner.Success {
			b.Fatalf("%v: %s", o.Kind, o.Message)
		}
	}
	percentiles(b, ds)
}

const (
	streamBytes = 200_000_000
	streamLine  = "kiln-trace-benchmark 0123456789 abcdefghijklmnopqrstuvwxyz\n"
)

// BenchmarkTraceStreaming200MB runs a job printing 200 MB through the shell executor,
// the masked trace log and the remote channel to the fake coordinator (which keeps
// the trace in a file), then checks that the job's output arrived byte for byte. It
// reports MB/s from job start to final status and the process's peak RSS (runner,
// fake coordinator and test harness together: an upper bound for the runner).
// Run with -benchtime=1x.
func BenchmarkTraceStreaming200MB(b *testing.B) {
	s := protocoltest.New(b, protocoltest.Options{TraceDir: b.TempDir()})
	r := s.AddRunner("glrt-benchmark-token")
	client, _ := protocol.NewClient(protocol.ClientConfig{URL: s.URL})
	lc := benchLifecycle(b, func(c *runner.Config) { c.OutputLimit = 256 << 20 })
	// yes dies of SIGPIPE when head has enough; pipefail must not count that.
	cmd := "{ yes '" + strings.TrimSuffix(streamLine, "\n") + "' || true; } | head -c " + strconv.Itoa(streamBytes)
	for i := 0; i < b.N; i++ {
		spec := trueJob()
		spec.Steps[0].Script = []string{cmd}
		id := s.Enqueue(spec)
		job, _ := client.RequestJob(context.Background(), protocol.JobRequest{Token: r.Token})
		start := time.Now()
		ch, err := remote.Start(context.Background(), remote.Config{Client: client, Job: job, TraceDir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		o := lc.Run(context.Background(), job, runner.Slot{}, ch)
		elapsed := time.Since(start)
		rec, _ := s.Job(id)
		if o.Kind != runner.Success || !rec.ChecksumOK {
			b.Fatalf("job %v, checksum ok %v", o.Kind, rec.ChecksumOK)
		}
		b.ReportMetric(float64(streamBytes)/1e6/elapsed.Seconds(), "MB/s")
		b.ReportMetric(float64(peakRSS())/1e6, "peak-RSS-MB")
		b.ReportMetric(0, "ns/op")
		checkOutput(b, rec.TracePath, "$ "+cmd)
	}
}

// checkOutput finds the output after the echoed command in the stored trace and
// compares it with what the command prints, by SHA-256.
func checkOutput(b *testing.B, path, echo string) {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			b.Fatalf("echoed command not found in the trace: %v", err)
		}
		if strings.Contains(line, echo) {
			break
		}
	}
	got := sha256.New()
	if _, err := io.CopyN(got, br, streamBytes); err != nil {
		b.Fatalf("trace holds less than %d bytes of output: %v", streamBytes, err)
	}
	want := sha256.New()
	line := []byte(streamLine)
	for left := streamBytes; left > 0; left -= len(line) {
		want.Write(line[:min(len(line), left)])
	}
	if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		b.Fatal("the job's 200 MB of output did not arrive byte for byte")
	}
}

// peakRSS is the process's peak resident set (VmHWM) in bytes.
func peakRSS() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n * 1024
		}
	}
	return 0
}
