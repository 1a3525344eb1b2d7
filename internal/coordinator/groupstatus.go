package coordinator

import (
	"github.com/kiln-ci/kiln/internal/coordinator/progress"
	"github.com/kiln-ci/kiln/internal/store"
)

// GroupStatus is the status GitLab shows for a group of a pipeline's jobs (a stage,
// or all of them) and whether the group passed with warnings (a job allowed to fail
// failed or was canceled). Retried jobs are left out. It is for views that show what
// the coordinator decided (the user API, the web UI); it changes nothing.
func GroupStatus(jobs []store.Job) (status store.Status, warnings bool) {
	return progress.Status(progress.FromStore(jobs))
}
