// Package provider makes the GPU manager (internal/gpu) the runner's
// runner.DeviceProvider, for `kiln runner run` and `kiln exec` alike: it opens a
// manager whose injection suits the executor (environment variables for the shell
// executor, CDI edits applied by the runner for Docker unless the NVIDIA runtime is
// configured), recovers the leases of a previous runner process, maps the manager's
// errors to the runner's outcomes (a GPU fault sends the job back to the queue, a
// CUDA mismatch fails it at once, no GPU of the machine type here fails it fast),
// turns a finished lease into the job log's footer, the job's GPU report and the
// gpu-telemetry.json report, admits jobs only while a GPU of the machine type is free,
// and says what the runner reports to the coordinator (protocol.KilnInfo).
//
// It is on the runner side: the coordinator side must not import it.
package provider

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kiln-ci/kiln/internal/gpu"
	"github.com/kiln-ci/kiln/internal/gpu/device"
	"github.com/kiln-ci/kiln/internal/gpu/inject"
	"github.com/kiln-ci/kiln/internal/gpu/scrub"
	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/runner"
)

// Executors whose injection Mode knows.
const (
	ExecutorShell  = "shell"
	ExecutorDocker = "docker"
)

// Config configures a Provider.
type Config struct {
	// Executor names the executor the jobs run on (ExecutorShell, ExecutorDocker): it
	// decides how GPUs reach a job (see Mode).
	Executor string
	// Injection is the operator's choice for container executors: "" or "cdi" (CDI
	// edits applied by the runner itself), or "nvidia-runtime" (the runtime's device
	// requests). It must be empty for the shell executor.
	Injection string
	// StateDir keeps leases and quarantine records across restarts (required);
	// RunnerID names this runner in them.
	StateDir string
	RunnerID string
	// CDISpecDirs are the operator's CDI spec directories (default /etc/cdi and
	// /var/run/cdi); without a spec for the GPUs one is generated in StateDir.
	CDISpecDirs []string
	// Only limits the GPUs the runner may lease (gpu.Config.Only); nil means all.
	Only []string
	// ServicesGetGPUs also gives a job's GPUs to its services.
	ServicesGetGPUs bool
	// SampleInterval is the telemetry period (default 1 s); ScrubTimeout how long a
	// GPU's memory may take to return to idle after a job (default 30 s); Killer ends
	// leftover processes (default SIGKILL).
	SampleInterval time.Duration
	ScrubTimeout   time.Duration
	Killer         scrub.Killer
	// MachineType is the machine type the runner serves (nil for a self-managed
	// runner): Admit holds its GPUs for each job, KilnInfo names it.
	MachineType *machine.Type
	Logger      *slog.Logger
}

// Mode returns how GPUs reach a job of the executor, given the operator's injection
// setting: the shell executor only narrows the host's devices with
// CUDA_VISIBLE_DEVICES and NVIDIA_VISIBLE_DEVICES (inject.ModeEnv); a container gets
// CDI edits (inject.ModeCDI) unless "nvidia-runtime" is configured.
func Mode(executorName, injection string) (inject.Mode, error) {
	if executorName == ExecutorShell {
		if injection != "" && injection != string(inject.ModeEnv) {
			return "", fmt.Errorf("GPU injection %q does not apply to the shell executor: its jobs are host processes, "+
				"which only CUDA_VISIBLE_DEVICES and NVIDIA_VISIBLE_DEVICES narrow to their GPUs; remove the setting", injection)
		}
		return inject.ModeEnv, nil
	}
	switch inject.Mode(injection) {
	case "", inject.ModeCDI:
		return inject.ModeCDI, nil
	case inject.ModeNvidiaRuntime:
		return inject.ModeNvidiaRuntime, nil
	case inject.ModeEnv:
		return "", fmt.Errorf("GPU injection %q cannot give a %s container its GPUs (it has no device nodes); use cdi or nvidia-runtime", injection, executorName)
	}
	return "", fmt.Errorf("GPU injection %q is not cdi or nvidia-runtime", injection)
}

// Provider leases the host's GPUs to jobs. It is safe for concurrent use.
type Provider struct {
	m   *gpu.Manager
	mt  *machine.Type
	req machine.GPURequest // what a job of the machine type asks by default
	log *slog.Logger

	mu       sync.Mutex
	admitted int             // places held by Admit
	own      map[string]bool // ids of the leases this provider holds
}

var _ runner.DeviceProvider = (*Provider)(nil)

