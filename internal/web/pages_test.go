package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/kiln-ci/kiln/internal/coordinator"
	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/store"
)

const threeStages = `
stages: [build, test, deploy]
compile:
  stage: build
  script: [make]
unit:
  stage: test
  script: [make test]
lint:
  stage: test
  script: [make lint]
  allow_failure: true
ship:
  stage: deploy
  script: [make ship]
  when: manual
`

// small is a hosted runner of the untagged machine type.
func (e *env) small(t *testing.T) *store.Runner {
	r, _ := e.Runner(t, coordinator.CreateRunnerRequest{RunUntagged: true, MachineType: machine.TagSmall, Description: "small-1"})
	return r
}

// take hands the next job to runner r and returns it.
func (e *env) take(t *testing.T, r *store.Runner) *jobspec.Job { return e.MustTake(t, r, nil) }

// appendTrace appends to a running job's log as its runner does.
func (e *env) appendTrace(t *testing.T, job *jobspec.Job, offset int64, data string) int64 {
	t.Helper()
	ctx := context.Background()
	j, err := e.Service.AuthenticateJob(ctx, job.Token)
	if err != nil {
		t.Fatal(err)
	}
	size, _, err := e.Service.AppendTrace(ctx, j, offset, []byte(data))
	if err != nil {
		t.Fatalf("appending to the trace of job %d: %v", job.ID, err)
	}
	return size
}

func TestProjectsListShowsWhatTheViewerMayRead(t *testing.T) {
	e := newEnv(t)
	e.project(t, "secret", store.VisibilityPrivate, threeStages)
	e.project(t, "open", store.VisibilityPublic, threeStages)
	e.project(t, "inside", store.VisibilityInternal, threeStages)
	_, devToken := e.user(t, "dev", "read_api")

	anon := e.browser(t)
	home := anon.get("/")
	wantContains(t, home, `href="/acme/open"`)
	wantNotContains(t, home, "acme/secret", "acme/inside")
	wantStatus(t, anon.get("/acme/secret"), http.StatusNotFound)
	wantStatus(t, anon.get("/acme/secret/-/pipelines"), http.StatusNotFound)

	dev := e.browser(t)
	dev.signIn(devToken)
	home = dev.get("/")
	wantContains(t, home, "acme/open", "acme/inside")
	wantNotContains(t, home, "acme/secret")

	admin := e.browser(t)
	admin.signIn(e.AdminToken)
	wantContains(t, admin.get("/"), "acme/open", "acme/inside", "acme/secret")
	group := admin.get("/acme")
	wantStatus(t, group, http.StatusOK)
	wantContains(t, group, "Group · free plan", "acme/secret")
}

func TestPipelinesListShowsStatusesAndStages(t *testing.T) {
	e := newEnv(t)
	p := e.project(t, "app", store.VisibilityPublic, threeStages)
	r := e.small(t)
	pl := e.CreatePipeline(t, p, "main")
	e.Succeed(t, e.take(t, r))

	b := e.browser(t)
	list := b.get("/acme/app/-/pipelines")
	wantStatus(t, list, http.StatusOK)
	wantContains(t, list,
		fmt.Sprintf(`href="/acme/app/-/pipelines/%d"`, pl.ID),
		`<span class="ci-badge ci-running">`, // the pipeline
		`title="build: passed"`, `title="test: pending"`, `title="deploy: created"`,
		`<span class="ref" title="Branch">main</span>`, "@root",
		"http://"+strings.TrimPrefix(e.URL, "http://")+"/acme/app.git")
	wantNotContains(t, list, "Run pipeline") // anonymous: no forms
	wantStatus(t, b.get("/acme/app"), http.StatusOK)
}

