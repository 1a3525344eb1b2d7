package runner_test

import (
	"context"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/executor"
	"github.com/kiln-ci/kiln/internal/runner"
	"github.com/kiln-ci/kiln/internal/runner/local"
	"github.com/kiln-ci/kiln/internal/testenv"
)

// heldCleanup wraps the shell executor: its environments' Cleanup says when it
// begins and waits until the test lets it go.
type heldCleanup struct {
	executor.Executor
	began   chan struct{}
	release chan struct{}
}

func (h heldCleanup) NewEnvironment(spec executor.Spec) (executor.Environment, error) {
	env, err := h.Executor.NewEnvironment(spec)
	if err != nil {
		return nil, err
	}
	return heldEnvironment{Environment: env, h: h}, nil
}

type heldEnvironment struct {
	executor.Environment
	h heldCleanup
}

func (e heldEnvironment) Cleanup(ctx context.Context) error {
	close(e.h.began)
	<-e.h.release
	return e.Environment.Cleanup(ctx)
}

func TestRunReportedGivesTheFinalStatusBeforeTheEnvironmentsCleanup(t *testing.T) {
	var held heldCleanup
	h := newHarness(t, func(c *runner.Config) {
		held = heldCleanup{Executor: c.Executor, began: make(chan struct{}), release: make(chan struct{})}
		c.Executor = held
	})
	lc, err := runner.NewLifecycle(h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	job := h.job([]string{"echo hello"})
	ch := local.NewChannel(&testenv.Buffer{}, job.ID, h.artifacts)
	o, cleanup := lc.RunReported(context.Background(), job, runner.Slot{}, ch)
	if got, ok := ch.Outcome(); !ok || got.Kind != runner.Success || o.Kind != runner.Success {
		t.Fatalf("when RunReported returned, the channel had %v (finished %v); outcome %v", got.Kind, ok, o.Kind)
	}
	select {
	case <-held.began:
	case <-time.After(30 * time.Second):
		t.Fatal("the environment's cleanup never began")
	}
	select {
	case <-cleanup.Done():
		t.Fatal("the cleanup was done before the environment's Cleanup returned")
	case <-time.After(50 * time.Millisecond):
	}
	close(held.release)
	cleanup.Wait()
}

func TestRunReturnsOnlyOnceTheEnvironmentIsCleanedUp(t *testing.T) {
	var held heldCleanup
	h := newHarness(t, func(c *runner.Config) {
		held = heldCleanup{Executor: c.Executor, began: make(chan struct{}), release: make(chan struct{})}
		c.Executor = held
	})
	returned := make(chan runner.Outcome, 1)
	go func() {
		o, _ := h.run(h.job([]string{"true"}))
		returned <- o
	}()
	<-held.began
	select {
	case <-returned:
		t.Fatal("Run returned before the environment's cleanup was done")
	case <-time.After(100 * time.Millisecond):
	}
	close(held.release)
	if o := <-returned; o.Kind != runner.Success {
		t.Errorf("outcome %v", o.Kind)
	}
}
