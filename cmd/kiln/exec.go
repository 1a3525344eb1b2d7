package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/kiln-ci/kiln/internal/ci"
	"github.com/kiln-ci/kiln/internal/executor"
	"github.com/kiln-ci/kiln/internal/executor/docker"
	"github.com/kiln-ci/kiln/internal/executor/shell"
	"github.com/kiln-ci/kiln/internal/gpu"
	"github.com/kiln-ci/kiln/internal/gpu/provider"
	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/localrun"
	"github.com/kiln-ci/kiln/internal/runner"
)

// Exit statuses of kiln exec.
const (
	exitPipelineFailed = 1
	exitUsage          = 2
	exitCanceled       = 130
)

type execFlags struct {
	file, executor, machineType, report, cwd, stateDir, defaultImage string
	variables, manual                                                []string
	needs                                                            bool
	concurrency                                                      int
}

func newExecCmd() *cobra.Command {
	var f execFlags
	cmd := &cobra.Command{
		Use:   "exec [flags] [JOB...]",
		Short: "Run a repository's pipeline locally, through the runner's own code",
		Long: `Run the pipeline of the git working tree in --cwd (default: here) on this machine, as
GitLab would run it for a push of HEAD: the predefined variables come from the
repository (branch, commit, project path from the origin remote or the directory),
--variable adds pipeline variables, the highest precedence. Jobs run through the
runner's own job lifecycle with the shell or Docker executor, each in a clean copy
of the working tree (tracked and untracked-but-not-ignored files).

Stages and the needs DAG are respected and independent jobs run at once
(--concurrency); artifacts, caches and dotenv reports pass between jobs as on
GitLab; when, allow_failure, retry and start_in apply; manual jobs are skipped
unless named with --manual (a blocking one holds the pipeline back, as on GitLab).
With JOB names, only those jobs run (all instances of a parallel job), and with
--needs also what they need, transitively; a named manual job runs.

The machine type (--machine-type, else the job's tags, else the type of untagged
jobs) gives the executor its limits and the job its GPUs; a job whose machine type
needs GPUs fails at once on a host without one. Builds, caches and artifacts are
kept in --state-dir (default: under the user's cache directory).

Ctrl-C cancels the running jobs (their after_script runs) and prints the summary;
a second Ctrl-C stops them at once.

Exit status: 0 when the pipeline passed (or was filtered out, or waits for a manual
job), 1 when it failed, 130 when it was canceled, 2 for a usage or configuration
error.`,
		Example: `  kiln exec
  kiln exec --needs deploy
  kiln exec --variable DEPLOY_ENV=staging --manual release
  kiln exec --executor docker --report report.json
  kiln exec --cwd examples/gpu-seed --executor docker`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runExec(cmd, f, args)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.file, "file", "f", ci.DefaultFile, "configuration file, relative to --cwd")
	fl.StringArrayVar(&f.variables, "variable", nil, "a pipeline variable KEY=VALUE (repeatable; the value may hold commas, = and new lines)")
	fl.BoolVar(&f.needs, "needs", false, "also run what the named jobs need, transitively")
	fl.StringArrayVar(&f.manual, "manual", nil, "play this manual job (repeatable)")
	fl.StringVar(&f.executor, "executor", shell.Name, "executor: shell or docker")
	fl.StringVar(&f.machineType, "machine-type", "", "give every job this machine type (a tag of the catalog)")
	fl.IntVar(&f.concurrency, "concurrency", 0, "how many jobs run at once (default: the number of CPUs)")
	fl.StringVar(&f.report, "report", "", "write a JSON report of the pipeline to this file")
	fl.StringVar(&f.cwd, "cwd", ".", "the directory holding the configuration, in a git working tree")
	fl.StringVar(&f.stateDir, "state-dir", "", "where builds, caches and artifacts are kept (default: under the user's cache directory)")
	fl.StringVar(&f.defaultImage, "default-image", "", "docker executor: the image of jobs that name none")
	return cmd
}

