// Package runner is Kiln's runner: the job lifecycle (GitLab Runner's stages, from
// prepare_executor to cleanup_file_variables, with one typed outcome), and the agent
// that asks a coordinator for jobs and runs them with a concurrency limit.
//
// The lifecycle talks to the outside world only through a Channel (a coordinator over
// the network in package remote; `kiln exec` locally), to environments only through
// the executor interface, and to GPUs only through a DeviceProvider.
//
// This package is on the runner side: the coordinator side must not import it.
package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/kiln-ci/kiln/internal/dotenv"
	"github.com/kiln-ci/kiln/internal/executor"
	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/runner/sources"
	"github.com/kiln-ci/kiln/internal/runner/trace"
	"github.com/kiln-ci/kiln/internal/version"
)

// Config is what one runner gives every job it runs.
type Config struct {
	// Name and Token identify the runner: the log's header and CI_RUNNER_SHORT_TOKEN
	// (the first 9 characters of the token after its glrt- prefix). The token itself
	// is never written anywhere.
	Name     string
	Token    string
	SystemID string

	// Executor makes the jobs' environments.
	Executor executor.Executor
	// BuildsDir holds the jobs' directories on the host (absolute);
	// CacheDir the local caches (absolute).
	BuildsDir string
	CacheDir  string
	// BaseEnvironment is the environment every script starts from, lowest precedence,
	// KEY=VALUE (for the shell executor: the host's PATH, HOME, LANG; nothing secret).
	BaseEnvironment []string
	// Environment are the runner's `environment` entries, KEY=VALUE; job variables
	// override them.
	Environment []string
	// OutputLimit caps the job log in bytes; 0 means 4 MiB, < 0 no limit.
	OutputLimit int64
	// MachineType, when set, gives jobs its limits and its GPUs.
	MachineType *machine.Type
	// Devices leases GPUs; nil means the runner has none.
	Devices DeviceProvider
	// Sources gets job sources; nil means git (sources.Git).
	Sources sources.Sources
	// AfterScriptTimeout is after_script's own timeout; 0 means 5 minutes.
	// RUNNER_AFTER_SCRIPT_TIMEOUT in the job overrides it.
	AfterScriptTimeout time.Duration
	// Grace is how long a canceled script has between SIGTERM and SIGKILL; 0 means
	// executor.DefaultGrace.
	Grace time.Duration
	// DotenvLimits are the limits on dotenv reports; zero means GitLab's defaults.
	DotenvLimits dotenv.Limits
	// Logger receives the runner's own messages (never job output); nil discards.
	Logger *slog.Logger
}

// Lifecycle runs jobs. It is safe for concurrent use: each Run is independent.
type Lifecycle struct {
	cfg Config
	log *slog.Logger
}

// NewLifecycle checks cfg and returns a lifecycle.
func NewLifecycle(cfg Config) (*Lifecycle, error) {
	switch {
	case cfg.Executor == nil:
		return nil, errors.New("runner: no executor configured")
	case !filepath.IsAbs(cfg.BuildsDir):
		return nil, fmt.Errorf("runner: builds_dir %q must be an absolute path", cfg.BuildsDir)
	case !filepath.IsAbs(cfg.CacheDir):
		return nil, fmt.Errorf("runner: cache_dir %q must be an absolute path", cfg.CacheDir)
	}
	for _, kv := range append(append([]string(nil), cfg.BaseEnvironment...), cfg.Environment...) {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return nil, fmt.Errorf("runner: environment entry %q is not KEY=VALUE", redactEntry(kv))
		}
	}
	if cfg.Sources == nil {
		cfg.Sources = sources.Git{UserAgent: "kiln-runner " + version.Version}
	}
	if cfg.AfterScriptTimeout <= 0 {
		cfg.AfterScriptTimeout = 5 * time.Minute
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Lifecycle{cfg: cfg, log: log}, nil
}

