package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/kiln-ci/kiln/internal/store"
)

// ClaimJob picks one matching pending job and marks it running in a single UPDATE:
//
//	UPDATE jobs SET status = 'running', ... WHERE id = (SELECT ... LIMIT 1 <SkipLocked>)
//	AND status = 'pending' RETURNING ...
//
// On SQLite the statement runs alone under the database's single writer, so no two
// claims interleave. On PostgreSQL the candidate row is locked FOR UPDATE SKIP LOCKED:
// a concurrent claim skips it rather than waiting, and a row claimed by a transaction
// that committed meanwhile fails the re-checked status = 'pending' and is passed over.
//
// The candidates come from the partial index on pending jobs, in id order (FIFO). Fair
// share joins the count of running jobs per top-level namespace (a partial index on
// running jobs) and orders by it first.
func (s jobs) ClaimJob(ctx context.Context, req store.ClaimRequest) (*store.Job, error) {
	if req.RunnerID == 0 || req.Token == "" {
		return nil, fmt.Errorf("claiming a job: %w: a runner id and a job token are required", store.ErrInvalid)
	}
	order := req.Order
	if order == "" {
		order = store.ClaimFIFO
	}
	if order != store.ClaimFIFO && order != store.ClaimFairShare {
		return nil, fmt.Errorf("claiming a job: order %q: %w: want fifo or fair_share", req.Order, store.ErrInvalid)
	}
	now := s.now()
	a := args{req.RunnerID, store.HashToken(req.Token), now}
	pick := `SELECT j.id FROM jobs j`
	if order == store.ClaimFairShare {
		pick += ` LEFT JOIN (SELECT root_namespace_id, count(*) AS running FROM jobs WHERE status = 'running'
			GROUP BY root_namespace_id) r ON r.root_namespace_id = j.root_namespace_id`
	}
	if len(req.Plans) > 0 {
		pick += ` JOIN namespaces ns ON ns.id = j.root_namespace_id AND ns.plan IN (` + list(&a, req.Plans) + `)`
	}
	pick += ` WHERE j.status = 'pending'`
	// Each of the job's tags must be among the runner's.
	if len(req.Tags) > 0 {
		pick += ` AND NOT EXISTS (SELECT 1 FROM job_tags t WHERE t.job_id = j.id AND t.tag NOT IN (` + list(&a, req.Tags) + `))`
	} else {
		pick += ` AND NOT EXISTS (SELECT 1 FROM job_tags t WHERE t.job_id = j.id)`
	}
	if !req.RunUntagged {
		pick += ` AND EXISTS (SELECT 1 FROM job_tags t WHERE t.job_id = j.id)`
	}
	if len(req.MachineTypes) > 0 {
		pick += ` AND j.machine_type IN (` + list(&a, req.MachineTypes) + `)`
	}
	if len(req.ProjectIDs) > 0 {
		pick += ` AND j.project_id IN (` + list(&a, req.ProjectIDs) + `)`
	}
	if req.ProtectedOnly {
		pick += ` AND j.protected = TRUE`
	}
	if len(req.ExcludeRootNamespaces) > 0 {
		pick += ` AND j.root_namespace_id NOT IN (` + list(&a, req.ExcludeRootNamespaces) + `)`
	}
	if req.MaxGPUs != store.NoGPULimit {
		pick += ` AND j.gpu_count <= ` + a.add(max(req.MaxGPUs, 0))
	}
	if order == store.ClaimFairShare {
		pick += ` ORDER BY coalesce(r.running, 0), j.id`
	} else {
		pick += ` ORDER BY j.id`
	}
	pick += ` LIMIT 1 ` + s.d.SkipLocked
	query := `UPDATE jobs SET status = 'running', runner_id = $1, token_hash = $2, started_at = $3, updated_at = $3
		WHERE id = (` + pick + `) AND status = 'pending' RETURNING ` + jobCols
	j, err := scanJob(s.w.QueryRowContext(ctx, query, a...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("claiming a job for runner %d: no pending job matches: %w", req.RunnerID, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("claiming a job for runner %d: %w", req.RunnerID, s.classify(err))
	}
	return j, nil
}
