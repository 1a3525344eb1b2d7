package main

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/localrun"
	"github.com/kiln-ci/kiln/internal/testenv"
)

// execRepo makes a git repository holding files, committed on main.
func execRepo(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "-A"},
		{"-c", "user.name=T", "-c", "user.email=t@example.invalid", "commit", "-q", "-m", "init"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	return dir
}

func exitCode(err error) int {
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if err != nil {
		return -1
	}
	return 0
}

func TestExecOfTheGPUSeedOnAHostWithoutGPUsFailsFastSayingSo(t *testing.T) {
	for _, ex := range []string{"shell", "docker"} {
		t.Run(ex, func(t *testing.T) {
			if ex == "docker" {
				testenv.NeedDocker(t)
			}
			report := filepath.Join(t.TempDir(), "report.json")
			start := time.Now()
			out, err := runKiln(t, "exec", "--cwd", "../../examples/gpu-seed", "--executor", ex,
				"--state-dir", t.TempDir(), "--report", report)
			if code := exitCode(err); code != exitPipelineFailed {
				t.Fatalf("exit status %d (%v), want %d\n%s", code, err, exitPipelineFailed, out)
			}
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("took %v; a job that cannot have its GPU must fail at once", d)
			}
			if !strings.Contains(out, "no GPU of the machine type is available here") {
				t.Errorf("output does not say no GPU of the machine type is available here:\n%s", out)
			}
			if strings.Contains(out, "apt-get update\n") {
				t.Errorf("the script ran:\n%s", out)
			}
			var rep localrun.Result
			b, _ := os.ReadFile(report)
			if err := json.Unmarshal(b, &rep); err != nil {
				t.Fatalf("report: %v\n%s", err, b)
			}
			if rep.Status != "failed" || len(rep.Jobs) != 1 || rep.Jobs[0].Status != "failed" || rep.Jobs[0].FailureReason != "kiln_gpu_unavailable" {
				t.Errorf("report = %s", b)
			}
		})
	}
}

