package coordinator

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/kiln-ci/kiln/internal/ci"
	"github.com/kiln-ci/kiln/internal/coordinator/progress"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/store"
)

// outcome is how a running job ended.
type outcome struct {
	status        store.Status // success, failed or canceled
	failureReason string
	exitCode      *int
	message       string
	telemetry     []byte
}

// finish records a running (or canceling) job's end with its charge (its minutes at
// its runner's machine type's cost factor, in the same store transaction), and does
// what follows: quota bookkeeping, a retry when the job's retry policy says so, and
// moving its pipeline on.
func (s *Service) finish(ctx context.Context, j *store.Job, o outcome) (*store.Job, error) {
	var runner *store.Runner
	if j.RunnerID != 0 {
		var err error
		if runner, err = s.runner(ctx, j.RunnerID); err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.Error("reading a job's runner", "job", j.ID, "runner", j.RunnerID, "error", err)
		}
	}
	t := store.JobTransition{
		From: []store.Status{store.StatusRunning, store.StatusCanceling}, To: o.status,
		FailureReason: o.failureReason, ExitCode: o.exitCode, KilnMessage: o.message, GPUTelemetry: o.telemetry,
		ChargeFactor: s.costFactor(runner),
	}
	done, err := s.transition(ctx, j.ID, t)
	if err != nil {
		return nil, fmt.Errorf("finishing job %d as %s: %w", j.ID, o.status, err)
	}
	s.metrics.finished(done)
	s.log.Info("job finished", "job", done.ID, "pipeline", done.PipelineID, "status", done.Status,
		"failure_reason", done.FailureReason, "runner", done.RunnerID, "duration", done.Duration())
	if t.ChargeFactor > 0 && !done.StartedAt.IsZero() {
		s.charged(ctx, done, t.ChargeFactor)
	}
	if done.Status == store.StatusFailed && autoRetry(done) {
		if _, err := s.retry(ctx, done, true); err != nil {
			s.log.Error("retrying a failed job", "job", done.ID, "error", err)
		}
	}
	s.processLogged(ctx, done.PipelineID)
	return done, nil
}

// noRetryReasons are failures GitLab never retries automatically.
var noRetryReasons = []string{protocol.FailureQuotaExceeded, protocol.FailureNoMatchingRunner,
	protocol.FailurePlanNotAllowed, protocol.FailureGPUUnavailable}

// autoRetry is GitLab's Gitlab::Ci::Build::AutoRetry (ci.Retry.Allows): a failed job
// is retried while its attempts are within retry:max, when its failure reason is in
// retry:when ("always" by default, unless only exit_codes are given) or its exit code
// is in retry:exit_codes.
func autoRetry(j *store.Job) bool {
	if j.Retried || slices.Contains(noRetryReasons, j.FailureReason) {
		return false
	}
	return ci.Retry(j.Retry).Allows(j.Attempt-1, j.FailureReason, j.ExitCode)
}

// retry replaces a finished job with a new attempt that is queued at once (GitLab
// enqueues a retried job immediately, a manual one too), and resets the skipped jobs
// after it so that they run once it is done.
func (s *Service) retry(ctx context.Context, j *store.Job, automatic bool) (*store.Job, error) {
	next, err := s.st.Jobs.RetryJob(ctx, j.ID, store.StatusCreated)
	if err != nil {
		return nil, err
	}
	s.log.Info("job retried", "job", j.ID, "new_job", next.ID, "attempt", next.Attempt, "automatic", automatic)
	if err := s.enqueue(ctx, next, []store.Status{store.StatusCreated}); err != nil {
		return nil, err
	}
	if err := s.resetSkipped(ctx, j.PipelineID, []string{j.Name}); err != nil {
		return nil, err
	}
	return s.st.Jobs.Job(ctx, next.ID)
}

