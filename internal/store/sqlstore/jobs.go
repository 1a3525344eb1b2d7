package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kiln-ci/kiln/internal/store"
)

type jobs struct{ *db }

const jobCols = `id, pipeline_id, project_id, root_namespace_id, user_id, name, stage, stage_idx, status, when_condition,
	allow_failure, allow_failure_exit_codes, needs, dependencies, retry, attempt, retried, protected, timeout_seconds,
	tags, machine_type, gpu_count, gpu_request, payload, runner_id, created_at, queued_at, started_at, finished_at,
	updated_at, scheduled_at, failure_reason, exit_code, coverage, kiln_message, gpu_telemetry, scheduling_type,
	start_in_seconds`

// jobColsNoPayload is jobCols with NULL for the payload (JobQuery.OmitPayload).
var jobColsNoPayload = strings.Replace(jobCols, " payload,", " NULL,", 1)

func scanJob(s scanner) (*store.Job, error) {
	var j store.Job
	err := s.Scan(jobDest(&j)...)
	return &j, err
}

// jobDest is where a row of jobCols scans into j.
func jobDest(j *store.Job) []any { return appendJobDest(make([]any, 0, jobColCount), j) }

// jobColCount is the number of columns in jobCols.
const jobColCount = 38

// appendJobDest appends to dest where a row of jobCols scans into j.
func appendJobDest(dest []any, j *store.Job) []any {
	return append(dest, &j.ID, &j.PipelineID, &j.ProjectID, &j.RootNamespaceID, int64Col{&j.UserID}, &j.Name, &j.Stage, &j.StageIdx,
		&j.Status, &j.When, &j.AllowFailure, jsonCol{&j.AllowFailureExitCodes}, jsonCol{&j.Needs}, jsonCol{&j.Dependencies},
		jsonCol{&j.Retry}, &j.Attempt, &j.Retried, &j.Protected, &j.TimeoutSeconds, jsonCol{&j.Tags}, &j.MachineType,
		&j.GPUCount, jsonCol{&j.GPURequest}, rawCol{&j.Payload}, int64Col{&j.RunnerID}, timeCol{&j.CreatedAt},
		timeCol{&j.QueuedAt}, timeCol{&j.StartedAt}, timeCol{&j.FinishedAt}, timeCol{&j.UpdatedAt}, timeCol{&j.ScheduledAt},
		&j.FailureReason, intPtrCol{&j.ExitCode}, floatPtrCol{&j.Coverage}, &j.KilnMessage, rawCol{&j.GPUTelemetry},
		&j.Scheduling, secondsCol{&j.StartIn})
}

func checkNewJob(j *store.Job) error {
	if j.When == "" {
		j.When = store.WhenOnSuccess
	}
	if err := checkNotEmpty("job name", j.Name); err != nil {
		return err
	}
	if err := checkNotEmpty("job stage", j.Stage); err != nil {
		return fmt.Errorf("job %q: %w", j.Name, err)
	}
	if err := checkStatus("job status", j.Status); err != nil {
		return fmt.Errorf("job %q: %w", j.Name, err)
	}
	if j.Status == store.StatusRunning || j.Status == store.StatusCanceling {
		return fmt.Errorf("job %q: status %s: %w: a job starts running only when a runner claims it", j.Name, j.Status, store.ErrInvalid)
	}
	if j.GPUCount < 0 || j.TimeoutSeconds < 0 || j.StartIn < 0 {
		return fmt.Errorf("job %q: negative GPU count, timeout or start_in: %w", j.Name, store.ErrInvalid)
	}
	if j.Scheduling == "" {
		j.Scheduling = store.SchedulingStage
	}
	if j.Scheduling != store.SchedulingStage && j.Scheduling != store.SchedulingDAG {
		return fmt.Errorf("job %q: scheduling %q: %w: want stage or dag", j.Name, j.Scheduling, store.ErrInvalid)
	}
	for _, t := range j.Tags {
		if strings.TrimSpace(t) == "" {
			return fmt.Errorf("job %q: empty tag: %w", j.Name, store.ErrInvalid)
		}
	}
	return nil
}

