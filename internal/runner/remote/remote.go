// Package remote is the runner.Channel to a coordinator over GitLab's runner API: the
// job log is kept in a file and PATCHed incrementally (1 MiB chunks, every update
// interval, resent from the coordinator's offset after a 416), a "touch" PUT keeps a
// quiet job alive, Job-Status answers cancel or abort the job, artifacts travel with
// the job's token, and the final PUT carries the trace's CRC-32 and size, repeated
// through two-phase commits (202) and trace resets (412).
//
// It is on the runner side: the coordinator side must not import it.
package remote

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/runner"
	"github.com/kiln-ci/kiln/internal/runner/trace"
)

// Defaults from gitlab-runner's common/consts.go.
const (
	DefaultUpdateInterval    = 3 * time.Second
	MaxUpdateInterval        = 15 * time.Minute
	DefaultForceSendInterval = 30 * time.Second
	ChunkSize                = 1 << 20
	DefaultFinalAttempts     = 10
)

// ErrJobGone means the coordinator no longer has the job for this runner (403, 404, or
// Job-Status canceled/failed): it must not run.
var ErrJobGone = errors.New("the coordinator no longer has this job")

// Config configures a Channel.
type Config struct {
	Client *protocol.Client
	// Info is the runner's info, sent with every job update.
	Info protocol.Info
	// Kiln, when set, replaces Info's Kiln part on every job update with what it
	// returns then (the runner's GPUs as they are now).
	Kiln func() *protocol.KilnInfo
	Job  *jobspec.Job
	// Abort is called once when the coordinator says the job is over (Job-Status
	// canceled or failed, or 403): the caller cancels the job's context with cause.
	Abort func(cause error)
	// TraceDir holds the trace file ("" means the system's temporary directory).
	TraceDir string
	// UpdateInterval is how often new output is sent; 0 means 3 s. The coordinator may
	// change it with X-GitLab-Trace-Update-Interval.
	UpdateInterval time.Duration
	// ForceSendInterval is how long a job may go without any trace sent before a touch
	// PUT; 0 means 30 s.
	ForceSendInterval time.Duration
	// FinalAttempts bounds the final update's tries; 0 means 10.
	FinalAttempts int
	// FinalBackoff is the retry policy between failed final updates; zero fields take
	// the client's defaults (100 ms doubling, capped at 60 s).
	FinalBackoff protocol.RetryPolicy
	// Logger receives the channel's own messages, never job output. Nil discards.
	Logger *slog.Logger
}

// Channel implements runner.Channel against a coordinator.
type Channel struct {
	cfg   Config
	store *trace.Store
	log   *slog.Logger

	canceling  chan struct{}
	cancelOnce sync.Once
	abortOnce  sync.Once
	aborted    atomic.Bool

	mu       sync.Mutex // guards sent, lastSent, interval, and serialises sending
	sent     int64
	lastSent time.Time
	interval time.Duration

	stop chan struct{}
	done chan struct{}

	debugTrace bool // CI_DEBUG_TRACE: patches say debug_trace=true
}

var _ runner.Channel = (*Channel)(nil)