// resetSkipped moves the skipped jobs downstream of the named jobs back to created.
func (s *Service) resetSkipped(ctx context.Context, pipelineID int64, names []string) error {
	jobs, err := s.pipelineJobs(ctx, pipelineID)
	if err != nil {
		return err
	}
	for _, id := range progress.Dependents(progress.FromStore(jobs), names) {
		_, err := s.transition(ctx, id, store.JobTransition{
			From: []store.Status{store.StatusSkipped}, To: store.StatusCreated})
		if err != nil && !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("resetting skipped job %d: %w", id, err)
		}
	}
	return nil
}

// RetryJob retries a finished job (GitLab's POST /projects/:id/jobs/:job_id/retry):
// a new attempt replaces it in the pipeline and is queued at once; the jobs skipped
// because of it run again after it. It returns the new job. KindConflict when the
// job is not finished or was retried already.
func (s *Service) RetryJob(ctx context.Context, jobID int64) (*store.Job, error) {
	j, err := s.st.Jobs.Job(ctx, jobID)
	if err != nil {
		return nil, notFound(err, "job", jobID)
	}
	if !j.Status.Finished() || j.Retried || j.Status == store.StatusSkipped {
		return nil, newError(KindConflict, nil, "job %d is %s and cannot be retried", jobID, retriedOr(j))
	}
	next, err := s.retry(ctx, j, false)
	if errors.Is(err, store.ErrConflict) {
		return nil, newError(KindConflict, err, "job %d cannot be retried: it is %s", jobID, retriedOr(j))
	}
	if err != nil {
		return nil, err
	}
	if err := s.processPipeline(ctx, j.PipelineID); err != nil {
		return nil, err
	}
	return next, nil
}

func retriedOr(j *store.Job) string {
	if j.Retried {
		return "retried already"
	}
	return string(j.Status)
}

// PlayJob runs a manual job, or a delayed job now (GitLab's play): it is queued, and
// the jobs skipped while it waited run after it. KindConflict unless the job is
// manual or scheduled.
func (s *Service) PlayJob(ctx context.Context, jobID int64) (*store.Job, error) {
	j, err := s.st.Jobs.Job(ctx, jobID)
	if err != nil {
		return nil, notFound(err, "job", jobID)
	}
	if j.Status != store.StatusManual && j.Status != store.StatusScheduled {
		return nil, newError(KindConflict, nil, "Unplayable Job: job %d is %s, not manual", jobID, j.Status)
	}
	if err := s.enqueue(ctx, j, []store.Status{store.StatusManual, store.StatusScheduled}); err != nil {
		return nil, err
	}
	if err := s.resetSkipped(ctx, j.PipelineID, []string{j.Name}); err != nil {
		return nil, err
	}
	if err := s.processPipeline(ctx, j.PipelineID); err != nil {
		return nil, err
	}
	return s.st.Jobs.Job(ctx, jobID)
}

// cancelable are the statuses a cancel ends at once; a running job is asked to stop
// (canceling) and ends when its runner reports.
var cancelable = []store.Status{store.StatusCreated, store.StatusWaitingForResource, store.StatusPreparing,
	store.StatusPending, store.StatusManual, store.StatusScheduled}

