package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/api"
	"github.com/kiln-ci/kiln/internal/api/auth"
	"github.com/kiln-ci/kiln/internal/api/userapi"
	"github.com/kiln-ci/kiln/internal/coordinator"
	"github.com/kiln-ci/kiln/internal/coordinator/coordinatortest"
	"github.com/kiln-ci/kiln/internal/git"
	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/store"
)

// server is a coordinator with its user API and git over HTTP, whose runners are all
// known (FailUnserved), as under kiln up.
type server struct {
	*coordinatortest.Env
	url string
}

func newServer(t *testing.T) *server {
	t.Helper()
	e := coordinatortest.New(t, coordinatortest.Options{Configure: func(c *coordinator.Config) { c.FailUnserved = true }})
	authn := auth.New(e.Store.Users, nil)
	gitH, err := git.NewHandler(git.HandlerConfig{Repos: e.Repos, Authorizer: auth.GitAuthorizer(e.Store, authn), OnPush: e.Service.OnPush})
	if err != nil {
		t.Fatal(err)
	}
	users, err := userapi.New(userapi.Config{Service: e.Service, Auth: authn})
	if err != nil {
		t.Fatal(err)
	}
	h, err := api.New(api.Config{Service: e.Service, Auth: authn, Git: gitH, Mounts: []func(*http.ServeMux){users.Register}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &server{Env: e, url: srv.URL}
}

// runJobs takes the untagged machine type's jobs through the service and finishes
// each with success, as a runner would, until the test ends.
func (s *server) runJobs(t *testing.T) {
	r, _ := s.Runner(t, coordinator.CreateRunnerRequest{RunUntagged: true, MachineType: machine.TagSmall})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			job, _, err := s.Service.RequestJob(ctx, r, coordinator.JobRequest{Contact: coordinator.Contact{SystemID: "s_demo"}})
			if err != nil || job == nil {
				continue
			}
			trace := "ran " + job.JobInfo.Name + "\n"
			j, err := s.Service.AuthenticateJob(ctx, job.Token)
			if err == nil {
				_, _, err = s.Service.AppendTrace(ctx, j, 0, []byte(trace))
			}
			if err == nil {
				_, err = s.Service.UpdateJob(ctx, j, coordinator.JobUpdate{State: protocol.StateSuccess,
					Checksum: fmt.Sprintf("crc32:%08x", crc32.ChecksumIEEE([]byte(trace))), Bytesize: int64(len(trace))})
			}
			if err != nil && ctx.Err() == nil {
				t.Errorf("finishing job %d: %v", job.ID, err)
			}
		}
	}()
}

