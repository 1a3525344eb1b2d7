package progress

import "github.com/kiln-ci/kiln/internal/store"

// Status is the status of a group of jobs (a stage, or a whole pipeline) as GitLab
// computes it, and whether it passed with warnings (a job allowed to fail failed or
// was canceled): GitLab shows that as "passed with warnings", and it counts as
// success. An empty group is success.
func Status(jobs []Job) (status store.Status, warnings bool) {
	s, w := composite(jobs, false)
	if s == "" {
		return store.StatusSuccess, false
	}
	return s, w
}

// Kinds a job's status counts as in a composite, besides its own status.
const (
	successWithWarnings store.Status = "success_with_warnings" // failed or canceled, allowed to fail
	ignored             store.Status = "ignored"               // manual, allowed to fail
)

// composite is GitLab's Gitlab::Ci::Status::Composite. With dag set it answers for a
// job's needs: skipped when one of them did not run, pending (not complete) until all
// are complete. It returns "" for no jobs.
func composite(jobs []Job, dag bool) (store.Status, bool) {
	if len(jobs) == 0 {
		return "", false
	}
	set := map[store.Status]bool{}
	for _, j := range jobs {
		s := j.Status
		switch {
		case j.AllowFailure && (s == store.StatusFailed || s == store.StatusCanceled):
			s = successWithWarnings
		case j.AllowFailure && s == store.StatusManual:
			s = ignored
		}
		set[s] = true
	}
	anyOf := func(ss ...store.Status) bool {
		for _, s := range ss {
			if set[s] {
				return true
			}
		}
		return false
	}
	onlyOf := func(ss ...store.Status) bool {
		n := 0
		for _, s := range ss {
			if set[s] {
				n++
			}
		}
		return n > 0 && n == len(set)
	}
	warnings := set[successWithWarnings]
	var st store.Status
	switch {
	case dag && anyOf(store.StatusSkipped, ignored):
		st = store.StatusSkipped
	case dag && !onlyOf(store.StatusSuccess, store.StatusFailed, store.StatusCanceled, store.StatusSkipped, successWithWarnings):
		st = store.StatusPending
	case onlyOf(store.StatusSkipped, ignored):
		st = store.StatusSkipped
	case onlyOf(store.StatusSuccess, store.StatusSkipped, successWithWarnings, ignored):
		st = store.StatusSuccess
	case onlyOf(store.StatusCreated, successWithWarnings, ignored):
		st = store.StatusCreated
	case onlyOf(store.StatusPreparing, successWithWarnings, ignored):
		st = store.StatusPreparing
	case onlyOf(store.StatusCanceled, store.StatusSuccess, store.StatusSkipped, successWithWarnings, ignored):
		st = store.StatusCanceled
	case onlyOf(store.StatusPending, store.StatusCreated, store.StatusSkipped, successWithWarnings, ignored):
		st = store.StatusPending
	case anyOf(store.StatusRunning, store.StatusPending):
		st = store.StatusRunning
	case anyOf(store.StatusWaitingForResource):
		st = store.StatusWaitingForResource
	case anyOf(store.StatusManual):
		st = store.StatusManual
	case anyOf(store.StatusScheduled):
		st = store.StatusScheduled
	case anyOf(store.StatusPreparing):
		st = store.StatusPreparing
	case anyOf(store.StatusCreated):
		st = store.StatusRunning
	case anyOf(store.StatusCanceling):
		st = store.StatusCanceling
	default:
		st = store.StatusFailed
	}
	return st, warnings
}
