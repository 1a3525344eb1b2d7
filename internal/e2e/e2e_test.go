// Package e2e runs Kiln end to end: a coordinator (in this process, on loopback) and
// the real `kiln runner` binary with the shell executor, with git over HTTP between
// them. It may import both sides of the architecture; nothing imports it.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/coordinator"
	"github.com/kiln-ci/kiln/internal/coordinator/coordinatortest"
	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/store"
)

// kilnBinary is the kiln command built once for the tests.
var kilnBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kiln-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	kilnBinary = filepath.Join(dir, "kiln")
	build := exec.Command("go", "build", "-o", kilnBinary, "github.com/kiln-ci/kiln/cmd/kiln")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building kiln: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// world is a coordinator, a project whose repository the test pushes to, and a
// registered runner configuration.
type world struct {
	*coordinatortest.Env
	t       *testing.T
	project *store.Project
	work    string // a clone of the project
	config  string // the runner's config.toml
	dir     string
}

func newWorld(t *testing.T) *world {
	e := coordinatortest.New(t, coordinatortest.Options{Configure: func(c *coordinator.Config) {
		c.LongPoll = 2 * time.Second
		c.StuckTimeout = 4 * time.Second
		c.ReapInterval = 500 * time.Millisecond
	}})
	g := e.Group(t, "acme", machine.PlanPremium)
	p := e.Project(t, g, "app", map[string]string{"README.md": "# app\n"})
	w := &world{Env: e, t: t, project: p, dir: t.TempDir()}
	u, _ := url.Parse(e.URL + "/" + p.FullPath + ".git")
	u.User = url.UserPassword("root", e.AdminToken)
	w.work = filepath.Join(w.dir, "work")
	w.git(w.dir, "clone", "--quiet", u.String(), w.work)

	_, token := e.Runner(t, coordinator.CreateRunnerRequest{RunUntagged: true, MachineType: machine.TagSmall, Description: "e2e"})
	w.config = filepath.Join(w.dir, "runner", "config.toml")
	out, err := exec.Command(kilnBinary, "runner", "register", "--config", w.config, "--url", e.URL, "--token", token,
		"--executor", "shell", "--name", "e2e").CombinedOutput()
	if err != nil {
		t.Fatalf("kiln runner register: %v\n%s", err, out)
	}
	return w
}

func (w *world) git(dir string, args ...string) string {
	w.t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=Ada", "-c", "user.email=ada@example.com"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		w.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// push commits files and pushes them over HTTP; the push makes a pipeline.
func (w *world) push(files map[string]string) *store.Pipeline {
	w.t.Helper()
	for name, content := range files {
		path := filepath.Join(w.work, name)
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			w.t.Fatal(err)
		}
	}
	w.git(w.work, "add", "-A")
	w.git(w.work, "commit", "--quiet", "-m", "Change the pipeline")
	sha := w.git(w.work, "rev-parse", "HEAD")
	w.git(w.work, "push", "--quiet", "origin", "main")
	pls, err := w.Store.Pipelines.ListPipelines(context.Background(), store.PipelineQuery{ProjectID: w.project.ID, SHA: sha})
	if err != nil || len(pls) != 1 {
		w.t.Fatalf("pipelines for the push of %s: %v, %v", sha, pls, err)
	}
	return &pls[0]
}

// startRunner runs `kiln runner run` until the test ends (or kill).
func (w *world) startRunner() *exec.Cmd {
	w.t.Helper()
	cmd := exec.Command(kilnBinary, "runner", "run", "--config", w.config)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		if w.t.Failed() {
			w.t.Logf("runner log:\n%s", log.String())
		}
	})
	return cmd
}

