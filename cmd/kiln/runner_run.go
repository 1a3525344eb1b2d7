package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/kiln-ci/kiln/internal/executor"
	"github.com/kiln-ci/kiln/internal/executor/docker"
	"github.com/kiln-ci/kiln/internal/executor/shell"
	"github.com/kiln-ci/kiln/internal/gpu"
	"github.com/kiln-ci/kiln/internal/runner"
	"github.com/kiln-ci/kiln/internal/runner/agent"
	"github.com/kiln-ci/kiln/internal/runner/config"
	"github.com/kiln-ci/kiln/internal/runner/sources"
	"github.com/kiln-ci/kiln/internal/version"
)

func newRunnerRunCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "run",
		Short: "Ask the coordinator for jobs and run them until stopped",
		Long: `Run every runner of config.toml: ask the coordinator for jobs, run them with the
configured executor, stream their logs, upload artifacts, report results.

A runner whose machine type gives GPUs leases each job its own GPUs of this host
([runners.kiln]: gpus, state_dir, injection, cdi_spec_dirs, telemetry_interval,
services_gpus): at start it scrubs and releases the leases of jobs a previous run
left behind, it asks for a job only while a GPU of its machine type is free (so an
8-GPU host serving a 1-GPU machine type runs 8 jobs at once when concurrent allows),
and it reports its GPUs with their health and leases on every request.

SIGQUIT stops gracefully: no new jobs, running ones finish (within shutdown_timeout
if set). SIGINT and SIGTERM stop at once: running jobs are stopped and reported as
runner system failures. With listen_address set, Prometheus metrics are served at
/metrics, GPU series (kiln_gpu_*) included.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, _ := cmd.Flags().GetString("config")
			return runRunner(cmd.Context(), path)
		},
	}
}

func runRunner(ctx context.Context, path string) error { return runRunnerWith(ctx, path, gpu.OpenHost) }

// runRunnerWith runs the runners of the config file at path, reading GPUs through
// openHost.
func runRunnerWith(ctx context.Context, path string, openHost hostOpener) error {
	file, err := config.Load(path)
	if err != nil {
		return err
	}
	systemID, err := config.SystemID(path)
	if err != nil {
		return err
	}
	log := newLogger(file.LogLevel, file.LogFormat)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics, err := agent.NewMetrics(reg)
	if err != nil {
		return err
	}
	cfg := agent.Config{Concurrent: file.Concurrent, CheckInterval: time.Duration(file.CheckInterval) * time.Second,
		Metrics: metrics, Logger: log}
	gpus := newRunnerGPUs(openHost, reg, log)
	defer gpus.close()
	var reapers []func(context.Context) error
	for _, rc := range file.Runners {
		w, reap, closeFn, err := buildWorker(ctx, file, rc, systemID, metrics, gpus, log)
		if err != nil {
			return fmt.Errorf("runner %s: %w", rc.Name, err)
		}
		defer closeFn()
		cfg.Workers = append(cfg.Workers, w)
		if reap != nil {
			reapers = append(reapers, reap)
		}
	}
	cfg.Reap = func(ctx context.Context) error {
		var errs error
		for _, r := range reapers {
			errs = errors.Join(errs, r(ctx))
		}
		return errs
	}
	a, err := agent.New(cfg)
	if err != nil {
		return err
	}
	if file.ListenAddress != "" {
		stopMetrics, err := serveMetrics(file.ListenAddress, reg, log)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}
	quit := make(chan os.Signal, 1)
	signal.Notify(quit, syscall.SIGQUIT)
	defer signal.Stop(quit)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-quit:
			a.Stop()
			if file.ShutdownTimeout > 0 {
				select {
				case <-time.After(time.Duration(file.ShutdownTimeout) * time.Second):
					log.Warn("shutdown_timeout passed; stopping the remaining jobs")
					cancel()
				case <-runCtx.Done():
				}
			}
		case <-runCtx.Done():
		}
	}()
	return a.Run(runCtx)
}

// buildWorker turns one [[runners]] entry into a worker: client, executor, GPUs,
// lifecycle.
func buildWorker(ctx context.Context, file *config.File, rc config.Runner, systemID string, m *agent.Metrics,
	gpus *runnerGPUs, log *slog.Logger) (agent.Worker, func(context.Context) error, func(), error) {
	client, err := newClient(rc.URL, m)
	if err != nil {
		return agent.Worker{}, nil, nil, err
	}
	mt, _ := file.MachineType(rc)
	devices, err := gpus.provider(ctx, rc, mt, file.Concurrent)
	if err != nil {
		return agent.Worker{}, nil, nil, err
	}
	ex, reap, closeFn, err := buildExecutor(rc, systemID, log)
	if err != nil {
		return agent.Worker{}, nil, nil, err
	}
	outputLimit := int64(rc.OutputLimit) * 1024
	lcfg := runner.Config{Name: rc.Name, Token: rc.Token, SystemID: systemID, Executor: ex,
		BuildsDir: rc.BuildsDir, CacheDir: rc.CacheDir, Environment: rc.Environment, OutputLimit: outputLimit,
		MachineType: mt, Sources: sources.Git{CloneURL: rc.CloneURL, UserAgent: "kiln-runner " + version.Version},
		Logger: log} // the lifecycle names the runner in its records
	if rc.Executor == shell.Name {
		lcfg.BaseEnvironment = hostEnvironment()
	}
	if devices != nil {
		lcfg.Devices = devices
	}
	lc, err := runner.NewLifecycle(lcfg)
	if err != nil {
		closeFn()
		return agent.Worker{}, nil, nil, err
	}
	machineTag := ""
	if mt != nil {
		machineTag = mt.Tag
	}
	w := agent.Worker{Name: rc.Name, Token: rc.Token, SystemID: systemID, Client: client,
		Info: agent.Info(rc.Executor, rc.Shell, machineTag), Lifecycle: lc, Limit: rc.Limit,
		TraceDir: filepath.Join(filepath.Dir(file.Path), "traces")}
	if devices != nil {
		w.Kiln, w.Admit = devices.KilnInfo, devices.Admit
	}
	if err := os.MkdirAll(w.TraceDir, 0o700); err != nil {
		closeFn()
		return agent.Worker{}, nil, nil, fmt.Errorf("creating the trace directory: %w", err)
	}
	return w, reap, closeFn, nil
}

func buildExecutor(rc config.Runner, systemID string, log *slog.Logger) (executor.Executor, func(context.Context) error, func(), error) {
	switch rc.Executor {
	case shell.Name:
		return shell.New(shell.Config{Shell: rc.Shell, AllowUnenforcedLimits: true, Logger: log}), nil, func() {}, nil
	case docker.Name:
		d := rc.Docker
		if d == nil {
			d = &config.Docker{}
		}
		ex, err := docker.New(docker.Config{Host: d.Host, Image: d.Image, PullPolicy: d.PullPolicy,
			AllowedPullPolicies: d.AllowedPullPolicies, AllowedImages: d.AllowedImages, AllowedServices: d.AllowedServices,
			Privileged: d.Privileged, Volumes: d.Volumes, AllowDockerSocket: d.AllowDockerSocket, ShmSize: uint64(max(d.ShmSize, 0)),
			NetworkMode: d.NetworkMode, WaitForServicesTimeout: time.Duration(d.WaitForServicesTimeout) * time.Second,
			CapAdd: d.CapAdd, CapDrop: d.CapDrop, SecurityOpt: d.SecurityOpt, DNS: d.DNS, ExtraHosts: d.ExtraHosts,
			Runtime: d.Runtime, Logger: log})
		if err != nil {
			return nil, nil, nil, err
		}
		reap := func(ctx context.Context) error { _, err := ex.Reap(ctx, systemID); return err }
		return ex, reap, func() { ex.Close() }, nil
	}
	return nil, nil, nil, fmt.Errorf("executor %q is not shell or docker", rc.Executor)
}

// hostEnvironment is what shell-executor scripts start from: the host's search path
// and locale, nothing that could be a secret.
func hostEnvironment() []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LC_ALL", "TMPDIR", "TZ"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

func newLogger(level, format string) *slog.Logger {
	var lv slog.Level
	switch level {
	case "debug":
		lv = slog.LevelDebug
	case "warn", "warning":
		lv = slog.LevelWarn
	case "error":
		lv = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

func serveMetrics(addr string, reg *prometheus.Registry, log *slog.Logger) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen_address %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "error", err)
		}
	}()
	log.Info("serving metrics", "address", ln.Addr().String())
	return func() { srv.Close() }, nil
}
