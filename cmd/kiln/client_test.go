package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/api/entity"
	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/protocol"
)

const clientTestToken = "glpat-client-test-bootstrap-token-0001"

// kiln runs the kiln command with args and returns stdout, stderr and the exit
// status (2 for an error other than an exit status, as main does).
func kiln(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRootCmd()
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	code := 0
	var ee exitError
	switch {
	case errors.As(err, &ee):
		code = ee.code
	case err != nil:
		fmt.Fprintln(&errOut, "kiln:", err)
		code = 2
	}
	return out.String(), errOut.String(), code
}

// serverWithProject starts `kiln server` with a bootstrap token, creates project
// root/app with `kiln project create` and pushes a .gitlab-ci.yml to it with git.
func serverWithProject(t *testing.T, ci string) string {
	t.Helper()
	cfg := baseConfig(t.TempDir())
	cfg.BootstrapToken = clientTestToken
	base, stop := startServer(t, cfg)
	t.Cleanup(func() { stop() })
	t.Setenv("KILN_URL", base)
	t.Setenv("KILN_TOKEN", clientTestToken)

	out, errOut, code := kiln(t, "project", "create", "app")
	if code != 0 || !strings.Contains(out, "Project root/app created") || !strings.Contains(out, base+"/root/app.git") {
		t.Fatalf("project create: exit %d\n%s%s", code, out, errOut)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ".gitlab-ci.yml"), []byte(ci), 0o644); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(base)
	u.User = url.UserPassword("root", clientTestToken)
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"add", ".gitlab-ci.yml"},
		{"-c", "user.name=Ada", "-c", "user.email=ada@example.com", "commit", "-q", "-m", "Add CI"},
		{"push", "-q", u.String() + "/root/app.git", "main"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir, "GIT_TERMINAL_PROMPT=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %s: %v\n%s", args[0], err, out)
		}
	}
	return base
}

const clientTestCI = `
build:
  script: [echo "building $GREETING"]
`

func TestPipelineCommandsRunListAndShow(t *testing.T) {
	serverWithProject(t, clientTestCI)

	// The push made a pipeline.
	out, errOut, code := kiln(t, "pipeline", "list", "-p", "root/app")
	if code != 0 || !strings.Contains(out, "STATUS") || !strings.Contains(out, "push") || !strings.Contains(out, "pending") {
		t.Fatalf("pipeline list: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = kiln(t, "pipeline", "run", "-p", "root/app", "--ref", "main", "-v", "GREETING=hello", "--json")
	if code != 0 {
		t.Fatalf("pipeline run: exit %d\n%s%s", code, out, errOut)
	}
	var pl entity.Pipeline
	if err := json.Unmarshal([]byte(out), &pl); err != nil || pl.Source != "api" || pl.Status != "pending" || pl.IID != 2 {
		t.Fatalf("pipeline run --json printed %s (%v)", out, err)
	}
	out, _, code = kiln(t, "pipeline", "list", "-p", "root/app", "--json", "--per-page", "1")
	var pls []entity.PipelineBasic
	if err := json.Unmarshal([]byte(out), &pls); err != nil || code != 0 || len(pls) != 1 || pls[0].ID != pl.ID {
		t.Errorf("pipeline list --json --per-page 1: %s", out)
	}
	out, errOut, code = kiln(t, "pipeline", "show", "-p", "root/app", fmt.Sprint(pl.ID))
	if code != 0 || !strings.Contains(out, fmt.Sprintf("Pipeline #%d (#2 of the project) pending", pl.ID)) ||
		!strings.Contains(out, "by root") || !strings.Contains(out, "build") {
		t.Errorf("pipeline show: exit %d\n%s%s", code, out, errOut)
	}
	out, _, code = kiln(t, "pipeline", "cancel", "-p", "root/app", fmt.Sprint(pl.ID))
	if code != 0 || !strings.Contains(out, "canceled") {
		t.Errorf("pipeline cancel: exit %d %s", code, out)
	}
	out, _, code = kiln(t, "pipeline", "list", "-p", "root/app", "--status", "canceled")
	if code != 0 || strings.Count(out, "\n") != 2 {
		t.Errorf("pipeline list --status canceled:\n%s", out)
	}
}

func TestClientCommandsExplainWhatIsWrong(t *testing.T) {
	serverWithProject(t, clientTestCI)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"pipeline", "list", "-p", "root/nope"}, "404 Project Not Found"},
		{[]string{"pipeline", "run", "-p", "root/app", "--ref", "nope"}, "Reference not found"},
		{[]string{"pipeline", "show", "-p", "root/app", "x1"}, `pipeline id "x1": want a number`},
		{[]string{"pipeline", "run", "-p", "root/app", "-v", "NOVALUE"}, "want KEY=VALUE"},
		{[]string{"pipeline", "list"}, "no project: give --project"},
		{[]string{"job", "log", "-p", "root/app", "999"}, "404 Job Not Found"},
		{[]string{"project", "create", "app"}, "path has already been taken"},
		{[]string{"project", "list", "--token", "glpat-wrong-token"}, "401"},
	} {
		_, errOut, code := kiln(t, tc.args...)
		if code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("kiln %s: exit %d, stderr %q, want it to say %q", strings.Join(tc.args, " "), code, errOut, tc.want)
		}
	}
	t.Setenv("KILN_URL", "")
	if _, errOut, code := kiln(t, "project", "list"); code == 0 || !strings.Contains(errOut, "no server: give --url or set KILN_URL") {
		t.Errorf("without a server: exit %d %q", code, errOut)
	}
}

