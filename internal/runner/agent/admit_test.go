package agent_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/runner/agent"
)

// TestAdmitBoundsTheJobsAndAnEndedJobWakesTheNextRequest has a runner that can place
// one job at a time (one free GPU) and checks only every hour: the second job is
// asked for as soon as the first ends, never while it runs, and every request and
// update carries info.kiln as it is at that moment.
func TestAdmitBoundsTheJobsAndAnEndedJobWakesTheNextRequest(t *testing.T) {
	f := newFixture(t)
	ids := []int64{f.server.Enqueue(spec("sleep 0.3", "echo one")), f.server.Enqueue(spec("sleep 0.3", "echo two"))}
	var held atomic.Int32
	admit := func() (func(), bool) {
		if !held.CompareAndSwap(0, 1) {
			return nil, false
		}
		return func() { held.Store(0) }, true
	}
	kiln := func() *protocol.KilnInfo {
		return &protocol.KilnInfo{MachineType: "gpu-test", FreeGPUs: 1 - int(held.Load())}
	}
	a := f.agent(t, func(cfg *agent.Config, w *agent.Worker) {
		cfg.Concurrent, cfg.CheckInterval = 3, time.Hour
		w.Admit, w.Kiln = admit, kiln
	})
	stop := make(chan struct{})
	peak := maxRunning(f.server, ids, stop)
	done := make(chan error)
	go func() { done <- a.Run(context.Background()) }()
	jobs := waitFinal(t, f.server, ids...)
	close(stop)
	a.Stop()
	<-done
	for _, j := range jobs {
		if j.State != protocol.StateSuccess {
			t.Errorf("job %d: %s\n%s", j.Spec.ID, j.State, j.Trace)
		}
	}
	if peak.Load() != 1 {
		t.Errorf("%d jobs ran at once, want 1", peak.Load())
	}
	if held.Load() != 0 {
		t.Error("a place is still held after every job ended")
	}
	requests := 0
	for _, req := range f.server.Requests() {
		var info protocol.Info
		switch {
		case req.Path == "/api/v4/jobs/request":
			requests++
			var body protocol.JobRequest
			json.Unmarshal(req.Body, &body)
			info = body.Info
		case req.Method == "PUT" && strings.HasPrefix(req.Path, "/api/v4/jobs/"):
			var body protocol.UpdateJobRequest
			json.Unmarshal(req.Body, &body)
			info = body.Info
		default:
			continue
		}
		// A request is made holding the place; an update while a job runs, too.
		if info.Kiln == nil || info.Kiln.MachineType != "gpu-test" || info.Kiln.FreeGPUs != 0 {
			t.Errorf("%s %s sent info.kiln %+v; want the runner's as it was then (0 free)", req.Method, req.Path, info.Kiln)
		}
	}
	if requests < 2 {
		t.Errorf("%d job requests, want one per job at least", requests)
	}
}
