// Package localrun runs a git working tree's pipeline on the user's own machine, as
// `kiln exec` does: it reads the commit with git, loads and compiles .gitlab-ci.yml
// with package ci exactly as the coordinator would for a push, and then plays the
// coordinator's part locally: it decides, as GitLab's pipeline processing does,
// which job runs when (stages, the needs DAG, when, allow_failure, manual and delayed
// jobs, retry, resource groups), and runs each job through the runner's own job
// lifecycle (package runner) with a local channel, so artifacts, caches and dotenv
// reports pass between jobs as on GitLab.
//
// Job output is printed with each line prefixed by the job's name, with a progress
// line per job and a summary table at the end; a Result (and its JSON report) says
// how every job and the pipeline ended in GitLab's status words.
//
// It wires both sides of the architecture (ci and runner) for one process, like cmd
// does; neither the runner side nor the coordinator side may import it.
package localrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kiln-ci/kiln/internal/ci"
	"github.com/kiln-ci/kiln/internal/executor"
	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/runner"
)

// Options configure a local pipeline.
type Options struct {
	// Dir is the directory holding the configuration, inside a git working tree.
	// Jobs get a clean copy of it (tracked and untracked-but-not-ignored files).
	Dir string
	// File is the configuration file relative to Dir; empty means .gitlab-ci.yml.
	File string
	// Variables are pipeline variables, KEY=VALUE (`--variable`): the highest
	// precedence, as variables given when running a pipeline on GitLab.
	Variables []string
	// Jobs limits the pipeline to these jobs (names, or the names of parallel jobs as
	// written for all their instances); empty runs every job. Named manual jobs run.
	Jobs []string
	// Needs adds what the named jobs need, transitively.
	Needs bool
	// Manual names manual jobs to play.
	Manual []string
	// Executor runs the jobs (shell or docker); BaseEnvironment is what shell scripts
	// start from (the host's PATH, HOME, ...), nil for containers.
	Executor        executor.Executor
	BaseEnvironment []string
	// Catalog gives each job its machine type from its tags (nil: the default
	// catalog); MachineType, when set, is the one type every job gets.
	Catalog     *machine.Catalog
	MachineType string
	// Devices leases GPUs; nil means this host has none: a job whose machine type
	// needs GPUs fails at once, saying so.
	Devices runner.DeviceProvider
	// Concurrency is how many jobs run at once; 0 means the number of CPUs, and a
	// negative number is an error.
	Concurrency int
	// StateDir holds builds, caches, artifacts and the pipeline counter; empty means
	// DefaultStateDir(Dir).
	StateDir string
	// Output receives job output and progress lines; Color colours them (and keeps
	// the jobs' own colours), else every ANSI sequence is removed.
	Output io.Writer
	Color  bool
	// Logger receives the runner's own messages (never job output); nil discards.
	Logger *slog.Logger
}

// ErrFilteredOut is returned by New when workflow:rules create no pipeline for this
// commit (it wraps ci.ErrFilteredOut).
var ErrFilteredOut = ci.ErrFilteredOut

// Pipeline is one local pipeline, ready to run. Run it once; Cancel may be called
// from any goroutine while it runs; Close releases the state directory.
type Pipeline struct {
	opts     Options
	repo     *Repo
	info     pipelineInfo
	vars     jobspec.Variables
	compiled *ci.Pipeline
	warnings ci.Diagnostics
	jobs     []*jobState
	state    *state
	catalog  *machine.Catalog
	out      *printer
	log      *slog.Logger

	cancelOnce sync.Once
	canceling  chan struct{}
}

