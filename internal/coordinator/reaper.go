package coordinator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kiln-ci/kiln/internal/coordinator/quota"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/store"
)

// reap is one pass of the background work that keeps jobs honest: it fails jobs
// whose runner went silent (runner_system_failure, retried when their policy says
// so) and jobs past their timeout (job_execution_timeout), finishes cancels whose
// runner never answered, queues delayed jobs that are due, fails pending hosted jobs
// of namespaces that spent their quota, cancels running ones that overran it, and
// deletes artifacts past their expire_in. Every step works from the store, so any replica may run it and a restarted
// coordinator picks up where the last one stopped. Failures are logged.
func (s *Service) reap(ctx context.Context) {
	steps := []struct {
		name string
		run  func(context.Context) error
	}{
		{"stuck jobs", s.reapStuck},
		{"timed-out jobs", s.reapTimedOut},
		{"delayed jobs", s.queueDue},
		{"compute quotas", s.enforceQuotas},
		{"expired artifacts", s.deleteExpiredArtifacts},
	}
	for _, step := range steps {
		if ctx.Err() != nil {
			return
		}
		if err := step.run(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("reaping "+step.name, "error", err)
		}
	}
}

// listAll pages through a job query, without the jobs' payloads (the reaper looks
// at statuses, times and definitions).
func (s *Service) listAll(ctx context.Context, q store.JobQuery) ([]store.Job, error) {
	var all []store.Job
	q.OmitPayload = true
	for offset := 0; ; offset += store.MaxPageLimit {
		q.Page = store.Page{Offset: offset, Limit: store.MaxPageLimit}
		page, err := s.st.Jobs.ListJobs(ctx, q)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if len(page) < store.MaxPageLimit {
			return all, nil
		}
	}
}

// reapStuck ends running and canceling jobs whose runner has not reported (a trace
// patch or a job update) for StuckTimeout.
func (s *Service) reapStuck(ctx context.Context) error {
	stuck, err := s.listAll(ctx, store.JobQuery{Statuses: []store.Status{store.StatusRunning, store.StatusCanceling},
		UpdatedBefore: s.now().Add(-s.cfg.StuckTimeout)})
	if err != nil {
		return fmt.Errorf("listing silent jobs: %w", err)
	}
	for i := range stuck {
		j := &stuck[i]
		o := outcome{status: store.StatusFailed, failureReason: protocol.FailureRunnerSystem,
			message: fmt.Sprintf("Job failed: the runner stopped reporting (nothing heard from runner %d for %s)", j.RunnerID, s.cfg.StuckTimeout)}
		if j.Status == store.StatusCanceling {
			o = outcome{status: store.StatusCanceled, message: "Job canceled; the runner did not confirm the cancel"}
		}
		s.reapJob(ctx, j, o)
	}
	return nil
}

// reapTimedOut fails running jobs that went past their timeout (plus a grace for the
// runner's own enforcement to report first).
func (s *Service) reapTimedOut(ctx context.Context) error {
	running, err := s.listAll(ctx, store.JobQuery{Statuses: []store.Status{store.StatusRunning}})
	if err != nil {
		return fmt.Errorf("listing running jobs: %w", err)
	}
	now := s.now()
	runners := map[int64]*store.Runner{}
	for i := range running {
		j := &running[i]
		r, ok := runners[j.RunnerID]
		if !ok {
			r, _ = s.st.Runners.Runner(ctx, j.RunnerID) // nil for a deleted runner
			runners[j.RunnerID] = r
		}
		limit := time.Duration(s.effectiveTimeout(j, r)) * time.Second
		if now.Sub(j.StartedAt) <= limit+TimeoutGrace {
			continue
		}
		s.reapJob(ctx, j, outcome{status: store.StatusFailed, failureReason: protocol.FailureJobExecutionTimeout,
			message: fmt.Sprintf("Job failed: execution took longer than %s", limit)})
	}
	return nil
}

func (s *Service) reapJob(ctx context.Context, j *store.Job, o outcome) {
	done, err := s.finish(ctx, j, o)
	if err != nil {
		if KindOf(err) != KindConflict {
			s.log.Error("reaping a job", "job", j.ID, "error", err)
		}
		return
	}
	s.log.Warn("job reaped", "job", done.ID, "status", done.Status, "reason", o.failureReason, "message", o.message)
	s.appendNote(ctx, done.ID, "ERROR: "+o.message)
}

// queueDue queues delayed jobs whose time has come.
func (s *Service) queueDue(ctx context.Context) error {
	due, err := s.listAll(ctx, store.JobQuery{Statuses: []store.Status{store.StatusScheduled}, ScheduledBefore: s.now()})
	if err != nil {
		return fmt.Errorf("listing due delayed jobs: %w", err)
	}
	for i := range due {
		if err := s.enqueue(ctx, &due[i], []store.Status{store.StatusScheduled}); err != nil {
			return err
		}
		s.processLogged(ctx, due[i].PipelineID)
	}
	return nil
}