// Slot says which of the runner's concurrent places a job runs in:
// CI_CONCURRENT_ID and CI_CONCURRENT_PROJECT_ID. The ConcurrentID also picks the job's
// build directory (<builds_dir>/<short token>/<id>), which a later job in the same
// slot reuses (GIT_STRATEGY=fetch), so jobs running at the same time through one
// Lifecycle must have distinct ConcurrentIDs.
type Slot struct {
	ConcurrentID        int
	ConcurrentProjectID int
}

// Causes a job's context is canceled with.
var (
	errTimeout  = errors.New("job timeout")
	errCanceled = errors.New("job canceled")
)

// ErrRunnerStopping is the cause to cancel a job's context with when the runner itself
// is stopping (SIGTERM): the job ends as a runner system failure, which GitLab's
// retry:when can retry, rather than as canceled.
var ErrRunnerStopping = errors.New("the runner was stopped while the job ran")

// Run runs one job to its end and returns its outcome once the channel has the final
// status and the job's environment is cleaned up. Canceling ctx aborts the job: the
// script is stopped, after_script and uploads are skipped, the environment is still
// cleaned up and the outcome still reported (Canceled).
func (l *Lifecycle) Run(ctx context.Context, job *jobspec.Job, slot Slot, ch Channel) Outcome {
	o, cleanup := l.RunReported(ctx, job, slot, ch)
	cleanup.Wait()
	return o
}

// RunReported is Run, returning as soon as the channel has the final status: the
// cleanup of the job's environment (removing its containers and network, which can
// take longer than a short job) goes on in the background, and the returned Cleanup
// says when it is done. Its failure goes to the runner's log; the job's log is
// complete by then. (A job with leased GPUs is cleaned up before its final status,
// since its lease ends only after that.)
//
// The caller must Wait for the Cleanup before it counts the job's place as free,
// reports the runner idle or exits, so that the runner's limits hold for
// environments as well as for jobs. A job run later in the same Slot need not wait:
// the job directory is the runner's, and no cleanup touches it.
func (l *Lifecycle) RunReported(ctx context.Context, job *jobspec.Job, slot Slot, ch Channel) (Outcome, *Cleanup) {
	start := time.Now()
	j := newJobRun(l, job, slot, ch)
	j.header()

	timeout := j.timeout()
	jobCtx, cancelJob := context.WithCancelCause(ctx)
	timer := time.AfterFunc(timeout, func() { cancelJob(errTimeout) })
	stopWatch := make(chan struct{})
	var watch sync.WaitGroup
	watch.Go(func() {
		select {
		case <-ch.Canceling():
			cancelJob(errCanceled)
		case <-stopWatch:
		case <-jobCtx.Done():
		}
	})

	o := j.execute(ctx, jobCtx, timeout)
	timer.Stop()
	close(stopWatch)
	watch.Wait()
	cancelJob(nil)

	j.cleanup(&o)
	o.Duration = time.Since(start)
	if err := j.log.Finish(o.FinalLine()); err != nil {
		j.slog.Warn("job log sink failed", "error", err)
	}
	finishCtx := context.WithoutCancel(ctx)
	if err := ch.Finish(finishCtx, o); err != nil {
		j.slog.Warn("reporting the job's end failed", "error", err)
	}
	j.slog.Info("job finished", "outcome", o.Kind.String(), "duration", o.Duration.Round(time.Millisecond), "failure_reason", o.FailureReason)
	if j.envOf == nil || j.envCleaned {
		return o, nil
	}
	return o, startCleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		_ = j.cleanupEnvironment(ctx)
	})
}

// Cleanup is the cleanup of a job's environment after its final status (RunReported).
// Its methods are safe for concurrent use; a nil Cleanup is done.
type Cleanup struct{ done chan struct{} }

// startCleanup runs f in the background.
func startCleanup(f func()) *Cleanup {
	c := &Cleanup{done: make(chan struct{})}
	go func() {
		defer close(c.done)
		f()
	}()
	return c
}

// Wait returns when the cleanup is done.
func (c *Cleanup) Wait() {
	if c != nil {
		<-c.done
	}
}

