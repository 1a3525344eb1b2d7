package userapi_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/kiln-ci/kiln/internal/api/entity"
	"github.com/kiln-ci/kiln/internal/coordinator"
	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/store"
)

const twoStages = `
stages: [build, test]
build:
  stage: build
  script: [echo "building $GREETING"]
test:
  stage: test
  script: [echo test]
deploy:
  stage: test
  when: manual
  script: [echo deploy]
`

// project makes group acme with project acme/app holding ci as its .gitlab-ci.yml,
// and returns the project and its API path.
func (e *env) project(t *testing.T, ci string) (*store.Project, string) {
	t.Helper()
	p := e.Project(t, e.Group(t, "acme", machine.PlanFree), "app", map[string]string{".gitlab-ci.yml": ci})
	return p, "/api/v4/projects/" + itoa(p.ID)
}

// smallRunner is a hosted runner of the untagged machine type.
func (e *env) smallRunner(t *testing.T) *store.Runner {
	t.Helper()
	r, _ := e.Runner(t, coordinator.CreateRunnerRequest{RunUntagged: true, MachineType: machine.TagSmall})
	return r
}

func TestAPipelineIsCreatedForARefWithVariables(t *testing.T) {
	e := newEnv(t)
	p, path := e.project(t, twoStages)
	var pl entity.Pipeline
	e.call(t, "POST", path+"/pipeline?ref=main", e.AdminToken,
		map[string]any{"variables": []map[string]string{{"key": "GREETING", "value": "hello"}, {"key": "CONF", "value": "x=1", "variable_type": "file"}}}).
		want(t, http.StatusCreated, &pl)
	if pl.IID != 1 || pl.ProjectID != p.ID || pl.Ref != "main" || pl.Source != "api" || pl.Status != "pending" || len(pl.SHA) != 40 ||
		pl.User == nil || pl.User.Username != "root" || pl.DetailedStatus.Group != "pending" || pl.YAMLErrors != nil {
		t.Errorf("pipeline %+v", pl)
	}
	if pl.WebURL != fmt.Sprintf("%s/acme/app/-/pipelines/%d", e.URL, pl.ID) {
		t.Errorf("web_url %q", pl.WebURL)
	}
	var vars []entity.PipelineVariable
	e.call(t, "GET", fmt.Sprintf("%s/pipelines/%d/variables", path, pl.ID), e.AdminToken, nil).want(t, http.StatusOK, &vars)
	if fmt.Sprint(vars) != "[{env_var GREETING hello} {file CONF x=1}]" {
		t.Errorf("variables %v", vars)
	}
	var jobs []entity.Job
	e.call(t, "GET", fmt.Sprintf("%s/pipelines/%d/jobs", path, pl.ID), e.AdminToken, nil).want(t, http.StatusOK, &jobs)
	if len(jobs) != 3 || jobs[0].Name != "build" || jobs[0].Status != "pending" || jobs[1].Status != "created" ||
		jobs[2].Name != "deploy" || jobs[2].When != "manual" {
		t.Fatalf("jobs %+v", jobs)
	}
	if j := jobs[0]; j.Pipeline.ID != pl.ID || j.Ref != "main" || j.Commit.ID != pl.SHA || j.Stage != "build" || j.MachineType != machine.TagSmall ||
		j.WebURL != fmt.Sprintf("%s/acme/app/-/jobs/%d", e.URL, j.ID) || j.User == nil || j.Runner != nil {
		t.Errorf("job %+v", j)
	}
}

func TestPipelineVariablesMayComeAsAForm(t *testing.T) {
	e := newEnv(t)
	_, path := e.project(t, twoStages)
	var pl entity.Pipeline
	e.call(t, "POST", path+"/pipeline", e.AdminToken, "ref=main&variables[][key]=A&variables[][value]=1&variables[][key]=B&variables[][value]=2").
		want(t, http.StatusCreated, &pl)
	var vars []entity.PipelineVariable
	e.call(t, "GET", fmt.Sprintf("%s/pipelines/%d/variables", path, pl.ID), e.AdminToken, nil).want(t, http.StatusOK, &vars)
	if fmt.Sprint(vars) != "[{env_var A 1} {env_var B 2}]" {
		t.Errorf("variables %v", vars)
	}
}

