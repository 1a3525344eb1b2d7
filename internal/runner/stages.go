package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/kiln-ci/kiln/internal/executor"
	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/runner/artifacts"
	"github.com/kiln-ci/kiln/internal/runner/cache"
	"github.com/kiln-ci/kiln/internal/runner/fileset"
	"github.com/kiln-ci/kiln/internal/runner/script"
	"github.com/kiln-ci/kiln/internal/runner/sources"
)

// execute runs the stages in gitlab-runner's order and returns the outcome; cleanup
// happens after it. ctx is the parent (canceled to abort), jobCtx the job's own
// (canceled by the timeout or a graceful cancel as well).
func (j *jobRun) execute(ctx, jobCtx context.Context, timeout time.Duration) Outcome {
	if o, ok := j.prepare(jobCtx); !ok {
		if io, ok := interrupted(ctx, jobCtx, timeout); ok {
			return io
		}
		return o
	}
	o := j.userStages(ctx, jobCtx, timeout)
	if ctx.Err() != nil { // aborted: no after_script, no uploads
		j.log.Errorf("Job aborted")
		return o
	}
	switch o.Kind {
	case Canceled:
		j.log.Warningf("script canceled externally (UI, API)")
	case Timeout:
		j.log.Errorf("Job's timeout of %v exceeded", timeout)
	}
	j.afterScript(ctx, &o)
	if o.Kind == Canceled {
		return o
	}
	j.archiveCache(ctx, o.Succeeded())
	return j.uploadArtifacts(ctx, o)
}

// userStages runs prepare_script, get_sources, restore_cache, download_artifacts and
// the job's steps, stopping at the first failure.
func (j *jobRun) userStages(ctx, jobCtx context.Context, timeout time.Duration) Outcome {
	check := func(o Outcome, ok bool) (Outcome, bool) {
		if io, stopped := interrupted(ctx, jobCtx, timeout); stopped {
			return io, false
		}
		return o, ok
	}
	stages := []func(context.Context) (Outcome, bool){
		j.prepareScript, j.getSources, j.restoreCache, j.downloadArtifacts, j.steps,
	}
	for _, stage := range stages {
		if o, ok := check(stage(jobCtx)); !ok {
			return o
		}
	}
	return succeeded()
}

// runScript runs commands as one script of the environment.
func (j *jobRun) runScript(ctx context.Context, name string, commands []string, env []string) (executor.Result, error) {
	sc := script.Commands(commands, script.Options{Dir: j.guestProj, SourceEnvFile: true,
		DebugTrace: j.vars.Get("CI_DEBUG_TRACE") == "true"})
	return j.envOf.Run(ctx, executor.Command{Name: name, Script: sc, Env: env, Output: j.log, Grace: j.l.cfg.Grace})
}

// scriptOutcome turns a script's result into an outcome; ok when it succeeded.
func (j *jobRun) scriptOutcome(res executor.Result, err error) (Outcome, bool) {
	switch {
	case err != nil:
		return systemFailure(fmt.Errorf("running the script: %w", err)), false
	case res.OOMKilled:
		limit := ""
		if mt := j.l.cfg.MachineType; mt != nil && mt.MemoryBytes > 0 {
			limit = machine.FormatGB(mt.MemoryBytes)
		}
		return outOfMemory(limit), false
	case res.ExitCode < 0:
		o := scriptFailure(res.ExitCode)
		o.Message = "the script was killed by a signal"
		return o, false
	case res.ExitCode != 0:
		return scriptFailure(res.ExitCode), false
	}
	return Outcome{}, true
}

// prepareScript is the prepare_script stage: a first script proving the environment
// runs commands, saying where, unless the environment already knows both
// (executor.HostNamer).
func (j *jobRun) prepareScript(ctx context.Context) (Outcome, bool) {
	j.log.SectionStart("prepare_script", "Preparing environment")
	defer j.log.SectionEnd("prepare_script")
	if hn, ok := j.envOf.(executor.HostNamer); ok {
		if name, ok := hn.HostName(); ok {
			fmt.Fprintf(j.log, "Running on %s...\n", name)
			return Outcome{}, true
		}
	}
	sc := `printf 'Running on %s...\n' "$(hostname 2>/dev/null || cat /etc/hostname 2>/dev/null || echo unknown)"` + "\n"
	res, err := j.envOf.Run(ctx, executor.Command{Name: "prepare_script", Script: sc, Env: j.env, Output: j.log, Grace: j.l.cfg.Grace})
	if err == nil && res.ExitCode != 0 {
		err = fmt.Errorf("exit code %d", res.ExitCode)
	}
	if err != nil {
		return systemFailure(fmt.Errorf("preparing the environment: %w", err)), false
	}
	return Outcome{}, true
}

