package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/api/client"
	"github.com/kiln-ci/kiln/internal/api/entity"
	"github.com/kiln-ci/kiln/internal/gpu/device"
	"github.com/kiln-ci/kiln/internal/runner/config"
	"github.com/kiln-ci/kiln/internal/testenv"
)

// upProcess is `kiln up` running in the test.
type upProcess struct {
	out, log   *testenv.Buffer
	done       chan error
	cancel     context.CancelFunc
	url, token string
}

// noGPUs is a host without GPUs, whatever the test machine has.
func noGPUs(context.Context, *slog.Logger) (device.Host, error) { return device.Null{}, nil }

func upTestConfig(t *testing.T) upConfig {
	return upConfig{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Executor: "shell", DockerImage: "kiln-test/debian:bookworm",
		Concurrent: 2, LogLevel: "warn", Examples: "../../examples", DemoGroup: "demo", DemoTimeout: 3 * time.Minute}
}

var exportLine = regexp.MustCompile(`export KILN_URL=(\S+) KILN_TOKEN=(\S+)`)

// startUp runs kiln up until it has printed its instructions; the test's end stops it.
func startUp(t *testing.T, cfg upConfig, deps upDeps) *upProcess {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	u := &upProcess{out: &testenv.Buffer{}, log: &testenv.Buffer{}, done: make(chan error, 1), cancel: cancel}
	go func() { u.done <- runUp(ctx, cfg, deps, u.out, u.log) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-u.done:
		case <-time.After(30 * time.Second):
			t.Error("kiln up did not stop within 30 s of Ctrl-C")
		}
		if t.Failed() {
			t.Logf("kiln up printed:\n%s\nand logged:\n%s", u.out, u.log)
		}
	})
	u.waitFor(t, "Ctrl-C stops Kiln.", 60*time.Second)
	m := exportLine.FindStringSubmatch(u.out.String())
	if m == nil {
		t.Fatalf("no export line in:\n%s", u.out)
	}
	u.url, u.token = m[1], m[2]
	return u
}

