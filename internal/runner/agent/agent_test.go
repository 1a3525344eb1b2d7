package agent_test

import (
	"context"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kiln-ci/kiln/internal/executor/shell"
	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/protocol/protocoltest"
	"github.com/kiln-ci/kiln/internal/runner"
	"github.com/kiln-ci/kiln/internal/runner/agent"
	"github.com/kiln-ci/kiln/internal/runner/remote"
)

type fixture struct {
	server  *protocoltest.Server
	token   string
	metrics *agent.Metrics
	reg     *prometheus.Registry
}

func newFixture(t *testing.T) *fixture {
	s := protocoltest.New(t, protocoltest.Options{})
	r := s.AddRunner("glrt-agent-test-token")
	reg := prometheus.NewRegistry()
	m, err := agent.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{server: s, token: r.Token, metrics: m, reg: reg}
}

func (f *fixture) agent(t *testing.T, tweak func(*agent.Config, *agent.Worker)) *agent.Agent {
	t.Helper()
	client, err := protocol.NewClient(protocol.ClientConfig{URL: f.server.URL, Observe: f.metrics.ObserveAPI,
		Retry: protocol.RetryPolicy{Base: time.Millisecond, Max: 10 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	lc, err := runner.NewLifecycle(runner.Config{Name: "agent-test", Token: f.token, SystemID: "s_0123456789ab",
		Executor: shell.New(shell.Config{}), BuildsDir: t.TempDir(), CacheDir: t.TempDir(),
		BaseEnvironment: []string{"PATH=" + os.Getenv("PATH")}, Grace: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	w := agent.Worker{Name: "agent-test", Token: f.token, SystemID: "s_0123456789ab", Client: client,
		Info: agent.Info("shell", "bash", ""), Lifecycle: lc, TraceDir: t.TempDir(),
		Remote: remote.Config{UpdateInterval: 50 * time.Millisecond, ForceSendInterval: 200 * time.Millisecond}}
	cfg := agent.Config{Concurrent: 1, CheckInterval: 50 * time.Millisecond, Metrics: f.metrics,
		UnhealthyInterval: time.Hour}
	if tweak != nil {
		tweak(&cfg, &w)
	}
	cfg.Workers = []agent.Worker{w}
	a, err := agent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func spec(script ...string) jobspec.Job {
	return jobspec.Job{JobInfo: jobspec.JobInfo{Name: "j", ProjectID: 3},
		Variables: jobspec.Variables{{Key: "GIT_STRATEGY", Value: "none"}},
		Steps:     []jobspec.Step{{Name: "script", Script: script}}}
}

func waitFinal(t *testing.T, s *protocoltest.Server, ids ...int64) []protocoltest.Job {
	t.Helper()
	return s.Finals(t, 30*time.Second, ids...)
}

// maxRunning samples how many jobs the server sees running at once until stop closes.
func maxRunning(s *protocoltest.Server, ids []int64, stop <-chan struct{}) *atomic.Int32 {
	var peak atomic.Int32
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			n := int32(0)
			for _, id := range ids {
				if j, _ := s.Job(id); j.State == protocol.StateRunning && j.Final == nil && len(j.Updates) > 0 {
					n++
				}
			}
			if n > peak.Load() {
				peak.Store(n)
			}
		}
	}()
	return &peak
}

func TestAgentRunsQueuedJobsWithinTheConcurrencyLimits(t *testing.T) {
	for _, c := range []struct {
		name              string
		concurrent, limit int
		want              int32
	}{{"concurrent 2", 2, 0, 2}, {"limit 1 under concurrent 3", 3, 1, 1}} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			var ids []int64
			for range 3 {
				ids = append(ids, f.server.Enqueue(spec("sleep 0.6", "echo finished")))
			}
			a := f.agent(t, func(cfg *agent.Config, w *agent.Worker) { cfg.Concurrent, w.Limit = c.concurrent, c.limit })
			stop := make(chan struct{})
			peak := maxRunning(f.server, ids, stop)
			done := make(chan error)
			go func() { done <- a.Run(context.Background()) }()
			jobs := waitFinal(t, f.server, ids...)
			close(stop)
			a.Stop()
			<-done
			for _, j := range jobs {
				if j.State != protocol.StateSuccess || !strings.Contains(string(j.Trace), "finished") {
					t.Errorf("job %d: %s\n%s", j.Spec.ID, j.State, j.Trace)
				}
			}
			if peak.Load() != c.want {
				t.Errorf("at most %d jobs ran at once, want %d", peak.Load(), c.want)
			}
			if got := f.jobsTotal("success"); got != 3 {
				t.Errorf("kiln_runner_jobs_total{outcome=success} = %v", got)
			}
		})
	}
}

// jobsTotal reads kiln_runner_jobs_total{outcome} from the registry.
func (f *fixture) jobsTotal(outcome string) float64 {
	mfs, _ := f.reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "kiln_runner_jobs_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func TestGracefulStopFinishesTheRunningJob(t *testing.T) {
	f := newFixture(t)
	id := f.server.Enqueue(spec("echo started", "sleep 1", "echo finished"))
	a := f.agent(t, nil)
	done := make(chan error)
	go func() { done <- a.Run(context.Background()) }()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	f.server.Wait(ctx, id, func(j protocoltest.Job) bool { return strings.Contains(string(j.Trace), "started") })
	a.Stop()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("Run did not return after Stop")
	}
	j, _ := f.server.Job(id)
	if j.State != protocol.StateSuccess || !strings.Contains(string(j.Trace), "finished") {
		t.Errorf("state %s\n%s", j.State, j.Trace)
	}
}

