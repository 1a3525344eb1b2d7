// Package executortest is the one conformance suite every executor runs: the behaviour
// the runner relies on, whatever makes the environment (a host shell, a container).
//
// An executor's tests call Run with a Target describing how to make its environments and
// how to find what they leave behind. The suite checks exit codes, stdout and stderr
// interleaved in write order, a script failing halfway, the job timeout (a context
// deadline), cancel (SIGTERM to the whole process group or container, seen by a trap;
// SIGKILL after Command.Grace), Cleanup after a failed Prepare and twice in a row,
// nothing left behind after Cleanup, an environment of exactly Command.Env (none of the
// runner's own variables), file variables, the job directory shared between Runs, 50 MB
// of output byte for byte, binary output, and an Output that fails (an error, not a
// hang).
//
// Masking is the runner's job log's, not the executor's: executors pass output through
// unchanged. The suite checks that the two together mask a secret however the
// executor splits the output (across writes, streams and 64 KiB reads).
//
// Only tests import this package.
package executortest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/executor"
)

// Target describes the executor under test.
type Target struct {
	// NewEnvironment returns an unprepared environment for spec, failing t when it
	// cannot. The suite fills in JobID, RunnerID, JobName, HostDir and Labels; the
	// function adds what its executor needs, such as an image.
	NewEnvironment func(t *testing.T, spec executor.Spec) executor.Environment

	// ExtraEnv names variables besides Command.Env that scripts may see because the
	// environment itself defines them (a container image's ENV, HOSTNAME, HOME). Any
	// other variable is a leak and fails the suite.
	ExtraEnv []string

	// Leftovers lists what environments made for spec left behind: containers,
	// networks, volumes, temporary files. The suite calls it after Cleanup and wants
	// an empty list. Nil means the executor creates nothing but processes.
	Leftovers func(t *testing.T, spec executor.Spec) []string

	// HostPIDs says that process ids seen by scripts are the host's (true for the
	// shell executor), so the suite can check by pid that processes are gone.
	HostPIDs bool
}

// Run runs the conformance suite against target, one subtest per behaviour.
func Run(t *testing.T, target Target) {
	s := &suite{target: target, runner: "executortest-" + randomHex(4), base: time.Now().Unix() % 1e6 * 1000}
	cases := []struct {
		name string
		fn   func(*testing.T, *suite)
	}{
		{"ExitCodes", testExitCodes},
		{"OutputInterleavedInWriteOrder", testInterleaving},
		{"ScriptFailingHalfwayStopsThere", testFailHalfway},
		{"TimeoutStopsTheScript", testTimeout},
		{"CancelSendsSIGTERMToEverything", testCancelTerm},
		{"CancelKillsAfterGrace", testCancelKill},
		{"RunWithDoneContextDoesNotStart", testDoneContext},
		{"CleanupAfterFailedPrepare", testCleanupAfterFailedPrepare},
		{"CleanupWithoutPrepare", testCleanupWithoutPrepare},
		{"CleanupTwice", testCleanupTwice},
		{"NoProcessOutlivesItsStep", testNoProcessLeft},
		{"EnvironmentIsExactlyCommandEnv", testEnvironment},
		{"WorkingDirectoryIsTheJobDirectory", testWorkingDir},
		{"FileVariablesAreReadable", testFileVariable},
		{"MaskedSecretsStayMaskedHoweverTheOutputIsSplit", testMasking},
		{"JobDirectorySharedBetweenRuns", testSharedJobDir},
		{"LargeOutputArrivesByteForByte", testLargeOutput},
		{"BinaryOutputPassesUnchanged", testBinaryOutput},
		{"FailingOutputIsAnErrorNotAHang", testBrokenOutput},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, s) })
	}
}

type suite struct {
	target Target
	runner string
	base   int64
	jobs   atomic.Int64
}

// job is one environment under test, cleaned up and checked for leftovers when its test
// ends.
type job struct {
	t    *testing.T
	s    *suite
	spec executor.Spec
	env  executor.Environment
}

// newSpec makes a spec with fresh ids and a fresh job directory.
func (s *suite) newSpec(t *testing.T) executor.Spec {
	return executor.Spec{
		JobID:    s.base + s.jobs.Add(1),
		RunnerID: s.runner,
		JobName:  "conformance " + t.Name(),
		HostDir:  t.TempDir(),
		Labels:   map[string]string{"dev.kiln.test": "executortest"},
	}
}

// newJob makes an environment for a new spec.
func (s *suite) newJob(t *testing.T) *job {
	t.Helper()
	return s.jobFor(t, s.newSpec(t))
}

// jobFor makes an environment for spec. When the test ends the environment is cleaned
// up (again, if the test did) and must have left nothing behind.
func (s *suite) jobFor(t *testing.T, spec executor.Spec) *job {
	t.Helper()
	j := &job{t: t, s: s, spec: spec, env: s.target.NewEnvironment(t, spec)}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := j.env.Cleanup(ctx); err != nil {
			t.Errorf("Cleanup: %v", err)
		}
		j.checkNoLeftovers()
	})
	return j
}

func (j *job) checkNoLeftovers() {
	j.t.Helper()
	if j.s.target.Leftovers == nil {
		return
	}
	if left := j.s.target.Leftovers(j.t, j.spec); len(left) > 0 {
		j.t.Errorf("after Cleanup, left behind: %s", strings.Join(left, "; "))
	}
}

func (j *job) prepare() {
	j.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := j.env.Prepare(ctx, &out); err != nil {
		j.t.Fatalf("Prepare: %v\nPrepare's output:\n%s", err, out.String())
	}
}

// run runs script with env and returns the result, the output and Run's error.
func (j *job) run(ctx context.Context, script string, env ...string) (executor.Result, []byte, error) {
	j.t.Helper()
	var out output
	res, err := j.env.Run(ctx, executor.Command{Name: "step_script", Script: script, Env: env, Output: &out, Grace: 5 * time.Second})
	return res, out.Bytes(), err
}

// mustRun runs script and fails the test on a Run error.
func (j *job) mustRun(script string, env ...string) (executor.Result, []byte) {
	j.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, out, err := j.run(ctx, script, env...)
	if err != nil {
		j.t.Fatalf("Run: %v\noutput:\n%s", err, out)
	}
	return res, out
}

// output is a concurrency-safe Command.Output that can wait for text to appear.
type output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

func (o *output) Bytes() []byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	return bytes.Clone(o.buf.Bytes())
}

// waitFor polls until the output contains s, or fails t after a minute.
func (o *output) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !bytes.Contains(o.Bytes(), []byte(s)) {
		if time.Now().After(deadline) {
			t.Fatalf("output never contained %q; it is:\n%s", s, o.Bytes())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// commandTo is a step_script command whose output goes to w.
func commandTo(w io.Writer, script string, env ...string) executor.Command {
	return executor.Command{Name: "step_script", Script: script, Env: env, Output: w, Grace: 5 * time.Second}
}
