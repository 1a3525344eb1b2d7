package coordinator

import (
	"context"
	"errors"
	"fmt"

	"github.com/kiln-ci/kiln/internal/coordinator/progress"
	"github.com/kiln-ci/kiln/internal/store"
)

// maxProcessRounds bounds one processing of a pipeline; each round moves at least one
// job out of created, so a pipeline needs at most one round per stage and gated job.
const maxProcessRounds = 64

// pipelineJobs returns a pipeline's current jobs (retried attempts left out), without
// their payloads: processing, cancels, retries and dependencies look only at the
// jobs' statuses and definitions, and the payload is most of a job's bytes.
func (s *Service) pipelineJobs(ctx context.Context, pipelineID int64) ([]store.Job, error) {
	state, err := s.st.Jobs.PipelineJobs(ctx, pipelineID)
	if err != nil {
		return nil, fmt.Errorf("listing the jobs of pipeline %d: %w", pipelineID, err)
	}
	return state.Jobs, nil
}

// processPipeline moves a pipeline on after any change: created jobs whose
// predecessors are complete become pending (after the admission checks), manual,
// scheduled or skipped, round after round until nothing moves, and then the
// pipeline's status is set from its jobs. It is safe to call at any time and from
// several replicas: each job moves by compare-and-set, and the status is re-checked
// after it is written.
//
// Within a replica, calls for one pipeline share work: a call made while the
// pipeline is being processed waits for one more pass that starts after it (and so
// sees its change) instead of running its own. Ten jobs of a pipeline finishing at
// once cost two passes, not ten.
func (s *Service) processPipeline(ctx context.Context, pipelineID int64) error {
	s.flightsMu.Lock()
	if f := s.flights[pipelineID]; f != nil {
		f.again = true
		s.flightsMu.Unlock()
		select {
		case <-f.done:
			return f.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f := &flight{done: make(chan struct{})}
	s.flights[pipelineID] = f
	s.flightsMu.Unlock()
	ctx = context.WithoutCancel(ctx) // others wait for this pass
	for {
		f.err = s.processOnce(ctx, pipelineID)
		s.flightsMu.Lock()
		if f.again && f.err == nil {
			f.again = false
			s.flightsMu.Unlock()
			continue
		}
		delete(s.flights, pipelineID)
		close(f.done)
		s.flightsMu.Unlock()
		return f.err
	}
}

// flight is one pipeline's processing in progress.
type flight struct {
	again bool // a change came in during the pass: run another
	done  chan struct{}
	err   error
}

// processOnce is one processing of a pipeline (see processPipeline). Each round
// reads the jobs with the pipeline's status in one statement.
func (s *Service) processOnce(ctx context.Context, pipelineID int64) error {
	var state store.PipelineState
	for round := 0; ; round++ {
		var err error
		if state, err = s.st.Jobs.PipelineJobs(ctx, pipelineID); err != nil {
			return fmt.Errorf("reading the jobs of pipeline %d: %w", pipelineID, err)
		}
		jobs := state.Jobs
		changes := progress.Process(progress.FromStore(jobs))
		if len(changes) == 0 || round == maxProcessRounds {
			break
		}
		byID := make(map[int64]*store.Job, len(jobs))
		for i := range jobs {
			byID[jobs[i].ID] = &jobs[i]
		}
		for _, c := range changes {
			if err := s.applyChange(ctx, byID[c.JobID], c.To); err != nil {
				return err
			}
		}
	}
	return s.updatePipelineStatus(ctx, pipelineID, state)
}

// applyChange moves one created job. A job about to become pending passes the
// admission checks first and fails instead when one refuses it.
func (s *Service) applyChange(ctx context.Context, j *store.Job, to store.Status) error {
	t := store.JobTransition{From: []store.Status{store.StatusCreated}, To: to}
	switch to {
	case store.StatusPending:
		return s.enqueue(ctx, j, t.From)
	case store.StatusScheduled:
		t.ScheduledAt = s.now().Add(j.StartIn)
	}
	_, err := s.transition(ctx, j.ID, t)
	if err != nil && !errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("moving job %d to %s: %w", j.ID, to, err)
	}
	return nil
}

// enqueue makes a job pending, or fails it when the admission checks refuse it, and
// wakes a runner that could take it.
func (s *Service) enqueue(ctx context.Context, j *store.Job, from []store.Status) error {
	if refusal, err := s.admit(ctx, j); err != nil {
		return err
	} else if refusal != nil {
		return s.refuse(ctx, j, from, refusal)
	}
	pending, err := s.transition(ctx, j.ID, store.JobTransition{From: from, To: store.StatusPending})
	if errors.Is(err, store.ErrConflict) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("moving job %d to pending: %w", j.ID, err)
	}
	s.announce(ctx, pending)
	return nil
}

// updatePipelineStatus sets the pipeline's status from its jobs (read with the
// pipeline's current status), and checks again after writing so that a concurrent
// processing that read older jobs cannot leave a stale status behind.
func (s *Service) updatePipelineStatus(ctx context.Context, pipelineID int64, state store.PipelineState) error {
	for range 3 {
		if len(state.Jobs) == 0 {
			return nil
		}
		status, _ := progress.Status(progress.FromStore(state.Jobs))
		if state.Status == status {
			return nil
		}
		if _, err := s.st.Pipelines.SetPipelineStatus(ctx, pipelineID, status); err != nil {
			return fmt.Errorf("setting pipeline %d to %s: %w", pipelineID, status, err)
		}
		s.log.Debug("pipeline status", "pipeline", pipelineID, "status", status)
		var err error
		if state, err = s.st.Jobs.PipelineJobs(ctx, pipelineID); err != nil {
			return fmt.Errorf("reading the jobs of pipeline %d: %w", pipelineID, err)
		}
		if again, _ := progress.Status(progress.FromStore(state.Jobs)); again == status {
			return nil
		}
	}
	return nil
}

// processLogged processes a pipeline where the caller has already done its part
// (a job finished): a failure is logged, and the next change processes it again.
func (s *Service) processLogged(ctx context.Context, pipelineID int64) {
	if err := s.processPipeline(ctx, pipelineID); err != nil {
		s.log.Error("processing a pipeline", "pipeline", pipelineID, "error", err)
	}
}
