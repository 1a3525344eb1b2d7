package runnerapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/store"
)

const buildAndTest = `
variables:
  GLOBAL: "from-yaml"
build:
  stage: build
  image:
    name: busybox:latest
    pull_policy: if-not-present
  script: [echo build]
  artifacts:
    paths: [out/]
    expire_in: 1 day
test:
  stage: test
  timeout: 10m
  script: [echo test]
`

func TestAnIdleRunnerGets204WithTheQueueValueAndEchoesIt(t *testing.T) {
	e := newEnv(t, buildAndTest, nil)
	start := time.Now()
	resp := e.request(t, "")
	resp.wantStatus(t, http.StatusNoContent)
	lu := resp.Header.Get("X-Gitlab-Last-Update")
	if lu == "" {
		t.Fatal("204 without X-GitLab-Last-Update")
	}
	if time.Since(start) < 250*time.Millisecond {
		t.Errorf("answered after %s: a runner with no job waits for the long poll (300ms here)", time.Since(start))
	}
	// Echoing the value back long-polls again; the value is unchanged while nothing happens.
	again := e.request(t, lu)
	again.wantStatus(t, http.StatusNoContent)
	if got := again.Header.Get("X-Gitlab-Last-Update"); got != lu {
		t.Errorf("queue value changed from %q to %q with no new job", lu, got)
	}
}

func TestALongPollingRunnerGetsAJobAsSoonAsItIsPending(t *testing.T) {
	e := newEnv(t, buildAndTest, func(c *coordinatorConfig) { c.LongPoll = 10 * time.Second })
	got := make(chan response, 1)
	go func() { got <- e.request(t, "") }()
	time.Sleep(200 * time.Millisecond) // the runner is waiting now
	created := time.Now()
	e.CreatePipeline(t, e.project, "main")
	select {
	case resp := <-got:
		resp.wantStatus(t, http.StatusCreated)
		if d := time.Since(created); d > 2*time.Second {
			t.Errorf("job arrived %s after the pipeline was created", d)
		}
		if lu := resp.Header.Get("X-Gitlab-Last-Update"); lu != "" {
			t.Errorf("201 with X-GitLab-Last-Update %q: GitLab sends it only with 204, so that a runner with a job claims again at once", lu)
		}
	case <-time.After(8 * time.Second):
		t.Fatal("the waiting runner got no job")
	}
}

