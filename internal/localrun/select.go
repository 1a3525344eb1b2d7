package localrun

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kiln-ci/kiln/internal/ci"
	"github.com/kiln-ci/kiln/internal/runner"
)

// jobState is one job of the local pipeline while it runs.
type jobState struct {
	job *ci.Job
	// needs are the job's needs within the selected jobs (nil: it follows stage
	// order); deps the jobs whose artifacts and dotenv reports it receives.
	needs []string
	deps  []string
	// played says a manual job runs (named on the command line or with --manual).
	played bool
	// awaitsGPU: its GPUs were all leased to running jobs; it waits for one to end.
	awaitsGPU bool

	status  string
	reason  string // why a job did not run, for people
	attempt int    // runs so far (retries + 1 once started)
	id      int64  // CI_JOB_ID of the latest attempt
	outcome *runner.Outcome
	// allowFailure is the job's allow_failure once its outcome is known
	// (allow_failure:exit_codes decided).
	allowFailure bool
	started      time.Time
	duration     time.Duration
	coverage     *float64
}

// matchesName reports whether name selects j: its own name, or for an instance of a
// parallel job the name of the job as written ("test" selects "test 1/2").
func matchesName(cfg *ci.Config, j *ci.Job, name string) bool {
	if j.Name == name {
		return true
	}
	jc := cfg.Job(j.Name)
	return jc != nil && jc.BaseName == name && jc.BaseName != jc.Name
}

// unknownJob says why name is not a job of the pipeline.
func unknownJob(cfg *ci.Config, name string) error {
	if cfg.Job(name) != nil || slices.ContainsFunc(cfg.Jobs, func(jc *ci.JobConfig) bool { return jc.BaseName == name }) {
		return fmt.Errorf("job %q is not in this pipeline: its rules (or only/except) leave it out for this commit", name)
	}
	names := make([]string, 0, len(cfg.Jobs))
	for _, jc := range cfg.Jobs {
		names = append(names, jc.Name)
	}
	return fmt.Errorf("job %q could not be found; the jobs are: %s", name, strings.Join(names, ", "))
}

// selectJobs returns the jobs to run, in pipeline order: all of them, or those named
// and, with needs, what they need, transitively.
func selectJobs(pl *ci.Pipeline, cfg *ci.Config, names []string, needs bool) ([]*ci.Job, error) {
	if len(names) == 0 {
		return pl.Jobs, nil
	}
	byName := make(map[string]*ci.Job, len(pl.Jobs))
	for _, j := range pl.Jobs {
		byName[j.Name] = j
	}
	chosen := map[string]bool{}
	var visit func(j *ci.Job)
	visit = func(j *ci.Job) {
		if chosen[j.Name] {
			return
		}
		chosen[j.Name] = true
		if !needs {
			return
		}
		for _, n := range j.Needs {
			if dep := byName[n.Job]; dep != nil {
				visit(dep)
			}
		}
	}
	for _, name := range names {
		found := false
		for _, j := range pl.Jobs {
			if matchesName(cfg, j, name) {
				visit(j)
				found = true
			}
		}
		if !found {
			return nil, unknownJob(cfg, name)
		}
	}
	var out []*ci.Job
	for _, j := range pl.Jobs {
		if chosen[j.Name] {
			out = append(out, j)
		}
	}
	return out, nil
}

// newJobStates prepares the selected jobs: needs and dependencies limited to the
// selection, and which manual jobs are played.
func newJobStates(sel []*ci.Job, cfg *ci.Config, opts Options) []*jobState {
	in := make(map[string]bool, len(sel))
	for _, j := range sel {
		in[j.Name] = true
	}
	played := func(j *ci.Job) bool {
		for _, n := range append(append([]string(nil), opts.Jobs...), opts.Manual...) {
			if matchesName(cfg, j, n) {
				return true
			}
		}
		return false
	}
	out := make([]*jobState, 0, len(sel))
	for _, j := range sel {
		js := &jobState{job: j, status: StatusCreated, played: played(j), allowFailure: j.AllowFailure}
		if j.Needs != nil {
			js.needs = []string{}
			for _, n := range j.Needs {
				if in[n.Job] {
					js.needs = append(js.needs, n.Job)
				}
			}
		}
		for _, d := range j.Dependencies {
			if in[d] && (j.Needs == nil || needsArtifacts(j, d)) {
				js.deps = append(js.deps, d)
			}
		}
		out = append(out, js)
	}
	return out
}

// needsArtifacts reports whether a DAG job's needs take dep's artifacts: GitLab
// downloads only what both dependencies: and needs (with artifacts) allow.
func needsArtifacts(j *ci.Job, dep string) bool {
	return slices.ContainsFunc(j.Needs, func(n ci.JobNeed) bool { return n.Job == dep && n.Artifacts })
}