func TestPipelinesThatCannotBeCreatedAreRefusedWithTheReason(t *testing.T) {
	e := newEnv(t)
	_, path := e.project(t, "build:\n  script: [make]\n  stage: nowhere\n")
	for _, tc := range []struct {
		query string
		body  any
		want  string
	}{
		{"", nil, "ref is missing"},
		{"?ref=nope", nil, "Reference not found"},
		{"?ref=main", nil, "nowhere"},
		{"?ref=main", map[string]any{"variables": []map[string]string{{"value": "v"}}}, "variables[0][key] is missing"},
		{"?ref=main", map[string]any{"variables": []map[string]string{{"key": "BAD KEY", "value": "v"}}}, "variables[0][key] can contain only"},
		{"?ref=main", map[string]any{"variables": "A=1"}, "variables is invalid"},
	} {
		e.call(t, "POST", path+"/pipeline"+tc.query, e.AdminToken, tc.body).wantError(t, http.StatusBadRequest, tc.want)
	}
	var pls []entity.PipelineBasic
	e.call(t, "GET", path+"/pipelines", e.AdminToken, nil).want(t, http.StatusOK, &pls)
	if len(pls) != 0 {
		t.Errorf("refused requests created pipelines %+v", pls)
	}
}

func TestPipelinesAreListedNewestFirstWithFilters(t *testing.T) {
	e := newEnv(t)
	_, path := e.project(t, twoStages)
	var ids []int64
	for range 3 {
		var pl entity.Pipeline
		e.call(t, "POST", path+"/pipeline?ref=main", e.AdminToken, nil).want(t, http.StatusCreated, &pl)
		ids = append(ids, pl.ID)
	}
	var canceled entity.Pipeline
	e.call(t, "POST", fmt.Sprintf("%s/pipelines/%d/cancel", path, ids[0]), e.AdminToken, nil).want(t, http.StatusCreated, &canceled)
	if canceled.Status != "canceled" {
		t.Errorf("canceled pipeline is %s", canceled.Status)
	}
	for _, tc := range []struct {
		query string
		want  []int64
	}{
		{"", []int64{ids[2], ids[1], ids[0]}},
		{"?status=canceled", []int64{ids[0]}},
		{"?scope=finished", []int64{ids[0]}},
		{"?scope=pending", []int64{ids[2], ids[1]}},
		{"?ref=main&per_page=2", []int64{ids[2], ids[1]}},
		{"?ref=other", []int64{}},
	} {
		var got []entity.PipelineBasic
		e.call(t, "GET", path+"/pipelines"+tc.query, e.AdminToken, nil).want(t, http.StatusOK, &got)
		gotIDs := []int64{}
		for _, pl := range got {
			gotIDs = append(gotIDs, pl.ID)
		}
		if fmt.Sprint(gotIDs) != fmt.Sprint(tc.want) {
			t.Errorf("pipelines%s = %v, want %v", tc.query, gotIDs, tc.want)
		}
	}
	for query, want := range map[string]string{
		"?status=done":       "status does not have a valid value",
		"?scope=tags":        "scope does not have a valid value",
		"?sort=asc":          "sort does not have a valid value",
		"?username=root":     "username is not supported",
		"?page=two":          "page is invalid",
		"?per_page=1.5&page": "per_page is invalid",
	} {
		e.call(t, "GET", path+"/pipelines"+query, e.AdminToken, nil).wantError(t, http.StatusBadRequest, want)
	}
}