func TestPipelinePageShowsTheGraphByStagesWithJobStatuses(t *testing.T) {
	e := newEnv(t)
	p := e.project(t, "app", store.VisibilityPrivate, threeStages)
	r := e.small(t)
	pl := e.CreatePipeline(t, p, "main")
	e.Succeed(t, e.take(t, r))
	for range 2 {
		job := e.take(t, r)
		if job.JobInfo.Name == "lint" {
			e.Fail(t, job, 3)
		} else {
			e.Succeed(t, job)
		}
	}
	b := e.browser(t)
	b.signIn(e.AdminToken)
	page := b.get(fmt.Sprintf("/acme/app/-/pipelines/%d", pl.ID))
	wantStatus(t, page, http.StatusOK)
	jobs := e.Jobs(t, pl.ID)
	wantContains(t, page,
		"Add the pipeline", // the commit's title, read from git
		"authored by Ada Lovelace",
		`<h2 class="stage-name"><span class="ci-icon ci-success" title="Status: passed">`,  // build
		`<h2 class="stage-name"><span class="ci-icon ci-warning" title="Status: warning">`, // test: lint failed, allowed
		// A manual job allowed to fail is ignored: its stage counts as skipped, as in GitLab.
		`<h2 class="stage-name"><span class="ci-icon ci-skipped" title="Status: skipped">`,
		fmt.Sprintf(`href="/acme/app/-/jobs/%d" title="lint - failed"`, jobs["lint"].ID),
		fmt.Sprintf(`href="/acme/app/-/jobs/%d" title="unit - passed"`, jobs["unit"].ID),
		"allowed to fail",
		fmt.Sprintf(`action="/acme/app/-/jobs/%d/play"`, jobs["ship"].ID),
		fmt.Sprintf(`action="/acme/app/-/jobs/%d/retry"`, jobs["lint"].ID),
		"4 jobs",
	)
	if i, j := strings.Index(page.Body, "</span> build</h2>"), strings.Index(page.Body, "</span> deploy</h2>"); i < 0 || j < i {
		t.Errorf("stages out of order (build at %d, deploy at %d)", i, j)
	}
	// A pipeline of another project is not found under this one.
	other := e.project(t, "other", store.VisibilityPrivate, threeStages)
	opl := e.CreatePipeline(t, other, "main")
	wantStatus(t, b.get(fmt.Sprintf("/acme/app/-/pipelines/%d", opl.ID)), http.StatusNotFound)
	wantStatus(t, b.get("/acme/app/-/pipelines/nope"), http.StatusNotFound)
}

func TestAnInvalidConfigurationShowsItsErrors(t *testing.T) {
	e := newEnv(t)
	p := e.project(t, "broken", store.VisibilityPublic, "job:\n  script: 42\n  stage: [nope\n")
	pl, err := e.Service.CreatePipeline(context.Background(), coordinator.CreatePipelineRequest{
		ProjectID: p.ID, Ref: "main", Source: store.SourcePush, SaveOnErrors: true})
	if err != nil {
		t.Fatal(err)
	}
	page := e.browser(t).get(fmt.Sprintf("/acme/broken/-/pipelines/%d", pl.ID))
	wantStatus(t, page, http.StatusOK)
	wantContains(t, page, "This GitLab CI configuration is invalid", `<span class="ci-badge ci-failed">`)
}

const coloredLog = "\x1b[0KRunning with kiln-runner\n" +
	"section_start:1700000000:prepare_script[collapsed=true]\r\x1b[0K\x1b[36;1mPreparing environment\x1b[0;m\n" +
	"Running on host\n" +
	"section_end:1700000002:prepare_script\r\x1b[0K\n" +
	"\x1b[32;1m$ make\x1b[0;m\n" +
	"built 3 targets\n"

