// Package gpu is the runner's GPU manager: it discovers the host's GPUs (NVML loaded at
// run time, nvidia-smi as a fallback, zero GPUs when neither exists), leases them to
// jobs exclusively and durably, injects them into the job's environment, checks the
// image's CUDA requirement and each GPU's health before the job, samples telemetry
// while it runs, and scrubs the GPUs before releasing them.
//
// After New, the runner calls Recover once, to scrub and release the leases of jobs
// that died with a previous runner process. Around each job it calls, in order:
//
//	l, err := m.Acquire(ctx, job, request) // fit, health, exclusive lease
//	env.InjectDevices(l.Devices())         // before the environment is prepared
//	err = l.Check(ctx, imageEnv)           // health gate + CUDA pre-flight; starts telemetry
//	… run the job …
//	res, err := l.Finish(ctx)              // stop telemetry, scrub, release
//
// Finish must be called after a successful Acquire whatever happened; it is
// idempotent. Outcome maps this package's errors to the job's failure reason.
//
// Subpackages: device (the vocabulary), nvmlhost and smi (the drivers), lease,
// inject, cuda, health, scrub, telemetry; nvmltest builds fake hosts for tests.
//
// It is on the runner side: the coordinator side must not import it.
package gpu

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kiln-ci/kiln/internal/gpu/device"
	"github.com/kiln-ci/kiln/internal/gpu/health"
	"github.com/kiln-ci/kiln/internal/gpu/inject"
	"github.com/kiln-ci/kiln/internal/gpu/lease"
	"github.com/kiln-ci/kiln/internal/gpu/nvmlhost"
	"github.com/kiln-ci/kiln/internal/gpu/scrub"
	"github.com/kiln-ci/kiln/internal/gpu/smi"
	"github.com/kiln-ci/kiln/internal/gpu/telemetry"
)

// Config configures a Manager.
type Config struct {
	// StateDir holds leases, quarantine records and the generated CDI spec (required).
	StateDir string
	// RunnerID names this runner in lease records.
	RunnerID string
	// Injection is how GPUs reach a job (default inject.ModeCDI; the shell executor
	// uses inject.ModeEnv).
	Injection inject.Mode
	// CDISpecDirs are the operator's CDI spec directories (default /etc/cdi,
	// /var/run/cdi); DriverRoot is where the driver's files are (default "/").
	CDISpecDirs []string
	DriverRoot  string
	// ServicesGetGPUs also gives a job's GPUs to its services (off by default).
	ServicesGetGPUs bool
	// Only, when not nil, limits the units this manager may lease to those it names:
	// a GPU index (the GPU, or all its MIG slices), a GPU UUID (likewise) or a MIG
	// UUID. An empty, non-nil list leases nothing ([runners.kiln] gpus = "none"). An
	// entry that names no unit of this host is logged and ignored, so that a GPU that
	// fell off the bus does not stop the runner from using the others.
	Only []string
	// SampleInterval is the telemetry period (default 1 s).
	SampleInterval time.Duration
	// ScrubTimeout is how long a GPU's memory may take to return to idle after a job
	// (default 30 s); Killer ends leftover processes (default SIGKILL).
	ScrubTimeout time.Duration
	Killer       scrub.Killer
	Logger       *slog.Logger
}

// Manager owns a host's GPUs for one runner process. It is safe for concurrent use.
type Manager struct {
	cfg       Config
	host      device.Host
	inv       device.Inventory
	store     *lease.Store
	gate      *health.Gate
	scrubber  *scrub.Scrubber
	injector  *inject.Injector
	collector *telemetry.Collector
	self      lease.Owner
	log       *slog.Logger
}

// OpenHost returns the host's GPU driver: NVML when libnvidia-ml loads, else
// nvidia-smi when it is on PATH and answers, else device.Null (zero GPUs). An NVML
// library that loads but fails is an error, not zero GPUs.
func OpenHost(ctx context.Context, logger *slog.Logger) (device.Host, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h, err := nvmlhost.Open(nvml.New(), logger)
	if err == nil {
		return h, nil
	}
	if !errors.Is(err, nvmlhost.ErrNoLibrary) {
		return nil, err
	}
	if path, err := exec.LookPath("nvidia-smi"); err == nil {
		s := smi.New(smi.Exec(path))
		if _, err := s.Inventory(ctx); err == nil {
			logger.Warn("NVML could not be loaded; reading GPUs through nvidia-smi (no Xid events)", "path", path)
			return s, nil
		} else {
			logger.Warn("nvidia-smi is present but fails; this host has no usable GPUs", "error", err)
		}
	}
	return device.Null{}, nil
}