// waitFor waits until kiln up has printed text, failing if it ends first.
func (u *upProcess) waitFor(t *testing.T, text string, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for !strings.Contains(u.out.String(), text) {
		select {
		case err := <-u.done:
			u.done <- err
			t.Fatalf("kiln up ended (%v) before printing %q:\n%s\n%s", err, text, u.out, u.log)
		case <-deadline:
			t.Fatalf("kiln up did not print %q within %s:\n%s\n%s", text, d, u.out, u.log)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop is Ctrl-C: it returns kiln up's error.
func (u *upProcess) stop(t *testing.T) error {
	t.Helper()
	u.cancel()
	select {
	case err := <-u.done:
		u.done <- err
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("kiln up did not stop within 30 s of Ctrl-C")
		return nil
	}
}

func (u *upProcess) api(t *testing.T) *client.Client {
	c, err := client.New(u.url, u.token, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// latestPipeline returns the newest pipeline of project with its jobs by name.
func latestPipeline(t *testing.T, c *client.Client, project string) (*entity.Pipeline, map[string]entity.Job) {
	t.Helper()
	ctx := context.Background()
	pls, _, err := c.Pipelines(ctx, project, client.PipelineListOptions{})
	if err != nil || len(pls) == 0 {
		t.Fatalf("pipelines of %s: %v, %v", project, pls, err)
	}
	pl, err := c.Pipeline(ctx, project, pls[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := c.PipelineJobs(ctx, project, pl.ID)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]entity.Job{}
	for _, j := range jobs {
		byName[j.Name] = j
	}
	return pl, byName
}

func jobLog(t *testing.T, c *client.Client, project string, id int64) string {
	t.Helper()
	chunk, err := c.Trace(context.Background(), project, id, 0)
	if err != nil {
		t.Fatal(err)
	}
	return string(chunk.Data)
}

// checkDemoOutcome checks what the demo must show on a host without GPUs: the CPU
// demo passes with artifacts and dotenv between stages, the seed's GPU job fails at
// once with the GPU reason, without running.
func checkDemoOutcome(t *testing.T, c *client.Client) {
	t.Helper()
	pl, jobs := latestPipeline(t, c, "demo/cpu-demo")
	if pl.Status != "success" || len(jobs) != 4 {
		t.Fatalf("cpu-demo pipeline %s with %d jobs, want success with 4", pl.Status, len(jobs))
	}
	build := jobs["build"]
	var types []string
	for _, a := range build.Artifacts {
		types = append(types, a.FileType)
	}
	if !strings.Contains(strings.Join(types, ","), "archive") || !strings.Contains(strings.Join(types, ","), "dotenv") {
		t.Errorf("build's artifacts are %v, want an archive and a dotenv report", types)
	}
	if log := jobLog(t, c, "demo/cpu-demo", jobs["test"].ID); !strings.Contains(log, fmt.Sprintf("tested the artifacts of job %d", build.ID)) {
		t.Errorf("test did not get build's artifacts and dotenv variables:\n%s", log)
	}
	if log := jobLog(t, c, "demo/cpu-demo", jobs["report"].ID); !strings.Contains(log, fmt.Sprintf("from job %d of pipeline %d", build.ID, pl.ID)) {
		t.Errorf("report did not print build's artifact:\n%s", log)
	}

	pl, jobs = latestPipeline(t, c, "demo/gpu-seed")
	seed := jobs["gpu-job"]
	if pl.Status != "failed" || seed.Status != "failed" || seed.FailureReason != "kiln_gpu_unavailable" {
		t.Fatalf("gpu-seed pipeline %s, gpu-job %s (%s), want both failed with kiln_gpu_unavailable", pl.Status, seed.Status, seed.FailureReason)
	}
	if want := "no GPU of machine type saas-linux-medium-amd64-gpu-standard is available"; !strings.Contains(seed.KilnMessage, want) {
		t.Errorf("gpu-job's message %q does not say %q", seed.KilnMessage, want)
	}
	if seed.StartedAt != nil || seed.Runner != nil {
		t.Errorf("gpu-job was started (%v) or taken by a runner (%v); it must fail before", seed.StartedAt, seed.Runner)
	}
	if seed.FinishedAt == nil || seed.FinishedAt.Sub(seed.CreatedAt) > 5*time.Second {
		t.Errorf("gpu-job created %v, finished %v: it must fail at once", seed.CreatedAt, seed.FinishedAt)
	}
	if log := jobLog(t, c, "demo/gpu-seed", seed.ID); strings.Contains(log, "apt-get") || !strings.Contains(log, "no GPU of machine type") {
		t.Errorf("gpu-job's log:\n%s", log)
	}
}

func TestUpDemoWithTheShellExecutorRunsTheCPUDemoAndFailsTheSeedsGPUJobAtOnce(t *testing.T) {
	cfg := upTestConfig(t)
	cfg.Demo, cfg.Keep = true, true
	u := startUp(t, cfg, upDeps{openHost: noGPUs, docker: dockerAnswers})
	u.waitFor(t, "Kiln keeps serving", 3*time.Minute)
	out := u.out.String()
	for _, want := range []string{
		"Runner    #1, shell executor, machine type saas-linux-small-amd64",
		"GPUs      none on this host",
		"demo/cpu-demo        #1    build                    success",
		"demo/cpu-demo: pipeline #1 success",
		"gpu-job  build  failed    kiln_gpu_unavailable: no GPU of machine type saas-linux-medium-amd64-gpu-standard is available: no runner serves it; kiln up serves only saas-linux-small-amd64 (this host has no GPU)",
		"The demo ran 3 pipeline(s) to their end.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the output lacks %q", want)
		}
	}
	if strings.Index(out, "Summary") < strings.Index(out, "pipeline success") {
		t.Error("the summary came before the pipelines ended")
	}
	checkDemoOutcome(t, u.api(t))
	if err := u.stop(t); err != nil {
		t.Errorf("kiln up after Ctrl-C: %v", err)
	}
}

func TestUpPrintsInstructionsThatPushAProjectAndRunItsPipeline(t *testing.T) {
	u := startUp(t, upTestConfig(t), upDeps{openHost: noGPUs, docker: dockerAnswers})
	out := u.out.String()
	t.Setenv("KILN_URL", u.url)
	t.Setenv("KILN_TOKEN", u.token)
	kilnLine := func(suffix string) []string {
		for _, line := range strings.Split(out, "\n") {
			if _, rest, ok := strings.Cut(line, " "+suffix); ok && strings.HasPrefix(line, "  ") {
				return append(strings.Fields(suffix), strings.Fields(rest)...)
			}
		}
		t.Fatalf("no line with %q in:\n%s", suffix, out)
		return nil
	}
	if res, err := runKiln(t, kilnLine("project create hello")...); err != nil || !strings.Contains(res, "root/hello") {
		t.Fatalf("kiln project create hello: %v\n%s", err, res)
	}
	m := regexp.MustCompile(`git remote add kiln (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no git remote line in:\n%s", out)
	}
	work := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=Ada", "-c", "user.email=ada@example.com"}, args...)...)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, b)
		}
	}
	if err := os.WriteFile(filepath.Join(work, ".gitlab-ci.yml"), []byte("hello:\n  script: [echo hello from a push]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git("init", "--quiet", "-b", "main")
	git("add", "-A")
	git("commit", "--quiet", "-m", "Add a pipeline")
	git("remote", "add", "kiln", m[1])
	git("push", "--quiet", "kiln", "HEAD:main")

	list, err := runKiln(t, kilnLine("pipeline list -p root/hello")...)
	if err != nil || !strings.Contains(list, "main") {
		t.Fatalf("kiln pipeline list: %v\n%s", err, list)
	}
	c := u.api(t)
	deadline := time.Now().Add(60 * time.Second)
	for {
		pl, jobs := latestPipeline(t, c, "root/hello")
		if pl.Status == "success" {
			if log := jobLog(t, c, "root/hello", jobs["hello"].ID); !strings.Contains(log, "hello from a push") {
				t.Errorf("the job's log:\n%s", log)
			}
			break
		}
		if finished(pl.Status) || time.Now().After(deadline) {
			t.Fatalf("the pushed pipeline is %s, want success", pl.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestUpRestartedOnItsDataKeepsTheTokenAndTheRunner(t *testing.T) {
	cfg := upTestConfig(t)
	first := startUp(t, cfg, upDeps{openHost: noGPUs, docker: dockerAnswers})
	if err := first.stop(t); err != nil {
		t.Fatalf("first kiln up: %v", err)
	}
	second := startUp(t, cfg, upDeps{openHost: noGPUs, docker: dockerAnswers})
	if second.token != first.token {
		t.Errorf("the token changed across a restart")
	}
	if !strings.Contains(second.out.String(), "Runner    #1,") || strings.Contains(second.out.String(), "Runner    #2") {
		t.Errorf("the restart did not keep runner #1:\n%s", second.out)
	}
	for _, f := range []string{adminTokenFile, filepath.Join("runner", "config.toml")} {
		st, err := os.Stat(filepath.Join(cfg.DataDir, f))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, mode %v; want 0600", f, err, st.Mode().Perm())
		}
	}
	file, err := config.Load(filepath.Join(cfg.DataDir, "runner", "config.toml"))
	if err != nil || len(file.Runners) != 1 || file.Runners[0].URL != second.url {
		t.Errorf("config.toml: %v, %+v; want one runner of %s", err, file, second.url)
	}
	runners, err := second.api(t).CurrentUser(context.Background())
	if err != nil || runners.Username != "root" {
		t.Errorf("the kept token does not sign in as root: %v", err)
	}
}

func TestUpRefusesADataDirectoryWhoseTokenFileWasReplaced(t *testing.T) {
	cfg := upTestConfig(t)
	first := startUp(t, cfg, upDeps{openHost: noGPUs, docker: dockerAnswers})
	first.stop(t)
	if err := os.WriteFile(filepath.Join(cfg.DataDir, adminTokenFile), []byte("glpat-not-the-token-of-this-data\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := runUp(context.Background(), cfg, upDeps{openHost: noGPUs, docker: dockerAnswers}, &testenv.Buffer{}, &testenv.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "does not work on the data") || strings.Contains(err.Error(), "glpat-not") {
		t.Errorf("error %v, want one saying the token does not work, without the token", err)
	}
}

func TestUpRejectsBadFlagsBeforeStarting(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(*upConfig)
		want string
	}{
		{"executor", func(c *upConfig) { c.Executor = "kubernetes" }, `--executor "kubernetes": want auto, docker or shell`},
		{"concurrent", func(c *upConfig) { c.Concurrent = 0 }, "--concurrent 0"},
		{"examples", func(c *upConfig) { c.Demo, c.Examples = true, t.TempDir() }, "no subdirectory with a .gitlab-ci.yml"},
		{"log level", func(c *upConfig) { c.LogLevel = "loud" }, `--log-level "loud"`},
		{"listen", func(c *upConfig) { c.Listen = "127.0.0.1:http-alt-x" }, "--listen"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := upTestConfig(t)
			c.edit(&cfg)
			err := runUp(context.Background(), cfg, upDeps{openHost: noGPUs, docker: dockerAnswers}, &testenv.Buffer{}, &testenv.Buffer{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}
}

func TestUpChoosesDockerOnlyWhenADaemonAnswers(t *testing.T) {
	up := func(context.Context) error { return nil }
	down := func(context.Context) error {
		return errors.New("dial unix /var/run/docker.sock: connect: no such file")
	}
	for _, c := range []struct {
		choice string
		docker func(context.Context) error
		want   string
		err    string
	}{
		{"auto", up, "docker", ""},
		{"auto", down, "shell", ""},
		{"shell", up, "shell", ""},
		{"docker", up, "docker", ""},
		{"docker", down, "", "--executor docker: no Docker daemon answers: dial unix"},
	} {
		got, err := chooseExecutor(context.Background(), c.choice, c.docker)
		if got != c.want || (c.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%s: %q, %v; want %q, %q", c.choice, got, err, c.want, c.err)
		}
	}
}

func TestUpsTokenFileIsMadeOnceWithMode0600AndABadOneIsNotReplaced(t *testing.T) {
	path := filepath.Join(t.TempDir(), adminTokenFile)
	tok, err := loadOrCreateToken(path)
	if err != nil || !strings.HasPrefix(tok, "glpat-") || len(tok) < 26 {
		t.Fatalf("token %q, %v", tok, err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	if again, err := loadOrCreateToken(path); err != nil || again != tok {
		t.Errorf("second read %q, %v; want the same token", again, err)
	}
	os.WriteFile(path, []byte("short\n"), 0o600)
	if _, err := loadOrCreateToken(path); err == nil || !strings.Contains(err.Error(), "does not hold a personal access token") {
		t.Errorf("a bad token file: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "short\n" {
		t.Errorf("the bad token file was replaced: %q", b)
	}
}
