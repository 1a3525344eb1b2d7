package localrun

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/kiln-ci/kiln/internal/runner"
	"github.com/kiln-ci/kiln/internal/runner/local"
)

// finished is one attempt's end, sent by the goroutine that ran it.
type finished struct {
	js      *jobState
	slot    int
	outcome runner.Outcome
	cleanup *runner.Cleanup // of the attempt's environment, maybe still going on
}

// scheduler plays GitLab's pipeline processing for one run. Only Run's goroutine
// touches it; attempts run on their own goroutines and report through done.
type scheduler struct {
	p       *Pipeline
	ctx     context.Context
	byName  map[string]*jobState
	stage   map[string]int
	lcs     *lifecycles
	store   *local.Artifacts
	slots   []bool
	groups  map[string]bool // resource groups held by running jobs
	running int
	delayed int
	nextID  int64
	done    chan finished
	wake    chan *jobState // delayed jobs whose start_in passed
	stop    chan struct{}  // closed to cancel running jobs gracefully
	stopped bool
	// cleanups are the environments' cleanups, which go on after their jobs' final
	// status while the pipeline goes on; Run waits for them all before it returns.
	cleanups []*runner.Cleanup
}

// spareKeeper is an executor that makes parts of environments ahead of the jobs that
// will use them (the Docker executor's spare networks and sandboxes).
type spareKeeper interface{ KeepSpareNetworks(keep bool) }

// Run runs the pipeline to its end (or until Cancel, or until ctx is canceled) and
// returns how every job and the pipeline ended. The error is for kiln exec's own
// failures (its state directory), never for a job's.
func (p *Pipeline) Run(ctx context.Context) (*Result, error) {
	start := time.Now()
	if err := p.state.resetArtifacts(); err != nil {
		return nil, err
	}
	s := &scheduler{p: p, ctx: ctx, byName: map[string]*jobState{}, stage: map[string]int{},
		lcs: p.newLifecycles(), store: local.NewArtifacts(p.state.artifacts()),
		slots: make([]bool, p.opts.Concurrency), groups: map[string]bool{},
		nextID: p.info.ID * 1000, done: make(chan finished), wake: make(chan *jobState, len(p.jobs)), stop: make(chan struct{})}
	for i, st := range p.compiled.Stages {
		s.stage[st] = i
	}
	for _, js := range p.jobs {
		s.byName[js.job.Name] = js
	}
	// Back to back, as a pipeline's jobs run here, a job starts before what the one
	// before it would make ahead is ready: making it would only compete with the job
	// (measured: per job 0.82 s of wall time with spares, 0.75 s without).
	if k, ok := p.opts.Executor.(spareKeeper); ok {
		k.KeepSpareNetworks(false)
	}
	p.header()
	s.loop()
	res := p.result(time.Since(start), s.stopped)
	for _, c := range s.cleanups {
		c.Wait()
	}
	return res, nil
}

func (s *scheduler) loop() {
	canceling, aborted := (<-chan struct{})(s.p.canceling), s.ctx.Done()
	for {
		if !s.stopped {
			s.process()
			s.dispatch()
		}
		if s.running == 0 && (s.delayed == 0 || s.stopped) {
			return
		}
		select {
		case f := <-s.done:
			s.finish(f)
		case js := <-s.wake:
			s.delayed--
			if js.status == StatusScheduled {
				js.status = StatusPending
			}
		case <-canceling:
			canceling = nil
			s.cancel("canceled")
		case <-aborted:
			aborted = nil
			s.cancel("aborted")
		}
	}
}

// process decides, in pipeline order and until nothing changes, what each created job
// does now that what it waits for may have completed.
func (s *scheduler) process() {
	for changed := true; changed; {
		changed = false
		for _, js := range s.p.jobs {
			if js.status != StatusCreated {
				continue
			}
			dag := js.needs != nil
			switch decide(js.job.When, dag, s.prevStatus(js)) {
			case actWait:
				continue
			case actRun:
				js.status = StatusPending
			case actManual:
				if js.played {
					js.status = StatusPending
				} else {
					js.status, js.reason = StatusManual, "manual job, not played (run it with --manual "+js.job.Name+")"
					s.p.out.progress(ansiGrey, "%s: manual, not run (play it with --manual %q)", js.job.Name, js.job.Name)
				}
			case actSchedule:
				js.status = StatusScheduled
				s.delayed++
				s.p.out.progress(ansiGrey, "%s: delayed, starts in %v", js.job.Name, js.job.StartIn)
				time.AfterFunc(js.job.StartIn, func() { s.wake <- js })
			case actSkip:
				js.status, js.reason = StatusSkipped, s.skipReason(js)
				s.p.out.progress(ansiGrey, "%s: skipped (%s)", js.job.Name, js.reason)
			}
			changed = true
		}
	}
}

// prevStatus is the composite status of what js waits for: its needs, or the jobs of
// the earlier stages.
func (s *scheduler) prevStatus(js *jobState) string {
	var ms []member
	if js.needs != nil {
		for _, n := range js.needs {
			if d := s.byName[n]; d != nil {
				ms = append(ms, member{d.status, d.allowFailure})
			}
		}
		return composite(ms, true)
	}
	mine := s.stage[js.job.Stage]
	for _, o := range s.p.jobs {
		if s.stage[o.job.Stage] < mine {
			ms = append(ms, member{o.status, o.allowFailure})
		}
	}
	return composite(ms, false)
}