func TestAPipelineIsRetriedAfterACancel(t *testing.T) {
	e := newEnv(t)
	_, path := e.project(t, twoStages)
	var pl entity.Pipeline
	e.call(t, "POST", path+"/pipeline?ref=main", e.AdminToken, nil).want(t, http.StatusCreated, &pl)
	e.call(t, "POST", fmt.Sprintf("%s/pipelines/%d/cancel", path, pl.ID), e.AdminToken, nil).want(t, http.StatusCreated, &pl)
	if pl.Status != "canceled" {
		t.Fatalf("status %s after cancel", pl.Status)
	}
	e.call(t, "POST", fmt.Sprintf("%s/pipelines/%d/retry", path, pl.ID), e.AdminToken, nil).want(t, http.StatusCreated, &pl)
	if pl.Status != "pending" {
		t.Errorf("status %s after retry, want pending", pl.Status)
	}
	var jobs []entity.Job
	e.call(t, "GET", fmt.Sprintf("%s/pipelines/%d/jobs?include_retried=true", path, pl.ID), e.AdminToken, nil).want(t, http.StatusOK, &jobs)
	if len(jobs) != 6 {
		t.Errorf("%d jobs with the retried ones, want 6 (each canceled job and its new attempt)", len(jobs))
	}
	var pending []entity.Job
	e.call(t, "GET", fmt.Sprintf("%s/pipelines/%d/jobs?scope[]=pending", path, pl.ID), e.AdminToken, nil).want(t, http.StatusOK, &pending)
	if len(pending) != 1 || pending[0].Name != "build" || pending[0].Attempt != 2 {
		t.Errorf("pending jobs %+v, want build's second attempt", pending)
	}
}

func TestAPipelineOfAnotherProjectIsNotFound(t *testing.T) {
	e := newEnv(t)
	p, path := e.project(t, twoStages)
	other := e.Project(t, e.Group(t, "other", machine.PlanFree), "app", map[string]string{".gitlab-ci.yml": twoStages})
	pl := e.CreatePipeline(t, other, "main")
	_ = p
	e.call(t, "GET", fmt.Sprintf("%s/pipelines/%d", path, pl.ID), e.AdminToken, nil).wantError(t, http.StatusNotFound, "404 Pipeline Not Found")
	e.call(t, "GET", path+"/pipelines/abc", e.AdminToken, nil).wantError(t, http.StatusNotFound)
}

func TestAPipelineIsShownInDetail(t *testing.T) {
	e := newEnv(t)
	_, path := e.project(t, twoStages)
	runner := e.smallRunner(t)
	var created entity.Pipeline
	e.call(t, "POST", path+"/pipeline?ref=main", e.AdminToken, nil).want(t, http.StatusCreated, &created)
	var pl entity.Pipeline
	e.call(t, "GET", fmt.Sprintf("%s/pipelines/%d", path, created.ID), e.AdminToken, nil).want(t, http.StatusOK, &pl)
	if pl.ID != created.ID || pl.Status != "pending" || pl.StartedAt != nil || pl.Duration != nil || pl.User == nil ||
		pl.DetailedStatus.Text != "Pending" || pl.DetailedStatus.Icon != "status_pending" {
		t.Errorf("pending pipeline %+v", pl)
	}
	e.Succeed(t, e.MustTake(t, runner, nil))
	e.Succeed(t, e.MustTake(t, runner, nil))
	e.call(t, "GET", fmt.Sprintf("%s/pipelines/%d", path, created.ID), e.AdminToken, nil).want(t, http.StatusOK, &pl)
	// deploy is manual: the pipeline succeeds without it, as in GitLab.
	if pl.Status != "success" || pl.StartedAt == nil || pl.FinishedAt == nil || pl.Duration == nil || pl.DetailedStatus.Label != "passed" {
		t.Errorf("finished pipeline %+v", pl)
	}
	// GitLab's pipeline duration and queued_duration are whole seconds (go-gitlab, and
	// so glab, decode them into ints), unlike a job's, which are fractional.
	var asGoGitLab struct {
		Duration       *int `json:"duration"`
		QueuedDuration *int `json:"queued_duration"`
	}
	e.call(t, "GET", fmt.Sprintf("%s/pipelines/%d", path, created.ID), e.AdminToken, nil).want(t, http.StatusOK, &asGoGitLab)
	// Anonymous callers see nothing of a private project.
	e.call(t, "GET", fmt.Sprintf("%s/pipelines/%d", path, created.ID), "", nil).wantError(t, http.StatusNotFound, "404 Project Not Found")
}
