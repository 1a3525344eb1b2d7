package runner_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/executor"
	"github.com/kiln-ci/kiln/internal/executor/shell"
	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/runner"
	"github.com/kiln-ci/kiln/internal/runner/local"
	"github.com/kiln-ci/kiln/internal/testenv"
)

type harness struct {
	t         *testing.T
	cfg       runner.Config
	artifacts *local.Artifacts
	nextID    int64
}

func newHarness(t *testing.T, tweak func(*runner.Config)) *harness {
	t.Helper()
	cfg := runner.Config{
		Name:            "test-runner",
		Token:           "glrt-abcdefghijklmnop",
		SystemID:        "s_0123456789ab",
		Executor:        shell.New(shell.Config{AllowUnenforcedLimits: true}),
		BuildsDir:       filepath.Join(t.TempDir(), "builds"),
		CacheDir:        filepath.Join(t.TempDir(), "cache"),
		BaseEnvironment: []string{"PATH=" + os.Getenv("PATH")},
		Grace:           2 * time.Second,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	return &harness{t: t, cfg: cfg, artifacts: local.NewArtifacts(t.TempDir()), nextID: 100}
}

// job returns a job payload with GIT_STRATEGY=none and the given steps.
func (h *harness) job(script []string, after ...string) *jobspec.Job {
	h.nextID++
	j := &jobspec.Job{
		ID:        h.nextID,
		Token:     "glcbt-jobtoken-" + strings.Repeat("x", 8),
		JobInfo:   jobspec.JobInfo{Name: "build", Stage: "build", ProjectID: 42},
		GitInfo:   jobspec.GitInfo{Ref: "main"},
		Variables: jobspec.Variables{{Key: "GIT_STRATEGY", Value: "none"}},
		Steps:     []jobspec.Step{{Name: "script", Script: script, When: "on_success"}},
	}
	if len(after) > 0 {
		j.Steps = append(j.Steps, jobspec.Step{Name: "after_script", Script: after, When: "always"})
	}
	return j
}

// run runs job to its end and returns the outcome and the whole log.
func (h *harness) run(job *jobspec.Job) (runner.Outcome, string) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return h.runCtx(ctx, job, nil)
}

func (h *harness) runCtx(ctx context.Context, job *jobspec.Job, during func(*local.Channel, *testenv.Buffer)) (runner.Outcome, string) {
	h.t.Helper()
	lc, err := runner.NewLifecycle(h.cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	out := &testenv.Buffer{}
	ch := local.NewChannel(out, job.ID, h.artifacts)
	if during != nil {
		go during(ch, out)
	}
	o := lc.Run(ctx, job, runner.Slot{}, ch)
	if got, ok := ch.Outcome(); !ok || got.Kind != o.Kind {
		h.t.Errorf("channel outcome %v (finished %v), Run returned %v", got.Kind, ok, o.Kind)
	}
	return o, out.String()
}

// waitFor polls the log until it contains s.
func waitFor(t *testing.T, out *testenv.Buffer, s string) {
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out.String(), s) {
		if time.Now().After(deadline) {
			t.Errorf("log never showed %q:\n%s", s, out.String())
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// inOrder checks that the parts appear in s in this order.
func inOrder(t *testing.T, s string, parts ...string) {
	t.Helper()
	at := 0
	for _, p := range parts {
		i := strings.Index(s[at:], p)
		if i < 0 {
			t.Errorf("log lacks %q after byte %d:\n%s", p, at, s)
			return
		}
		at += i + len(p)
	}
}

// wrapExecutor changes what a real executor's environments report, to test how the
// lifecycle reads results the shell executor cannot produce (an OOM kill, an image
// pull failure); everything else is the real shell executor.
type wrapExecutor struct {
	executor.Executor
	prepareErr error
	oomOnExit  int // a script exiting with this code reports OOMKilled
}

func (w wrapExecutor) NewEnvironment(spec executor.Spec) (executor.Environment, error) {
	env, err := w.Executor.NewEnvironment(spec)
	if err != nil {
		return nil, err
	}
	return &wrapEnv{Environment: env, w: w}, nil
}

type wrapEnv struct {
	executor.Environment
	w wrapExecutor
}

func (e *wrapEnv) Prepare(ctx context.Context, out io.Writer) error {
	if e.w.prepareErr != nil {
		return e.w.prepareErr
	}
	return e.Environment.Prepare(ctx, out)
}

func (e *wrapEnv) Run(ctx context.Context, cmd executor.Command) (executor.Result, error) {
	res, err := e.Environment.Run(ctx, cmd)
	if e.w.oomOnExit != 0 && res.ExitCode == e.w.oomOnExit {
		res.OOMKilled = true
	}
	return res, err
}