func TestThe201PayloadDecodesIntoGitLabRunnersSpecJob(t *testing.T) {
	e := newEnv(t, buildAndTest, nil)
	pl := e.CreatePipeline(t, e.project, "main")
	job, raw := e.take(t)

	var generic map[string]json.RawMessage
	if err := json.Unmarshal(raw, &generic); err != nil {
		t.Fatal(err)
	}
	if _, ok := generic["run"]; ok {
		t.Errorf("payload has a run key (%s); null or \"\" breaks gitlab-runner", generic["run"])
	}
	if string(generic["id"][0]) == `"` {
		t.Errorf("id is a string: %s", generic["id"])
	}
	if job.JobInfo.Name != "build" || job.JobInfo.Stage != "build" || job.JobInfo.PipelineID != pl.ID ||
		job.JobInfo.ProjectID != e.project.ID || job.JobInfo.ProjectFullPath != "group/project" {
		t.Errorf("job_info %+v", job.JobInfo)
	}
	if !strings.HasPrefix(job.Token, "glcbt-") {
		t.Errorf("job token %q, want glcbt-…", job.Token)
	}
	g := job.GitInfo
	wantRepo := fmt.Sprintf("http://gitlab-ci-token:%s@%s/group/project.git", job.Token, strings.TrimPrefix(e.URL, "http://"))
	if g.RepoURL != wantRepo || g.Ref != "main" || len(g.Sha) != 40 || g.RefType != "branch" || g.Depth != 20 ||
		g.Protected == nil || !*g.Protected {
		t.Errorf("git_info %+v, want repo_url %s", g, wantRepo)
	}
	wantSpecs := []string{fmt.Sprintf("+refs/pipelines/%d:refs/pipelines/%d", pl.ID, pl.ID), "+refs/heads/main:refs/remotes/origin/main"}
	if strings.Join(g.Refspecs, " ") != strings.Join(wantSpecs, " ") {
		t.Errorf("refspecs %v, want %v", g.Refspecs, wantSpecs)
	}
	if job.RunnerInfo.Timeout != 3600 {
		t.Errorf("runner_info.timeout %d, want the default 3600", job.RunnerInfo.Timeout)
	}
	if len(job.Steps) != 1 || job.Steps[0].Name != "script" || job.Steps[0].Script[0] != "echo build" {
		t.Errorf("steps %+v", job.Steps)
	}
	if job.Image.Name != "busybox:latest" || strings.Join(job.Image.PullPolicy, ",") != "if-not-present" {
		t.Errorf("image %+v", job.Image)
	}
	if len(job.Artifacts) != 1 || job.Artifacts[0].Type != "archive" || job.Artifacts[0].Format != "zip" {
		t.Errorf("artifacts %+v", job.Artifacts)
	}
	if !contains(job.Features.FailureReasons, "script_failure") || !contains(job.Features.TokenMaskPrefixes, "glcbt-") {
		t.Errorf("features %+v", job.Features)
	}
	for key, want := range map[string]string{
		"CI": "true", "GITLAB_CI": "true", "CI_SERVER_URL": e.URL, "CI_API_V4_URL": e.URL + "/api/v4",
		"CI_PROJECT_ID": itoa(e.project.ID), "CI_PROJECT_PATH": "group/project", "CI_PROJECT_NAME": "project",
		"CI_PROJECT_NAMESPACE": "group", "CI_PROJECT_URL": e.URL + "/group/project",
		"CI_PIPELINE_ID": itoa(pl.ID), "CI_PIPELINE_URL": e.URL + "/group/project/-/pipelines/" + itoa(pl.ID),
		"CI_JOB_ID": itoa(job.ID), "CI_JOB_URL": e.URL + "/group/project/-/jobs/" + itoa(job.ID),
		"CI_JOB_NAME": "build", "CI_JOB_STAGE": "build", "CI_COMMIT_SHA": g.Sha, "CI_COMMIT_SHORT_SHA": g.Sha[:8],
		"CI_COMMIT_REF_NAME": "main", "CI_COMMIT_REF_SLUG": "main", "CI_COMMIT_BRANCH": "main",
		"CI_DEFAULT_BRANCH": "main", "CI_COMMIT_TITLE": "Add the pipeline", "CI_PIPELINE_SOURCE": "api",
		"CI_RUNNER_ID": itoa(e.runner.ID), "CI_RUNNER_DESCRIPTION": "shell runner", "GLOBAL": "from-yaml",
		"CI_COMMIT_REF_PROTECTED": "true", "GITLAB_USER_LOGIN": "root",
	} {
		v, ok := job.variable(key)
		if !ok || v.Value != want {
			t.Errorf("variable %s = %q (present %v), want %q", key, v.Value, ok, want)
		}
	}
	tok, _ := job.variable("CI_JOB_TOKEN")
	if tok.Value != job.Token || !tok.Masked || tok.Public {
		t.Errorf("CI_JOB_TOKEN %+v: must equal the payload token, masked and not public", tok)
	}
	repo, _ := job.variable("CI_REPOSITORY_URL")
	if repo.Value != wantRepo || repo.Public {
		t.Errorf("CI_REPOSITORY_URL %+v", repo)
	}
}

func TestThePayloadTokenOpensTheProjectsRepositoryOnlyWhileTheJobRuns(t *testing.T) {
	e := newEnv(t, buildAndTest, nil)
	e.CreatePipeline(t, e.project, "main")
	job, _ := e.take(t)
	info := e.URL + "/group/project.git/info/refs?service=git-upload-pack"
	noAuth := call(t, "GET", info, nil, nil)
	noAuth.wantStatus(t, http.StatusUnauthorized)
	if !strings.HasPrefix(noAuth.Header.Get("Www-Authenticate"), "Basic") {
		t.Errorf("401 without a Basic challenge: %v", noAuth.Header)
	}
	req, _ := http.NewRequest("GET", info, nil)
	req.SetBasicAuth("gitlab-ci-token", job.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("git with the job token: %v %v", resp, err)
	}
	resp.Body.Close()
	put(t, e, job, `{"state":"success","output":{}}`).wantStatus(t, http.StatusOK)
	req, _ = http.NewRequest("GET", info, nil)
	req.SetBasicAuth("gitlab-ci-token", job.Token)
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("git with a finished job's token: %v %v, want 401", resp.StatusCode, err)
	}
	resp.Body.Close()
}