func (s *scheduler) skipReason(js *jobState) string {
	prev := s.prevStatus(js)
	switch {
	case js.job.When == "on_failure":
		return "when: on_failure, and nothing before it failed"
	case js.needs != nil && prev == StatusSkipped:
		return "a job it needs did not run"
	case prev == StatusFailed:
		return "a job before it failed"
	case prev == StatusCanceled:
		return "a job before it was canceled"
	}
	return "the jobs before it did not succeed"
}

// dispatch starts pending jobs in pipeline order while slots are free; a job whose
// resource_group is held waits for it.
func (s *scheduler) dispatch() {
	for _, js := range s.p.jobs {
		if (js.status != StatusPending && js.status != StatusWaitingForResource) || js.awaitsGPU {
			continue
		}
		if rg := js.job.ResourceGroup; rg != "" && s.groups[rg] {
			if js.status != StatusWaitingForResource {
				js.status = StatusWaitingForResource
				s.p.out.progress(ansiGrey, "%s: waiting for resource group %s", js.job.Name, rg)
			}
			continue
		}
		slot := slices.Index(s.slots, false)
		if slot < 0 {
			return
		}
		s.start(js, slot)
	}
}

func (s *scheduler) start(js *jobState, slot int) {
	s.slots[slot] = true
	if rg := js.job.ResourceGroup; rg != "" {
		s.groups[rg] = true
	}
	s.running++
	s.nextID++
	js.id, js.started, js.status = s.nextID, time.Now(), StatusRunning
	js.attempt++
	job := s.p.payload(js, s.byName, s.store)
	what := "stage " + js.job.Stage
	if env := js.job.Environment; env != nil && env.Name != "" {
		what += ", environment " + env.Name
	}
	if js.attempt > 1 {
		what += fmt.Sprintf(", attempt %d of %d", js.attempt, js.job.Retry.Max+1)
	}
	s.p.out.progress(ansiGrey, "%s: started (%s)", js.job.Name, what)
	if img := js.job.Spec.Image.Name; img != "" && s.p.opts.Executor.Name() == "shell" && js.attempt == 1 {
		s.p.out.progress(ansiYellow, "%s: the shell executor ignores image %s, as GitLab's does (use --executor docker)", js.job.Name, img)
	}
	go func() {
		o, cleanup := s.p.runAttempt(s.ctx, s.lcs, js, job, slot, s.store, s.stop)
		s.done <- finished{js: js, slot: slot, outcome: o, cleanup: cleanup}
	}()
}

// finish records an attempt's end: a retry, or the job's final status.
func (s *scheduler) finish(f finished) {
	js, o := f.js, f.outcome
	if f.cleanup != nil {
		s.cleanups = append(s.cleanups, f.cleanup)
	}
	s.slots[f.slot] = false
	if rg := js.job.ResourceGroup; rg != "" {
		delete(s.groups, rg)
	}
	s.running--
	for _, other := range s.p.jobs {
		other.awaitsGPU = false // a job ended: GPUs may be free
	}
	if o.Requeue && !s.stopped && s.running > 0 {
		// The GPUs it needs are leased to a running job: it waits for one to end, as
		// a job goes back to the queue on GitLab.
		js.status, js.awaitsGPU = StatusPending, true
		js.attempt--
		s.p.out.progress(ansiGrey, "%s: waiting for a free GPU (%s)", js.job.Name, o.Message)
		return
	}
	js.outcome, js.duration = &o, o.Duration
	js.allowFailure = allowedToFail(js.job, o)
	if !s.stopped && shouldRetry(js.job.Retry, js.attempt, o) {
		js.status = StatusPending
		s.p.out.progress(ansiYellow, "%s: failed (%s), retrying", js.job.Name, o.Message)
		return
	}
	switch {
	case o.Succeeded():
		js.status = StatusSuccess
		s.p.out.progress(ansiGreen, "%s: success in %s%s", js.job.Name, formatDuration(o.Duration), coverageNote(js))
	case o.Kind == runner.Canceled:
		js.status = StatusCanceled
		s.p.out.progress(ansiYellow, "%s: canceled after %s", js.job.Name, formatDuration(o.Duration))
	case js.allowFailure:
		js.status = StatusFailed
		s.p.out.progress(ansiYellow, "%s: failed, allowed to fail (%s) in %s", js.job.Name, o.Message, formatDuration(o.Duration))
	default:
		js.status = StatusFailed
		s.p.out.progress(ansiRed, "%s: failed (%s) in %s", js.job.Name, o.Message, formatDuration(o.Duration))
	}
}

// cancel stops the pipeline: running jobs are told to stop, jobs not started are
// canceled (manual jobs stay manual, as on GitLab).
func (s *scheduler) cancel(why string) {
	if !s.stopped {
		s.stopped = true
		close(s.stop)
		s.p.out.progress(ansiYellow, "pipeline %s: stopping running jobs", why)
	}
	for _, js := range s.p.jobs {
		switch js.status {
		case StatusCreated, StatusPending, StatusScheduled, StatusWaitingForResource:
			js.status, js.reason = StatusCanceled, "the pipeline was "+why+" before it started"
		}
	}
}

func coverageNote(js *jobState) string {
	if js.coverage == nil {
		return ""
	}
	return fmt.Sprintf(", coverage %s%%", formatFloat(*js.coverage))
}