func writeExamples(t *testing.T, examples map[string]map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, files := range examples {
		for f, content := range files {
			path := filepath.Join(dir, name, f)
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

var twoExamples = map[string]map[string]string{
	"hello": {".gitlab-ci.yml": "build:\n  stage: build\n  script: [make]\ntest:\n  stage: test\n  script: [make test]\n"},
	"gpu":   {".gitlab-ci.yml": "train:\n  tags: [saas-linux-medium-amd64-gpu-standard]\n  script: [nvidia-smi]\n"},
	"notes": {"README.md": "not an example: no .gitlab-ci.yml\n"},
}

func (s *server) config(examples string, out *bytes.Buffer) Config {
	return Config{URL: s.url, Username: "root", Token: s.AdminToken, Examples: examples, Poll: 20 * time.Millisecond, Out: out}
}

func TestRunPlaysEveryExampleToItsEndAndSummarizesIt(t *testing.T) {
	s := newServer(t)
	s.runJobs(t)
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := Run(ctx, s.config(writeExamples(t, twoExamples), &out))
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	if len(res.Pipelines) != 2 || res.Pipelines[0].Project != "demo/gpu" || res.Pipelines[1].Project != "demo/hello" || !res.Finished() {
		t.Fatalf("pipelines %+v", res.Pipelines)
	}
	gpu, hello := res.Pipelines[0], res.Pipelines[1]
	if hello.Pipeline.Status != "success" || len(hello.Jobs) != 2 || hello.Pipeline.Source != store.SourcePush {
		t.Errorf("hello: %s from %s with %d jobs, want success from a push with 2", hello.Pipeline.Status, hello.Pipeline.Source, len(hello.Jobs))
	}
	train, ok := gpu.Job("train")
	if gpu.Pipeline.Status != "failed" || !ok || train.FailureReason != protocol.FailureGPUUnavailable ||
		!strings.Contains(gpu.Errors["train"], "no GPU of machine type saas-linux-medium-amd64-gpu-standard is available") {
		t.Errorf("gpu: %s, train %+v, errors %v", gpu.Pipeline.Status, train, gpu.Errors)
	}
	ns, err := s.Store.Namespaces.NamespaceByPath(ctx, "demo")
	if err != nil || ns.Plan != machine.PlanPremium {
		t.Errorf("group demo: %+v, %v; want it on the premium plan", ns, err)
	}
	text := out.String()
	for _, want := range []string{
		"Demo: group demo on the premium plan",
		"demo/hello           #" + fmt.Sprint(hello.Pipeline.ID) + " ",
		"build                    success",
		"pipeline success",
		"\nSummary\n",
		"  demo/gpu: pipeline #" + fmt.Sprint(gpu.Pipeline.ID) + " failed",
		"kiln_gpu_unavailable: no GPU of machine type",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, s.AdminToken) {
		t.Error("the output shows the token")
	}
}

func TestRunAgainPushesANewCommitOnTopAndMakesANewPipeline(t *testing.T) {
	s := newServer(t)
	s.runJobs(t)
	examples := writeExamples(t, map[string]map[string]string{"hello": twoExamples["hello"]})
	ctx := context.Background()
	first, err := Run(ctx, s.config(examples, &bytes.Buffer{}))
	if err != nil {
		t.Fatal(err)
	}
	second, err := Run(ctx, s.config(examples, &bytes.Buffer{}))
	if err != nil {
		t.Fatal(err)
	}
	a, b := first.Pipelines[0].Pipeline, second.Pipelines[0].Pipeline
	if a.ID == b.ID || a.SHA == b.SHA || b.Status != "success" {
		t.Fatalf("runs made pipelines %d (%s) and %d (%s, %s)", a.ID, a.SHA, b.ID, b.SHA, b.Status)
	}
	repo, err := s.Repos.Open("demo/hello")
	if err != nil {
		t.Fatal(err)
	}
	c, err := repo.Commit(ctx, b.SHA)
	if err != nil || c.ParentSHA() != a.SHA {
		t.Errorf("the second commit's parent is %q (%v), want the first commit %s", c.ParentSHA(), err, a.SHA)
	}
}

func TestRunMovesAnExistingGroupToThePlanAndRefusesAUsersNamespace(t *testing.T) {
	s := newServer(t)
	s.Group(t, "demo", machine.PlanFree)
	s.runJobs(t)
	examples := writeExamples(t, map[string]map[string]string{"hello": twoExamples["hello"]})
	if _, err := Run(context.Background(), s.config(examples, &bytes.Buffer{})); err != nil {
		t.Fatal(err)
	}
	if ns, _ := s.Store.Namespaces.NamespaceByPath(context.Background(), "demo"); ns.Plan != machine.PlanPremium {
		t.Errorf("plan %s, want premium", ns.Plan)
	}
	cfg := s.config(examples, &bytes.Buffer{})
	cfg.Group = "root"
	if _, err := Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "root is a user's namespace") {
		t.Errorf("Run in root's namespace: %v", err)
	}
}

func TestPushCommitsExactlyTheDirectorysFilesAndNeverShowsTheToken(t *testing.T) {
	s := newServer(t)
	p := s.Project(t, s.Group(t, "acme", machine.PlanFree), "app", map[string]string{"old.txt": "gone after the push\n"})
	dir := writeExamples(t, map[string]map[string]string{"app": {
		".gitlab-ci.yml": "job:\n  script: [true]\n", ".gitignore": "*.log\n", "build.log": "ignored\n", "src/main.c": "int main;\n"}})
	ctx := context.Background()
	req := pushRequest{git: "git", remote: s.url + "/" + p.FullPath + ".git", user: "root", token: s.AdminToken,
		dir: filepath.Join(dir, "app"), branch: "main", message: "Import"}
	sha, err := push(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	repo, _ := s.Repos.Open(p.FullPath)
	for path, want := range map[string]bool{".gitlab-ci.yml": true, ".gitignore": true, "src/main.c": true, "build.log": false, "old.txt": false} {
		_, err := repo.ReadFile(ctx, sha, path)
		if (err == nil) != want {
			t.Errorf("%s in the pushed commit: %v, want %v", path, err == nil, want)
		}
	}
	req.token = "glpat-wrong-token-0123456789"
	_, err = push(ctx, req)
	if err == nil || strings.Contains(err.Error(), req.token) || strings.Contains(err.Error(), "Basic ") {
		t.Errorf("a push with a wrong token: %v; want an error without the credentials", err)
	}
}

func TestExamplesAreTheSubdirectoriesWithAPipelineByName(t *testing.T) {
	dirs, err := Examples(writeExamples(t, twoExamples))
	if err != nil || len(dirs) != 2 || filepath.Base(dirs[0]) != "gpu" || filepath.Base(dirs[1]) != "hello" {
		t.Errorf("Examples = %v, %v", dirs, err)
	}
	if _, err := Examples(writeExamples(t, map[string]map[string]string{"notes": twoExamples["notes"]})); err == nil ||
		!strings.Contains(err.Error(), "no subdirectory with a .gitlab-ci.yml") {
		t.Errorf("no examples: %v", err)
	}
	if _, err := Examples(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing directory: %v", err)
	}
}

func TestRunStoppedEarlyStillSummarizesAndReturnsTheContextsError(t *testing.T) {
	s := newServer(t) // no runner: the untagged jobs stay pending
	s.Runner(t, coordinator.CreateRunnerRequest{RunUntagged: true, MachineType: machine.TagSmall, Paused: true})
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	res, err := Run(ctx, s.config(writeExamples(t, map[string]map[string]string{"hello": twoExamples["hello"]}), &out))
	if !errors.Is(err, context.DeadlineExceeded) || res == nil || res.Finished() {
		t.Fatalf("Run: %v, %+v", err, res)
	}
	if !strings.Contains(out.String(), "demo/hello: pipeline #1 pending") {
		t.Errorf("the summary does not show where things stand:\n%s", out.String())
	}
}