func put(t *testing.T, e *env, job specJob, body string) response {
	t.Helper()
	return call(t, "PUT", e.URL+"/api/v4/jobs/"+itoa(job.ID), jobHeaders(job.Token), body)
}

func patch(t *testing.T, e *env, job specJob, contentRange, body string) response {
	t.Helper()
	h := jobHeaders(job.Token)
	if contentRange != "" {
		h["Content-Range"] = contentRange
	}
	return call(t, "PATCH", e.URL+"/api/v4/jobs/"+itoa(job.ID)+"/trace?debug_trace=false", h, []byte(body))
}

func TestPUTRunningAnswersJobStatusAndTheTraceInterval(t *testing.T) {
	e := newEnv(t, buildAndTest, nil)
	e.CreatePipeline(t, e.project, "main")
	job, _ := e.take(t)
	resp := put(t, e, job, `{"info":`+runnerInfo+`,"token":"`+job.Token+`","state":"running","output":{}}`)
	resp.wantStatus(t, http.StatusOK)
	if resp.Header.Get("Job-Status") != "running" || resp.Header.Get("X-Gitlab-Trace-Update-Interval") != "3" {
		t.Errorf("PUT headers %v", resp.Header)
	}
	// The token in the body alone is enough (gitlab-runner sends both).
	call(t, "PUT", e.URL+"/api/v4/jobs/"+itoa(job.ID), nil, `{"token":"`+job.Token+`","state":"running"}`).
		wantStatus(t, http.StatusOK)
	call(t, "PUT", e.URL+"/api/v4/jobs/"+itoa(job.ID), jobHeaders("glcbt-wrong"), `{"state":"running"}`).
		wantStatus(t, http.StatusForbidden)
	call(t, "PUT", e.URL+"/api/v4/jobs/"+itoa(job.ID+1), jobHeaders(job.Token), `{"state":"running"}`).
		wantStatus(t, http.StatusForbidden)
	call(t, "PUT", e.URL+"/api/v4/jobs/"+itoa(job.ID), jobHeaders(job.Token), `{"state":"dancing"}`).
		wantStatus(t, http.StatusBadRequest)
}

func TestTracePatchesAppendOnlyAtTheCurrentLength(t *testing.T) {
	e := newEnv(t, buildAndTest, nil)
	e.CreatePipeline(t, e.project, "main")
	job, _ := e.take(t)

	patch(t, e, job, "", "hello").wantStatus(t, http.StatusBadRequest) // no Content-Range

	first := patch(t, e, job, "0-4", "hello")
	first.wantStatus(t, http.StatusAccepted)
	if first.Header.Get("Range") != "0-5" || first.Header.Get("Job-Status") != "running" ||
		first.Header.Get("X-Gitlab-Trace-Update-Interval") != "3" {
		t.Errorf("202 headers %v", first.Header)
	}
	mismatch := patch(t, e, job, "3-7", "xxxxx")
	mismatch.wantStatus(t, http.StatusRequestedRangeNotSatisfiable)
	if mismatch.Header.Get("Range") != "0-5" {
		t.Errorf("416 Range %q, want 0-5", mismatch.Header.Get("Range"))
	}
	patch(t, e, job, "5-10", " world").wantStatus(t, http.StatusAccepted)
	patch(t, e, job, "11-20", "short").wantStatus(t, http.StatusBadRequest) // body shorter than the range
	patch(t, e, job, "x-y", "a").wantStatus(t, http.StatusBadRequest)
	if got := e.Trace(t, job.ID); got != "hello world" {
		t.Errorf("trace %q", got)
	}
}