// fakeRunner registers a runner through the user API and takes the next job with
// the runner protocol, as gitlab-runner would.
type fakeRunner struct {
	t     *testing.T
	c     *protocol.Client
	token string
}

func newFakeRunner(t *testing.T, base string) *fakeRunner {
	t.Helper()
	body := strings.NewReader(`{"runner_type":"instance_type","machine_type":"saas-linux-small-amd64"}`)
	req, _ := http.NewRequest("POST", base+"/api/v4/user/runners", body)
	req.Header.Set("PRIVATE-TOKEN", clientTestToken)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var created entity.RunnerCreated
	if err := json.NewDecoder(res.Body).Decode(&created); err != nil || res.StatusCode != http.StatusCreated {
		t.Fatalf("creating a runner: %d %v", res.StatusCode, err)
	}
	c, err := protocol.NewClient(protocol.ClientConfig{URL: base})
	if err != nil {
		t.Fatal(err)
	}
	return &fakeRunner{t: t, c: c, token: created.Token}
}

func (r *fakeRunner) take() *jobspec.Job {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		job, err := r.c.RequestJob(ctx, protocol.JobRequest{Token: r.token, Info: protocol.Info{Name: "fake"}})
		if err != nil {
			r.t.Fatalf("requesting a job: %v", err)
		}
		if job != nil {
			return job
		}
	}
	r.t.Fatal("no job came")
	return nil
}

func TestJobLogFollowsARunningJobToItsEnd(t *testing.T) {
	base := serverWithProject(t, clientTestCI)
	runner := newFakeRunner(t, base)
	job := runner.take()

	chunks := []string{"Running on fake\n", "building hello\n", "\x1b[32;1mJob succeeded\x1b[0;m\n"}
	done := make(chan error, 1)
	go func() {
		ctx := context.Background()
		var offset int64
		for _, c := range chunks {
			time.Sleep(150 * time.Millisecond)
			if _, err := runner.c.PatchTrace(ctx, job.ID, job.Token, offset, []byte(c), false); err != nil {
				done <- err
				return
			}
			offset += int64(len(c))
		}
		all := strings.Join(chunks, "")
		_, err := runner.c.UpdateJob(ctx, job.ID, protocol.UpdateJobRequest{Token: job.Token, State: protocol.StateSuccess,
			Output: protocol.JobTraceOutput{Checksum: fmt.Sprintf("crc32:%08x", crc32.ChecksumIEEE([]byte(all))), Bytesize: int64(len(all))}})
		done <- err
	}()
	out, errOut, code := kiln(t, "job", "log", "-p", "root/app", "-f", "--interval", "50ms", fmt.Sprint(job.ID))
	if err := <-done; err != nil {
		t.Fatalf("the runner failed: %v", err)
	}
	if code != 0 || out != strings.Join(chunks, "") {
		t.Errorf("job log -f: exit %d, printed %q, want the whole log once", code, out)
	}
	if !strings.Contains(errOut, fmt.Sprintf("Job #%d build success", job.ID)) {
		t.Errorf("stderr %q does not say how the job ended", errOut)
	}
	out, _, code = kiln(t, "job", "log", "-p", "root/app", fmt.Sprint(job.ID))
	if code != 0 || out != strings.Join(chunks, "") {
		t.Errorf("job log: %q", out)
	}
	out, _, code = kiln(t, "job", "show", "-p", "root/app", fmt.Sprint(job.ID))
	if code != 0 || !strings.Contains(out, "build (stage test) success") || !strings.Contains(out, "machine type saas-linux-small-amd64") {
		t.Errorf("job show:\n%s", out)
	}
}