func TestExecReportsEveryJobInGitLabsWords(t *testing.T) {
	dir := execRepo(t, map[string]string{".gitlab-ci.yml": `
build:
  stage: build
  script: [mkdir -p out, echo hi > out/a.txt]
  artifacts: {paths: [out/]}
flaky:
  stage: test
  allow_failure: true
  script: [exit 3]
deploy:
  stage: deploy
  when: manual
  script: [echo deploy]
`})
	report := filepath.Join(t.TempDir(), "report.json")
	out, err := runKiln(t, "exec", "--cwd", dir, "--state-dir", t.TempDir(), "--report", report)
	if exitCode(err) != 0 {
		t.Fatalf("exit status %d, want 0\n%s", exitCode(err), out)
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Status string `json:"status"`
		Jobs   []struct {
			Name, Stage, Status string
			AllowFailure        bool     `json:"allow_failure"`
			ExitCode            int      `json:"exit_code"`
			FailureReason       string   `json:"failure_reason"`
			DurationS           *float64 `json:"duration_s"`
			Artifacts           []string `json:"artifacts"`
		} `json:"jobs"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if rep.Status != "success" || len(rep.Jobs) != 3 {
		t.Fatalf("report = %s", b)
	}
	// The report has exactly the keys, no more, no fewer.
	var shape struct {
		Top  map[string]json.RawMessage
		Jobs []map[string]json.RawMessage
	}
	_ = json.Unmarshal(b, &shape.Top)
	_ = json.Unmarshal(shape.Top["jobs"], &shape.Jobs)
	if got := slices.Sorted(maps.Keys(shape.Top)); !slices.Equal(got, []string{"jobs", "status"}) {
		t.Errorf("report's keys are %v, want [jobs status]", got)
	}
	wantKeys := []string{"allow_failure", "artifacts", "duration_s", "exit_code", "failure_reason", "name", "stage", "status"}
	for i, j := range shape.Jobs {
		if got := slices.Sorted(maps.Keys(j)); !slices.Equal(got, wantKeys) {
			t.Errorf("job %d's keys are %v, want %v", i, got, wantKeys)
		}
	}
	build, flaky, deploy := rep.Jobs[0], rep.Jobs[1], rep.Jobs[2]
	if build.Name != "build" || build.Status != "success" || len(build.Artifacts) != 2 || build.Artifacts[1] != "out/a.txt" || build.DurationS == nil {
		t.Errorf("build = %+v", build)
	}
	if flaky.Status != "failed" || !flaky.AllowFailure || flaky.ExitCode != 3 || flaky.FailureReason != "script_failure" {
		t.Errorf("flaky = %+v", flaky)
	}
	if deploy.Status != "manual" || deploy.Stage != "deploy" {
		t.Errorf("deploy = %+v", deploy)
	}
	for _, want := range []string{"build  | $ echo hi > out/a.txt", "==> deploy: manual, not run", "JOB", "STAGE", "STATUS", "DURATION",
		"Pipeline passed (success)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestExecExitStatus(t *testing.T) {
	dir := execRepo(t, map[string]string{
		".gitlab-ci.yml":    "fail:\n  script: [exit 1]\nok:\n  script: [echo fine]\n",
		"invalid.yml":       "job:\n  script: []\n",
		"filtered.yml":      "workflow:\n  rules:\n    - if: $CI_COMMIT_TAG\njob:\n  script: [echo]\n",
		"needs-missing.yml": "a:\n  script: [echo]\n  needs: [nope]\n",
	})
	cases := []struct {
		name string
		args []string
		code int
		says string
		not  string // what the output must not say
	}{
		{"a failing pipeline", nil, exitPipelineFailed, "Pipeline failed", ""},
		{"only a passing job", []string{"ok"}, 0, "Pipeline passed", ""},
		{"an unknown job", []string{"nope"}, exitUsage, `job "nope" could not be found; the jobs are: fail, ok`, "is invalid"},
		{"an invalid configuration", []string{"--file", "invalid.yml"}, exitUsage, "invalid.yml", ""},
		{"a pipeline filtered out by workflow:rules", []string{"--file", "filtered.yml"}, 0, "Pipeline filtered out by workflow rules.", ""},
		{"an unknown machine type", []string{"--machine-type", "huge"}, exitUsage, `--machine-type "huge" is not a machine type`, ""},
		{"an unknown executor", []string{"--executor", "podman"}, exitUsage, `--executor "podman" is not shell or docker`, ""},
		{"a bad variable", []string{"--variable", "NOEQUALS"}, exitUsage, `--variable "NOEQUALS" is not KEY=VALUE`, ""},
		{"a negative concurrency", []string{"--concurrency", "-1"}, exitUsage, "--concurrency -1 is negative", "Pipeline"},
		{"a report in a missing directory", []string{"--report", "/nonexistent/dir/r.json"}, exitUsage,
			"--report /nonexistent/dir/r.json: its directory /nonexistent/dir does not exist", "Pipeline"},
		{"a report that is a directory", []string{"--report", "/tmp"}, exitUsage, "--report /tmp is a directory", "Pipeline"},
		{"a missing file", []string{"--file", "nope.yml"}, exitUsage, "nope.yml could not be found", "is invalid"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"exec", "--cwd", dir, "--state-dir", t.TempDir()}, c.args...)
			out, err := runKiln(t, args...)
			if got := exitCode(err); got != c.code {
				t.Errorf("exit status %d (%v), want %d\n%s", got, err, c.code, out)
			}
			if !strings.Contains(out, c.says) {
				t.Errorf("output does not say %q:\n%s", c.says, out)
			}
			if c.not != "" && strings.Contains(out, c.not) {
				t.Errorf("output says %q:\n%s", c.not, out)
			}
		})
	}
}

func TestExecVariablesKeepCommasAndNewLines(t *testing.T) {
	dir := execRepo(t, map[string]string{".gitlab-ci.yml": "job:\n  script: ['echo \"[$A]\"']\n"})
	out, err := runKiln(t, "exec", "--cwd", dir, "--state-dir", t.TempDir(), "--variable", "A=x,y=z\nnext")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "job | [x,y=z\njob | next]") {
		t.Errorf("the variable lost its commas or new line:\n%s", out)
	}
}

func TestExecCtrlCCancelsRunningJobsRunsAfterScriptAndPrintsTheSummary(t *testing.T) {
	dir := execRepo(t, map[string]string{".gitlab-ci.yml": `
slow:
  stage: build
  script: [echo started, sleep 60]
  after_script: ['echo "after_script: $CI_JOB_STATUS"']
later:
  stage: test
  script: [echo never]
`})
	out := &testenv.Buffer{}
	root := newRootCmd()
	root.SetOut(out)
	root.SetErr(out)
	root.SetArgs([]string{"exec", "--cwd", dir, "--state-dir", t.TempDir()})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(context.Background()) }()
	deadline := time.Now().Add(30 * time.Second)
	for !slices.Contains(localrun.JobLines(out.String(), "slow"), "started") {
		if time.Now().After(deadline) {
			t.Fatalf("the job never started:\n%s", out)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// kiln exec listens for SIGINT once jobs run: the test process is not stopped.
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("kiln exec did not stop after Ctrl-C:\n%s", out)
	}
	if code := exitCode(err); code != exitCanceled {
		t.Errorf("exit status %d, want %d", code, exitCanceled)
	}
	if !slices.Contains(localrun.JobLines(out.String(), "slow"), "after_script: canceled") {
		t.Errorf("after_script did not run with CI_JOB_STATUS=canceled:\n%s", out)
	}
	for _, want := range []string{"==> slow: canceled", "JOB", "later", "Pipeline was canceled (canceled)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if len(localrun.JobLines(out.String(), "later")) > 0 {
		t.Errorf("a job started after Ctrl-C:\n%s", out)
	}
}