// Start tells the coordinator the job is running (PUT state=running) and starts
// streaming its log. ErrJobGone means the job must be dropped unrun. A Job-Status of
// canceling starts the job already canceled: it fails at once, as in gitlab-runner.
func Start(ctx context.Context, cfg Config) (*Channel, error) {
	if cfg.UpdateInterval <= 0 {
		cfg.UpdateInterval = DefaultUpdateInterval
	}
	if cfg.ForceSendInterval <= 0 {
		cfg.ForceSendInterval = DefaultForceSendInterval
	}
	if cfg.FinalAttempts <= 0 {
		cfg.FinalAttempts = DefaultFinalAttempts
	}
	if cfg.Abort == nil {
		cfg.Abort = func(error) {}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Channel{cfg: cfg, log: log.With("job_id", cfg.Job.ID), canceling: make(chan struct{}),
		interval: cfg.UpdateInterval, lastSent: time.Now(), stop: make(chan struct{}), done: make(chan struct{}),
		debugTrace: cfg.Job.Variables.ExpandValues().Get("CI_DEBUG_TRACE") == "true"}
	res, err := cfg.Client.UpdateJob(ctx, cfg.Job.ID, protocol.UpdateJobRequest{
		Info: c.info(), Token: cfg.Job.Token, State: protocol.StateRunning})
	if errors.Is(err, protocol.ErrForbidden) || errors.Is(err, protocol.ErrNotFound) || res.Aborted() {
		return nil, ErrJobGone
	}
	if err != nil {
		return nil, fmt.Errorf("telling the coordinator job %d is running: %w", cfg.Job.ID, err)
	}
	c.observe(res)
	if c.store, err = trace.NewStore(cfg.TraceDir); err != nil {
		return nil, err
	}
	go c.loop()
	return c, nil
}

// Write appends job log to the trace file; the loop sends it.
func (c *Channel) Write(p []byte) (int, error) { return c.store.Write(p) }

// Canceling is closed when the coordinator answers Job-Status: canceling.
func (c *Channel) Canceling() <-chan struct{} { return c.canceling }

// UploadArtifacts sends one archive with the job's token.
func (c *Channel) UploadArtifacts(ctx context.Context, a protocol.ArtifactUpload) error {
	return c.cfg.Client.UploadArtifacts(ctx, c.cfg.Job.ID, c.cfg.Job.Token, a)
}

// DownloadArtifacts fetches a dependency's archive with that dependency's token;
// ARTIFACT_DOWNLOAD_ATTEMPTS (default 1) tries.
func (c *Channel) DownloadArtifacts(ctx context.Context, dep jobspec.Dependency, dst *os.File) error {
	attempts := 1
	if v := c.cfg.Job.Variables.Get("ARTIFACT_DOWNLOAD_ATTEMPTS"); v != "" {
		fmt.Sscanf(v, "%d", &attempts)
	}
	return c.cfg.Client.DownloadArtifacts(ctx, dep.ID, dep.Token, dst, min(max(attempts, 1), 10))
}

// info is the runner's info as it is now.
func (c *Channel) info() protocol.Info {
	info := c.cfg.Info
	if c.cfg.Kiln != nil {
		info.Kiln = c.cfg.Kiln()
	}
	return info
}

// SentBytes is how much of the trace the coordinator has acknowledged.
func (c *Channel) SentBytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sent
}

// observe acts on a Job-Status answer and a new update interval.
func (c *Channel) observe(res protocol.UpdateResult) {
	if res.Canceling() {
		c.cancelOnce.Do(func() {
			c.log.Info("the coordinator asks to cancel the job")
			close(c.canceling)
		})
	}
	if res.Aborted() {
		c.abort(fmt.Errorf("the coordinator says the job is %s", res.JobStatus))
	}
	if d := res.TraceUpdateInterval; d > 0 {
		c.mu.Lock()
		c.interval = min(d, MaxUpdateInterval)
		c.mu.Unlock()
	}
}

func (c *Channel) abort(cause error) {
	c.abortOnce.Do(func() {
		c.aborted.Store(true)
		c.log.Info("job aborted", "cause", cause)
		c.cfg.Abort(cause)
	})
}

// loop sends new output every interval and touches the job when it has been quiet.
func (c *Channel) loop() {
	defer close(c.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-c.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		c.mu.Lock()
		wait := c.interval
		c.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-c.stop:
			t.Stop()
			return
		case <-t.C:
		}
		if c.aborted.Load() {
			continue
		}
		if err := c.sendPending(ctx, false); err != nil && ctx.Err() == nil {
			c.log.Debug("trace update failed; retrying at the next interval", "error", err)
		}
		c.mu.Lock()
		quiet := time.Since(c.lastSent) >= c.cfg.ForceSendInterval
		c.mu.Unlock()
		if quiet {
			c.touch(ctx)
		}
	}
}

// touch sends a running update with the current trace summary.
func (c *Channel) touch(ctx context.Context) {
	res, err := c.cfg.Client.UpdateJob(ctx, c.cfg.Job.ID, protocol.UpdateJobRequest{
		Info: c.info(), Token: c.cfg.Job.Token, State: protocol.StateRunning,
		Output: protocol.JobTraceOutput{Checksum: c.store.Checksum(), Bytesize: c.store.Size()}})
	if errors.Is(err, protocol.ErrForbidden) || errors.Is(err, protocol.ErrNotFound) {
		c.abort(fmt.Errorf("touching the job: %w", err))
		return
	}
	if err != nil {
		c.log.Debug("touch failed", "error", err)
		return
	}
	c.mu.Lock()
	c.lastSent = time.Now()
	c.mu.Unlock()
	c.observe(res)
}