func TestJobPageShowsTheLogWithColoursAndSections(t *testing.T) {
	e := newEnv(t)
	p := e.project(t, "app", store.VisibilityPublic, threeStages)
	r := e.small(t)
	e.CreatePipeline(t, p, "main")
	job := e.take(t, r)
	e.Finish(t, job, protocol.StateFailed, coloredLog+"\x1b[31;1mERROR: Job failed: exit code 2\x1b[0;m\n", 2)

	page := e.browser(t).get(fmt.Sprintf("/acme/app/-/jobs/%d", job.ID))
	wantStatus(t, page, http.StatusOK)
	wantContains(t, page,
		`<span class="ci-badge ci-failed">`, `<span class="job-title">compile</span>`,
		"The script failed with exit code 2.",
		`data-follow="false"`,
		`<div class="line section-header" id="L2" data-section="s1" data-collapsed="true">`,
		`<span class="term-fg-cyan term-bold">Preparing environment</span>`,
		`<span class="section-duration">00:02</span>`,
		`<div class="line" id="L3" data-sections="s1">`,
		`<span class="term-fg-green term-bold">$ make</span>`,
		`<span class="term-fg-red term-bold">ERROR: Job failed: exit code 2</span>`,
		`href="/-/runners/`, "small-1", "saas-linux-small-amd64",
		fmt.Sprintf(`href="/acme/app/-/jobs/%d/raw"`, job.ID),
	)
	wantNotContains(t, page, "section_start", "\x1b")

	raw := e.browser(t).get(fmt.Sprintf("/acme/app/-/jobs/%d/raw", job.ID))
	wantStatus(t, raw, http.StatusOK)
	if raw.Header.Get("Content-Type") != "text/plain; charset=utf-8" || !strings.HasPrefix(raw.Body, coloredLog) {
		t.Errorf("raw log: %q %q", raw.Header.Get("Content-Type"), raw.Body)
	}
}

func TestAFailureReasonIsShownInGitLabsWords(t *testing.T) {
	e := newEnv(t)
	p := e.project(t, "app", store.VisibilityPublic, threeStages)
	r := e.small(t)
	e.CreatePipeline(t, p, "main")
	job := e.take(t, r)
	ctx := context.Background()
	j, _ := e.Service.AuthenticateJob(ctx, job.Token)
	if _, err := e.Service.UpdateJob(ctx, j, coordinator.JobUpdate{State: protocol.StateFailed,
		FailureReason: protocol.FailureRunnerSystem}); err != nil {
		t.Fatal(err)
	}
	page := e.browser(t).get(fmt.Sprintf("/acme/app/-/jobs/%d", job.ID))
	wantContains(t, page, "There has been a runner system failure, please try again")
}

func TestTheLogOfALongJobStartsAtItsLastPart(t *testing.T) {
	e := newEnv(t)
	p := e.project(t, "app", store.VisibilityPublic, threeStages)
	r := e.small(t)
	e.CreatePipeline(t, p, "main")
	job := e.take(t, r)
	var log strings.Builder
	for i := range 40000 {
		fmt.Fprintf(&log, "line %06d of a long build\n", i)
	}
	e.Finish(t, job, protocol.StateSuccess, log.String(), 0)
	page := e.browser(t).get(fmt.Sprintf("/acme/app/-/jobs/%d", job.ID))
	wantContains(t, page, "Showing the last part of the log.", "line 039999 of a long build")
	wantNotContains(t, page, "line 000000 of")
}

