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
// FIFO claim within each namespace in that order until one yields a job. Where the
// dialect has LATERAL (PostgreSQL) ranking and claim are one statement, so one round
// trip; otherwise the ranking is read first. The ranking is a snapshot: under
// concurrent claims it is fair share, not an exact order.
func (s jobs) ClaimJob(ctx context.Context, req store.ClaimRequest) (*store.Job, *store.Pipeline, error) {
	if req.RunnerID == 0 || req.Token == "" {
		return nil, nil, fmt.Errorf("claiming a job: %w: a runner id and a job token are required", store.ErrInvalid)
	}
	switch req.Order {
	case "", store.ClaimFIFO:
		return s.claimIn(ctx, req, 0)
	case store.ClaimFairShare:
	default:
		return nil, nil, fmt.Errorf("claiming a job: order %q: %w: want fifo or fair_share", req.Order, store.ErrInvalid)
	}
	if s.d.Lateral {
		return s.claimFairShare(ctx, req)
	}
	var a args
	rows, err := s.w.QueryContext(ctx, rankNamespaces(&a, req), a...)
	if err != nil {
		return nil, nil, fmt.Errorf("claiming a job for runner %d: ranking namespaces: %w", req.RunnerID, err)
	}
	var ranked []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("claiming a job for runner %d: ranking namespaces: %w", req.RunnerID, err)
		}
		ranked = append(ranked, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("claiming a job for runner %d: ranking namespaces: %w", req.RunnerID, err)
	}
	for _, ns := range ranked {
		j, pl, err := s.claimIn(ctx, req, ns)
		if !errors.Is(err, store.ErrNotFound) {
			return j, pl, err
		}
	}
	return nil, nil, fmt.Errorf("claiming a job for runner %d: no pending job matches: %w", req.RunnerID, store.ErrNotFound)
}

// rankNamespaces is the query of the top-level namespaces with pending jobs, fewest
// running jobs first, then the oldest waiting job. The namespaces come from a skip
// scan of the pending index (one probe per namespace, not one row per pending job),
// and each one's running jobs are counted by its own probe of the running index: a
// plain index scan, which learns to skip the entries of jobs that stopped running
// (a scan of the whole index would visit each of them until the table is vacuumed).
func rankNamespaces(a *args, req store.ClaimRequest) string {
	query := `WITH RECURSIVE ns (id) AS (
			SELECT (SELECT root_namespace_id FROM jobs WHERE status = 'pending' ORDER BY root_namespace_id LIMIT 1)
			UNION ALL
			SELECT (SELECT root_namespace_id FROM jobs WHERE status = 'pending' AND root_namespace_id > ns.id
				ORDER BY root_namespace_id LIMIT 1)
			FROM ns WHERE ns.id IS NOT NULL
		)
		SELECT ns.id FROM ns`
	if len(req.Plans) > 0 {
		query += ` JOIN namespaces n ON n.id = ns.id AND n.plan IN (` + list(a, req.Plans) + `)`
	}
	query += ` WHERE ns.id IS NOT NULL`
	if len(req.ExcludeRootNamespaces) > 0 {
		query += ` AND ns.id NOT IN (` + list(a, req.ExcludeRootNamespaces) + `)`
	}
	// With one namespace waiting there is nothing to rank (the usual case): the
	// counting and the oldest job are left to namespaces that compete.
	return query + ` ORDER BY CASE WHEN (SELECT count(id) FROM ns) > 1 THEN
			(SELECT count(*) FROM jobs WHERE status = 'running' AND root_namespace_id = ns.id) END,
		CASE WHEN (SELECT count(id) FROM ns) > 1 THEN
			(SELECT id FROM jobs WHERE status = 'pending' AND root_namespace_id = ns.id ORDER BY id LIMIT 1) END`
}

// claimFairShare is the fair-share claim in one statement: the ranking, materialised
// in its order, drives a nested loop whose LATERAL side is the FIFO pick within one
// namespace; LIMIT 1 stops at the first namespace that yields a job, so only that
// job is locked.
func (s jobs) claimFairShare(ctx context.Context, req store.ClaimRequest) (*store.Job, *store.Pipeline, error) {
	a := args{req.RunnerID, store.HashToken(req.Token), s.now()}
	pick := `WITH ranked AS MATERIALIZED (` + rankNamespaces(&a, req) + `)
		SELECT c.id FROM ranked CROSS JOIN LATERAL (SELECT j.id FROM jobs j WHERE j.status = 'pending'
			AND j.root_namespace_id = ranked.id` + s.pickFilter(&a, req) + `
			ORDER BY j.id LIMIT 1 ` + s.d.SkipLocked + `) c
		LIMIT 1`
	return s.claimPicked(ctx, req, a, pick)
}

