package executortest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/executor"
)

func testExitCodes(t *testing.T, s *suite) {
	j := s.newJob(t)
	j.prepare()
	for _, code := range []int{0, 1, 3, 255} {
		res, out := j.mustRun(fmt.Sprintf("echo exiting with %d\nexit %d\n", code, code))
		if res.ExitCode != code {
			t.Errorf("script exiting %d: Result.ExitCode = %d; output:\n%s", code, res.ExitCode, out)
		}
		if res.OOMKilled {
			t.Errorf("script exiting %d: Result.OOMKilled is true", code)
		}
		if res.Duration <= 0 {
			t.Errorf("script exiting %d: Result.Duration = %v, want > 0", code, res.Duration)
		}
		if want := fmt.Sprintf("exiting with %d\n", code); string(out) != want {
			t.Errorf("script exiting %d: output %q, want %q", code, out, want)
		}
	}
}

func testInterleaving(t *testing.T, s *suite) {
	j := s.newJob(t)
	j.prepare()
	var want strings.Builder
	for i := range 200 {
		fmt.Fprintf(&want, "out %d\nerr %d\n", i, i)
	}
	want.WriteString("no newline on stdout;no newline on stderr")
	_, out := j.mustRun(`i=0
while [ "$i" -lt 200 ]; do
  echo "out $i"
  echo "err $i" >&2
  i=$((i + 1))
done
printf 'no newline on stdout;'
printf 'no newline on stderr' >&2
`)
	if string(out) != want.String() {
		t.Errorf("stdout and stderr not in write order:\n got: %.300q\nwant: %.300q", out, want.String())
	}
}

func testFailHalfway(t *testing.T, s *suite) {
	j := s.newJob(t)
	j.prepare()
	res, out := j.mustRun("set -e\necho before the failure\necho on stderr too >&2\nsh -c 'exit 7'\necho after the failure\n")
	if res.ExitCode != 7 {
		t.Errorf("Result.ExitCode = %d, want 7 (the failing command's status)", res.ExitCode)
	}
	if want := "before the failure\non stderr too\n"; string(out) != want {
		t.Errorf("output %q, want %q", out, want)
	}
}

func testTimeout(t *testing.T, s *suite) {
	j := s.newJob(t)
	j.prepare()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	began := time.Now()
	res, out, err := j.run(ctx, "echo started\nsleep 600\necho finished\n")
	if took := time.Since(began); took > time.Minute {
		t.Errorf("Run returned %v after a 3 s deadline", took)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run past the deadline: error %v, want one wrapping context.DeadlineExceeded", err)
	}
	// On a slow machine the deadline may pass before the script even starts.
	if len(out) == 0 {
		t.Logf("the deadline passed before the script started (%v)", err)
		return
	}
	if string(out) != "started\n" {
		t.Errorf("output %q, want %q", out, "started\n")
	}
	if res.ExitCode != -1 {
		t.Errorf("Result.ExitCode = %d, want -1 (killed by a signal)", res.ExitCode)
	}
}

// runInBackground starts Run and returns a channel with its outcome.
func runInBackground(ctx context.Context, j *job, cmd executor.Command) <-chan runOutcome {
	done := make(chan runOutcome, 1)
	go func() {
		started := time.Now()
		res, err := j.env.Run(ctx, cmd)
		done <- runOutcome{res: res, err: err, took: time.Since(started)}
	}()
	return done
}

type runOutcome struct {
	res  executor.Result
	err  error
	took time.Duration
}

func await(t *testing.T, done <-chan runOutcome, out *output) runOutcome {
	t.Helper()
	select {
	case o := <-done:
		return o
	case <-time.After(2 * time.Minute):
		t.Fatalf("Run did not return within 2 minutes of cancel; output:\n%s", out.Bytes())
		return runOutcome{}
	}
}