// New returns a manager of host's GPUs. It reads the inventory, opens the state
// directory and prepares injection (loading or generating CDI specs).
func New(ctx context.Context, host device.Host, cfg Config) (*Manager, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Injection == "" {
		cfg.Injection = inject.ModeCDI
	}
	inv, err := host.Inventory(ctx)
	if err != nil {
		return nil, fmt.Errorf("discovering GPUs: %w", err)
	}
	if err := inv.Validate(); err != nil {
		return nil, fmt.Errorf("discovering GPUs: %w", err)
	}
	if cfg.Only != nil {
		inv = selectUnits(inv, cfg.Only, cfg.Logger)
	}
	store, err := lease.Open(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	injector, err := inject.New(inject.Config{Mode: cfg.Injection, SpecDirs: cfg.CDISpecDirs,
		GeneratedDir: filepath.Join(cfg.StateDir, "cdi"), Root: cfg.DriverRoot, Logger: cfg.Logger}, inv)
	if err != nil {
		return nil, fmt.Errorf("preparing GPU injection: %w", err)
	}
	m := &Manager{
		cfg:       cfg,
		host:      host,
		inv:       inv,
		store:     store,
		gate:      health.New(host, cfg.Logger),
		scrubber:  scrub.New(scrub.Config{Host: host, Killer: cfg.Killer, Timeout: cfg.ScrubTimeout, Logger: cfg.Logger}),
		injector:  injector,
		collector: telemetry.NewCollector(),
		self:      lease.Self(cfg.RunnerID),
		log:       cfg.Logger,
	}
	m.log.Info("GPUs discovered", "source", inv.Source, "count", len(inv.GPUs), "driver", inv.DriverVersion, "cuda", inv.CUDAVersion)
	return m, nil
}

// selectUnits keeps the units of inv that only names (see Config.Only).
func selectUnits(inv device.Inventory, only []string, log *slog.Logger) device.Inventory {
	named := func(g device.GPU, entry string) bool {
		e := strings.TrimSpace(entry)
		switch {
		case e == g.UUID, g.MIG != nil && e == g.MIG.ParentUUID:
			return true
		}
		i, err := strconv.Atoi(e)
		return err == nil && i == g.Index
	}
	kept := inv
	kept.GPUs = []device.GPU{}
	for _, g := range inv.GPUs {
		if slices.ContainsFunc(only, func(e string) bool { return named(g, e) }) {
			kept.GPUs = append(kept.GPUs, g)
		}
	}
	for _, e := range only {
		if !slices.ContainsFunc(inv.GPUs, func(g device.GPU) bool { return named(g, e) }) {
			log.Warn("the runner is configured to use a GPU this host does not have; ignoring it", "gpu", e)
		}
	}
	return kept
}

// Inventory returns the host's allocatable units as discovered at New.
func (m *Manager) Inventory() device.Inventory { return m.inv }

// Collector returns the Prometheus collector of running jobs' GPU series, for the
// runner to register.
func (m *Manager) Collector() prometheus.Collector { return m.collector }

// Close releases the GPU driver. Leases stay recorded.
func (m *Manager) Close() error { return m.host.Close() }

// ReleaseQuarantine returns a quarantined GPU to use.
func (m *Manager) ReleaseQuarantine(uuid string) error { return m.store.Unquarantine(uuid) }

// Recover deals with the leases recorded by runner processes that are gone (after a
// crash or restart): a lease whose job keep reports as still running is adopted by
// this process; any other is scrubbed and released (a GPU that does not come clean is
// quarantined). Leases of live runner processes sharing the state directory are left
// alone. It returns the ids of the leases released.
func (m *Manager) Recover(ctx context.Context, keep func(jobID int64) bool) ([]string, error) {
	st, err := m.store.Read()
	if err != nil {
		return nil, err
	}
	var released []string
	for _, l := range st.Leases {
		if l.Owner.Same(m.self) || l.Owner.Alive() {
			continue
		}
		if keep != nil && keep(l.Job.ID) {
			if err := m.store.Adopt(l.ID, m.self); err != nil {
				return released, err
			}
			m.log.Info("adopted the GPU lease of a running job", "lease", l.ID, "job", l.Job.ID, "gpus", l.UUIDs)
			continue
		}
		m.log.Info("releasing the GPU lease of a job that is gone", "lease", l.ID, "job", l.Job.ID, "gpus", l.UUIDs)
		if _, _, err := m.scrubAndRelease(ctx, l); err != nil {
			return released, err
		}
		released = append(released, l.ID)
	}
	return released, nil
}

// scrubAndRelease scrubs each of l's GPUs, quarantines those that do not come clean
// (returned in quarantined), and then releases l.
func (m *Manager) scrubAndRelease(ctx context.Context, l lease.Lease) (results []scrub.Result, quarantined []string, err error) {
	for _, uuid := range l.UUIDs {
		res, err := m.scrubber.Scrub(ctx, uuid, l.IdleMemoryBytes[uuid])
		results = append(results, res)
		var f *scrub.Failure
		switch {
		case errors.As(err, &f):
			m.log.Error("GPU did not come clean after a job; quarantining it", "uuid", uuid, "job", l.Job.ID, "reason", f.Reason)
			if err := m.store.Quarantine(lease.Quarantine{UUID: uuid, Reason: "scrub failed: " + f.Reason, JobID: l.Job.ID}); err != nil {
				return results, quarantined, err
			}
			quarantined = append(quarantined, uuid)
		case err != nil:
			return results, quarantined, fmt.Errorf("scrubbing GPU %s after job %d: %w", uuid, l.Job.ID, err)
		case len(res.Killed) > 0:
			m.log.Warn("killed processes a job left on its GPU", "uuid", uuid, "job", l.Job.ID, "pids", res.Killed)
		}
	}
	if err := m.store.Release(l.ID); err != nil {
		return results, quarantined, fmt.Errorf("releasing GPU lease %s: %w", l.ID, err)
	}
	return results, quarantined, nil
}