func TestActionsNeedWriteAccessTheAPIScopeAndACSRFToken(t *testing.T) {
	e := newEnv(t)
	p := e.project(t, "app", store.VisibilityPublic, threeStages)
	r := e.small(t)
	pl := e.CreatePipeline(t, p, "main")
	job := e.take(t, r)
	e.Fail(t, job, 1)
	retry := fmt.Sprintf("/acme/app/-/jobs/%d/retry", job.ID)

	anon := e.browser(t)
	wantStatus(t, anon.post(retry, nil), http.StatusForbidden)

	_, readToken := e.user(t, "reader", "read_api")
	reader := e.browser(t)
	reader.signIn(readToken)
	page := reader.get(fmt.Sprintf("/acme/app/-/jobs/%d", job.ID))
	wantNotContains(t, page, retry)
	wantStatus(t, reader.post(retry, url.Values{"authenticity_token": {reader.csrf("/")}}), http.StatusForbidden)

	admin := e.browser(t)
	admin.signIn(e.AdminToken)
	wantStatus(t, admin.post(retry, nil), http.StatusForbidden) // no CSRF token
	wantContains(t, admin.get(fmt.Sprintf("/acme/app/-/jobs/%d", job.ID)), `action="`+retry+`"`)
	res := admin.post(retry, url.Values{"authenticity_token": {admin.csrf("/")}})
	wantStatus(t, res, http.StatusSeeOther)
	next := e.Jobs(t, pl.ID)["compile"]
	if next.ID == job.ID || next.Attempt != 2 {
		t.Fatalf("after retry the job is %d attempt %d", next.ID, next.Attempt)
	}
	if loc := res.Header.Get("Location"); loc != fmt.Sprintf("/acme/app/-/jobs/%d", next.ID) {
		t.Errorf("retry redirected to %q, want the new attempt", loc)
	}
	old := admin.get(fmt.Sprintf("/acme/app/-/jobs/%d", job.ID))
	wantContains(t, old, "This job was retried", fmt.Sprintf("attempt 2 (#%d)", next.ID))

	// Retrying it again is a conflict, in the coordinator's words.
	again := admin.post(retry, url.Values{"authenticity_token": {admin.csrf("/")}})
	wantStatus(t, again, http.StatusConflict)
	wantContains(t, again, "cannot be retried")

	// Cancel the pipeline.
	cancel := admin.post(fmt.Sprintf("/acme/app/-/pipelines/%d/cancel", pl.ID), url.Values{"authenticity_token": {admin.csrf("/")}})
	wantStatus(t, cancel, http.StatusSeeOther)
	if st := e.Pipeline(t, pl.ID).Status; st != store.StatusCanceled {
		t.Errorf("pipeline %s after cancel", st)
	}
	wantStatus(t, admin.get(retry), http.StatusMethodNotAllowed)
}

func TestRunPipelineFromTheForm(t *testing.T) {
	e := newEnv(t)
	p := e.project(t, "app", store.VisibilityPrivate, threeStages)
	b := e.browser(t)
	b.signIn(e.AdminToken)
	list := b.get("/acme/app/-/pipelines")
	wantContains(t, list, "No pipelines yet", `action="/acme/app/-/pipelines"`, `value="main"`)
	res := b.post("/acme/app/-/pipelines", url.Values{"authenticity_token": {b.csrf("/acme/app/-/pipelines")}, "ref": {"main"}})
	wantStatus(t, res, http.StatusSeeOther)
	pls, _ := e.Store.Pipelines.ListPipelines(context.Background(), store.PipelineQuery{ProjectID: p.ID})
	if len(pls) != 1 || pls[0].Source != store.SourceWeb || pls[0].UserID != e.Admin.ID {
		t.Fatalf("pipelines after running one: %+v", pls)
	}
	bad := b.post("/acme/app/-/pipelines", url.Values{"authenticity_token": {b.csrf("/")}, "ref": {"no-such-branch"}})
	wantStatus(t, bad, http.StatusBadRequest)
	wantContains(t, bad, "no-such-branch")
}

func TestJobPagesSayWhyAJobWaits(t *testing.T) {
	e := newEnv(t)
	p := e.project(t, "app", store.VisibilityPublic, `
stages: [build, deploy]
wait-for-runner:
  stage: build
  tags: [saas-linux-medium-amd64]
  script: [make]
later:
  stage: build
  when: delayed
  start_in: 1 hour
  script: [make]
by-hand:
  stage: build
  when: manual
  script: [make]
`)
	pl := e.CreatePipeline(t, p, "main")
	jobs := e.Jobs(t, pl.ID)
	b := e.browser(t)
	for name, want := range map[string]string{
		"wait-for-runner": "This job is pending: it waits for a runner of machine type <code>saas-linux-medium-amd64</code> with the tags <code>saas-linux-medium-amd64</code>.",
		"later":           "This is a delayed job: it runs at <time",
		"by-hand":         "This job requires a manual action",
	} {
		page := b.get(fmt.Sprintf("/acme/app/-/jobs/%d", jobs[name].ID))
		wantStatus(t, page, http.StatusOK)
		wantContains(t, page, want, `data-follow="true"`)
	}
}