func testCancelTerm(t *testing.T, s *suite) {
	j := s.newJob(t)
	j.prepare()
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	var out output
	// Grace is long: the script must end through its trap, not through SIGKILL.
	done := runInBackground(ctx, j, executor.Command{Name: "step_script", Output: &out, Grace: time.Minute, Script: `
trap 'echo "main got TERM"; wait; exit 42' TERM
( trap 'echo "child got TERM"; exit 0' TERM
  echo "child ready"
  while true; do sleep 1; done ) &
echo "main ready"
wait
echo "not reached"
`})
	out.waitFor(t, "main ready\n")
	out.waitFor(t, "child ready\n")
	cause := errors.New("canceled by the conformance suite")
	cancel(cause)
	o := await(t, done, &out)
	if !errors.Is(o.err, cause) {
		t.Errorf("Run after cancel: error %v, want one wrapping context.Cause", o.err)
	}
	if o.res.ExitCode != 42 {
		t.Errorf("Result.ExitCode = %d, want 42 (the trap's exit status); output:\n%s", o.res.ExitCode, out.Bytes())
	}
	got := string(out.Bytes())
	for _, line := range []string{"main got TERM\n", "child got TERM\n"} {
		if !strings.Contains(got, line) {
			t.Errorf("SIGTERM did not reach every process: output lacks %q:\n%s", line, got)
		}
	}
	if strings.Contains(got, "not reached") {
		t.Errorf("script went on after its trap exited:\n%s", got)
	}
}

func testCancelKill(t *testing.T, s *suite) {
	j := s.newJob(t)
	j.prepare()
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	var out output
	const grace = time.Second
	done := runInBackground(ctx, j, executor.Command{Name: "step_script", Output: &out, Grace: grace, Script: `
trap '' TERM
echo $$ > ignoring-term.pid
echo ready
while true; do sleep 1; done
`})
	out.waitFor(t, "ready\n")
	canceled := time.Now()
	cause := errors.New("canceled by the conformance suite")
	cancel(cause)
	o := await(t, done, &out)
	if took := time.Since(canceled); took < grace {
		t.Errorf("Run returned %v after cancel, before the grace period of %v was over", took, grace)
	}
	if !errors.Is(o.err, cause) {
		t.Errorf("Run after cancel: error %v, want one wrapping context.Cause", o.err)
	}
	if o.res.ExitCode != -1 {
		t.Errorf("Result.ExitCode = %d, want -1 (SIGKILL)", o.res.ExitCode)
	}
	if s.target.HostPIDs {
		waitGone(t, readPIDs(t, filepath.Join(j.spec.HostDir, "ignoring-term.pid")))
	}
}

func testDoneContext(t *testing.T, s *suite) {
	j := s.newJob(t)
	j.prepare()
	ctx, cancel := context.WithCancelCause(context.Background())
	cause := errors.New("job already canceled")
	cancel(cause)
	_, _, err := j.run(ctx, "touch started\n")
	if !errors.Is(err, cause) {
		t.Errorf("Run with a done context: error %v, want one wrapping context.Cause", err)
	}
	if _, err := os.Stat(filepath.Join(j.spec.HostDir, "started")); err == nil {
		t.Errorf("Run with a done context ran the script")
	}
}

// brokenOutput is a Command.Output whose every write fails, like a trace that can no
// longer be stored.
type brokenOutput struct{}

func (brokenOutput) Write([]byte) (int, error) { return 0, errors.New("trace storage is gone") }

func testBrokenOutput(t *testing.T, s *suite) {
	j := s.newJob(t)
	j.prepare()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Far more output than a pipe holds: an executor that stopped reading would hang.
	res, err := j.env.Run(ctx, commandTo(brokenOutput{}, `i=0
while [ "$i" -lt 5000 ]; do echo "line $i of output that nobody can store"; i=$((i + 1)); done
echo done > finished.txt
`))
	if err == nil || errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "trace storage is gone") {
		t.Errorf("Run with a failing Output: error %v, want the writer's error", err)
	}
	if res.ExitCode != 0 {
		t.Errorf("Result.ExitCode = %d, want 0: the script itself succeeded", res.ExitCode)
	}
	if _, err := os.Stat(filepath.Join(j.spec.HostDir, "finished.txt")); err != nil {
		t.Errorf("the script did not run to its end: %v", err)
	}
}
