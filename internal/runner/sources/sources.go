// Package sources puts a job's sources into its project directory: over git with the
// job token for coordinator jobs (GitLab's GIT_STRATEGY and friends), or from a local
// working tree for `kiln exec`. The lifecycle sees only the Sources interface.
//
// It is on the runner side: the coordinator side must not import it.
package sources

import (
	"context"
	"fmt"
	"os"

	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/runner/trace"
)

// Sources gets a job's sources.
//
// Get is called once per job, in the get_sources stage, before the cache is restored.
// It may be called concurrently for different jobs. It writes what it does to the
// job's log in gitlab-runner's words. An error fails the job (GitLab counts it as a
// script failure: the user's repository or settings are usually the cause).
type Sources interface {
	Get(ctx context.Context, req Request) error
}

// Request is what Get needs to know.
type Request struct {
	Job *jobspec.Job
	// Vars are the job's variables, expanded: GIT_STRATEGY, GIT_DEPTH, ...
	Vars jobspec.Variables
	// Dir is the project directory on the host (CI_PROJECT_DIR's host path).
	Dir string
	// TmpDir is the job's private temporary directory on the host, outside Dir:
	// credentials files go there and nowhere else.
	TmpDir string
	// Log is the job's log.
	Log *trace.Log
}

// Git strategies (GIT_STRATEGY).
const (
	StrategyFetch = "fetch"
	StrategyClone = "clone"
	StrategyNone  = "none"
	StrategyEmpty = "empty"
)

// Strategy returns the job's GIT_STRATEGY: the variable, else fetch when the payload
// allows git fetch, else clone. An unknown value is an error naming it.
func Strategy(job *jobspec.Job, vars jobspec.Variables) (string, error) {
	s := vars.Get("GIT_STRATEGY")
	switch s {
	case "":
		if job.AllowGitFetch {
			return StrategyFetch, nil
		}
		return StrategyClone, nil
	case StrategyFetch, StrategyClone, StrategyNone, StrategyEmpty:
		return s, nil
	}
	return "", fmt.Errorf("unknown GIT_STRATEGY %q (want fetch, clone, none or empty)", s)
}

// skipOrEmpty handles the strategies that need no repository; done is false for
// fetch and clone.
func skipOrEmpty(strategy string, req Request) (done bool, err error) {
	switch strategy {
	case StrategyNone:
		req.Log.Noticef("Skipping Git repository setup")
		return true, os.MkdirAll(req.Dir, 0o755)
	case StrategyEmpty:
		req.Log.Noticef("Skipping Git repository setup and creating an empty build directory")
		if err := os.RemoveAll(req.Dir); err != nil {
			return true, fmt.Errorf("emptying the project directory: %w", err)
		}
		return true, os.MkdirAll(req.Dir, 0o755)
	}
	return false, nil
}