// CancelJob cancels a job (GitLab's POST /projects/:id/jobs/:job_id/cancel): a job
// not started yet is canceled at once; a running one becomes canceling, its runner
// is told on its next trace or state update (Job-Status: canceling) and it is
// canceled when the runner reports back, or by the reaper if the runner went silent.
// KindConflict when the job is finished.
func (s *Service) CancelJob(ctx context.Context, jobID int64) (*store.Job, error) {
	j, err := s.st.Jobs.Job(ctx, jobID)
	if err != nil {
		return nil, notFound(err, "job", jobID)
	}
	out, err := s.cancel(ctx, j)
	if err != nil {
		return nil, err
	}
	if err := s.processPipeline(ctx, j.PipelineID); err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Service) cancel(ctx context.Context, j *store.Job) (*store.Job, error) {
	var t store.JobTransition
	switch {
	case j.Status == store.StatusRunning:
		t = store.JobTransition{From: []store.Status{store.StatusRunning}, To: store.StatusCanceling}
	case j.Status == store.StatusCanceling:
		return j, nil
	case slices.Contains(cancelable, j.Status):
		t = store.JobTransition{From: cancelable, To: store.StatusCanceled}
	default:
		return nil, newError(KindConflict, nil, "job %d is %s and cannot be canceled", j.ID, j.Status)
	}
	out, err := s.transition(ctx, j.ID, t)
	if errors.Is(err, store.ErrConflict) {
		// It moved meanwhile (a runner claimed it, or it finished): look again.
		cur, err := s.st.Jobs.Job(ctx, j.ID)
		if err != nil {
			return nil, notFound(err, "job", j.ID)
		}
		if cur.Status == j.Status {
			return nil, fmt.Errorf("canceling job %d: %w", j.ID, store.ErrConflict)
		}
		return s.cancel(ctx, cur)
	}
	if err != nil {
		return nil, fmt.Errorf("canceling job %d: %w", j.ID, err)
	}
	s.log.Info("job canceled", "job", j.ID, "pipeline", j.PipelineID, "status", out.Status)
	if out.Status == store.StatusCanceled {
		s.metrics.finished(out)
	}
	return out, nil
}

// CancelPipeline cancels every unfinished job of a pipeline (GitLab's POST
// /projects/:id/pipelines/:pipeline_id/cancel) and returns the pipeline.
func (s *Service) CancelPipeline(ctx context.Context, pipelineID int64) (*store.Pipeline, error) {
	if _, err := s.st.Pipelines.Pipeline(ctx, pipelineID); err != nil {
		return nil, notFound(err, "pipeline", pipelineID)
	}
	jobs, err := s.pipelineJobs(ctx, pipelineID)
	if err != nil {
		return nil, err
	}
	for i := range jobs {
		if jobs[i].Status.Finished() || jobs[i].Status == store.StatusCanceling {
			continue
		}
		if _, err := s.cancel(ctx, &jobs[i]); err != nil && KindOf(err) != KindConflict {
			return nil, err
		}
	}
	if err := s.processPipeline(ctx, pipelineID); err != nil {
		return nil, err
	}
	return s.st.Pipelines.Pipeline(ctx, pipelineID)
}

// RetryPipeline retries a pipeline's failed and canceled jobs (GitLab's POST
// /projects/:id/pipelines/:pipeline_id/retry): each gets a new attempt, skipped jobs
// go back to created, and the pipeline runs again in stage order.
func (s *Service) RetryPipeline(ctx context.Context, pipelineID int64) (*store.Pipeline, error) {
	if _, err := s.st.Pipelines.Pipeline(ctx, pipelineID); err != nil {
		return nil, notFound(err, "pipeline", pipelineID)
	}
	jobs, err := s.pipelineJobs(ctx, pipelineID)
	if err != nil {
		return nil, err
	}
	retried := 0
	for _, j := range jobs {
		switch j.Status {
		case store.StatusFailed, store.StatusCanceled:
			if _, err := s.st.Jobs.RetryJob(ctx, j.ID, store.StatusCreated); err != nil && !errors.Is(err, store.ErrConflict) {
				return nil, fmt.Errorf("retrying job %d: %w", j.ID, err)
			}
			retried++
		case store.StatusSkipped:
			_, err := s.transition(ctx, j.ID, store.JobTransition{From: []store.Status{store.StatusSkipped}, To: store.StatusCreated})
			if err != nil && !errors.Is(err, store.ErrConflict) {
				return nil, fmt.Errorf("resetting skipped job %d: %w", j.ID, err)
			}
			retried++
		}
	}
	if retried == 0 {
		return nil, newError(KindConflict, nil, "pipeline %d has no failed, canceled or skipped jobs to retry", pipelineID)
	}
	if err := s.processPipeline(ctx, pipelineID); err != nil {
		return nil, err
	}
	return s.st.Pipelines.Pipeline(ctx, pipelineID)
}