// waitFor polls cond until it holds or the deadline passes.
func (w *world) waitFor(what string, d time.Duration, cond func() bool) {
	w.t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			w.t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (w *world) pipelineDone(pl *store.Pipeline) *store.Pipeline {
	w.t.Helper()
	var cur *store.Pipeline
	w.waitFor(fmt.Sprintf("pipeline %d to finish", pl.ID), 90*time.Second, func() bool {
		cur = w.Pipeline(w.t, pl.ID)
		return cur.Status.Finished() || cur.Status == store.StatusManual
	})
	return cur
}

const maskedSecret = "s3cr3t-Value.42~x"

func TestPushToPipelineThroughKilnsRunnerWithArtifactsAndMaskedVariables(t *testing.T) {
	w := newWorld(t)
	if err := w.Store.Variables.CreateVariable(context.Background(), &store.Variable{
		Owner: store.ProjectOwner(w.project.ID), Key: "DEPLOY_SECRET", Value: maskedSecret, Masked: true}); err != nil {
		t.Fatal(err)
	}
	w.startRunner()
	pl := w.push(map[string]string{".gitlab-ci.yml": `
stages: [build, test]
build:
  stage: build
  script:
    - mkdir -p out
    - echo "built from $CI_COMMIT_SHORT_SHA in pipeline $CI_PIPELINE_ID" > out/result.txt
    - echo "the secret is $DEPLOY_SECRET"
    - echo "VERSION=1.2.3" > build.env
  artifacts:
    paths: [out/]
    reports:
      dotenv: build.env
test:
  stage: test
  script:
    - cat out/result.txt
    - test "$VERSION" = 1.2.3
    - echo "version $VERSION"
`})
	done := w.pipelineDone(pl)
	jobs := w.Jobs(t, pl.ID)
	if done.Status != store.StatusSuccess {
		for name, j := range jobs {
			t.Logf("%s: %s %s\n%s", name, j.Status, j.FailureReason, w.Trace(t, j.ID))
		}
		t.Fatalf("pipeline %s, want success", done.Status)
	}
	build, test := w.Trace(t, jobs["build"].ID), w.Trace(t, jobs["test"].ID)
	if strings.Contains(build, maskedSecret) || !strings.Contains(build, "the secret is [MASKED]") {
		t.Errorf("the masked variable was not masked in the build log:\n%s", build)
	}
	if !strings.Contains(test, fmt.Sprintf("in pipeline %d", pl.ID)) || !strings.Contains(test, "version 1.2.3") {
		t.Errorf("the test job did not get the build's artifacts and dotenv:\n%s", test)
	}
	arts, _ := w.Store.Artifacts.ListArtifacts(context.Background(), jobs["build"].ID)
	if len(arts) != 2 {
		t.Errorf("build artifacts %+v, want the archive and the dotenv report", arts)
	}
}

func TestCancelAndRetryThroughKilnsRunner(t *testing.T) {
	w := newWorld(t)
	w.startRunner()
	marker := filepath.Join(w.dir, "flaky-marker")
	pl := w.push(map[string]string{".gitlab-ci.yml": fmt.Sprintf(`
flaky:
  stage: build
  retry: 1
  script:
    - if [ -f %[1]s ]; then echo second attempt; exit 0; fi
    - touch %[1]s
    - echo first attempt fails
    - exit 7
long:
  stage: build
  script:
    - echo started
    - sleep 300
`, marker)})
	ctx := context.Background()
	w.waitFor("the long job to run", 60*time.Second, func() bool {
		return w.Jobs(t, pl.ID)["long"].Status == store.StatusRunning
	})
	long := w.Jobs(t, pl.ID)["long"]
	if _, err := w.Service.CancelJob(ctx, long.ID); err != nil {
		t.Fatal(err)
	}
	w.waitFor("the long job to be canceled", 30*time.Second, func() bool {
		j, _ := w.Store.Jobs.Job(ctx, long.ID)
		return j.Status == store.StatusCanceled
	})
	done := w.pipelineDone(pl)
	all, _ := w.Store.Jobs.ListJobs(ctx, store.JobQuery{PipelineID: pl.ID, IncludeRetried: true})
	var flaky []store.Job
	for _, j := range all {
		if j.Name == "flaky" {
			flaky = append(flaky, j)
		}
	}
	if len(flaky) != 2 || flaky[0].Status != store.StatusFailed || flaky[0].ExitCode == nil || *flaky[0].ExitCode != 7 ||
		flaky[1].Status != store.StatusSuccess {
		t.Fatalf("flaky attempts %+v", flaky)
	}
	if !strings.Contains(w.Trace(t, flaky[1].ID), "second attempt") {
		t.Errorf("retried trace:\n%s", w.Trace(t, flaky[1].ID))
	}
	if done.Status != store.StatusCanceled {
		t.Errorf("pipeline %s, want canceled (a canceled job)", done.Status)
	}
	// Retrying the canceled job through the service runs it again.
	retried, err := w.Service.RetryJob(ctx, long.ID)
	if err != nil {
		t.Fatal(err)
	}
	w.waitFor("the retried job to run", 60*time.Second, func() bool {
		j, _ := w.Store.Jobs.Job(ctx, retried.ID)
		return j.Status == store.StatusRunning
	})
	w.Service.CancelJob(ctx, retried.ID)
}

func TestAKilledRunnersJobFailsAndIsRetriedOnAnotherRun(t *testing.T) {
	w := newWorld(t)
	first := w.startRunner()
	marker := filepath.Join(w.dir, "ran-once")
	pl := w.push(map[string]string{".gitlab-ci.yml": fmt.Sprintf(`
work:
  retry:
    max: 1
    when: [runner_system_failure]
  script:
    - if [ -f %[1]s ]; then echo resumed; exit 0; fi
    - touch %[1]s
    - sleep 300
`, marker)})
	ctx := context.Background()
	w.waitFor("the job to run", 60*time.Second, func() bool {
		_, err := os.Stat(marker)
		return err == nil
	})
	syscall.Kill(-first.Process.Pid, syscall.SIGKILL) // the runner host dies
	first.Wait()
	w.waitFor("the job to fail and be retried", 30*time.Second, func() bool {
		all, _ := w.Store.Jobs.ListJobs(ctx, store.JobQuery{PipelineID: pl.ID, IncludeRetried: true})
		return len(all) == 2
	})
	all, _ := w.Store.Jobs.ListJobs(ctx, store.JobQuery{PipelineID: pl.ID, IncludeRetried: true})
	if all[0].Status != store.StatusFailed || all[0].FailureReason != "runner_system_failure" || !all[0].Retried {
		t.Errorf("the killed runner's job: %s %s retried %v", all[0].Status, all[0].FailureReason, all[0].Retried)
	}
	w.startRunner() // the host comes back
	if done := w.pipelineDone(pl); done.Status != store.StatusSuccess {
		t.Fatalf("pipeline %s after the retry, want success", done.Status)
	}
	if got := w.Trace(t, all[1].ID); !strings.Contains(got, "resumed") {
		t.Errorf("retried job trace:\n%s", got)
	}
}
