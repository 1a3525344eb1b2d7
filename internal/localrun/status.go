package localrun

// GitLab's job and pipeline statuses.
const (
	StatusCreated  = "created"
	StatusPending  = "pending"
	StatusRunning  = "running"
	StatusSuccess  = "success"
	StatusFailed   = "failed"
	StatusCanceled = "canceled"
	StatusSkipped  = "skipped"
	StatusManual   = "manual"
	// StatusScheduled is a delayed job waiting for its start_in.
	StatusScheduled = "scheduled"
	// StatusWaitingForResource is a job waiting for its resource_group.
	StatusWaitingForResource = "waiting_for_resource"
)

// completed are the statuses after which GitLab decides what the next jobs do.
func completed(s string) bool {
	switch s {
	case StatusSuccess, StatusFailed, StatusCanceled, StatusSkipped:
		return true
	}
	return false
}

// member is one job as a composite status sees it.
type member struct {
	status       string
	allowFailure bool
}

// composite is GitLab's composite status (Gitlab::Ci::Status::Composite) of a set of
// jobs: of the earlier stages for a stage-ordered job, of its needs for a DAG job
// (dag), or of a whole pipeline. A failed or canceled job that may fail counts as a
// success with warnings; a manual job that may fail is ignored. An empty set is a
// success.
func composite(ms []member, dag bool) string {
	if len(ms) == 0 {
		return StatusSuccess
	}
	set := map[string]bool{}
	for _, m := range ms {
		key := m.status
		switch {
		case m.allowFailure && (m.status == StatusFailed || m.status == StatusCanceled):
			key = "success_with_warnings"
		case m.allowFailure && m.status == StatusManual:
			key = "ignored"
		}
		set[key] = true
	}
	only := func(keys ...string) bool {
		allowed := map[string]bool{}
		for _, k := range keys {
			allowed[k] = true
		}
		for k := range set {
			if !allowed[k] {
				return false
			}
		}
		return true
	}
	const swg, ign = "success_with_warnings", "ignored"
	switch {
	case dag && (set[StatusSkipped] || set[ign]):
		// A DAG job is skipped when one of its needs does not run at all.
		return StatusSkipped
	case dag && !only(StatusSuccess, StatusFailed, StatusCanceled, StatusSkipped, swg):
		return StatusPending
	case only(StatusSkipped, ign):
		return StatusSkipped
	case only(StatusSuccess, StatusSkipped, swg, ign):
		return StatusSuccess
	case only(StatusCreated, swg, ign):
		return StatusCreated
	case only(StatusCanceled, StatusSuccess, StatusSkipped, swg, ign):
		return StatusCanceled
	case only(StatusPending, StatusCreated, StatusSkipped, swg, ign):
		return StatusPending
	case set[StatusRunning] || set[StatusPending]:
		return StatusRunning
	case set[StatusWaitingForResource]:
		return StatusWaitingForResource
	case set[StatusManual]:
		return StatusManual
	case set[StatusScheduled]:
		return StatusScheduled
	case set[StatusCreated]:
		return StatusRunning
	}
	return StatusFailed
}

// action is what a created job does once what it waits for has completed.
type action int

const (
	actWait     action = iota // what it waits for has not completed
	actRun                    // enqueue it
	actManual                 // it becomes a manual job, waiting to be played
	actSchedule               // a delayed job: it starts after start_in
	actSkip                   // it will not run in this pipeline
)

// decide is GitLab's processing of a created job (Ci::ProcessBuildService): prev is
// the composite status of what the job waits for.
func decide(when string, dag bool, prev string) action {
	if !completed(prev) {
		return actWait
	}
	var valid []string
	switch when {
	case "on_failure":
		valid = []string{StatusFailed}
	case "always":
		valid = []string{StatusSuccess, StatusFailed, StatusSkipped}
	default: // on_success, manual, delayed
		if dag {
			valid = []string{StatusSuccess}
		} else {
			valid = []string{StatusSuccess, StatusSkipped}
		}
	}
	ok := false
	for _, v := range valid {
		ok = ok || v == prev
	}
	switch {
	case !ok:
		return actSkip
	case when == "manual":
		return actManual
	case when == "delayed":
		return actSchedule
	}
	return actRun
}
