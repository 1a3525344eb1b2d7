package agent

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/runner"
	"github.com/kiln-ci/kiln/internal/runner/remote"
)

// workerState is one worker's polling and its running jobs.
type workerState struct {
	a   *Agent
	w   *Worker
	log *slog.Logger
	sem chan struct{} // the worker's own limit; nil when unlimited

	ended chan struct{} // a job ended: a place Admit refused may be free now

	mu       sync.Mutex
	slots    map[int]bool           // CI_CONCURRENT_ID in use
	projects map[int64]map[int]bool // CI_CONCURRENT_PROJECT_ID in use, per project
}

func newWorkerState(a *Agent, w *Worker) *workerState {
	s := &workerState{a: a, w: w, log: a.log.With("runner", w.Name), ended: make(chan struct{}, 1),
		slots: map[int]bool{}, projects: map[int64]map[int]bool{}}
	if w.Limit > 0 {
		s.sem = make(chan struct{}, w.Limit)
	}
	return s
}

// acquire takes a place in the global and the worker's limits, waiting as needed; it
// reports false when polling should stop instead.
func (s *workerState) acquire(ctx context.Context) bool {
	for _, sem := range []chan struct{}{s.a.sem, s.sem} {
		if sem == nil {
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			s.releaseUpTo(sem)
			return false
		case <-s.a.stop:
			s.releaseUpTo(sem)
			return false
		}
	}
	return true
}

// releaseUpTo undoes the acquisitions made before failing at sem.
func (s *workerState) releaseUpTo(failed chan struct{}) {
	if failed != s.a.sem {
		<-s.a.sem
	}
}

func (s *workerState) release() {
	if s.sem != nil {
		<-s.sem
	}
	<-s.a.sem
}

// poll asks for jobs until the agent stops. ctx ends polling; jobCtx is the parent of
// every job (canceled only to abort them).
func (s *workerState) poll(ctx, jobCtx context.Context) {
	unhealthy := 0
	for !s.a.stopping(ctx) {
		if !s.acquire(ctx) {
			return
		}
		admitted := func() {}
		if s.w.Admit != nil {
			release, ok := s.w.Admit()
			if !ok {
				s.release()
				if !s.waitForPlace(ctx) {
					return
				}
				continue
			}
			admitted = release
		}
		job, err := s.w.Client.RequestJob(ctx, protocol.JobRequest{Info: s.info(), Token: s.w.Token, SystemID: s.w.SystemID})
		s.a.cfg.Metrics.request(s.w.Name, err, job != nil)
		if job == nil {
			admitted()
			s.release()
			wait := s.a.cfg.CheckInterval
			switch {
			case err == nil:
				unhealthy = 0
			case ctx.Err() != nil:
				return
			case protocol.Unhealthy(err):
				unhealthy++
				s.log.Warn("requesting a job failed", "error", err, "unhealthy_in_a_row", unhealthy)
				if unhealthy >= s.a.cfg.UnhealthyRequestsLimit {
					s.log.Error("runner is unhealthy; pausing job requests", "for", s.a.cfg.UnhealthyInterval)
					wait, unhealthy = s.a.cfg.UnhealthyInterval, 0
				}
			default:
				s.log.Info("no job this time", "error", err)
			}
			if !s.a.wait(ctx, wait) {
				return
			}
			continue
		}
		unhealthy = 0
		s.a.jobs.Add(1)
		go func() {
			defer s.a.jobs.Done()
			defer s.jobEnded()
			defer s.release()
			defer admitted()
			s.run(jobCtx, job)
		}()
	}
}

// jobEnded wakes a poller waiting for a place (waitForPlace).
func (s *workerState) jobEnded() {
	select {
	case s.ended <- struct{}{}:
	default:
	}
}

// waitForPlace waits check_interval, or less when one of the worker's jobs ends
// first (its GPUs may be free now); it reports false when polling should stop.
func (s *workerState) waitForPlace(ctx context.Context) bool {
	t := time.NewTimer(s.a.cfg.CheckInterval)
	defer t.Stop()
	select {
	case <-s.a.stop:
		return false
	case <-ctx.Done():
		return false
	case <-t.C:
	case <-s.ended:
	}
	return true
}

// info is the runner's info as it is now.
func (s *workerState) info() protocol.Info {
	info := s.w.Info
	if s.w.Kiln != nil {
		info.Kiln = s.w.Kiln()
	}
	return info
}

// run runs one job through a remote channel and the lifecycle, and returns once the
// job's environment is cleaned up too.
func (s *workerState) run(parent context.Context, job *jobspec.Job) {
	log := s.log.With("job_id", job.ID, "project_id", job.JobInfo.ProjectID)
	slot := s.takeSlot(job.JobInfo.ProjectID)
	defer s.freeSlot(job.JobInfo.ProjectID, slot)
	ctx, abort := context.WithCancelCause(parent)
	defer abort(nil)

	rc := s.w.Remote
	rc.Client, rc.Info, rc.Kiln, rc.Job, rc.Abort, rc.Logger = s.w.Client, s.w.Info, s.w.Kiln, job, abort, log
	if rc.TraceDir == "" {
		rc.TraceDir = s.w.TraceDir
	}
	ch, err := remote.Start(ctx, rc)
	if errors.Is(err, remote.ErrJobGone) {
		log.Info("the coordinator no longer has the job; dropping it")
		return
	}
	if err != nil {
		log.Error("could not start the job", "error", err)
		return
	}
	log.Info("job received", "name", job.JobInfo.Name, "stage", job.JobInfo.Stage, "slot", slot.ConcurrentID)
	m := s.a.cfg.Metrics
	m.started(s.w.Name)
	start := time.Now()
	o, cleanup := s.w.Lifecycle.RunReported(ctx, job, slot, ch)
	m.finished(s.w.Name, o, time.Since(start))
	// The job's place is free, and the runner idle, only once its environment is gone.
	cleanup.Wait()
}

// takeSlot gives the job the lowest free CI_CONCURRENT_ID of the worker and the lowest
// free CI_CONCURRENT_PROJECT_ID of its project.
func (s *workerState) takeSlot(project int64) runner.Slot {
	s.mu.Lock()
	defer s.mu.Unlock()
	var slot runner.Slot
	for s.slots[slot.ConcurrentID] {
		slot.ConcurrentID++
	}
	s.slots[slot.ConcurrentID] = true
	p := s.projects[project]
	if p == nil {
		p = map[int]bool{}
		s.projects[project] = p
	}
	for p[slot.ConcurrentProjectID] {
		slot.ConcurrentProjectID++
	}
	p[slot.ConcurrentProjectID] = true
	return slot
}

func (s *workerState) freeSlot(project int64, slot runner.Slot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.slots, slot.ConcurrentID)
	delete(s.projects[project], slot.ConcurrentProjectID)
	if len(s.projects[project]) == 0 {
		delete(s.projects, project)
	}
}