// Done is closed when the cleanup is done.
func (c *Cleanup) Done() <-chan struct{} {
	if c == nil {
		closed := make(chan struct{})
		close(closed)
		return closed
	}
	return c.done
}

// timeout is the job's timeout: runner_info.timeout (≤ 0 means 2 h), capped by the
// machine type's maximum.
func (j *jobRun) timeout() time.Duration {
	d := time.Duration(j.job.RunnerInfo.TimeoutSeconds()) * time.Second
	if mt := j.l.cfg.MachineType; mt != nil && mt.MaxTimeout > 0 && d > mt.MaxTimeout {
		d = mt.MaxTimeout
	}
	return d
}

// interrupted tells why jobCtx ended, if it did: the job timed out, was canceled, or
// was aborted from outside (parent context).
func interrupted(parent, jobCtx context.Context, timeout time.Duration) (Outcome, bool) {
	if jobCtx.Err() == nil {
		return Outcome{}, false
	}
	cause := context.Cause(jobCtx)
	switch {
	case errors.Is(cause, errTimeout):
		return timedOut(timeout), true
	case errors.Is(cause, errCanceled):
		return canceled(), true
	}
	pc := context.Cause(parent)
	if errors.Is(pc, ErrRunnerStopping) {
		return systemFailure(pc), true
	}
	o := canceled()
	o.Message = "aborted"
	if pc != nil && !errors.Is(pc, context.Canceled) {
		o.Message = "aborted: " + pc.Error()
	}
	return o, true
}

// header writes the log's first lines, as gitlab-runner does.
func (j *jobRun) header() {
	cfg := j.l.cfg
	j.log.Printf("Running with kiln %s (%s)", version.Version, version.Rev())
	on := "  on " + cfg.Name + " " + shortToken(cfg.Token)
	if cfg.SystemID != "" {
		on += ", system ID: " + cfg.SystemID
	}
	j.log.Printf("%s", on)
	if mt := cfg.MachineType; mt != nil {
		desc := fmt.Sprintf("%d vCPU, %s memory", mt.VCPU, machine.FormatGB(mt.MemoryBytes))
		if mt.HasGPU() {
			desc += fmt.Sprintf(", %d GPU", mt.GPU.Count)
		}
		j.log.Printf("  machine type %s (%s)", mt.Tag, desc)
	}
}

// shortToken is CI_RUNNER_SHORT_TOKEN: 9 characters after a glrt- prefix.
func shortToken(token string) string {
	t := strings.TrimPrefix(token, "glrt-")
	if len(t) > 9 {
		t = t[:9]
	}
	if t == "" {
		return "local"
	}
	return t
}

// minTokenMask is the shortest token masked automatically: GitLab's minimum for masked
// variables. A shorter "token" would mask ordinary text.
const minTokenMask = 8

// logMaskValues are the values the job log masks: masked variables (as written and
// expanded), the job token and the dependencies' tokens.
func logMaskValues(job *jobspec.Job, expanded jobspec.Variables) []string {
	vals := job.Variables.MaskedValues()
	for _, v := range expanded {
		if v.Masked && v.Value != "" {
			vals = append(vals, v.Value)
		}
	}
	if len(job.Token) >= minTokenMask {
		vals = append(vals, job.Token)
	}
	for _, d := range job.Dependencies {
		if len(d.Token) >= minTokenMask {
			vals = append(vals, d.Token)
		}
	}
	return vals
}

func newLog(l *Lifecycle, job *jobspec.Job, expanded jobspec.Variables, ch Channel) *trace.Log {
	return trace.NewLog(ch, trace.LogConfig{
		MaskValues:    logMaskValues(job, expanded),
		TokenPrefixes: job.Features.TokenMaskPrefixes,
		Limit:         l.cfg.OutputLimit,
	})
}

func redactEntry(kv string) string {
	k, _, _ := strings.Cut(kv, "=")
	return k + "=…"
}
