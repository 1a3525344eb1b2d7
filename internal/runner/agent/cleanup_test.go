package agent_test

import (
	"context"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/executor"
	"github.com/kiln-ci/kiln/internal/executor/shell"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/runner"
	"github.com/kiln-ci/kiln/internal/runner/agent"
)

// heldCleanups is the shell executor whose environments' Cleanup waits until the
// test lets it go, saying when it began.
type heldCleanups struct {
	executor.Executor
	began   chan struct{}
	release chan struct{}
}

func (h heldCleanups) NewEnvironment(spec executor.Spec) (executor.Environment, error) {
	env, err := h.Executor.NewEnvironment(spec)
	if err != nil {
		return nil, err
	}
	return heldEnv{Environment: env, h: h}, nil
}

type heldEnv struct {
	executor.Environment
	h heldCleanups
}

func (e heldEnv) Cleanup(ctx context.Context) error {
	e.h.began <- struct{}{}
	<-e.h.release
	return e.Environment.Cleanup(ctx)
}

// A job's final status is reported before its environment is cleaned up, but the
// agent counts its place as taken, and Run as busy, until the cleanup is done.
func TestTheAgentFreesAJobsPlaceOnlyOnceItsEnvironmentIsCleanedUp(t *testing.T) {
	f := newFixture(t)
	first, second := f.server.Enqueue(spec("echo first")), f.server.Enqueue(spec("echo second"))
	held := heldCleanups{Executor: shell.New(shell.Config{}), began: make(chan struct{}), release: make(chan struct{})}
	a := f.agent(t, func(cfg *agent.Config, w *agent.Worker) {
		lc, err := runner.NewLifecycle(runner.Config{Name: "agent-test", Token: f.token, SystemID: "s_0123456789ab",
			Executor: held, BuildsDir: t.TempDir(), CacheDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		w.Lifecycle = lc
	})
	done := make(chan error, 1)
	go func() { done <- a.Run(context.Background()) }()

	<-held.began // the first job's cleanup
	if j := waitFinal(t, f.server, first)[0]; j.State != protocol.StateSuccess {
		t.Fatalf("first job: %s\n%s", j.State, j.Trace)
	}
	time.Sleep(300 * time.Millisecond) // several check intervals: time enough to ask for a job
	if j, _ := f.server.Job(second); j.State != "pending" || len(j.Updates) > 0 {
		t.Errorf("the second job started (%s) while the first one's environment was being cleaned up, under concurrent 1", j.State)
	}
	held.release <- struct{}{}

	<-held.began // the second job's cleanup
	if j := waitFinal(t, f.server, second)[0]; j.State != protocol.StateSuccess {
		t.Fatalf("second job: %s\n%s", j.State, j.Trace)
	}
	a.Stop()
	select {
	case <-done:
		t.Errorf("Run returned while a job's environment was still being cleaned up")
	case <-time.After(300 * time.Millisecond):
	}
	held.release <- struct{}{}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after the last cleanup")
	}
}