func TestPipelineRunWaitsAndExitsWithTheOutcome(t *testing.T) {
	base := serverWithProject(t, clientTestCI)
	runner := newFakeRunner(t, base)
	// The push's pipeline goes first; fail it, then the waited one.
	go func() {
		for range 2 {
			job := runner.take()
			trace := "oops\n"
			runner.c.PatchTrace(context.Background(), job.ID, job.Token, 0, []byte(trace), false)
			runner.c.UpdateJob(context.Background(), job.ID, protocol.UpdateJobRequest{Token: job.Token, State: protocol.StateFailed,
				FailureReason: "script_failure", ExitCode: 1,
				Output: protocol.JobTraceOutput{Checksum: fmt.Sprintf("crc32:%08x", crc32.ChecksumIEEE([]byte(trace))), Bytesize: int64(len(trace))}})
		}
	}()
	out, errOut, code := kiln(t, "pipeline", "run", "-p", "root/app", "--wait", "--interval", "50ms")
	if code != 1 || !strings.Contains(out, "build") || !strings.Contains(out, "failed") {
		t.Errorf("pipeline run --wait of a failing pipeline: exit %d\n%s%s", code, out, errOut)
	}
}

func TestStatusesAreColouredOnlyWhenAsked(t *testing.T) {
	on, off := painter{on: true}, painter{}
	if got := on.status("success"); got != "\x1b[32msuccess\x1b[0m" {
		t.Errorf("coloured success %q", got)
	}
	if len(on.status("failed")) != len(on.status("pending"))+len("failed")-len("pending") {
		t.Error("colour codes differ in length: tables would not align")
	}
	if got := off.status("success"); got != "success" {
		t.Errorf("uncoloured success %q", got)
	}
	t.Setenv("NO_COLOR", "1")
	if newPainter(os.Stdout).on {
		t.Error("NO_COLOR is set but output is coloured")
	}
}

func TestRunnerCreatePrintsATokenTheRunnerAPIAccepts(t *testing.T) {
	base := serverWithProject(t, clientTestCI)
	out, errOut, code := kiln(t, "runner", "create", "--machine-type", "saas-linux-small-amd64", "--description", "host 1", "--json")
	var created entity.RunnerCreated
	if code != 0 || json.Unmarshal([]byte(out), &created) != nil || !strings.HasPrefix(created.Token, "glrt-") {
		t.Fatalf("runner create: exit %d\n%s%s", code, out, errOut)
	}
	c, err := protocol.NewClient(protocol.ClientConfig{URL: base})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Verify(context.Background(), protocol.VerifyRunnerRequest{Token: created.Token})
	if err != nil || res.ID != created.ID {
		t.Errorf("verifying the new token: %+v %v", res, err)
	}
	out, _, code = kiln(t, "runner", "create", "--type", "project_type", "--project", "root/app", "--tag-list", "cuda,a100")
	if code != 0 || !strings.Contains(out, "kiln runner register --url "+base+" --token glrt-") {
		t.Errorf("project runner create:\n%s", out)
	}
	if _, errOut, code := kiln(t, "runner", "create", "--type", "group_type", "--group", "nope"); code == 0 || !strings.Contains(errOut, "group nope") {
		t.Errorf("a runner of a missing group: exit %d %q", code, errOut)
	}
}
