package localrun

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/kiln-ci/kiln/internal/ci"
	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/runner"
	"github.com/kiln-ci/kiln/internal/runner/local"
	"github.com/kiln-ci/kiln/internal/runner/sources"
)

// runnerName names the runner in job logs.
const runnerName = "kiln-exec"

// lifecycles hands out one runner lifecycle per machine type: the type gives the
// executor its limits and the GPU hook its request. Safe for concurrent use.
type lifecycles struct {
	mu   sync.Mutex
	base runner.Config
	byMT map[string]*runner.Lifecycle
}

func (l *lifecycles) get(mt *machine.Type) (*runner.Lifecycle, error) {
	tag := ""
	if mt != nil {
		tag = mt.Tag
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if lc := l.byMT[tag]; lc != nil {
		return lc, nil
	}
	cfg := l.base
	cfg.MachineType = mt
	lc, err := runner.NewLifecycle(cfg)
	if err != nil {
		return nil, err
	}
	l.byMT[tag] = lc
	return lc, nil
}

func (p *Pipeline) newLifecycles() *lifecycles {
	return &lifecycles{byMT: map[string]*runner.Lifecycle{}, base: runner.Config{
		Name:            runnerName,
		SystemID:        SystemID(p.state.dir),
		Executor:        p.opts.Executor,
		BuildsDir:       p.state.builds(),
		CacheDir:        p.state.cache(),
		BaseEnvironment: p.opts.BaseEnvironment,
		Devices:         p.opts.Devices,
		Sources:         sources.Tree{Dir: p.repo.Dir, Clean: true},
		Logger:          p.log,
	}}
}

// SystemID identifies the runner of the kiln exec that uses stateDir: executors label
// what they create with it (so a later kiln exec can reap what a crashed one left),
// and GPU leases name it.
func SystemID(stateDir string) string {
	abs, err := filepath.Abs(stateDir)
	if err != nil {
		abs = stateDir
	}
	return "kiln-exec-" + shortHash(abs)
}

// machineType is the job's machine type: the one given with --machine-type, else the
// one its tags select, else the type of untagged jobs; nil when the catalog has none.
func (p *Pipeline) machineType(j *ci.Job) (*machine.Type, error) {
	if p.opts.MachineType != "" {
		t, _ := p.catalog.Get(p.opts.MachineType)
		return &t, nil
	}
	t, ok, err := p.catalog.ForTags(j.Tags)
	if err != nil {
		return nil, err
	}
	if !ok {
		if t, ok = p.catalog.Untagged(); !ok {
			return nil, nil
		}
	}
	return &t, nil
}

// payload is what the runner receives for one attempt of js: the compiled payload
// with the job's id, the project's identity, the job's predefined variables, the
// dotenv variables of its dependencies, and the artifacts it may download.
func (p *Pipeline) payload(js *jobState, done map[string]*jobState, store *local.Artifacts) *jobspec.Job {
	spec := js.job.Spec
	spec.ID = js.id
	spec.JobInfo.ProjectID = projectID
	spec.JobInfo.ProjectName = p.repo.Name
	spec.JobInfo.ProjectFullPath = p.repo.Path()
	spec.JobInfo.PipelineID = p.info.ID
	spec.GitInfo.RepoURL = repoURL(p.repo)

	var dotenv jobspec.Variables
	spec.Dependencies = make([]jobspec.Dependency, 0, len(js.deps))
	for _, name := range js.deps {
		dep := done[name]
		if dep == nil || dep.outcome == nil {
			continue // did not run in this pipeline
		}
		dotenv = append(dotenv, dep.outcome.Dotenv...)
		d := jobspec.Dependency{ID: dep.id, Name: name}
		if path, ok := store.Archive(dep.id); ok {
			if st, err := os.Stat(path); err == nil {
				d.ArtifactsFile = &jobspec.ArtifactsFile{Filename: "artifacts.zip", Size: st.Size()}
			}
		}
		spec.Dependencies = append(spec.Dependencies, d)
	}

	vars := jobVariables(p.repo, js.id, js.started)
	vars = append(vars, js.job.Spec.Variables...)
	if len(dotenv) > 0 {
		// Dotenv variables rank above the YAML's and below pipeline variables.
		vars = append(vars, dotenv...)
		for _, v := range p.vars {
			if w, ok := js.job.Spec.Variables.Find(v.Key); ok {
				vars = append(vars, w)
			}
		}
	}
	spec.Variables = vars
	return &spec
}

// repoURL is the project's URL as a runner gets it: it names the project directory
// (<builds>/<namespace>/<project>) and nothing is fetched from it, since sources are
// copied from the working tree.
func repoURL(r *Repo) string {
	if r.URL != "" {
		return r.URL + ".git"
	}
	return "file://localhost/" + r.Path() + ".git"
}

// runAttempt runs one attempt of js through the runner and returns its outcome as
// soon as the job has its final status, with the cleanup of its environment, which
// may still be going on (nil when there is none).
func (p *Pipeline) runAttempt(ctx context.Context, lcs *lifecycles, js *jobState, job *jobspec.Job,
	slot int, store *local.Artifacts, cancel <-chan struct{}) (runner.Outcome, *runner.Cleanup) {
	var cov coverageScanner
	if js.job.Coverage != "" {
		cov.compile(js.job.Coverage)
	}
	w := p.out.jobWriter(js.job.Name, cov.line)
	defer func() {
		w.Flush()
		js.coverage = cov.value()
	}()
	mt, err := p.machineType(js.job)
	if err != nil {
		return p.refuse(w, js, fmt.Errorf("the job's tags %v: %w", js.job.Tags, err)), nil
	}
	lc, err := lcs.get(mt)
	if err != nil {
		return p.refuse(w, js, err), nil
	}
	ch := local.NewChannel(w, job.ID, store)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-cancel:
			ch.Cancel()
		case <-stop:
		}
	}()
	return lc.RunReported(ctx, job, runner.Slot{ConcurrentID: slot, ConcurrentProjectID: slot}, ch)
}

