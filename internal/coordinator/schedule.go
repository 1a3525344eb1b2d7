package coordinator

import (
	"time"

	"github.com/kiln-ci/kiln/internal/store"
)

// setScheduling records how a job waits: for its needs only (DAG, also `needs: []`)
// or for the previous stages, and how long a delayed job waits once it may run.
func setScheduling(j *store.Job, dag bool, startIn time.Duration) {
	j.Scheduling = store.SchedulingStage
	if dag {
		j.Scheduling = store.SchedulingDAG
	}
	j.StartIn = startIn
}

// isDAG reports whether a job waits for its needs rather than for the previous stages.
func isDAG(j *store.Job) bool { return j.Scheduling == store.SchedulingDAG }

// startIn is how long a delayed job waits once it may run.
func startIn(j *store.Job) time.Duration { return j.StartIn }