// Open returns a provider of host's GPUs: it opens a manager with cfg, then recovers
// the leases recorded by runner processes that are gone (their GPUs are scrubbed and
// released, or quarantined when they do not come clean). host stays the caller's to
// close, after the provider's last use.
func Open(ctx context.Context, host device.Host, cfg Config) (*Provider, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	mode, err := Mode(cfg.Executor, cfg.Injection)
	if err != nil {
		return nil, err
	}
	m, err := gpu.New(ctx, host, gpu.Config{StateDir: cfg.StateDir, RunnerID: cfg.RunnerID, Injection: mode,
		CDISpecDirs: cfg.CDISpecDirs, Only: cfg.Only, ServicesGetGPUs: cfg.ServicesGetGPUs,
		SampleInterval: cfg.SampleInterval, ScrubTimeout: cfg.ScrubTimeout, Killer: cfg.Killer, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	released, err := m.Recover(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("recovering the GPU leases of a previous runner: %w", err)
	}
	if len(released) > 0 {
		cfg.Logger.Info("released the GPU leases of jobs that are gone", "leases", released)
	}
	p := &Provider{m: m, mt: cfg.MachineType, log: cfg.Logger, own: map[string]bool{}}
	if mt := cfg.MachineType; mt != nil && mt.HasGPU() {
		if p.req, err = mt.Resolve(machine.GPURequest{}); err != nil {
			return nil, fmt.Errorf("machine type %s: %w", mt.Tag, err)
		}
		if n, err := m.Placeable(p.req, nil); err == nil && n == 0 {
			cfg.Logger.Error("no GPU of this host fits the machine type, or all are leased or quarantined; the runner takes no job until one is free",
				"machine_type", mt.Tag, "gpus_per_job", p.req.Wanted(), "host_gpus", len(m.Inventory().GPUs))
		}
	}
	return p, nil
}

// Manager returns the GPU manager behind the provider.
func (p *Provider) Manager() *gpu.Manager { return p.m }

// Collector returns the Prometheus collector of running jobs' GPU series
// (kiln_gpu_*), for the runner's /metrics.
func (p *Provider) Collector() prometheus.Collector { return p.m.Collector() }

// Admit holds a place for one more job of the machine type when the host can place
// it now: the GPUs that fit, are healthy and are free or held by this provider's
// jobs, less the places already held, must cover one more job. The agent calls it
// before asking the coordinator for a job (agent.Worker.Admit) and calls release once,
// when no job came or when the job has ended. Without a GPU machine type every job is
// admitted. An unreadable state directory admits nothing (it fails closed).
func (p *Provider) Admit() (release func(), ok bool) {
	if p.req.Wanted() == 0 {
		return func() {}, true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	n, err := p.m.Placeable(p.req, func(id string) bool { return p.own[id] })
	if err != nil {
		p.log.Error("reading the GPU leases failed; taking no job", "error", err)
		return nil, false
	}
	if n <= p.admitted {
		return nil, false
	}
	p.admitted++
	var once sync.Once
	return func() {
		once.Do(func() {
			p.mu.Lock()
			p.admitted--
			p.mu.Unlock()
		})
	}, true
}

// Capacity returns how many jobs of the machine type the host could run at once now:
// the GPUs that fit, are healthy, and are free or held by this provider's jobs, per
// job. It is 0 without a GPU machine type or when the state cannot be read.
func (p *Provider) Capacity() int {
	if p.req.Wanted() == 0 {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	n, err := p.m.Placeable(p.req, func(id string) bool { return p.own[id] })
	if err != nil {
		return 0
	}
	return n
}

// KilnInfo is what the runner tells the coordinator with every job request and job
// update: its machine type, every GPU with its health and lease, and how many are
// free. When the state cannot be read it reports no free GPU (fails closed).
func (p *Provider) KilnInfo() *protocol.KilnInfo {
	info := &protocol.KilnInfo{}
	if p.mt != nil {
		info.MachineType = p.mt.Tag
	}
	gpus, free, err := p.m.Advertise()
	if err != nil {
		p.log.Error("reading the GPU leases failed; reporting no free GPU", "error", err)
		return info
	}
	info.GPUs, info.FreeGPUs = gpus, free
	return info
}

// Acquire leases GPUs satisfying req to job (see gpu.Manager.Acquire). Its errors
// carry the runner's failure reason and requeue flag (see Check).
func (p *Provider) Acquire(ctx context.Context, job *jobspec.Job, req machine.GPURequest) (runner.DeviceLease, error) {
	project := job.JobInfo.ProjectFullPath
	if project == "" {
		project = job.Variables.Get("CI_PROJECT_PATH")
	}
	if project == "" {
		project = job.JobInfo.ProjectName
	}
	l, err := p.m.Acquire(ctx, gpu.Job{ID: job.ID, Name: job.JobInfo.Name, Project: project}, req)
	if err != nil {
		return nil, outcome(err)
	}
	if id := l.ID(); id != "" {
		p.mu.Lock()
		p.own[id] = true
		p.mu.Unlock()
	}
	return &jobLease{p: p, l: l}, nil
}

// forget drops a finished lease from the provider's own.
func (p *Provider) forget(id string) {
	p.mu.Lock()
	delete(p.own, id)
	p.mu.Unlock()
}

// Error is a GPU error with what the runner needs to end the job: its failure reason
// (protocol.Failure*) and whether the job goes back to the queue, uncharged.
type Error struct {
	err     error
	reason  string
	requeue bool
}

func (e *Error) Error() string { return e.err.Error() }

// Unwrap returns the manager's error (a *gpu.FaultError, *gpu.UnavailableError,
// *cuda.MismatchError, or another).
func (e *Error) Unwrap() error { return e.err }

// FailureReason is the job's failure_reason.
func (e *Error) FailureReason() string { return e.reason }

// Requeue reports whether the job goes back to the queue instead of failing.
func (e *Error) Requeue() bool { return e.requeue }

// outcome maps a manager error: a GPU fault requeues; GPUs that fit but are all
// taken now requeue; no GPU of the machine type on this host fails; a CUDA mismatch
// fails; anything else (the state directory cannot be written, …) is a runner system
// failure.
func outcome(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if reason, requeue, ok := gpu.Outcome(err); ok {
		return &Error{err: err, reason: reason, requeue: requeue}
	}
	return &Error{err: fmt.Errorf("the runner could not manage the job's GPUs: %w", err), reason: protocol.FailureRunnerSystem}
}
