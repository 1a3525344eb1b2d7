package coordinator

import (
	"time"

	"github.com/kiln-ci/kiln/internal/store"
)

// setScheduling records how a job waits: for its needs only (DAG, also `needs: []`)
// or for the previous stages, and how long a delayed job waits once it may run.
//
// TODO(store): the store keeps neither yet; until it does, a job with needs is a DAG
// job, `needs: []` follows stage order and start_in is not kept (a delayed job is
// due at once).
func setScheduling(j *store.Job, dag bool, startIn time.Duration) {}

// isDAG reports whether a job waits for its needs rather than for the previous stages.
func isDAG(j *store.Job) bool { return len(j.Needs) > 0 }

// startIn is how long a delayed job waits once it may run.
func startIn(j *store.Job) time.Duration { return 0 }