// getSources is the get_sources stage, with the job's pre/post hooks.
func (j *jobRun) getSources(ctx context.Context) (Outcome, bool) {
	j.log.SectionStart("get_sources", "Getting source from Git repository")
	defer j.log.SectionEnd("get_sources")
	strategy, err := sources.Strategy(j.job, j.vars)
	if err != nil {
		return configurationError(err), false
	}
	hooks := strategy != sources.StrategyNone && strategy != sources.StrategyEmpty
	if o, ok := j.hook(ctx, "pre_get_sources_script", hooks); !ok {
		return o, false
	}
	req := sources.Request{Job: j.job, Vars: j.vars, Dir: j.projectDir, TmpDir: j.tmpDir, Log: j.log}
	if err := j.l.cfg.Sources.Get(ctx, req); err != nil {
		return stageFailure(fmt.Errorf("getting sources: %w", err)), false
	}
	return j.hook(ctx, "post_get_sources_script", hooks)
}

func (j *jobRun) hook(ctx context.Context, name string, enabled bool) (Outcome, bool) {
	if !enabled {
		return Outcome{}, true
	}
	for _, h := range j.job.Hooks {
		if h.Name == name && len(h.Script) > 0 {
			return j.scriptOutcome(j.runScript(ctx, name, h.Script, j.env))
		}
	}
	return Outcome{}, true
}

// restoreCache is the restore_cache stage. Its failures only warn.
func (j *jobRun) restoreCache(ctx context.Context) (Outcome, bool) {
	caches := j.cachesWithPaths()
	if len(caches) == 0 {
		return Outcome{}, true
	}
	j.log.SectionStart("restore_cache", "Restoring cache")
	defer j.log.SectionEnd("restore_cache")
	store := j.cacheStore()
	for _, c := range caches {
		key, warn, err := cache.Key(c.Key, j.job.JobInfo.Name, j.job.GitInfo.Ref, j.vars.Expand)
		if warn != "" {
			j.log.Warningf("%s", warn)
		}
		if err != nil {
			j.log.Printf("Skipping cache extraction due to %v", err)
			continue
		}
		pull, err := cache.Pulls(j.vars.Expand(c.Policy))
		if err != nil {
			return configurationError(fmt.Errorf("%w for %s", err, key)), false
		}
		if !pull {
			j.log.Printf("Not downloading cache %s due to policy", key)
			continue
		}
		fallbacks, warns := cache.FallbackKeys(c, j.vars.Get("CACHE_FALLBACK_KEY"), j.vars.Expand)
		for _, w := range warns {
			j.log.Warningf("%s", w)
		}
		j.log.Noticef("Checking cache for %s...", key)
		used, err := store.Restore(ctx, j.projectDir, append([]string{key}, fallbacks...))
		switch {
		case errors.Is(err, cache.ErrNotFound):
			j.log.Warningf("file does not exist")
			j.log.Warningf("Failed to extract cache")
		case err != nil:
			j.log.Warningf("Failed to extract cache: %v", err)
		default:
			if used != key {
				j.log.Printf("Using fallback cache %s", used)
			}
			j.log.Noticef("Successfully extracted cache")
		}
	}
	return Outcome{}, true
}

func (j *jobRun) cachesWithPaths() []jobspec.Cache {
	var out []jobspec.Cache
	for _, c := range j.job.Cache {
		if len(c.Paths) > 0 || c.Untracked {
			out = append(out, c)
		}
	}
	return out
}

// cacheStore is this project's local cache: <cache_dir>/<project path>.
func (j *jobRun) cacheStore() *cache.Store {
	return cache.NewStore(filepath.Join(j.l.cfg.CacheDir, filepath.FromSlash(projectPath(j.job))))
}

// downloadArtifacts is the download_artifacts stage: the dependencies the payload
// lists with an artifacts file, each with its own token.
func (j *jobRun) downloadArtifacts(ctx context.Context) (Outcome, bool) {
	var deps []jobspec.Dependency
	for _, d := range j.job.Dependencies {
		if d.ArtifactsFile != nil && d.ArtifactsFile.Filename != "" {
			deps = append(deps, d)
		}
	}
	if len(deps) == 0 {
		return Outcome{}, true
	}
	j.log.SectionStart("download_artifacts", "Downloading artifacts")
	defer j.log.SectionEnd("download_artifacts")
	for _, d := range deps {
		j.log.Noticef("Downloading artifacts for %s (%d)...", d.Name, d.ID)
		if err := j.downloadOne(ctx, d); err != nil {
			return stageFailure(fmt.Errorf("downloading artifacts of %s (%d): %w", d.Name, d.ID, err)), false
		}
		j.log.Noticef("Downloading artifacts from coordinator... ok")
	}
	return Outcome{}, true
}

func (j *jobRun) downloadOne(ctx context.Context, d jobspec.Dependency) error {
	f, err := os.CreateTemp(j.tmpDir, "artifacts-"+strconv.FormatInt(d.ID, 10)+"-*.zip")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if err := j.ch.DownloadArtifacts(ctx, d, f); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return artifacts.Extract(f.Name(), j.projectDir)
}

// selectionMessages writes a file selection's messages to the log.
func (j *jobRun) selectionMessages(sel fileset.Result) {
	for _, m := range sel.Messages {
		if m.Warning {
			j.log.Warningf("%s", m.Text)
		} else {
			j.log.Printf("%s", m.Text)
		}
	}
}
