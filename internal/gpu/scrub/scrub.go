// Package scrub cleans a GPU after a job: it kills the compute processes the job left
// on it and waits for the GPU's memory use to return to its idle baseline. A GPU that
// does not come clean within a timeout must be quarantined by the caller; a lease is
// released only after its GPUs were scrubbed.
//
// It is on the runner side: the coordinator side must not import it.
package scrub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"syscall"
	"time"

	"github.com/kiln-ci/kiln/internal/gpu/device"
	"github.com/kiln-ci/kiln/internal/machine"
)

// Defaults.
const (
	DefaultTimeout   = 30 * time.Second
	DefaultPoll      = 250 * time.Millisecond
	DefaultTolerance = 64 * machine.MiB
)

// Host is what scrub reads (device.Host implements it).
type Host interface {
	Processes(ctx context.Context, uuid string) ([]device.Process, error)
	Sample(ctx context.Context, uuid string) (device.Sample, error)
}

// Killer ends a process. Kill must not fail for a process that is already gone.
type Killer interface {
	Kill(pid int) error
}

// KillerFunc adapts a function to Killer.
type KillerFunc func(pid int) error

// Kill calls f.
func (f KillerFunc) Kill(pid int) error { return f(pid) }

// SignalKiller sends SIGKILL (the runner runs as root or as the jobs' user).
type SignalKiller struct{}

// Kill sends SIGKILL to pid; a process already gone is not an error.
func (SignalKiller) Kill(pid int) error {
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("killing process %d: %w", pid, err)
	}
	return nil
}

// Config configures a Scrubber.
type Config struct {
	Host   Host
	Killer Killer // default SignalKiller
	// Timeout is how long memory may take to return to its baseline (default 30 s);
	// Poll how often it is read (default 250 ms).
	Timeout, Poll time.Duration
	// Tolerance is how far above the baseline memory use still counts as idle
	// (default 64 MiB).
	Tolerance uint64
	Logger    *slog.Logger
}

// Scrubber scrubs GPUs. It is safe for concurrent use on different GPUs.
type Scrubber struct{ cfg Config }

// New returns a Scrubber.
func New(cfg Config) *Scrubber {
	if cfg.Killer == nil {
		cfg.Killer = SignalKiller{}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.Tolerance == 0 {
		cfg.Tolerance = DefaultTolerance
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Scrubber{cfg: cfg}
}

// Result is what a scrub did.
type Result struct {
	UUID string `json:"uuid"`
	// Killed are the leftover processes that were killed.
	Killed []int `json:"killed,omitempty"`
	// MemoryUsedBytes is the memory in use when the scrub ended; BaselineBytes the
	// idle use it had to return to.
	MemoryUsedBytes uint64 `json:"memory_used_bytes"`
	BaselineBytes   uint64 `json:"baseline_bytes"`
}

// Failure is a GPU that did not come clean: the caller quarantines it.
type Failure struct {
	UUID   string
	Reason string
}

func (f *Failure) Error() string { return fmt.Sprintf("scrubbing GPU %s: %s", f.UUID, f.Reason) }

// Scrub kills every compute process on uuid and waits until none is left and memory
// use is within Tolerance of baseline. A listed process that is init, this runner or
// its parent (a PID namespace mismatch) is never killed: the scrub fails instead. It returns a *Failure when that does not
// happen within Timeout or the GPU cannot be read (fail closed), and ctx's error when
// ctx ends first.
func (s *Scrubber) Scrub(ctx context.Context, uuid string, baseline uint64) (Result, error) {
	res := Result{UUID: uuid, BaselineBytes: baseline}
	deadline := time.NewTimer(s.cfg.Timeout)
	defer deadline.Stop()
	tick := time.NewTicker(s.cfg.Poll)
	defer tick.Stop()
	for {
		procs, err := s.cfg.Host.Processes(ctx, uuid)
		if err != nil {
			return res, s.fail(ctx, uuid, "listing its processes failed: "+err.Error())
		}
		var pids []int
		for _, p := range procs {
			pids = append(pids, p.PID)
			if slices.Contains(res.Killed, p.PID) {
				continue
			}
			if protected(p.PID) {
				return res, s.fail(ctx, uuid, fmt.Sprintf("NVML lists process %d on it, which here is init or this runner: "+
					"not killed (is the runner in another PID namespace than its jobs' GPU processes?)", p.PID))
			}
			s.cfg.Logger.Warn("killing a process a job left on its GPU", "uuid", uuid, "pid", p.PID, "memory_bytes", p.UsedMemoryBytes)
			if err := s.cfg.Killer.Kill(p.PID); err != nil {
				return res, s.fail(ctx, uuid, fmt.Sprintf("killing leftover process %d failed: %v", p.PID, err))
			}
			res.Killed = append(res.Killed, p.PID)
		}
		sample, err := s.cfg.Host.Sample(ctx, uuid)
		if err != nil {
			return res, s.fail(ctx, uuid, "reading its memory use failed: "+err.Error())
		}
		res.MemoryUsedBytes = sample.MemoryUsedBytes
		if len(procs) == 0 && sample.MemoryUsedBytes <= baseline+s.cfg.Tolerance {
			return res, nil
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-deadline.C:
			reason := fmt.Sprintf("memory use %s did not return to its idle %s within %s",
				machine.FormatBytes(sample.MemoryUsedBytes), machine.FormatBytes(baseline), s.cfg.Timeout)
			if len(pids) > 0 {
				reason += fmt.Sprintf("; processes %v are still running", pids)
			}
			return res, &Failure{UUID: uuid, Reason: reason}
		case <-tick.C:
		}
	}
}

// protected reports whether pid is one scrub must never kill: init, this process or its
// parent. NVML names processes in the host's PID namespace; in another one (a
// container) the same numbers may name these.
func protected(pid int) bool { return pid <= 1 || pid == os.Getpid() || pid == os.Getppid() }

func (s *Scrubber) fail(ctx context.Context, uuid, reason string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return &Failure{UUID: uuid, Reason: reason}
}
