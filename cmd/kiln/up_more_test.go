package main

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/api/client"
	"github.com/kiln-ci/kiln/internal/api/entity"
	"github.com/kiln-ci/kiln/internal/gpu/device"
	"github.com/kiln-ci/kiln/internal/gpu/nvmlhost"
	"github.com/kiln-ci/kiln/internal/gpu/nvmltest"
	"github.com/kiln-ci/kiln/internal/runner/config"
	"github.com/kiln-ci/kiln/internal/testenv"
)

// pushProject makes project name in group (made on plan if missing) holding files,
// pushed with git over HTTP with the token, and returns its full path.
func pushProject(t *testing.T, u *upProcess, group, plan, name string, files map[string]string) string {
	t.Helper()
	ctx := context.Background()
	c := u.api(t)
	ns, err := c.Namespace(ctx, group)
	if client.IsNotFound(err) {
		_, err = c.CreateGroup(ctx, client.CreateGroupOptions{Name: group, Path: group, Plan: plan})
		if err == nil {
			ns, err = c.Namespace(ctx, group)
		}
	}
	if err != nil {
		t.Fatalf("group %s: %v", group, err)
	}
	p, err := c.CreateProject(ctx, client.CreateProjectOptions{Name: name, NamespaceID: ns.ID})
	if err != nil {
		t.Fatalf("project %s: %v", name, err)
	}
	work := t.TempDir()
	for f, content := range files {
		if err := os.WriteFile(filepath.Join(work, f), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	remote := strings.Replace(p.HTTPURLToRepo, "://", "://root:"+u.token+"@", 1)
	for _, args := range [][]string{{"init", "--quiet", "-b", "main"}, {"add", "-A"}, {"commit", "--quiet", "-m", "Add the pipeline"},
		{"push", "--quiet", remote, "HEAD:main"}} {
		cmd := exec.Command("git", append([]string{"-c", "user.name=Ada", "-c", "user.email=ada@example.com"}, args...)...)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %s: %v\n%s", args[0], err, b)
		}
	}
	return p.PathWithNamespace
}

// waitLatestPipeline waits until the newest pipeline of project reaches a final status.
func waitLatestPipeline(t *testing.T, c *client.Client, project string, d time.Duration) (*entity.Pipeline, map[string]entity.Job) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		pl, jobs := latestPipeline(t, c, project)
		if finished(pl.Status) {
			return pl, jobs
		}
		if time.Now().After(deadline) {
			t.Fatalf("pipeline #%d of %s is still %s after %s", pl.ID, project, pl.Status, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestUpOnAGPUHostAlsoServesTheGPUMachineTypeAndLeasesEachJobItsGPU(t *testing.T) {
	gpus := nvmltest.NewDGXA100()
	openHost := func(context.Context, *slog.Logger) (device.Host, error) { return nvmlhost.Open(gpus, nil) }
	cfg := upTestConfig(t)
	u := startUp(t, cfg, upDeps{openHost: openHost, docker: dockerAnswers})
	out := u.out.String()
	if !strings.Contains(out, "machine type saas-linux-medium-amd64-gpu-standard: jobs tagged saas-linux-medium-amd64-gpu-standard, 8 at once") ||
		strings.Contains(out, "GPUs      none") {
		t.Fatalf("kiln up on an 8-GPU host does not say it serves the GPU machine type:\n%s", out)
	}
	file, err := config.Load(filepath.Join(cfg.DataDir, "runner", "config.toml"))
	if err != nil || len(file.Runners) != 2 || file.Concurrent != 10 || file.Runners[1].Limit != 8 ||
		file.Runners[1].Kiln.StateDir != filepath.Join(cfg.DataDir, "gpu") {
		t.Fatalf("config.toml: %v %+v", err, file)
	}
	project := pushProject(t, u, "ml", "premium", "train", map[string]string{".gitlab-ci.yml": `
train:
  tags: [saas-linux-medium-amd64-gpu-standard]
  script:
    - echo "leased $CUDA_VISIBLE_DEVICES"
cpu:
  script:
    - echo "no GPU for me, '$CUDA_VISIBLE_DEVICES'"
`})
	c := u.api(t)
	pl, jobs := waitLatestPipeline(t, c, project, 90*time.Second)
	if pl.Status != "success" {
		t.Fatalf("pipeline %s (%v): %+v", pl.Status, pl.YAMLErrors, jobs)
	}
	train := jobLog(t, c, project, jobs["train"].ID)
	leased := ""
	for _, uuid := range gpus.UUIDs() {
		if strings.Contains(train, "leased "+uuid) {
			leased = uuid
		}
	}
	if leased == "" {
		t.Errorf("the GPU job did not get one of the host's GPUs:\n%s", train)
	}
	if log := jobLog(t, c, project, jobs["cpu"].ID); !strings.Contains(log, "no GPU for me, ''") {
		t.Errorf("the untagged job saw GPUs:\n%s", log)
	}
	if jobs["train"].Runner == nil || jobs["cpu"].Runner == nil || jobs["train"].Runner.ID == jobs["cpu"].Runner.ID {
		t.Errorf("the GPU and CPU jobs ran on runners %v and %v; want kiln up's two", jobs["train"].Runner, jobs["cpu"].Runner)
	}
}

func TestUpCtrlCStopsARunningJobAndReportsItBeforeTheServerStops(t *testing.T) {
	cfg := upTestConfig(t)
	u := startUp(t, cfg, upDeps{openHost: noGPUs, docker: dockerAnswers})
	project := pushProject(t, u, "acme", "free", "slow", map[string]string{".gitlab-ci.yml": "slow:\n  script: [echo started, sleep 300]\n"})
	c := u.api(t)
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, jobs := latestPipeline(t, c, project)
		if jobs["slow"].Status == "running" && strings.Contains(jobLog(t, c, project, jobs["slow"].ID), "started") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job is %s, never running", jobs["slow"].Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
	start := time.Now()
	if err := u.stop(t); err != nil {
		t.Fatalf("kiln up after Ctrl-C: %v", err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("stopping took %s", d)
	}
	again := startUp(t, cfg, upDeps{openHost: noGPUs, docker: dockerAnswers})
	_, jobs := latestPipeline(t, again.api(t), project)
	if j := jobs["slow"]; j.Status != "failed" || j.FailureReason != "runner_system_failure" {
		t.Errorf("after Ctrl-C the running job is %s (%s); want failed as a runner system failure, reported before the server stopped",
			j.Status, j.FailureReason)
	}
}

func TestUpDemoWithTheDockerExecutorLeavesNoContainerBehind(t *testing.T) {
	testenv.NeedDocker(t)
	cfg := upTestConfig(t)
	if err := exec.Command("docker", "image", "inspect", cfg.DockerImage).Run(); err != nil {
		testenv.Missing(t, testenv.TierDocker, "the image "+cfg.DockerImage+" is missing; build it with scripts/test-images.sh")
	}
	cfg.Executor, cfg.Demo, cfg.Keep = "auto", true, true
	u := startUp(t, cfg, upDeps{openHost: noGPUs, docker: dockerAnswers})
	u.waitFor(t, "Kiln keeps serving", 4*time.Minute)
	if !strings.Contains(u.out.String(), "Runner    #1, docker executor") {
		t.Fatalf("auto did not choose the Docker executor:\n%s", u.out)
	}
	checkDemoOutcome(t, u.api(t))
	if err := u.stop(t); err != nil {
		t.Errorf("kiln up after Ctrl-C: %v", err)
	}
	systemID, err := config.SystemID(filepath.Join(cfg.DataDir, "runner", "config.toml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"container", "network", "volume"} {
		args := []string{kind, "ls", "-q", "--filter", "label=dev.kiln.runner=" + systemID}
		if kind == "container" {
			args = []string{"ps", "-aq", "--filter", "label=dev.kiln.runner=" + systemID}
		}
		b, err := exec.Command("docker", args...).Output()
		if err != nil || strings.TrimSpace(string(b)) != "" {
			t.Errorf("%ss left behind: %q, %v", kind, b, err)
		}
	}
}