func TestAbortingTheAgentFailsRunningJobsAsRunnerSystemFailures(t *testing.T) {
	f := newFixture(t)
	id := f.server.Enqueue(spec("echo started", "sleep 60"))
	a := f.agent(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- a.Run(ctx) }()
	wctx, wcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer wcancel()
	f.server.Wait(wctx, id, func(j protocoltest.Job) bool { return strings.Contains(string(j.Trace), "started") })
	start := time.Now()
	cancel()
	select {
	case <-done:
	case <-wctx.Done():
		t.Fatal("Run did not return after its context ended")
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("abort took %v", d)
	}
	j, _ := f.server.Job(id)
	if j.Final == nil || j.Final.State != protocol.StateFailed || j.Final.FailureReason != protocol.FailureRunnerSystem {
		t.Errorf("final update %+v", j.Final)
	}
}

func TestUnhealthyRunnerPausesAfterThreeForbiddenAnswers(t *testing.T) {
	f := newFixture(t)
	f.token = "glrt-revoked-token"
	a := f.agent(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 800*time.Millisecond)
	defer cancel()
	a.Run(ctx)
	n := 0
	for _, r := range f.server.Requests() {
		if r.Path == "/api/v4/jobs/request" {
			n++
		}
	}
	if n != 3 {
		t.Errorf("%d requests in 800 ms with 50 ms between them, want 3 then a pause", n)
	}
}

func TestReapRunsOnceAtStart(t *testing.T) {
	f := newFixture(t)
	var calls atomic.Int32
	a := f.agent(t, func(c *agent.Config, _ *agent.Worker) {
		c.Reap = func(context.Context) error { calls.Add(1); return nil }
	})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	a.Run(ctx)
	if calls.Load() != 1 {
		t.Errorf("Reap called %d times", calls.Load())
	}
}

func TestSlotsGiveEachConcurrentJobItsOwnBuildDirectory(t *testing.T) {
	f := newFixture(t)
	var ids []int64
	for range 2 {
		ids = append(ids, f.server.Enqueue(spec(`echo "dir=$CI_PROJECT_DIR id=$CI_CONCURRENT_ID pid=$CI_CONCURRENT_PROJECT_ID"`, "sleep 0.5")))
	}
	a := f.agent(t, func(c *agent.Config, _ *agent.Worker) { c.Concurrent = 2 })
	done := make(chan error)
	go func() { done <- a.Run(context.Background()) }()
	jobs := waitFinal(t, f.server, ids...)
	a.Stop()
	<-done
	seen := map[string]bool{}
	for _, j := range jobs {
		i := strings.Index(string(j.Trace), "\ndir=")
		seen[strings.SplitN(string(j.Trace)[i+1:], "\n", 2)[0]] = true
	}
	if len(seen) != 2 {
		t.Errorf("concurrent jobs shared a slot: %v", seen)
	}
}
