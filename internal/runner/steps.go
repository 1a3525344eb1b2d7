package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/kiln-ci/kiln/internal/executor"
	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/protocol"
)

// steps runs the job's steps in order but after_script: "script" (before_script and
// script together) as step_script, any other as step_<name>, stopping at the first
// that fails. A step with when: on_failure never runs here (nothing failed yet).
func (j *jobRun) steps(ctx context.Context) (Outcome, bool) {
	for _, st := range j.job.Steps {
		if st.Name == jobspec.StepAfterScript || st.When == jobspec.WhenOnFailure {
			continue
		}
		name := "step_" + st.Name
		if st.Name == jobspec.StepScript {
			name = "step_script"
		}
		j.log.SectionStart(name, fmt.Sprintf("Executing %q stage of the job script", name))
		res, err := j.runScript(ctx, name, st.Script, j.env)
		j.log.SectionEnd(name)
		if o, ok := j.scriptOutcome(res, err); !ok {
			return o, false
		}
	}
	return Outcome{}, true
}

// afterScript runs after_script in a new shell with CI_JOB_STATUS, under its own
// timeout. Its failure only warns unless AFTER_SCRIPT_IGNORE_ERRORS=false, in which
// case it fails a job that had succeeded.
func (j *jobRun) afterScript(ctx context.Context, o *Outcome) {
	var cmds []string
	for _, st := range j.job.Steps {
		if st.Name == jobspec.StepAfterScript {
			cmds = append(cmds, st.Script...)
		}
	}
	if len(cmds) == 0 {
		return
	}
	timeout := j.l.cfg.AfterScriptTimeout
	if v := j.vars.Get("RUNNER_AFTER_SCRIPT_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			j.log.Warningf("RUNNER_AFTER_SCRIPT_TIMEOUT=%q is not a duration such as 10m; using %v", v, timeout)
		} else {
			timeout = d
		}
	}
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	j.log.SectionStart("after_script", "Running after_script")
	defer j.log.SectionEnd("after_script")
	j.log.Noticef("Running after script...")
	env := executor.MergeEnv(j.env, []string{"CI_JOB_STATUS=" + o.StatusWord()})
	res, err := j.runScript(actx, "after_script", cmds, env)
	var problem string
	switch {
	case err != nil && errors.Is(actx.Err(), context.DeadlineExceeded):
		problem = fmt.Sprintf("execution took longer than %v", timeout)
	case err != nil:
		problem = err.Error()
	case res.ExitCode != 0:
		problem = fmt.Sprintf("exit code %d", res.ExitCode)
	default:
		return
	}
	if j.vars.Get("AFTER_SCRIPT_IGNORE_ERRORS") == "false" && o.Succeeded() {
		j.log.Errorf("after_script failed: %s", problem)
		*o = stageFailure(fmt.Errorf("after_script failed: %s", problem))
		return
	}
	j.log.Warningf("after_script failed, but job will continue unaffected: %s", problem)
}

// cleanup is the cleanup_file_variables stage and, for a job with leased devices,
// the environment's cleanup and the lease's end (whose footer belongs in the log); it
// runs whatever happened, on its own context. The environment of a job without
// devices is cleaned up by cleanupEnvironment once the final status is reported.
func (j *jobRun) cleanup(o *Outcome) {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if j.tmpDir != "" {
		j.log.SectionStart("cleanup_file_variables", "Cleaning up project directory and file based variables")
		if err := os.RemoveAll(j.tmpDir); err != nil {
			j.log.Warningf("removing file variables: %v", err)
		}
		j.log.SectionEnd("cleanup_file_variables")
	}
	if j.lease == nil {
		return
	}
	// GPUs are scrubbed and released only once nothing of the job can hold them.
	if err := j.cleanupEnvironment(ctx); err != nil {
		j.log.Warningf("cleaning up the environment: %v", err)
	}
	rep, err := j.lease.Finish(ctx)
	if rep.Footer != "" {
		j.log.Printf("%s", rep.Footer)
	}
	if err != nil {
		j.slog.Warn("releasing the job's GPUs failed", "error", err)
		j.log.Warningf("releasing the job's GPUs: %v", err)
	}
	o.Devices = &rep
	if o.Kind != Canceled { // as artifacts: a canceled job uploads nothing
		j.uploadDeviceFiles(ctx, o, rep.Files)
	}
}

// cleanupTimeout bounds a job's cleanup.
const cleanupTimeout = 5 * time.Minute

// cleanupEnvironment destroys the job's environment once (containers, networks,
// volumes, processes), logging a failure to the runner's log.
func (j *jobRun) cleanupEnvironment(ctx context.Context) error {
	if j.envOf == nil || j.envCleaned {
		return nil
	}
	j.envCleaned = true
	err := j.envOf.Cleanup(ctx)
	if err != nil {
		j.slog.Warn("environment cleanup failed", "error", err)
	}
	return err
}

// uploadDeviceFiles uploads the lease's job reports as raw artifacts. A failure only
// warns: the reports describe the job, they are not its result.
func (j *jobRun) uploadDeviceFiles(ctx context.Context, o *Outcome, files []DeviceFile) {
	for _, f := range files {
		content := f.Content
		err := j.ch.UploadArtifacts(ctx, protocol.ArtifactUpload{Name: f.Name, Format: jobspec.ArtifactFormatRaw, Type: f.Type,
			Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(content)), nil }})
		if err != nil {
			j.slog.Warn("uploading a device report failed", "file", f.Name, "error", err)
			j.log.Warningf("Uploading %s as %q to coordinator... failed: %v", f.Name, f.Type, err)
			continue
		}
		j.log.Noticef("Uploading %s as %q to coordinator... 201 Created", f.Name, f.Type)
		o.Artifacts = append(o.Artifacts, ArtifactRecord{Name: f.Name, Type: f.Type, Files: []string{f.Name}})
	}
}