// insertJob inserts j (already checked) and its tags, and sets ID, Tags (sorted,
// without duplicates), CreatedAt, UpdatedAt and, for a pending job, QueuedAt.
func insertJob(ctx context.Context, tx querier, d *db, j *store.Job, now time.Time) error {
	tags := slices.Compact(slices.Sorted(slices.Values(j.Tags)))
	var (
		enc  [6]string
		err  error
		vals = []any{orEmpty(j.AllowFailureExitCodes), orEmpty(j.Needs), orEmpty(j.Dependencies), j.Retry, orEmpty(tags), j.GPURequest}
	)
	for i, v := range vals {
		if enc[i], err = jsonArg(v); err != nil {
			return err
		}
	}
	var exitCode, coverage, queued any
	if j.ExitCode != nil {
		exitCode = *j.ExitCode
	}
	if j.Coverage != nil {
		coverage = *j.Coverage
	}
	if j.Status == store.StatusPending {
		queued = now
	}
	err = tx.QueryRowContext(ctx, `INSERT INTO jobs (pipeline_id, project_id, root_namespace_id, user_id, name, stage, stage_idx,
			status, when_condition, allow_failure, allow_failure_exit_codes, needs, dependencies, retry, attempt, retried,
			protected, timeout_seconds, tags, machine_type, gpu_count, gpu_request, payload, created_at, queued_at,
			updated_at, scheduled_at, failure_reason, exit_code, coverage, kiln_message, gpu_telemetry, scheduling_type,
			start_in_seconds)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23,
			$24, $25, $24, $26, $27, $28, $29, $30, $31, $32, $33) RETURNING id`,
		j.PipelineID, j.ProjectID, j.RootNamespaceID, nullInt64(j.UserID), j.Name, j.Stage, j.StageIdx, j.Status, j.When,
		j.AllowFailure, enc[0], enc[1], enc[2], enc[3], j.Attempt, j.Retried, j.Protected, j.TimeoutSeconds, enc[4],
		j.MachineType, j.GPUCount, enc[5], rawArg(j.Payload), now, queued, timeArg(j.ScheduledAt), j.FailureReason,
		exitCode, coverage, j.KilnMessage, rawArg(j.GPUTelemetry), j.Scheduling, int64(j.StartIn/time.Second)).Scan(&j.ID)
	if err != nil {
		return d.classify(err)
	}
	for _, tag := range tags {
		if d.d.JSONBTags {
			break // claims read jobs.tags
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO job_tags (job_id, tag) VALUES ($1, $2)`, j.ID, tag); err != nil {
			return d.classify(err)
		}
	}
	j.Tags, j.CreatedAt, j.UpdatedAt = tags, now, now
	j.RunnerID, j.StartedAt, j.FinishedAt, j.QueuedAt = 0, time.Time{}, time.Time{}, time.Time{}
	if queued != nil {
		j.QueuedAt = now
	}
	return nil
}

// orEmpty turns a nil slice into an empty one, so that JSON columns hold [] not null.
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (s jobs) Job(ctx context.Context, id int64) (*store.Job, error) {
	j, err := scanJob(s.r.QueryRowContext(ctx, `SELECT `+jobCols+` FROM jobs WHERE id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("job %d: %w", id, s.classify(err))
	}
	return j, nil
}

func (s jobs) JobByToken(ctx context.Context, token string) (*store.Job, error) {
	var hash []byte
	row := s.r.QueryRowContext(ctx, `SELECT token_hash, `+jobColsNoPayload+` FROM jobs WHERE token_hash = $1
		AND status IN ('running', 'canceling')`, store.HashToken(token))
	j, err := scanJob(prefixScanner{row, &hash})
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !store.TokenMatches(hash, token)) {
		return nil, fmt.Errorf("job token: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("looking up a job token: %w", err)
	}
	return j, nil
}

// prefixScanner scans a leading column into first, the rest with the wrapped scan.
type prefixScanner struct {
	s     scanner
	first any
}

func (p prefixScanner) Scan(dest ...any) error { return p.s.Scan(append([]any{p.first}, dest...)...) }

func (s jobs) ListJobs(ctx context.Context, q store.JobQuery) ([]store.Job, error) {
	cols := jobCols
	if q.OmitPayload {
		cols = jobColsNoPayload
	}
	order := ` ORDER BY id`
	if q.Newest {
		order += ` DESC`
	}
	var a args
	limit, offset := q.Page.Bounds()
	var query string
	if offset == 0 {
		query = `SELECT ` + cols + ` FROM jobs WHERE ` + jobFilter(&a, q) + order + pageClause(&a, limit, offset)
	} else {
		// Deferred join: the page's ids come from an index (one that covers the filter,
		// such as jobs_project_current), so that only the rows shown are read.
		query = `SELECT ` + cols + ` FROM jobs WHERE id IN (SELECT id FROM jobs WHERE ` + jobFilter(&a, q) + order +
			pageClause(&a, limit, offset) + `)` + order
	}
	rows, err := s.r.QueryContext(ctx, query, a...)
	if err != nil {
		return nil, fmt.Errorf("listing jobs: %w", err)
	}
	out, err := collect(rows, scanJob)
	if err != nil {
		return nil, fmt.Errorf("listing jobs: %w", err)
	}
	return out, nil
}

// jobFilter is the WHERE condition of a job query (without paging or order).
func jobFilter(a *args, q store.JobQuery) string {
	where := `1 = 1`
	if q.PipelineID != 0 {
		where += ` AND pipeline_id = ` + a.add(q.PipelineID)
	}
	if q.ProjectID != 0 {
		where += ` AND project_id = ` + a.add(q.ProjectID)
	}
	if q.RunnerID != 0 {
		where += ` AND runner_id = ` + a.add(q.RunnerID)
	}
	if len(q.Statuses) > 0 {
		where += ` AND status IN (` + list(a, q.Statuses) + `)`
	}
	if !q.IncludeRetried {
		where += ` AND retried = FALSE`
	}
	if !q.UpdatedBefore.IsZero() {
		where += ` AND updated_at < ` + a.add(q.UpdatedBefore.UTC())
	}
	if !q.ScheduledBefore.IsZero() {
		where += ` AND scheduled_at < ` + a.add(q.ScheduledBefore.UTC())
	}
	return where
}

func (s jobs) CountJobs(ctx context.Context, q store.JobQuery, upTo int) (int, error) {
	var a args
	where := jobFilter(&a, q) // before a is read
	n, err := s.countUpTo(ctx, "jobs", where, a, upTo)
	if err != nil {
		return 0, fmt.Errorf("counting jobs: %w", err)
	}
	return n, nil
}

func (s jobs) TouchJob(ctx context.Context, id int64) error {
	res, err := s.w.ExecContext(ctx, `UPDATE jobs SET updated_at = $1 WHERE id = $2 AND status IN ('running', 'canceling')`,
		s.now(), id)
	if err := affected(res, err, s.db); errors.Is(err, store.ErrNotFound) {
		var status store.Status
		if err := s.w.QueryRowContext(ctx, `SELECT status FROM jobs WHERE id = $1`, id).Scan(&status); err != nil {
			return fmt.Errorf("touching job %d: %w", id, s.classify(err))
		}
		return fmt.Errorf("touching job %d: it is %s, not running or canceling: %w", id, status, store.ErrConflict)
	} else if err != nil {
		return fmt.Errorf("touching job %d: %w", id, err)
	}
	return nil
}

func (s jobs) RetryJob(ctx context.Context, id int64, status store.Status) (*store.Job, error) {
	switch status {
	case store.StatusCreated, store.StatusPending, store.StatusManual, store.StatusScheduled:
	default:
		return nil, fmt.Errorf("retrying job %d as %q: %w: want created, pending, manual or scheduled", id, status, store.ErrInvalid)
	}
	var retry *store.Job
	err := s.tx(ctx, func(tx querier) error {
		old, err := scanJob(tx.QueryRowContext(ctx, `UPDATE jobs SET retried = TRUE WHERE id = $1 AND retried = FALSE
			AND status IN ('success', 'failed', 'canceled', 'skipped') RETURNING `+jobCols, id))
		if errors.Is(err, sql.ErrNoRows) {
			cur, err := scanJob(tx.QueryRowContext(ctx, `SELECT `+jobCols+` FROM jobs WHERE id = $1`, id))
			if err != nil {
				return s.classify(err)
			}
			if cur.Retried {
				return fmt.Errorf("it was retried already: %w", store.ErrConflict)
			}
			return fmt.Errorf("it is %s, not finished: %w", cur.Status, store.ErrConflict)
		}
		if err != nil {
			return s.classify(err)
		}
		n := &store.Job{
			PipelineID: old.PipelineID, ProjectID: old.ProjectID, RootNamespaceID: old.RootNamespaceID, UserID: old.UserID,
			Name: old.Name, Stage: old.Stage, StageIdx: old.StageIdx, Status: status, When: old.When,
			AllowFailure: old.AllowFailure, AllowFailureExitCodes: old.AllowFailureExitCodes, Needs: old.Needs,
			Dependencies: old.Dependencies, Retry: old.Retry, Attempt: old.Attempt + 1, Protected: old.Protected,
			TimeoutSeconds: old.TimeoutSeconds, Tags: old.Tags, MachineType: old.MachineType, GPUCount: old.GPUCount,
			GPURequest: old.GPURequest, Payload: old.Payload, ScheduledAt: old.ScheduledAt,
			Scheduling: old.Scheduling, StartIn: old.StartIn,
		}
		if err := insertJob(ctx, tx, s.db, n, s.now()); err != nil {
			return err
		}
		retry = n
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("retrying job %d: %w", id, err)
	}
	return retry, nil
}
