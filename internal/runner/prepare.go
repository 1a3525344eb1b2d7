package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/kiln-ci/kiln/internal/executor"
	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/runner/trace"
	"github.com/kiln-ci/kiln/internal/version"
)

// jobRun is one job's run: its directories, variables, environment and lease.
type jobRun struct {
	l    *Lifecycle
	job  *jobspec.Job
	slot Slot
	ch   Channel
	log  *trace.Log
	slog *slog.Logger

	hostDir    string // the job's directory on the host (executor.Spec.HostDir)
	projectDir string // CI_PROJECT_DIR on the host
	tmpDir     string // file variables, git credentials: outside projectDir
	guestProj  string // CI_PROJECT_DIR as scripts see it
	guestTmp   string

	vars       jobspec.Variables // every variable, expanded, file variables as paths
	env        []string          // vars as KEY=VALUE for the executor
	envOf      executor.Environment
	envCleaned bool // envOf.Cleanup was called
	lease      DeviceLease
}

func newJobRun(l *Lifecycle, job *jobspec.Job, slot Slot, ch Channel) *jobRun {
	j := &jobRun{l: l, job: job, slot: slot, ch: ch,
		slog: l.log.With("job_id", job.ID, "runner", l.cfg.Name)}
	j.log = newLog(l, job, job.Variables.ExpandValues(), ch)
	return j
}

// layout computes the job's directories: <builds_dir>/<short token>/<concurrent id>
// holds the project directory (the repository's path, or project-<id>) and, beside
// it, <project dir>.tmp.
func (j *jobRun) layout(strategy string) error {
	cfg := j.l.cfg
	j.hostDir = filepath.Join(cfg.BuildsDir, shortToken(cfg.Token), strconv.Itoa(j.slot.ConcurrentID))
	rel := projectPath(j.job)
	if strategy == "empty" {
		rel += "-empty"
	}
	j.projectDir = filepath.Join(j.hostDir, filepath.FromSlash(rel))
	j.tmpDir = j.projectDir + ".tmp"
	if err := os.MkdirAll(j.projectDir, 0o755); err != nil {
		return fmt.Errorf("creating the project directory: %w", err)
	}
	if err := os.MkdirAll(j.tmpDir, 0o700); err != nil {
		return fmt.Errorf("creating the job's temporary directory: %w", err)
	}
	return nil
}

// projectPath is the project's path below the job directory: the repository URL's
// path without .git, or project-<id> when there is no usable URL.
func projectPath(job *jobspec.Job) string {
	fallback := fmt.Sprintf("project-%d", job.JobInfo.ProjectID)
	u, err := url.Parse(job.GitInfo.RepoURL)
	if job.GitInfo.RepoURL == "" || err != nil || u.Host == "" {
		return fallback
	}
	p := strings.TrimSuffix(strings.Trim(path.Clean("/"+u.Path), "/"), ".git")
	if p == "" || p == "." || strings.Contains(p, "..") {
		return fallback
	}
	return p
}

// buildVariables assembles the job's variables as gitlab-runner does: what a runner
// adds itself first, then the runner's environment, then the job's own (which win);
// file variables written under tmpDir (0600) with their paths as values; everything
// not raw expanded once.
func (j *jobRun) buildVariables(status string) (jobspec.Variables, error) {
	cfg := j.l.cfg
	guest := j.envOf.GuestPath
	j.guestProj, j.guestTmp = guest(j.projectDir), guest(j.tmpDir)
	var vs jobspec.Variables
	add := func(k, v string) { vs = append(vs, jobspec.Variable{Key: k, Value: v, Public: true}) }
	for _, kv := range cfg.BaseEnvironment {
		k, v, _ := strings.Cut(kv, "=")
		add(k, v)
	}
	add("CI_BUILDS_DIR", guest(j.hostDir))
	add("CI_PROJECT_DIR", j.guestProj)
	add("CI_CONCURRENT_ID", strconv.Itoa(j.slot.ConcurrentID))
	add("CI_CONCURRENT_PROJECT_ID", strconv.Itoa(j.slot.ConcurrentProjectID))
	add("CI_SERVER", "yes")
	add("CI_JOB_STATUS", status)
	add("CI_JOB_TIMEOUT", strconv.Itoa(int(j.timeout().Seconds())))
	if cfg.Executor.Name() == "shell" {
		add("CI_SHARED_ENVIRONMENT", "true")
	} else {
		add("CI_DISPOSABLE_ENVIRONMENT", "true")
	}
	add("CI_RUNNER_SHORT_TOKEN", shortToken(cfg.Token))
	add("CI_RUNNER_VERSION", version.Version)
	add("CI_RUNNER_REVISION", version.Rev())
	add("CI_RUNNER_EXECUTABLE_ARCH", runtime.GOOS+"/"+runtime.GOARCH)
	add("RUNNER_TEMP_PROJECT_DIR", j.guestTmp)
	add("GITLAB_ENV", path.Join(j.guestTmp, "gitlab_runner_env"))
	if j.job.Image.Name != "" {
		add("CI_JOB_IMAGE", j.job.Image.Name)
	}
	for _, kv := range cfg.Environment {
		k, v, _ := strings.Cut(kv, "=")
		add(k, v)
	}
	vs = append(vs, j.job.Variables...)

	// File variables become files; references then expand to their paths.
	contents := map[int]string{}
	for i, v := range vs {
		if v.File {
			contents[i] = v.Value
			vs[i].Value = path.Join(j.guestTmp, v.Key)
		}
	}
	expanded := vs.ExpandValues()
	for i, content := range contents {
		if !vs[i].Raw {
			content = vs.Expand(content)
		}
		if err := writeFileVariable(j.tmpDir, vs[i].Key, content); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(filepath.Join(j.tmpDir, "gitlab_runner_env"), nil, 0o600); err != nil {
		return nil, fmt.Errorf("creating GITLAB_ENV: %w", err)
	}
	return expanded, nil
}

func writeFileVariable(dir, key, content string) error {
	if key == "" || strings.ContainsAny(key, "/\\") || key == "." || key == ".." {
		return fmt.Errorf("file variable %q: the name cannot be a file name", key)
	}
	p := filepath.Join(dir, key)
	_ = os.Remove(p)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		return fmt.Errorf("writing file variable %s: %w", key, err)
	}
	return nil
}

