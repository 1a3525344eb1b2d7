package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/kiln-ci/kiln/internal/store"
)

func (s jobs) TransitionJob(ctx context.Context, id int64, t store.JobTransition) (*store.Job, error) {
	query, a, now, err := s.transition(id, t)
	if err != nil {
		return nil, err
	}
	var j *store.Job
	switch {
	case t.ChargeFactor == 0:
		j, err = scanJob(s.w.QueryRowContext(ctx, query+` RETURNING `+jobColsNoPayload, a...))
	case s.d.WritableCTE:
		// One statement: the finished job's minutes are computed from the row the
		// UPDATE returns and added to its namespace's usage.
		month, shard, factor := a.add(store.MonthOf(now)), a.add(s.usageShard()), a.add(t.ChargeFactor)
		j, err = scanJob(s.w.QueryRowContext(ctx, `WITH done AS (`+query+` RETURNING `+jobColsNoPayload+`),
				charged AS (INSERT INTO compute_usage (root_namespace_id, month, shard, minutes, warned)
					SELECT root_namespace_id, `+month+`, `+shard+`,
						(extract(epoch FROM finished_at - started_at) / 60)::float8 * `+factor+`, -1
					FROM done WHERE started_at IS NOT NULL `+addToUsage+`)
			SELECT * FROM done`, a...))
	default:
		err = s.tx(ctx, func(tx querier) error {
			done, err := scanJob(tx.QueryRowContext(ctx, query+` RETURNING `+jobColsNoPayload, a...))
			if err != nil {
				return err
			}
			j = done
			if done.StartedAt.IsZero() {
				return nil
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO compute_usage (root_namespace_id, month, shard, minutes, warned)
				VALUES ($1, $2, $3, $4, -1) `+addToUsage, done.RootNamespaceID, store.MonthOf(done.FinishedAt), s.usageShard(),
				done.Duration().Minutes()*t.ChargeFactor)
			return err
		})
	}
	if errors.Is(err, sql.ErrNoRows) {
		return nil, s.transitionConflict(ctx, id, t.From, t.To)
	}
	if err != nil {
		return nil, fmt.Errorf("moving job %d to %s: %w", id, t.To, s.classify(err))
	}
	return j, nil
}

// transition is the UPDATE (without RETURNING) of a job's transition, its arguments
// and the time it sets, after checking the transition.
func (s jobs) transition(id int64, t store.JobTransition) (string, args, time.Time, error) {
	if len(t.From) == 0 {
		return "", nil, time.Time{}, fmt.Errorf("job %d: transition to %s without from statuses: %w", id, t.To, store.ErrInvalid)
	}
	if err := checkStatus("job status", t.To); err != nil {
		return "", nil, time.Time{}, fmt.Errorf("job %d: %w", id, err)
	}
	if t.To == store.StatusRunning {
		return "", nil, time.Time{}, fmt.Errorf("job %d: transition to running: %w: a job starts running only when a runner claims it", id, store.ErrInvalid)
	}
	if t.To == store.StatusScheduled && t.ScheduledAt.IsZero() {
		return "", nil, time.Time{}, fmt.Errorf("job %d: transition to scheduled without a time: %w", id, store.ErrInvalid)
	}
	if t.ChargeFactor != 0 && (!t.To.Finished() || t.ChargeFactor < 0 || math.IsNaN(t.ChargeFactor) || math.IsInf(t.ChargeFactor, 0)) {
		return "", nil, time.Time{}, fmt.Errorf("job %d: transition to %s charging %v: %w: a charge is a finite factor > 0 that comes with a finish",
			id, t.To, t.ChargeFactor, store.ErrInvalid)
	}
	now := s.now()
	a := args{t.To, now}
	set := `status = $1, updated_at = $2`
	switch {
	case t.To == store.StatusPending:
		set += `, queued_at = $2, runner_id = NULL, started_at = NULL`
	case t.To == store.StatusScheduled:
		set += `, scheduled_at = ` + a.add(t.ScheduledAt.UTC())
	case t.To.Finished():
		var exitCode, coverage any
		if t.ExitCode != nil {
			exitCode = *t.ExitCode
		}
		if t.Coverage != nil {
			coverage = *t.Coverage
		}
		set += `, finished_at = $2, failure_reason = ` + a.add(t.FailureReason) + `, exit_code = ` + a.add(exitCode) +
			`, coverage = ` + a.add(coverage)
		if len(t.GPUTelemetry) > 0 {
			set += `, gpu_telemetry = ` + a.add(rawArg(t.GPUTelemetry))
		}
	}
	if t.KilnMessage != "" {
		set += `, kiln_message = ` + a.add(t.KilnMessage)
	}
	if !t.To.HoldsToken() {
		set += `, token_hash = NULL`
	}
	return `UPDATE jobs SET ` + set + ` WHERE id = ` + a.add(id) + ` AND status IN (` + list(&a, t.From) + `)`, a, now, nil
}

// transitionConflict explains why a compare-and-set on a job's status matched nothing.
func (s jobs) transitionConflict(ctx context.Context, id int64, from []store.Status, to store.Status) error {
	var status store.Status
	err := s.w.QueryRowContext(ctx, `SELECT status FROM jobs WHERE id = $1`, id).Scan(&status)
	if err != nil {
		return fmt.Errorf("moving job %d to %s: %w", id, to, s.classify(err))
	}
	return fmt.Errorf("moving job %d to %s: it is %s, not %v: %w", id, to, status, from, store.ErrConflict)
}

func (s jobs) PipelineJobs(ctx context.Context, pipelineID int64) (store.PipelineState, error) {
	state, err := pipelineJobs(ctx, s.r, pipelineID)
	if err != nil {
		return state, fmt.Errorf("reading the jobs of pipeline %d: %w", pipelineID, err)
	}
	return state, nil
}

// pipelineJobs reads a pipeline's state: its current jobs with its status in each row.
func pipelineJobs(ctx context.Context, q querier, pipelineID int64) (store.PipelineState, error) {
	var state store.PipelineState
	rows, err := q.QueryContext(ctx, `SELECT (SELECT status FROM pipelines WHERE id = $1), `+jobColsNoPayload+`
		FROM jobs WHERE pipeline_id = $1 AND retried = FALSE ORDER BY id`, pipelineID)
	if err != nil {
		return state, err
	}
	defer rows.Close()
	dest := make([]any, 0, 1+jobColCount)
	for rows.Next() {
		state.Jobs = append(state.Jobs, store.Job{})
		j := &state.Jobs[len(state.Jobs)-1]
		dest = appendJobDest(append(dest[:0], stringCol{(*string)(&state.Status)}), j)
		if err := rows.Scan(dest...); err != nil {
			return store.PipelineState{}, err
		}
	}
	return state, rows.Err()
}
