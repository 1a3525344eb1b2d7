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
//	RETURNING ...
//
// On SQLite the statement runs alone under the database's single writer, so no two
// claims interleave. On PostgreSQL the candidate row is locked FOR UPDATE SKIP LOCKED:
// a concurrent claim skips it rather than waiting, and a row claimed by a transaction
// that committed meanwhile fails the re-checked status = 'pending' and is passed over.
//
// FIFO walks the partial index of pending jobs in id order. Fair share first ranks
// the top-level namespaces that have pending jobs by their running jobs (fewest
// first, then the oldest waiting job), from two partial indexes, then tries the
// FIFO claim within each namespace in that order until one yields a job. The ranking
// is a snapshot: under concurrent claims it is fair share, not an exact order.
func (s jobs) ClaimJob(ctx context.Context, req store.ClaimRequest) (*store.Job, error) {
	if req.RunnerID == 0 || req.Token == "" {
		return nil, fmt.Errorf("claiming a job: %w: a runner id and a job token are required", store.ErrInvalid)
	}
	switch req.Order {
	case "", store.ClaimFIFO:
		return s.claimIn(ctx, req, 0)
	case store.ClaimFairShare:
	default:
		return nil, fmt.Errorf("claiming a job: order %q: %w: want fifo or fair_share", req.Order, store.ErrInvalid)
	}
	// The namespaces with pending jobs come from a skip scan of the pending index
	// (one probe per namespace, not one row per pending job); each one's oldest
	// pending job breaks ties.
	var a args
	query := `WITH RECURSIVE ns (id) AS (
			SELECT (SELECT root_namespace_id FROM jobs WHERE status = 'pending' ORDER BY root_namespace_id LIMIT 1)
			UNION ALL
			SELECT (SELECT root_namespace_id FROM jobs WHERE status = 'pending' AND root_namespace_id > ns.id
				ORDER BY root_namespace_id LIMIT 1)
			FROM ns WHERE ns.id IS NOT NULL
		)
		SELECT ns.id FROM ns
		LEFT JOIN (SELECT root_namespace_id, count(*) AS running FROM jobs WHERE status = 'running'
			GROUP BY root_namespace_id) r ON r.root_namespace_id = ns.id`
	if len(req.Plans) > 0 {
		query += ` JOIN namespaces n ON n.id = ns.id AND n.plan IN (` + list(&a, req.Plans) + `)`
	}
	query += ` WHERE ns.id IS NOT NULL`
	if len(req.ExcludeRootNamespaces) > 0 {
		query += ` AND ns.id NOT IN (` + list(&a, req.ExcludeRootNamespaces) + `)`
	}
	query += ` ORDER BY coalesce(r.running, 0),
		(SELECT id FROM jobs WHERE status = 'pending' AND root_namespace_id = ns.id ORDER BY id LIMIT 1)`
	rows, err := s.w.QueryContext(ctx, query, a...)
	if err != nil {
		return nil, fmt.Errorf("claiming a job for runner %d: ranking namespaces: %w", req.RunnerID, err)
	}
	var ranked []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("claiming a job for runner %d: ranking namespaces: %w", req.RunnerID, err)
		}
		ranked = append(ranked, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claiming a job for runner %d: ranking namespaces: %w", req.RunnerID, err)
	}
	for _, ns := range ranked {
		j, err := s.claimIn(ctx, req, ns)
		if !errors.Is(err, store.ErrNotFound) {
			return j, err
		}
	}
	return nil, fmt.Errorf("claiming a job for runner %d: no pending job matches: %w", req.RunnerID, store.ErrNotFound)
}

// claimIn claims the oldest matching pending job, of top-level namespace ns if ns ≠ 0.
func (s jobs) claimIn(ctx context.Context, req store.ClaimRequest, ns int64) (*store.Job, error) {
	a := args{req.RunnerID, store.HashToken(req.Token), s.now()}
	pick := `SELECT j.id FROM jobs j`
	if len(req.Plans) > 0 {
		pick += ` JOIN namespaces ns ON ns.id = j.root_namespace_id AND ns.plan IN (` + list(&a, req.Plans) + `)`
	}
	pick += ` WHERE j.status = 'pending'`
	if ns != 0 {
		pick += ` AND j.root_namespace_id = ` + a.add(ns)
	}
	pick += s.tagFilter(&a, req)
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
	if len(req.ExcludeJobs) > 0 {
		pick += ` AND j.id NOT IN (` + list(&a, req.ExcludeJobs) + `)`
	}
	if req.MaxGPUs != store.NoGPULimit {
		pick += ` AND j.gpu_count <= ` + a.add(max(req.MaxGPUs, 0))
	}
	pick += ` ORDER BY j.id LIMIT 1 ` + s.d.SkipLocked
	// The picked row is pending and cannot change before the UPDATE: SQLite runs the
	// statement alone, and PostgreSQL holds the row lock FOR UPDATE took (after
	// re-checking status). So the UPDATE finds it by primary key alone.
	query := `UPDATE jobs SET status = 'running', runner_id = $1, token_hash = $2, started_at = $3, updated_at = $3
		WHERE id = (` + pick + `) RETURNING ` + jobCols
	j, err := scanJob(s.w.QueryRowContext(ctx, query, a...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("claiming a job for runner %d: no pending job matches: %w", req.RunnerID, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("claiming a job for runner %d: %w", req.RunnerID, s.classify(err))
	}
	return j, nil
}

// tagFilter keeps jobs whose tags are all among the runner's, and untagged jobs only
// for a runner that runs them.
func (s jobs) tagFilter(a *args, req store.ClaimRequest) string {
	if s.d.JSONBTags {
		tags, _ := jsonArg(orEmpty(req.Tags)) // []string always encodes
		f := ` AND j.tags <@ ` + a.add(tags) + `::jsonb`
		if !req.RunUntagged {
			f += ` AND j.tags <> '[]'::jsonb`
		}
		return f
	}
	var f string
	if len(req.Tags) > 0 {
		f = ` AND NOT EXISTS (SELECT 1 FROM job_tags t WHERE t.job_id = j.id AND t.tag NOT IN (` + list(a, req.Tags) + `))`
	} else {
		f = ` AND NOT EXISTS (SELECT 1 FROM job_tags t WHERE t.job_id = j.id)`
	}
	if !req.RunUntagged {
		f += ` AND EXISTS (SELECT 1 FROM job_tags t WHERE t.job_id = j.id)`
	}
	return f
}