// New reads the repository, loads and compiles its configuration for a push of HEAD
// with opts.Variables, and selects the jobs to run. Errors name what is wrong: a
// directory that is not a git working tree, a missing or invalid configuration (a
// *ci.DiagnosticsError), a pipeline filtered out by workflow:rules (ErrFilteredOut),
// a job name the pipeline lacks, an unknown machine type.
func New(ctx context.Context, opts Options) (*Pipeline, error) {
	if opts.Executor == nil {
		return nil, errors.New("kiln exec: no executor")
	}
	if opts.File == "" {
		opts.File = ci.DefaultFile
	}
	if opts.Concurrency < 0 {
		return nil, fmt.Errorf("--concurrency %d is negative: give how many jobs may run at once, or 0 for the number of CPUs", opts.Concurrency)
	}
	if opts.Concurrency == 0 {
		opts.Concurrency = runtime.NumCPU()
	}
	if opts.Output == nil {
		opts.Output = io.Discard
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	catalog := opts.Catalog
	if catalog == nil {
		catalog = machine.DefaultCatalog()
	}
	if opts.MachineType != "" {
		if _, ok := catalog.Get(opts.MachineType); !ok {
			return nil, fmt.Errorf("--machine-type %q is not a machine type; known types: %s", opts.MachineType, strings.Join(tags(catalog), ", "))
		}
	}
	vars, err := ParseVariables(opts.Variables)
	if err != nil {
		return nil, err
	}
	if err := checkGit(); err != nil {
		return nil, err
	}
	repo, err := ReadRepo(ctx, opts.Dir)
	if err != nil {
		return nil, err
	}
	file := path.Clean(strings.TrimPrefix(opts.File, "./"))
	if _, err := fs.Stat(os.DirFS(repo.Dir), file); err != nil {
		return nil, fmt.Errorf("%s/%s could not be found", repo.Dir, file)
	}
	p := &Pipeline{opts: opts, repo: repo, vars: vars, catalog: catalog, log: opts.Logger, canceling: make(chan struct{})}
	if p.opts.StateDir == "" {
		if p.opts.StateDir, err = DefaultStateDir(repo.Dir); err != nil {
			return nil, err
		}
	}
	if p.state, err = openState(p.opts.StateDir); err != nil {
		return nil, err
	}
	if err := p.plan(file); err != nil {
		p.state.close()
		return nil, err
	}
	return p, nil
}

// plan loads and compiles the configuration and selects the jobs.
func (p *Pipeline) plan(file string) error {
	id, err := p.state.nextPipelineID()
	if err != nil {
		return err
	}
	p.info = pipelineInfo{ID: id, CreatedAt: time.Now()}
	cctx := compileContext(p.repo, p.info, p.vars)
	cfg, diags := ci.Load(cctx.Files, file, ci.LoadOptions{Context: &cctx})
	p.warnings = diags.Warnings()
	if cfg == nil {
		return diags.Err()
	}
	pl, err := cfg.Compile(cctx)
	if err != nil {
		return err
	}
	p.compiled = pl
	p.warnings = append(p.warnings, pl.Warnings.Warnings()...)
	sel, err := selectJobs(pl, cfg, p.opts.Jobs, p.opts.Needs)
	if err != nil {
		return err
	}
	for _, m := range p.opts.Manual {
		if !slices.ContainsFunc(pl.Jobs, func(j *ci.Job) bool { return matchesName(cfg, j, m) }) {
			return fmt.Errorf("--manual %s: %w", m, unknownJob(cfg, m))
		}
	}
	p.jobs = newJobStates(sel, cfg, p.opts)
	width := 0
	for _, js := range p.jobs {
		width = max(width, len(js.job.Name))
	}
	p.out = newPrinter(p.opts.Output, p.opts.Color, min(width, maxNameWidth))
	return nil
}

// Warnings are what Load and Compile found that does not stop the pipeline.
func (p *Pipeline) Warnings() ci.Diagnostics { return p.warnings }

// Name is workflow:name, if the configuration sets one.
func (p *Pipeline) Name() string { return p.compiled.Name }

// Repo is what was read from the working tree.
func (p *Pipeline) Repo() *Repo { return p.repo }

// ID is the pipeline's CI_PIPELINE_ID.
func (p *Pipeline) ID() int64 { return p.info.ID }

// StateDir is the directory holding builds, caches and artifacts.
func (p *Pipeline) StateDir() string { return p.state.dir }

// Cancel stops the pipeline gracefully: running jobs get SIGTERM and run their
// after_script with CI_JOB_STATUS=canceled, jobs not yet started are canceled. Run
// then returns. Canceling Run's context instead aborts jobs without after_script.
func (p *Pipeline) Cancel() { p.cancelOnce.Do(func() { close(p.canceling) }) }

// Close releases the state directory.
func (p *Pipeline) Close() error { return p.state.close() }

func tags(c *machine.Catalog) []string {
	var out []string
	for _, t := range c.Types() {
		out = append(out, t.Tag)
	}
	return out
}