func TestAFinalUpdateWithAWrongChecksumIs412AndEmptiesTheTraceForTheResend(t *testing.T) {
	e := newEnv(t, buildAndTest, nil)
	e.CreatePipeline(t, e.project, "main")
	job, _ := e.take(t)
	patch(t, e, job, "0-8", "corrupted").wantStatus(t, http.StatusAccepted)
	trace := "the real log\n"
	sum := fmt.Sprintf("crc32:%08x", crc32.ChecksumIEEE([]byte(trace)))
	final := fmt.Sprintf(`{"state":"success","checksum":"%s","output":{"checksum":"%s","bytesize":%d}}`, sum, sum, len(trace))
	put(t, e, job, final).wantStatus(t, http.StatusPreconditionFailed)
	if got := e.Trace(t, job.ID); got != "" {
		t.Fatalf("trace after 412 is %q, want empty", got)
	}
	patch(t, e, job, fmt.Sprintf("0-%d", len(trace)-1), trace).wantStatus(t, http.StatusAccepted)
	resp := put(t, e, job, final)
	resp.wantStatus(t, http.StatusOK)
	if resp.Header.Get("Job-Status") != "success" {
		t.Errorf("Job-Status %q, want success", resp.Header.Get("Job-Status"))
	}
	if j, _ := e.Store.Jobs.Job(context.Background(), job.ID); j.Status != store.StatusSuccess {
		t.Errorf("job status %s", j.Status)
	}
}

func TestAFailedJobKeepsItsReasonAndExitCode(t *testing.T) {
	e := newEnv(t, buildAndTest, nil)
	e.CreatePipeline(t, e.project, "main")
	job, _ := e.take(t)
	put(t, e, job, `{"state":"failed","failure_reason":"script_failure","exit_code":3}`).wantStatus(t, http.StatusOK)
	j, _ := e.Store.Jobs.Job(context.Background(), job.ID)
	if j.Status != store.StatusFailed || j.FailureReason != "script_failure" || j.ExitCode == nil || *j.ExitCode != 3 {
		t.Errorf("job %s %s %v", j.Status, j.FailureReason, j.ExitCode)
	}
	// An unknown reason is stored as unknown_failure.
	e.CreatePipeline(t, e.project, "main")
	job2, _ := e.take(t)
	put(t, e, job2, `{"state":"failed","failure_reason":"made_up"}`).wantStatus(t, http.StatusOK)
	if j, _ := e.Store.Jobs.Job(context.Background(), job2.ID); j.FailureReason != "unknown_failure" {
		t.Errorf("failure reason %q, want unknown_failure", j.FailureReason)
	}
}

func TestCancelIsSignalledOnPATCHAndPUTAndEndsCanceled(t *testing.T) {
	e := newEnv(t, buildAndTest, nil)
	e.CreatePipeline(t, e.project, "main")
	job, _ := e.take(t)
	if _, err := e.Service.CancelJob(context.Background(), job.ID); err != nil {
		t.Fatal(err)
	}
	p := patch(t, e, job, "0-2", "abc")
	p.wantStatus(t, http.StatusAccepted)
	if p.Header.Get("Job-Status") != "canceling" {
		t.Errorf("PATCH Job-Status %q, want canceling", p.Header.Get("Job-Status"))
	}
	touch := put(t, e, job, `{"state":"running","output":{"bytesize":3}}`)
	if touch.Header.Get("Job-Status") != "canceling" {
		t.Errorf("PUT Job-Status %q, want canceling", touch.Header.Get("Job-Status"))
	}
	// The runner runs after_script and reports failed with unknown_failure (§6).
	final := put(t, e, job, `{"state":"failed","failure_reason":"unknown_failure","output":{"bytesize":3}}`)
	final.wantStatus(t, http.StatusOK)
	if final.Header.Get("Job-Status") != "canceled" {
		t.Errorf("final Job-Status %q, want canceled", final.Header.Get("Job-Status"))
	}
	j, _ := e.Store.Jobs.Job(context.Background(), job.ID)
	if j.Status != store.StatusCanceled {
		t.Errorf("job %s, want canceled", j.Status)
	}
	// The finished job's token no longer works: the runner stops.
	patch(t, e, job, "3-5", "def").wantStatus(t, http.StatusForbidden)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
