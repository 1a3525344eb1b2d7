// Package agent is the runner's main loop: for each configured runner it asks the
// coordinator for jobs (long polling), runs each through the job lifecycle with a
// remote channel, within the global `concurrent` limit and the runner's own `limit`,
// keeps request health as gitlab-runner does, reaps what a crashed runner left behind
// at start-up, and stops gracefully (finish running jobs) or at once (abort them).
//
// Its logger carries runner and job ids; job output never goes to it.
//
// It is on the runner side: the coordinator side must not import it.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/runner"
	"github.com/kiln-ci/kiln/internal/runner/remote"
)

// Worker is one configured runner ([[runners]] entry) the agent asks jobs for.
type Worker struct {
	Name     string
	Token    string // runner authentication token; never logged
	SystemID string
	Client   *protocol.Client
	// Info is sent with every request and job update.
	Info protocol.Info
	// Kiln, when set, is called for Info's Kiln part before every job request and job
	// update, so the coordinator sees the runner's GPUs (health, leases, free count) as
	// they are now. It must be safe for concurrent use.
	Kiln      func() *protocol.KilnInfo
	Lifecycle *runner.Lifecycle
	// Limit bounds this runner's concurrent jobs; 0 means only Config.Concurrent.
	Limit int
	// Admit, when set, is asked before every job request whether the runner can place
	// one more job now (e.g. a free GPU of its machine type), so that it never asks for
	// a job it cannot run. ok false: the worker waits check_interval and asks again.
	// ok true holds a place until release is called: the agent calls it once, when no
	// job came or when the job has ended. It must be safe for concurrent use.
	Admit func() (release func(), ok bool)
	// TraceDir holds the jobs' trace files ("" means the system's temporary directory).
	TraceDir string
	// Remote tunes the job channels (intervals, attempts); Client, Info, Job and Abort
	// are filled in per job.
	Remote remote.Config
}

// Config configures an Agent.
type Config struct {
	// Concurrent bounds the jobs running at once across all workers (default 1).
	Concurrent int
	// CheckInterval is the wait between requests when there is no job (default 3 s).
	CheckInterval time.Duration
	Workers       []Worker
	// UnhealthyRequestsLimit unhealthy answers in a row (403, transport errors) disable
	// a worker for UnhealthyInterval (defaults 3 and 60 minutes, as in gitlab-runner).
	UnhealthyRequestsLimit int
	UnhealthyInterval      time.Duration
	// Reap removes leftovers of a crashed runner (e.g. the Docker executor's Reap)
	// once at start; nil skips it. Its error is logged, not fatal.
	Reap func(ctx context.Context) error
	// Metrics receives the agent's figures; nil keeps none.
	Metrics *Metrics
	// Logger receives the agent's own messages; nil discards.
	Logger *slog.Logger
}

// Agent runs workers. Run it once.
type Agent struct {
	cfg  Config
	log  *slog.Logger
	sem  chan struct{} // global concurrency
	stop chan struct{} // closed by Stop: no new jobs
	once sync.Once
	jobs sync.WaitGroup
}

// New checks cfg and returns an agent.
func New(cfg Config) (*Agent, error) {
	if len(cfg.Workers) == 0 {
		return nil, errors.New("agent: no runners configured; run `kiln runner register` first")
	}
	for i, w := range cfg.Workers {
		if w.Client == nil || w.Lifecycle == nil || w.Token == "" {
			return nil, fmt.Errorf("agent: runner %d (%q) lacks a client, a lifecycle or a token", i, w.Name)
		}
	}
	if cfg.Concurrent <= 0 {
		cfg.Concurrent = 1
	}
	if cfg.CheckInterval <= 0 {
		cfg.CheckInterval = 3 * time.Second
	}
	if cfg.UnhealthyRequestsLimit <= 0 {
		cfg.UnhealthyRequestsLimit = 3
	}
	if cfg.UnhealthyInterval <= 0 {
		cfg.UnhealthyInterval = 60 * time.Minute
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Agent{cfg: cfg, log: log, sem: make(chan struct{}, cfg.Concurrent), stop: make(chan struct{})}, nil
}

// Run asks for and runs jobs until ctx is canceled or Stop is called, then returns once
// every job it started has reported its end. Canceling ctx aborts running jobs
// (SIGTERM: they end as runner system failures); Stop lets them finish (SIGQUIT).
func (a *Agent) Run(ctx context.Context) error {
	if a.cfg.Reap != nil {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		if err := a.cfg.Reap(rctx); err != nil {
			a.log.Warn("reaping leftovers of a previous run failed", "error", err)
		}
		cancel()
	}
	jobCtx, abort := context.WithCancelCause(context.WithoutCancel(ctx))
	defer abort(nil)
	go func() {
		select {
		case <-ctx.Done():
			abort(runner.ErrRunnerStopping)
		case <-jobCtx.Done():
		}
	}()
	var polls sync.WaitGroup
	for i := range a.cfg.Workers {
		w := newWorkerState(a, &a.cfg.Workers[i])
		polls.Go(func() { w.poll(ctx, jobCtx) })
	}
	a.log.Info("runner started", "runners", len(a.cfg.Workers), "concurrent", a.cfg.Concurrent)
	polls.Wait()
	a.jobs.Wait()
	a.log.Info("runner stopped")
	return nil
}

// Stop asks Run to take no new jobs and return once the running ones have finished.
// It returns at once; it may be called more than once.
func (a *Agent) Stop() {
	a.once.Do(func() {
		a.log.Info("stopping gracefully: finishing running jobs, taking no new ones")
		close(a.stop)
	})
}

// stopping reports whether Run should stop polling.
func (a *Agent) stopping(ctx context.Context) bool {
	select {
	case <-a.stop:
		return true
	case <-ctx.Done():
		return true
	default:
		return false
	}
}

// wait sleeps d unless polling should stop; it reports whether to go on.
func (a *Agent) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-a.stop:
		return false
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