// envList turns variables into the executor's KEY=VALUE list, the last of a key winning.
func envList(vs jobspec.Variables) []string {
	d := vs.Dedup()
	out := make([]string, 0, len(d))
	for _, v := range d {
		out = append(out, v.Key+"="+v.Value)
	}
	return out
}

// prepare is the prepare_executor stage: directories, environment, variables, GPUs.
func (j *jobRun) prepare(ctx context.Context) (Outcome, bool) {
	cfg := j.l.cfg
	j.log.SectionStart("prepare_executor", fmt.Sprintf("Preparing the %q executor", cfg.Executor.Name()))
	defer j.log.SectionEnd("prepare_executor")

	strategy := j.job.Variables.ExpandValues().Get("GIT_STRATEGY")
	if err := j.layout(strategy); err != nil {
		return systemFailure(err), false
	}
	spec := executor.Spec{
		JobID: j.job.ID, RunnerID: cfg.SystemID, JobName: j.job.JobInfo.Name, HostDir: j.hostDir,
		Image: expandImage(j.job.Image, j.job.Variables), Services: expandImages(j.job.Services, j.job.Variables), Credentials: j.job.Credentials,
		Labels: map[string]string{"dev.kiln.project": strconv.FormatInt(j.job.JobInfo.ProjectID, 10)},
	}
	if mt := cfg.MachineType; mt != nil {
		spec.Limits = executor.Limits{CPUs: float64(mt.VCPU), MemoryBytes: mt.MemoryBytes, PIDs: mt.PIDsLimit,
			ShmBytes: mt.ShmBytes, DiskBytes: mt.DiskBytes}
	}
	env, err := cfg.Executor.NewEnvironment(spec)
	if err != nil {
		// The executor refuses the job as specified (an image or pull policy not allowed,
		// limits it cannot apply): the job's or the runner's configuration, not a fault.
		return configurationError(fmt.Errorf("the %s executor cannot run this job: %w", cfg.Executor.Name(), err)), false
	}
	j.envOf = env
	if j.vars, err = j.buildVariables("running"); err != nil {
		return systemFailure(err), false
	}
	spec.ServiceEnv = envList(j.vars)
	j.env = envList(j.vars)
	if o, ok := j.acquireDevices(ctx); !ok {
		return o, false
	}
	if err := env.Prepare(ctx, j.log); err != nil {
		switch {
		case errors.Is(err, executor.ErrImageUnavailable):
			return imagePullFailure(err), false
		case errors.Is(err, executor.ErrImageNotAllowed):
			return configurationError(err), false
		}
		return systemFailure(fmt.Errorf("preparing the environment: %w", err)), false
	}
	if j.lease != nil {
		var imageEnv []string
		if ii, ok := env.(executor.ImageInspector); ok {
			imageEnv = ii.ImageEnv()
		}
		if err := j.lease.Check(ctx, imageEnv); err != nil {
			return deviceOutcome(err, protocol.FailureGPUFault), false
		}
	}
	return Outcome{}, true
}

// acquireDevices leases the GPUs the job needs and injects them.
func (j *jobRun) acquireDevices(ctx context.Context) (Outcome, bool) {
	cfg := j.l.cfg
	req, err := gpuRequest(cfg.MachineType, j.vars)
	if err != nil {
		return configurationError(err), false
	}
	if req.Wanted() == 0 {
		return Outcome{}, true
	}
	if cfg.Devices == nil {
		return deviceOutcome(noGPUsHere(req, cfg.MachineType), protocol.FailureGPUUnavailable), false
	}
	inj, ok := j.envOf.(executor.DeviceInjector)
	if !ok {
		return configurationError(fmt.Errorf("the %s executor cannot give jobs GPUs", cfg.Executor.Name())), false
	}
	lease, err := cfg.Devices.Acquire(ctx, j.job, req)
	if err != nil {
		return deviceOutcome(err, protocol.FailureGPUUnavailable), false
	}
	j.lease = lease
	d := lease.Devices()
	if err := inj.InjectDevices(d); err != nil {
		return systemFailure(fmt.Errorf("giving the job its GPUs: %w", err)), false
	}
	if len(d.IDs) > 0 {
		j.log.Printf("Leased GPUs: %s", strings.Join(d.IDs, ", "))
	}
	return Outcome{}, true
}

// expandImage expands variables in an image's name and alias, as gitlab-runner does
// before pulling (image: $BUILD_IMAGE, often from a dotenv report); entrypoint and
// command are left as written.
func expandImage(img jobspec.Image, vars jobspec.Variables) jobspec.Image {
	if !strings.Contains(img.Name+img.Alias, "$") {
		return img
	}
	expanded := vars.ExpandValues()
	img.Name, img.Alias = expanded.Expand(img.Name), expanded.Expand(img.Alias)
	return img
}

func expandImages(imgs []jobspec.Image, vars jobspec.Variables) []jobspec.Image {
	if len(imgs) == 0 {
		return imgs
	}
	out := make([]jobspec.Image, len(imgs))
	for i, img := range imgs {
		out[i] = expandImage(img, vars)
	}
	return out
}
