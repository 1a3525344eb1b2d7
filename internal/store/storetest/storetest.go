// Package storetest is the store's conformance suite: one set of tests every engine
// runs (Run), a suite for artifact blob stores (RunBlobs) and the claim benchmark
// (BenchClaimFinish). The tests are written against the store interfaces only, so a
// behaviour that passes here is a behaviour callers may rely on, on every engine.
//
// Only tests import this package.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/store"
)

// Factory opens a new, empty store for one test, reading time from now, and
// registers its cleanup with t.
type Factory func(t testing.TB, now func() time.Time) *store.Store

// Run runs the whole suite against the engine f opens. Each test gets its own store
// and runs in parallel with the others.
func Run(t *testing.T, f Factory) {
	groups := []struct {
		name  string
		tests map[string]func(*testing.T, *env)
	}{
		{"Users", userTests},
		{"Namespaces", namespaceTests},
		{"Projects", projectTests},
		{"Variables", variableTests},
		{"Pipelines", pipelineTests},
		{"Jobs", jobTests},
		{"Claim", claimTests},
		{"Traces", traceTests},
		{"Artifacts", artifactTests},
		{"Runners", runnerTests},
		{"Usage", usageTests},
		{"Notifier", notifierTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for name, test := range g.tests {
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					test(t, newEnv(t, f))
				})
			}
		})
	}
}

// Clock is a settable clock for the store under test.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock at a fixed instant.
func NewClock() *Clock {
	return &Clock{t: time.Date(2026, 3, 15, 10, 0, 0, 123456000, time.UTC)}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is one test's store, clock and fixtures.
type env struct {
	t     *testing.T
	s     *store.Store
	clock *Clock
	ctx   context.Context
	seq   int
}

func newEnv(t *testing.T, f Factory) *env {
	c := NewClock()
	return &env{t: t, s: f(t, c.Now), clock: c, ctx: t.Context()}
}

func (e *env) name(prefix string) string {
	e.seq++
	return fmt.Sprintf("%s%d", prefix, e.seq)
}

// user creates a user with a fresh name.
func (e *env) user() *store.User {
	e.t.Helper()
	u := &store.User{Username: e.name("user"), Name: "A User"}
	must(e.t, e.s.Users.CreateUser(e.ctx, u))
	return u
}

// group creates a group (a subgroup when parent ≠ 0).
func (e *env) group(parent int64, plan string) *store.Namespace {
	e.t.Helper()
	g := &store.Namespace{Name: "Group", Path: e.name("group"), ParentID: parent, Plan: plan}
	must(e.t, e.s.Namespaces.CreateGroup(e.ctx, g))
	return g
}

// project creates a project in namespace ns.
func (e *env) project(ns int64) *store.Project {
	e.t.Helper()
	p := &store.Project{NamespaceID: ns, Path: e.name("project")}
	must(e.t, e.s.Projects.CreateProject(e.ctx, p))
	return p
}

// pipeline creates a pipeline on main in project with jobs.
func (e *env) pipeline(project int64, jobs ...*store.Job) *store.Pipeline {
	e.t.Helper()
	p := &store.Pipeline{ProjectID: project, Ref: "main", SHA: strings.Repeat("a", 40), Source: store.SourcePush,
		Status: store.StatusPending}
	must(e.t, e.s.Pipelines.CreatePipeline(e.ctx, p, jobs))
	return p
}

// newJob returns an unsaved job.
func newJob(name string, status store.Status, tags ...string) *store.Job {
	return &store.Job{Name: name, Stage: "test", Status: status, Tags: tags}
}

// pendingJob creates a project in a new top-level group and one pending job in it.
func (e *env) pendingJob(tags ...string) *store.Job {
	e.t.Helper()
	j := newJob("build", store.StatusPending, tags...)
	e.pipeline(e.project(e.group(0, "").ID).ID, j)
	return j
}

// claim claims with a fresh token for runner 1 taking untagged jobs, and checks that
// the claim came with the job's pipeline.
func (e *env) claim(req store.ClaimRequest) (*store.Job, error) {
	if req.RunnerID == 0 {
		req.RunnerID = 1
	}
	if req.Token == "" {
		tok, err := store.NewToken(store.PrefixJobToken)
		must(e.t, err)
		req.Token = tok
	}
	j, pl, err := e.s.Jobs.ClaimJob(e.ctx, req)
	if err == nil && (pl == nil || pl.ID != j.PipelineID) {
		e.t.Errorf("claimed job %d of pipeline %d with pipeline %+v", j.ID, j.PipelineID, pl)
	}
	return j, err
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantErr fails t unless err wraps target.
func wantErr(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("got error %v, want one wrapping %q", err, target)
	}
}

// equalTime fails t unless got and want are the same instant.
func equalTime(t testing.TB, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