// enforceQuotas fails pending hosted jobs of namespaces whose quota is spent, and
// cancels running hosted jobs of namespaces whose usage plus the minutes their jobs
// have run so far exceeds the quota by more than the allowed overrun.
func (s *Service) enforceQuotas(ctx context.Context) error {
	jobs, err := s.listAll(ctx, store.JobQuery{Statuses: []store.Status{store.StatusPending, store.StatusRunning}})
	if err != nil {
		return fmt.Errorf("listing queued and running jobs: %w", err)
	}
	byRoot := map[int64][]*store.Job{}
	for i := range jobs {
		if jobs[i].MachineType != "" {
			byRoot[jobs[i].RootNamespaceID] = append(byRoot[jobs[i].RootNamespaceID], &jobs[i])
		}
	}
	now := s.now()
	for rootID, js := range byRoot {
		root, err := s.st.Namespaces.Namespace(ctx, rootID)
		if err != nil {
			return fmt.Errorf("reading namespace %d: %w", rootID, err)
		}
		u, err := s.st.Usage.Usage(ctx, rootID, store.MonthOf(now))
		if err != nil {
			return fmt.Errorf("reading the compute usage of namespace %d: %w", rootID, err)
		}
		r := s.cfg.Quota.Report(root.Plan, u)
		s.quotas.put(rootID, r, now)
		// Only jobs that will be charged count towards the overrun, and only they are
		// canceled for it: a self-managed runner's job costs nothing (costFactor).
		running, charging := 0.0, map[int64]bool{}
		for _, j := range js {
			if j.Status != store.StatusRunning {
				continue
			}
			rn, err := s.runner(ctx, j.RunnerID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("reading the runner of job %d: %w", j.ID, err)
			}
			if f := s.costFactor(rn); f > 0 {
				running += now.Sub(j.StartedAt).Minutes() * f
				charging[j.ID] = true
			}
		}
		s.enforceQuota(ctx, root, r, running, js, charging)
	}
	return nil
}

// enforceQuota fails the pending jobs of a namespace whose quota is spent or whose
// plan no longer allows their machine type, and cancels its running, charging jobs
// once they overrun the quota by more than allowed.
func (s *Service) enforceQuota(ctx context.Context, root *store.Namespace, r quota.Report, running float64,
	js []*store.Job, charging map[int64]bool) {
	overrun := s.cfg.Quota.OverrunExceeded(root.Plan, r.Used, running)
	for _, j := range js {
		var notAllowed *refusal
		if mt, ok := s.catalog.Get(j.MachineType); ok {
			notAllowed = planRefusal(mt, root)
		}
		switch {
		case j.Status == store.StatusPending && notAllowed != nil:
			if err := s.refuse(ctx, j, []store.Status{store.StatusPending}, notAllowed); err != nil {
				s.log.Error("failing a job its plan no longer allows", "job", j.ID, "error", err)
			}
			s.processLogged(ctx, j.PipelineID)
		case j.Status == store.StatusPending && r.Exceeded:
			if err := s.refuse(ctx, j, []store.Status{store.StatusPending}, &refusal{protocol.FailureQuotaExceeded, r.Warning()}); err != nil {
				s.log.Error("failing a job over quota", "job", j.ID, "error", err)
			}
			s.processLogged(ctx, j.PipelineID)
		case j.Status == store.StatusRunning && overrun && charging[j.ID]:
			if _, err := s.transition(ctx, j.ID, store.JobTransition{From: []store.Status{store.StatusRunning},
				To: store.StatusCanceling, KilnMessage: fmt.Sprintf("compute quota exceeded: canceled after overrunning the quota by more than %.0f minutes",
					s.cfg.Quota.OverrunMinutes)}); err != nil {
				s.log.Error("canceling a job over quota", "job", j.ID, "error", err)
				continue
			}
			s.log.Warn("job canceled: compute quota overrun", "job", j.ID, "namespace", root.FullPath)
			s.processLogged(ctx, j.PipelineID)
		}
	}
}

// Reap runs one pass of the reaper now; Run does it every ReapInterval.
func (s *Service) Reap(ctx context.Context) { s.reap(ctx) }

// deleteExpiredArtifacts deletes artifacts past their expire_in: the record first
// (so that nobody is handed a blob that is going), then the blob.
func (s *Service) deleteExpiredArtifacts(ctx context.Context) error {
	expired, err := s.st.Artifacts.ExpiredArtifacts(ctx, s.now(), 100)
	if err != nil {
		return fmt.Errorf("listing expired artifacts: %w", err)
	}
	for _, a := range expired {
		if err := s.st.Artifacts.DeleteArtifact(ctx, a.ID); err != nil {
			return fmt.Errorf("deleting expired artifact %d: %w", a.ID, err)
		}
		if err := s.cfg.Blobs.Delete(ctx, a.BlobKey); err != nil {
			s.log.Warn("deleting an expired artifact's blob", "artifact", a.ID, "error", err)
		}
		s.log.Info("expired artifact deleted", "job", a.JobID, "type", a.FileType)
	}
	return nil
}
