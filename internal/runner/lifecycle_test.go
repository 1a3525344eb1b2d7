package runner_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/executor"
	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/runner"
	"github.com/kiln-ci/kiln/internal/runner/local"
	"github.com/kiln-ci/kiln/internal/testenv"
)

func TestSuccessfulJobRunsTheStagesInGitLabRunnersOrder(t *testing.T) {
	h := newHarness(t, nil)
	job := h.job([]string{`echo "in $CI_PROJECT_DIR status $CI_JOB_STATUS server $CI_SERVER"`, "pwd"},
		`echo "after with $CI_JOB_STATUS"`)
	o, log := h.run(job)
	if o.Kind != runner.Success || o.FailureReason != "" {
		t.Fatalf("outcome %+v\n%s", o, log)
	}
	inOrder(t, log,
		"Running with kiln ", "  on test-runner abcdefghi, system ID: s_0123456789ab",
		"section_start:", ":prepare_executor\r\x1b[0K", `Preparing the "shell" executor`, "Using Shell (",
		":prepare_script\r", "Running on ",
		":get_sources\r", "Skipping Git repository setup",
		`:step_script`, `Executing "step_script" stage of the job script`,
		"\x1b[32;1m$ echo \"in $CI_PROJECT_DIR status $CI_JOB_STATUS server $CI_SERVER\"\x1b[0;m\n",
		"status running server yes",
		":after_script\r", "Running after script...", "after with success",
		":cleanup_file_variables\r",
		"\x1b[32;1mJob succeeded\x1b[0;m\n")
	if !strings.HasSuffix(log, "Job succeeded\x1b[0;m\n") {
		t.Errorf("the final status line is not last:\n%q", log[max(0, len(log)-200):])
	}
	wantDir := filepath.Join(h.cfg.BuildsDir, "abcdefghi", "0", "project-42")
	if !strings.Contains(log, "in "+wantDir+" ") {
		t.Errorf("CI_PROJECT_DIR is not %s:\n%s", wantDir, log)
	}
}

func TestScriptFailureStopsAtTheFirstFailingCommandAndKeepsItsExitCode(t *testing.T) {
	h := newHarness(t, nil)
	o, log := h.run(h.job([]string{"echo first", "exit 3", "echo never"}, `echo "after sees $CI_JOB_STATUS"`))
	if o.Kind != runner.ScriptFailure || o.ExitCode != 3 || o.FailureReason != protocol.FailureScript {
		t.Fatalf("outcome %+v", o)
	}
	if strings.Contains(log, "never\n") {
		t.Error("the script went on after a failing command")
	}
	inOrder(t, log, "first\n", "after sees failed", "ERROR: Job failed: exit code 3")
}

func TestAfterScriptFailureOnlyWarnsAndHasItsOwnTimeout(t *testing.T) {
	h := newHarness(t, nil)
	job := h.job([]string{"true"}, "sleep 30")
	job.Variables = append(job.Variables, jobspec.Variable{Key: "RUNNER_AFTER_SCRIPT_TIMEOUT", Value: "500ms"})
	start := time.Now()
	o, log := h.run(job)
	if o.Kind != runner.Success {
		t.Fatalf("after_script failure changed the outcome: %+v\n%s", o, log)
	}
	if time.Since(start) > 15*time.Second {
		t.Errorf("after_script's timeout was not applied: took %v", time.Since(start))
	}
	if !strings.Contains(log, "WARNING: after_script failed, but job will continue unaffected: execution took longer than 500ms") {
		t.Errorf("no warning in:\n%s", log)
	}
}

func TestTimeoutEndsTheJobAsJobExecutionTimeoutAndStillRunsAfterScript(t *testing.T) {
	h := newHarness(t, nil)
	job := h.job([]string{"echo started", "sleep 60"}, `echo "after: $CI_JOB_STATUS"`)
	job.RunnerInfo.Timeout = 1
	start := time.Now()
	o, log := h.run(job)
	if o.Kind != runner.Timeout || o.FailureReason != protocol.FailureJobExecutionTimeout {
		t.Fatalf("outcome %+v\n%s", o, log)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("a 1 s timeout took %v", d)
	}
	inOrder(t, log, "started", "after: failed", "ERROR: Job failed: execution took longer than 1s seconds")
}

func TestGracefulCancelStopsTheScriptAndRunsAfterScriptAsCanceled(t *testing.T) {
	h := newHarness(t, nil)
	job := h.job([]string{`trap 'echo got TERM; exit 143' TERM; echo started; sleep 60 & wait`},
		`echo "after: $CI_JOB_STATUS"`)
	o, log := h.runCtx(context.Background(), job, func(ch *local.Channel, out *testenv.Buffer) {
		waitFor(t, out, "started\n")
		ch.Cancel()
	})
	if o.Kind != runner.Canceled || o.FailureReason != protocol.FailureJobCanceled {
		t.Fatalf("outcome %+v\n%s", o, log)
	}
	inOrder(t, log, "started", "got TERM", "WARNING: script canceled externally (UI, API)", "after: canceled", "ERROR: Job failed: canceled")
}

func TestAbortStopsTheJobWithoutAfterScript(t *testing.T) {
	h := newHarness(t, nil)
	job := h.job([]string{"echo started", "sleep 60"}, "echo AFTER-RAN")
	ctx, cancel := context.WithCancelCause(context.Background())
	o, log := h.runCtx(ctx, job, func(_ *local.Channel, out *testenv.Buffer) {
		waitFor(t, out, "started\n")
		cancel(errors.New("the coordinator says the job is canceled"))
	})
	if o.Kind != runner.Canceled || !strings.Contains(o.Message, "aborted") {
		t.Fatalf("outcome %+v", o)
	}
	if strings.Contains(log, "AFTER-RAN") {
		t.Error("after_script ran after an abort")
	}
	if !strings.HasSuffix(log, "ERROR: Job failed: aborted: the coordinator says the job is canceled\x1b[0;m\n") {
		t.Errorf("final line lost:\n%s", log)
	}
}