func runExec(cmd *cobra.Command, f execFlags, jobs []string) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	usage := func(format string, args ...any) error {
		fmt.Fprintf(stderr, "kiln exec: "+format+"\n", args...)
		return exitError{code: exitUsage}
	}
	if f.stateDir == "" {
		d, err := localrun.DefaultStateDir(f.cwd)
		if err != nil {
			return usage("%v", err)
		}
		f.stateDir = d
	}
	if err := checkReportPath(f.report); err != nil {
		return usage("%v", err) // before the pipeline runs, not after
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	systemID := localrun.SystemID(f.stateDir)
	// Jobs run on a context that Ctrl-C does not cancel: the first Ctrl-C cancels them
	// gracefully, the second aborts them (below).
	ctx := context.WithoutCancel(cmd.Context())
	ex, closeEx, err := execExecutor(ctx, f, systemID, log)
	if err != nil {
		return usage("%v", err)
	}
	defer closeEx()
	devices, closeDevices := execDevices(ctx, f, systemID, log)
	defer closeDevices()
	opts := localrun.Options{Dir: f.cwd, File: f.file, Variables: f.variables, Jobs: jobs, Needs: f.needs, Manual: f.manual,
		Executor: ex, MachineType: f.machineType, Devices: devices, Concurrency: f.concurrency, StateDir: f.stateDir,
		Output: stdout, Color: useColor(stdout), Logger: log}
	if f.executor == shell.Name {
		opts.BaseEnvironment = hostEnvironment()
	}
	p, err := localrun.New(ctx, opts)
	switch {
	case errors.Is(err, localrun.ErrFilteredOut), errors.Is(err, ci.ErrNoJobs):
		fmt.Fprintln(stdout, errors.Unwrap(err))
		return writeEmptyReport(f.report, stderr)
	case err != nil:
		if de := (*ci.DiagnosticsError)(nil); errors.As(err, &de) {
			for _, d := range de.Diagnostics {
				fmt.Fprintln(stderr, d.String())
			}
			return usage("%s is invalid", f.file)
		}
		return usage("%v", err)
	}
	defer p.Close()

	runCtx, abort := context.WithCancelCause(ctx)
	defer abort(nil)
	stopSignals := onInterrupt(p.Cancel, func() { abort(errors.New("interrupted twice")) })
	defer stopSignals()
	res, err := p.Run(runCtx)
	if err != nil {
		return usage("%v", err)
	}
	res.WriteSummary(stdout, opts.Color)
	if f.report != "" {
		if err := res.WriteReport(f.report); err != nil {
			return usage("%v", err)
		}
	}
	switch res.Status {
	case localrun.StatusFailed:
		return exitError{code: exitPipelineFailed}
	case localrun.StatusCanceled:
		return exitError{code: exitCanceled}
	}
	return nil
}

// onInterrupt calls first on the first SIGINT or SIGTERM and second on the next.
func onInterrupt(first, second func()) (stop func()) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		n := 0
		for {
			select {
			case <-sigs:
				n++
				if n == 1 {
					first()
				} else {
					second()
				}
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(sigs)
		close(done)
	}
}

// execExecutor makes the executor: the shell one (machine-type limits reported, not
// enforced) or the Docker one (images used when present, pulled otherwise), reaping
// what a crashed kiln exec of the same state directory left behind.
func execExecutor(ctx context.Context, f execFlags, systemID string, log *slog.Logger) (executor.Executor, func(), error) {
	switch f.executor {
	case shell.Name:
		return shell.New(shell.Config{AllowUnenforcedLimits: true, Logger: log}), func() {}, nil
	case docker.Name:
		ex, err := docker.New(docker.Config{Image: f.defaultImage,
			PullPolicy:          []string{jobspec.PullIfNotPresent},
			AllowedPullPolicies: []string{jobspec.PullAlways, jobspec.PullIfNotPresent, jobspec.PullNever}, Logger: log})
		if err != nil {
			return nil, nil, err
		}
		if _, err := ex.Reap(ctx, systemID); err != nil {
			log.Warn("removing what a previous kiln exec left behind failed", "error", err)
		}
		return ex, func() { ex.Close() }, nil
	}
	return nil, nil, fmt.Errorf("--executor %q is not shell or docker", f.executor)
}

// execDevices opens this host's GPUs for the jobs: nil (no GPUs) when the host has no
// usable driver. Leases are kept in KILN_GPU_STATE_DIR, else the runner's GPU state
// directory when this user may write it (so kiln exec and a kiln runner on one host
// never share a GPU), else in the state directory.
func execDevices(ctx context.Context, f execFlags, systemID string, log *slog.Logger) (runner.DeviceProvider, func()) {
	host, err := gpu.OpenHost(ctx, log)
	if err != nil {
		log.Warn("the GPU driver could not be opened; jobs that need GPUs will fail", "error", err)
		return nil, func() {}
	}
	dir := os.Getenv("KILN_GPU_STATE_DIR")
	if dir == "" {
		dir = defaultGPUStateDir
		if err := os.MkdirAll(dir, 0o755); err != nil || !writable(dir) {
			dir = filepath.Join(f.stateDir, "gpu")
		}
	}
	p, err := provider.Open(ctx, host, provider.Config{Executor: f.executor, StateDir: dir, RunnerID: systemID, Logger: log})
	if err != nil {
		host.Close()
		log.Warn("the GPUs could not be managed; jobs that need GPUs will fail", "error", err)
		return nil, func() {}
	}
	return p, func() { host.Close() }
}

func writable(dir string) bool {
	f, err := os.CreateTemp(dir, ".kiln-exec-*")
	if err != nil {
		return false
	}
	f.Close()
	os.Remove(f.Name())
	return true
}

// checkReportPath refuses a --report whose directory does not exist or is not a
// directory, so that the mistake is said before the pipeline runs.
func checkReportPath(path string) error {
	if path == "" {
		return nil
	}
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	switch {
	case err != nil:
		return fmt.Errorf("--report %s: its directory %s does not exist", path, dir)
	case !st.IsDir():
		return fmt.Errorf("--report %s: %s is not a directory", path, dir)
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("--report %s is a directory; give a file name", path)
	}
	return nil
}

// writeEmptyReport writes the report of a pipeline that was not created.
func writeEmptyReport(path string, stderr io.Writer) error {
	if path == "" {
		return nil
	}
	res := &localrun.Result{Status: localrun.StatusSkipped, Jobs: []localrun.JobResult{}}
	if err := res.WriteReport(path); err != nil {
		fmt.Fprintf(stderr, "kiln exec: %v\n", err)
		return exitError{code: exitUsage}
	}
	return nil
}