// refuse fails a job that kiln exec cannot hand to the runner at all, saying why in
// its log as the runner would.
func (p *Pipeline) refuse(w *lineWriter, js *jobState, err error) runner.Outcome {
	o := runner.Outcome{Kind: runner.ConfigurationError, FailureReason: protocol.FailureConfiguration,
		Message: err.Error(), Duration: time.Since(js.started)}
	_, _ = w.Write([]byte(o.FinalLine()))
	return o
}

// allowedToFail is allow_failure for this outcome: always, or for the exit codes
// listed in allow_failure:exit_codes.
func allowedToFail(j *ci.Job, o runner.Outcome) bool {
	if j.AllowFailure {
		return true
	}
	code, ok := o.ScriptExitCode()
	return ok && slices.Contains(j.AllowFailureExitCodes, code)
}

// retryReasons are the failure reasons GitLab's retry:when accepts.
var retryReasons = []string{"unknown_failure", "script_failure", "api_failure", "stuck_or_timeout_failure",
	"runner_system_failure", "runner_unsupported", "stale_schedule", "job_execution_timeout",
	"archived_failure", "unmet_prerequisites", "scheduler_failure", "data_integrity_failure"}

// shouldRetry is GitLab's retry decision after a failed attempt (ci.Retry.Allows):
// attempts left, and the failure reason among retry:when or the exit code among
// retry:exit_codes. An out-of-memory kill has exit code 137, as on GitLab.
func shouldRetry(r ci.Retry, attempt int, o runner.Outcome) bool {
	if o.Succeeded() || o.Kind == runner.Canceled {
		return false
	}
	var exitCode *int
	if code, ok := o.ScriptExitCode(); ok {
		exitCode = &code
	}
	return r.Allows(attempt-1, protocol.MapFailureReason(o.FailureReason, retryReasons), exitCode)
}