// claimIn claims the oldest matching pending job, of top-level namespace ns if ns ≠ 0.
func (s jobs) claimIn(ctx context.Context, req store.ClaimRequest, ns int64) (*store.Job, *store.Pipeline, error) {
	a := args{req.RunnerID, store.HashToken(req.Token), s.now()}
	pick := `SELECT j.id FROM jobs j`
	if len(req.Plans) > 0 {
		pick += ` JOIN namespaces ns ON ns.id = j.root_namespace_id AND ns.plan IN (` + list(&a, req.Plans) + `)`
	}
	pick += ` WHERE j.status = 'pending'`
	if ns != 0 {
		pick += ` AND j.root_namespace_id = ` + a.add(ns)
	}
	pick += s.pickFilter(&a, req)
	if len(req.ExcludeRootNamespaces) > 0 {
		pick += ` AND j.root_namespace_id NOT IN (` + list(&a, req.ExcludeRootNamespaces) + `)`
	}
	pick += ` ORDER BY j.id LIMIT 1 ` + s.d.SkipLocked
	return s.claimPicked(ctx, req, a, pick)
}

// pickFilter is the conditions on a pending job j other than its namespace's: tags,
// machine type, project, protected ref, exclusions and GPUs.
func (s jobs) pickFilter(a *args, req store.ClaimRequest) string {
	f := s.tagFilter(a, req)
	if len(req.MachineTypes) > 0 {
		f += ` AND j.machine_type IN (` + list(a, req.MachineTypes) + `)`
	}
	if len(req.ProjectIDs) > 0 {
		f += ` AND j.project_id IN (` + list(a, req.ProjectIDs) + `)`
	}
	if req.ProtectedOnly {
		f += ` AND j.protected = TRUE`
	}
	if len(req.ExcludeJobs) > 0 {
		f += ` AND j.id NOT IN (` + list(a, req.ExcludeJobs) + `)`
	}
	if req.MaxGPUs != store.NoGPULimit {
		f += ` AND j.gpu_count <= ` + a.add(max(req.MaxGPUs, 0))
	}
	return f
}

// claimPicked moves the job pick selects to running for the runner and reads its
// pipeline. a holds the runner id, token hash and time as $1–$3, then pick's
// arguments.
func (s jobs) claimPicked(ctx context.Context, req store.ClaimRequest, a args, pick string) (*store.Job, *store.Pipeline, error) {
	// The picked row is pending and cannot change before the UPDATE: SQLite runs the
	// statement alone, and PostgreSQL holds the row lock FOR UPDATE took (after
	// re-checking status). So the UPDATE finds it by primary key alone.
	claim := `UPDATE jobs SET status = 'running', runner_id = $1, token_hash = $2, started_at = $3, updated_at = $3
		WHERE id = (` + pick + `) RETURNING ` + jobCols
	var j store.Job
	var pl store.Pipeline
	var err error
	if s.d.WritableCTE {
		// One statement: the pipeline comes with the claimed job.
		err = s.w.QueryRowContext(ctx, `WITH claimed AS (`+claim+`)
			SELECT claimed.*, `+pipelineColsOf("p")+` FROM claimed JOIN pipelines p ON p.id = claimed.pipeline_id`,
			a...).Scan(append(jobDest(&j), pipelineDest(&pl)...)...)
	} else {
		// One transaction, so that a claim whose pipeline cannot be read is undone.
		err = s.tx(ctx, func(tx querier) error {
			if err := tx.QueryRowContext(ctx, claim, a...).Scan(jobDest(&j)...); err != nil {
				return err
			}
			return tx.QueryRowContext(ctx, `SELECT `+pipelineCols+` FROM pipelines WHERE id = $1`, j.PipelineID).
				Scan(pipelineDest(&pl)...)
		})
	}
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, fmt.Errorf("claiming a job for runner %d: no pending job matches: %w", req.RunnerID, store.ErrNotFound)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("claiming a job for runner %d: %w", req.RunnerID, s.classify(err))
	}
	return &j, &pl, nil
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
