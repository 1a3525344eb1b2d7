// Package shell is the shell executor: it runs a job's scripts directly on the runner's
// host with bash (or sh where bash is absent), each script in its own process group, in
// the job's directory, with exactly the environment the runner gives it.
//
// Like gitlab-runner's shell executor it offers no isolation beyond that: no image, no
// services, no resource limits. A spec with machine-type limits is refused unless the
// Config says limits may go unenforced. Device injection (executor.DeviceInjector)
// supports environment variables only (CUDA_VISIBLE_DEVICES, NVIDIA_VISIBLE_DEVICES):
// device nodes and mounts cannot apply to a process on the host and are refused.
//
// This package is on the runner side: the coordinator side must not import it.
package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/kiln-ci/kiln/internal/executor"
)

// Name is the shell executor's name in configuration.
const Name = "shell"

// Config configures the shell executor (gitlab-runner's `shell` setting and friends).
type Config struct {
	// Shell is the program that runs scripts: a path or a name looked up in the
	// runner's PATH. Empty means bash when the runner's PATH has it, else sh.
	Shell string
	// TempDir is where each environment keeps its script files (mode 0600, removed by
	// Cleanup). Empty means os.TempDir().
	TempDir string
	// AllowUnenforcedLimits accepts specs with machine-type limits, which this executor
	// cannot enforce; Prepare then says so in the trace. When false such a spec is an
	// error in NewEnvironment.
	AllowUnenforcedLimits bool
	// Logger receives the executor's own diagnostics (never job output). Nil discards.
	Logger *slog.Logger
}

// Executor makes shell environments. It is safe for concurrent use.
type Executor struct {
	cfg Config
	log *slog.Logger
}

// New returns a shell executor.
func New(cfg Config) *Executor {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Executor{cfg: cfg, log: log.With("executor", Name)}
}

// Name returns "shell".
func (e *Executor) Name() string { return Name }

// NewEnvironment validates spec (an absolute HostDir; no limits unless allowed) and
// returns an unprepared environment. It does no I/O.
func (e *Executor) NewEnvironment(spec executor.Spec) (executor.Environment, error) {
	if spec.HostDir == "" {
		return nil, errors.New("shell executor: spec has no HostDir (the job directory)")
	}
	if !filepath.IsAbs(spec.HostDir) {
		return nil, fmt.Errorf("shell executor: HostDir %q is not an absolute path", spec.HostDir)
	}
	if spec.Limits != (executor.Limits{}) && !e.cfg.AllowUnenforcedLimits {
		return nil, fmt.Errorf("shell executor cannot enforce machine-type limits (%s); use the docker executor or allow unenforced limits in the shell executor's configuration", spec.Limits)
	}
	return &Environment{
		cfg:  e.cfg,
		spec: spec,
		log:  e.log.With("job_id", spec.JobID, "runner_id", spec.RunnerID),
	}, nil
}

// Environment is one job's shell environment. See executor.Environment for the call
// order; Cleanup may also be called while a Run is in progress (it kills the script).
type Environment struct {
	cfg  Config
	spec executor.Spec
	log  *slog.Logger

	mu        sync.Mutex
	prepared  bool
	cleaned   bool
	shell     string   // absolute path of the program that runs scripts
	scriptDir string   // private directory of script files
	deviceEnv []string // KEY=VALUE from InjectDevices
	running   int      // process group of the running script, 0 when none
	runs      int      // scripts started, for script file names
}

var _ executor.DeviceInjector = (*Environment)(nil)

// InjectDevices makes the leased devices visible to scripts through d.Env, which
// overrides job variables of the same name so that a job cannot widen its lease.
// Device nodes, mounts and runtime requests are refused: a host process sees the host's
// devices as they are. It must be called before Prepare.
func (e *Environment) InjectDevices(d executor.Devices) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.prepared || e.cleaned {
		return errors.New("shell executor: InjectDevices called after Prepare")
	}
	var unsupported []string
	if len(d.Nodes) > 0 {
		unsupported = append(unsupported, fmt.Sprintf("%d device node(s)", len(d.Nodes)))
	}
	if len(d.Mounts) > 0 {
		unsupported = append(unsupported, fmt.Sprintf("%d mount(s)", len(d.Mounts)))
	}
	if len(d.Requests) > 0 {
		unsupported = append(unsupported, fmt.Sprintf("%d runtime device request(s)", len(d.Requests)))
	}
	if len(unsupported) > 0 {
		return fmt.Errorf("shell executor cannot apply %s for devices %v: only environment variables apply to a host process; use the docker executor", strings.Join(unsupported, " and "), d.IDs)
	}
	if err := executor.CheckEnv("device environment", d.Env); err != nil {
		return err
	}
	e.deviceEnv = append([]string(nil), d.Env...)
	return nil
}

// Prepare checks the job directory, chooses the shell and makes the directory that
// holds script files. It writes one line naming the shell to out.
func (e *Environment) Prepare(ctx context.Context, out io.Writer) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.prepared {
		return errors.New("shell executor: Prepare called twice")
	}
	if e.cleaned {
		return errors.New("shell executor: Prepare called after Cleanup")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("preparing shell environment: %w", context.Cause(ctx))
	}
	st, err := os.Stat(e.spec.HostDir)
	if err != nil {
		return fmt.Errorf("preparing shell environment: job directory: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("preparing shell environment: job directory %q is not a directory", e.spec.HostDir)
	}
	shell, err := findShell(e.cfg.Shell)
	if err != nil {
		return fmt.Errorf("preparing shell environment: %w", err)
	}
	dir, err := os.MkdirTemp(e.cfg.TempDir, fmt.Sprintf("kiln-shell-%d-", e.spec.JobID))
	if err != nil {
		return fmt.Errorf("preparing shell environment: making script directory: %w", err)
	}
	e.shell, e.scriptDir, e.prepared = shell, dir, true
	fmt.Fprintf(out, "Using Shell (%s) executor...\n", filepath.Base(shell))
	if e.spec.Limits != (executor.Limits{}) {
		fmt.Fprintf(out, "WARNING: the shell executor does not enforce this machine type's limits (%s)\n", e.spec.Limits)
	}
	e.log.Debug("prepared", "shell", shell, "script_dir", dir)
	return nil
}

// GuestPath is the identity: scripts run on the host.
func (e *Environment) GuestPath(hostPath string) string { return hostPath }

// Cleanup kills a script still running (its whole process group) and removes the
// script files. It is idempotent and never touches the job directory.
func (e *Environment) Cleanup(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cleaned = true
	if e.running != 0 {
		_ = syscall.Kill(-e.running, syscall.SIGKILL)
	}
	if e.scriptDir == "" {
		return nil
	}
	if err := os.RemoveAll(e.scriptDir); err != nil {
		return fmt.Errorf("cleaning up shell environment: removing %s: %w", e.scriptDir, err)
	}
	e.scriptDir = ""
	return nil
}

// findShell resolves the configured shell, or bash, or sh, to an absolute path.
func findShell(configured string) (string, error) {
	if configured != "" {
		p, err := exec.LookPath(configured)
		if err != nil {
			return "", fmt.Errorf("configured shell %q: %w", configured, err)
		}
		return filepath.Abs(p)
	}
	for _, name := range []string{"bash", "sh"} {
		if p, err := exec.LookPath(name); err == nil {
			return filepath.Abs(p)
		}
	}
	return "", errors.New("neither bash nor sh is in the runner's PATH")
}
