package localrun_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kiln-ci/kiln/internal/localrun"
)

func TestPipelineRunsStagesInOrderAndPassesArtifactsAndDotenv(t *testing.T) {
	dir := gitRepo(t, map[string]string{".gitlab-ci.yml": `
build:
  stage: build
  script:
    - mkdir -p out && echo built > out/app.txt
    - echo "VERSION=1.2.3" > build.env
  artifacts:
    paths: [out/]
    reports:
      dotenv: build.env
test:
  stage: test
  variables:
    WANT: "v$VERSION"
  script:
    - cat out/app.txt
    - echo "version $VERSION $WANT"
`})
	res, out := run(t, dir, nil)
	if res.Status != localrun.StatusSuccess {
		t.Fatalf("pipeline %s, want success\n%s", res.Status, out)
	}
	got := jobLines(out, "test")
	for _, want := range []string{"built", "version 1.2.3 v1.2.3"} {
		if !slices.Contains(got, want) {
			t.Errorf("test's output lacks %q:\n%s", want, strings.Join(got, "\n"))
		}
	}
	b, _ := res.Job("build")
	if !slices.Contains(b.Artifacts, "out/app.txt") {
		t.Errorf("build's artifacts = %v, want out/app.txt", b.Artifacts)
	}
	if strings.Index(out, "==> build: success") > strings.Index(out, "==> test: started") {
		t.Errorf("test started before build succeeded:\n%s", out)
	}
}

func TestPipelineFilteredOutByWorkflowRulesSaysSo(t *testing.T) {
	dir := gitRepo(t, map[string]string{".gitlab-ci.yml": `
workflow:
  rules:
    - if: $CI_COMMIT_TAG
job:
  script: [echo never]
`})
	_, _, err := tryRun(t, dir, nil)
	if !errors.Is(err, localrun.ErrFilteredOut) {
		t.Fatalf("error = %v, want ErrFilteredOut", err)
	}
}

func TestRulesChangesSeeWhatAPushOfTheWorkingTreeWouldChange(t *testing.T) {
	dir := gitRepo(t, map[string]string{".gitlab-ci.yml": `
docs:
  rules:
    - changes: [docs/**/*]
  script: [echo docs]
code:
  rules:
    - changes: ["*.go"]
  script: [echo code]
`})
	// A new branch (origin does not have it): changes are true, as on GitLab.
	res, out := run(t, dir, nil)
	if len(res.Jobs) != 2 {
		t.Fatalf("a new branch runs every job: %+v\n%s", res.Jobs, out)
	}
	// origin has the branch: only what differs from it counts, committed or not.
	git(t, dir, "update-ref", "refs/remotes/origin/main", "HEAD")
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, out = run(t, dir, nil)
	if len(res.Jobs) != 1 || res.Jobs[0].Name != "code" {
		t.Errorf("jobs = %+v, want only code\n%s", res.Jobs, out)
	}
}

func TestNamingAJobTheRulesLeaveOutSaysSo(t *testing.T) {
	dir := gitRepo(t, map[string]string{".gitlab-ci.yml": `
release:
  rules:
    - if: $CI_COMMIT_TAG
  script: [echo release]
test:
  script: [echo test]
`})
	_, _, err := tryRun(t, dir, func(o *localrun.Options) { o.Jobs = []string{"release"} })
	if err == nil || !strings.Contains(err.Error(), `job "release" is not in this pipeline: its rules (or only/except) leave it out for this commit`) {
		t.Errorf("error = %v", err)
	}
	_, _, err = tryRun(t, dir, func(o *localrun.Options) { o.Manual = []string{"deploy"} })
	if err == nil || !strings.Contains(err.Error(), `--manual deploy: job "deploy" could not be found; the jobs are: release, test`) {
		t.Errorf("error = %v", err)
	}
}

func TestAnotherKilnExecOnTheSameStateDirectoryIsRefused(t *testing.T) {
	dir := gitRepo(t, map[string]string{".gitlab-ci.yml": "job:\n  script: [echo]\n"})
	state := t.TempDir()
	opts := localrun.Options{Dir: dir, Executor: shellExecutor(t), StateDir: state}
	p, err := localrun.New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := localrun.New(context.Background(), opts); err == nil || !strings.Contains(err.Error(), "another kiln exec is running with the state directory") {
		t.Errorf("error = %v", err)
	}
}

func TestTheShellExecutorSaysItIgnoresAJobsImage(t *testing.T) {
	dir := gitRepo(t, map[string]string{".gitlab-ci.yml": "job:\n  image: python:3.12\n  script: [echo]\n"})
	_, out := run(t, dir, nil)
	if !strings.Contains(out, "==> job: the shell executor ignores image python:3.12, as GitLab's does (use --executor docker)") {
		t.Errorf("no word about the ignored image:\n%s", out)
	}
}