func TestFileVariablesAre0600FilesOutsideTheProjectRemovedAfterTheJob(t *testing.T) {
	h := newHarness(t, nil)
	job := h.job([]string{
		`echo "path=$MY_CONFIG"`, `cat "$MY_CONFIG"; echo`,
		`stat -c '%a' "$MY_CONFIG"`, `case "$MY_CONFIG" in "$CI_PROJECT_DIR"/*) echo INSIDE;; *) echo OUTSIDE;; esac`,
	})
	job.Variables = append(job.Variables, jobspec.Variable{Key: "MY_CONFIG", Value: "key: value", File: true})
	o, log := h.run(job)
	if o.Kind != runner.Success {
		t.Fatalf("%+v\n%s", o, log)
	}
	for _, want := range []string{"key: value\n", "600\n", "OUTSIDE\n"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	i := strings.Index(log, "path=")
	p := strings.TrimSpace(strings.SplitN(log[i+5:], "\n", 2)[0])
	if _, err := os.Stat(p); err == nil {
		t.Errorf("file variable %s left behind after the job", p)
	}
}

func TestMaskedVariablesNeverReachTheLogEvenInPieces(t *testing.T) {
	h := newHarness(t, nil)
	job := h.job([]string{`echo "plain $SECRET"`, `printf 'split: %s' "${SECRET:0:8}"; sleep 0.2; printf '%s\n' "${SECRET:8}"`})
	job.Variables = append(job.Variables, jobspec.Variable{Key: "SECRET", Value: "s3cr3tP4ssw0rdValue", Masked: true})
	o, log := h.run(job)
	if o.Kind != runner.Success {
		t.Fatalf("%+v\n%s", o, log)
	}
	if strings.Contains(log, "s3cr3tP4ssw0rdValue") || strings.Contains(log, job.Token) {
		t.Errorf("a secret reached the log:\n%s", log)
	}
	inOrder(t, log, "plain [MASKED]\n", "split: [MASKED]\n")
}

func TestOutputLimitTruncatesButKeepsTheFinalStatus(t *testing.T) {
	h := newHarness(t, func(c *runner.Config) { c.OutputLimit = 4096 })
	o, log := h.run(h.job([]string{`i=0; while [ $i -lt 2000 ]; do echo "line $i"; i=$((i+1)); done`, "exit 7"}))
	if o.Kind != runner.ScriptFailure || o.ExitCode != 7 {
		t.Fatalf("%+v", o)
	}
	if !strings.Contains(log, "Job's log exceeded limit of 4096 bytes.") {
		t.Errorf("no truncation line")
	}
	if !strings.HasSuffix(log, "ERROR: Job failed: exit code 7\x1b[0;m\n") {
		t.Errorf("final line lost: %q", log[max(0, len(log)-300):])
	}
	if len(log) > 4096+1024 {
		t.Errorf("log of %d bytes despite a 4096-byte limit", len(log))
	}
}

func TestGitLabEnvCarriesVariablesToLaterScripts(t *testing.T) {
	h := newHarness(t, nil)
	o, log := h.run(h.job([]string{`echo "FROM_SCRIPT=hello there" >> "$GITLAB_ENV"`}, `echo "after: $FROM_SCRIPT"`))
	if o.Kind != runner.Success || !strings.Contains(log, "after: hello there\n") {
		t.Errorf("%+v\n%s", o, log)
	}
}

func TestOutOfMemorySaysTheMachineTypesLimitNotExit137(t *testing.T) {
	mt := testMachine(0)
	h := newHarness(t, func(c *runner.Config) {
		c.MachineType = &mt
		c.Executor = wrapExecutor{Executor: c.Executor, oomOnExit: 137}
	})
	o, log := h.run(h.job([]string{"exit 137"}))
	if o.Kind != runner.OutOfMemory || o.Message != "out of memory (limit 15 GB)" || o.FailureReason != protocol.FailureOutOfMemory {
		t.Fatalf("outcome %+v", o)
	}
	if !strings.Contains(log, "ERROR: Job failed: out of memory (limit 15 GB)") || strings.Contains(log, "exit code 137") {
		t.Errorf("log:\n%s", log)
	}
}

func TestImagePullFailureIsItsOwnOutcome(t *testing.T) {
	h := newHarness(t, func(c *runner.Config) {
		c.Executor = wrapExecutor{Executor: c.Executor, prepareErr: errors.Join(errors.New(`image "nope:1" not found locally and pull policy is never`), executor.ErrImageUnavailable)}
	})
	o, log := h.run(h.job([]string{"echo never"}, "echo AFTER"))
	if o.Kind != runner.ImagePullFailure || o.FailureReason != protocol.FailureImagePull {
		t.Fatalf("outcome %+v", o)
	}
	if strings.Contains(log, "AFTER") || !strings.Contains(log, `pull policy is never`) {
		t.Errorf("log:\n%s", log)
	}
}

func TestUnknownGitStrategyIsAConfigurationError(t *testing.T) {
	h := newHarness(t, nil)
	job := h.job([]string{"true"})
	job.Variables = jobspec.Variables{{Key: "GIT_STRATEGY", Value: "rsync"}}
	o, _ := h.run(job)
	if o.Kind != runner.ConfigurationError || !strings.Contains(o.Message, `"rsync"`) {
		t.Errorf("outcome %+v", o)
	}
}
