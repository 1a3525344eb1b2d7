package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kiln-ci/kiln/internal/gpu"
	"github.com/kiln-ci/kiln/internal/gpu/device"
	"github.com/kiln-ci/kiln/internal/gpu/provider"
	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/runner/config"
)

// hostOpener opens the host's GPU driver (gpu.OpenHost; tests pass a fake host).
type hostOpener func(ctx context.Context, log *slog.Logger) (device.Host, error)

// runnerGPUs gives the runners of one config.toml their GPU providers, opening the
// host's GPU driver once, the first time a runner may lease GPUs.
type runnerGPUs struct {
	open hostOpener
	host device.Host
	reg  prometheus.Registerer
	log  *slog.Logger
	// keepers maps each physical GPU (by UUID; a MIG slice counts as its parent) that a
	// runner of this file may lease to that runner and its state directory.
	keepers map[string]keeper
}

// keeper is the runner whose leases of a GPU are recorded in stateDir.
type keeper struct{ runner, stateDir string }

func newRunnerGPUs(open hostOpener, reg prometheus.Registerer, log *slog.Logger) *runnerGPUs {
	if open == nil {
		open = gpu.OpenHost
	}
	return &runnerGPUs{open: open, reg: reg, log: log, keepers: map[string]keeper{}}
}

func (g *runnerGPUs) openHost(ctx context.Context) (device.Host, error) {
	if g.host == nil {
		h, err := g.open(ctx, g.log)
		if err != nil {
			return nil, fmt.Errorf("opening the GPU driver: %w", err)
		}
		g.host = h
	}
	return g.host, nil
}

// close releases the GPU driver after the last job.
func (g *runnerGPUs) close() {
	if g.host != nil {
		if err := g.host.Close(); err != nil {
			g.log.Warn("closing the GPU driver failed", "error", err)
		}
	}
}

// provider returns the GPU provider of runner rc serving machine type mt, or nil when
// the runner has no use for GPUs: its machine type gives none, or it serves no machine
// type and the host has no GPU. A runner whose machine type gives GPUs always gets one,
// also on a host without GPUs (it then takes no job; the start-up log says why). The
// leases of a previous runner process are recovered here, before any job runs, and the
// provider's GPU series join /metrics labelled with the runner's name.
func (g *runnerGPUs) provider(ctx context.Context, rc config.Runner, mt *machine.Type, concurrent int) (*provider.Provider, error) {
	if mt != nil && !mt.HasGPU() {
		return nil, nil
	}
	host, err := g.openHost(ctx)
	if err != nil {
		return nil, err
	}
	if mt == nil {
		inv, err := host.Inventory(ctx)
		if err != nil {
			return nil, fmt.Errorf("discovering GPUs: %w", err)
		}
		if len(inv.GPUs) == 0 {
			return nil, nil
		}
	}
	k := rc.Kiln
	if k == nil {
		k = &config.Kiln{}
	}
	stateDir := k.StateDir
	if stateDir == "" {
		stateDir = gpuStateDir()
	}
	if abs, err := filepath.Abs(stateDir); err == nil {
		stateDir = abs
	}
	log := g.log.With("runner", rc.Name)
	p, err := provider.Open(ctx, host, provider.Config{Executor: rc.Executor, Injection: k.Injection,
		StateDir: stateDir, RunnerID: rc.Name, CDISpecDirs: k.CDISpecDirs, Only: k.Selection(),
		ServicesGetGPUs: k.ServicesGPUs, SampleInterval: k.Interval(), MachineType: mt, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("GPUs (state directory %s): %w", stateDir, err)
	}
	if err := g.claim(rc.Name, stateDir, p.Manager().Inventory()); err != nil {
		return nil, err
	}
	if err := prometheus.WrapRegistererWith(prometheus.Labels{"runner": rc.Name}, g.reg).Register(p.Collector()); err != nil {
		return nil, fmt.Errorf("registering GPU metrics: %w", err)
	}
	if n := p.Capacity(); n > 1 && (concurrent < n || (rc.Limit > 0 && rc.Limit < n)) {
		limit := concurrent
		if rc.Limit > 0 {
			limit = min(limit, rc.Limit)
		}
		log.Warn("the runner's concurrency is below what its GPUs can run: raise concurrent (and limit) to run a job on each",
			"machine_type", mt.Tag, "jobs_at_once", limit, "gpu_jobs_possible", n)
	}
	return p, nil
}

// claim records that runner may lease inv's GPUs with its leases in stateDir. Leases
// are exclusive only among runners sharing a state directory, so two runners of one
// file that may lease the same GPU but record it in different directories are refused:
// they would hand that GPU to two jobs at once.
func (g *runnerGPUs) claim(runner, stateDir string, inv device.Inventory) error {
	for _, u := range inv.GPUs {
		physical := u.UUID
		if u.MIG != nil {
			physical = u.MIG.ParentUUID
		}
		k, ok := g.keepers[physical]
		if !ok {
			g.keepers[physical] = keeper{runner: runner, stateDir: stateDir}
			continue
		}
		if k.stateDir != stateDir {
			return fmt.Errorf("GPU %d (%s) may be leased by runner %q with its leases in %s and by this runner with "+
				"its leases in %s: two jobs could hold it at once; give both runners one [runners.kiln] state_dir, "+
				"or split the GPUs between them with [runners.kiln] gpus", u.Index, physical, k.runner, k.stateDir, stateDir)
		}
	}
	return nil
}
