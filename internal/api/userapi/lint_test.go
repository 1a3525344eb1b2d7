package userapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/kiln-ci/kiln/internal/api/entity"
	"github.com/kiln-ci/kiln/internal/coordinator"
	"github.com/kiln-ci/kiln/internal/coordinator/coordinatortest"
	"github.com/kiln-ci/kiln/internal/machine"
)

func TestLintAnswersGitLabsResultShape(t *testing.T) {
	e := newEnv(t)
	var res entity.Lint
	e.call(t, "POST", "/api/v4/ci/lint", e.AdminToken, map[string]any{"content": twoStages, "include_jobs": true}).
		want(t, http.StatusOK, &res)
	if !res.Valid || len(res.Errors) != 0 || !strings.Contains(res.MergedYAML, "build:") || len(res.Jobs) != 3 ||
		res.Jobs[0].Name != "build" || res.Jobs[0].Stage != "build" {
		t.Errorf("lint of a valid configuration %+v", res)
	}
	e.call(t, "POST", "/api/v4/ci/lint", e.AdminToken, map[string]any{"content": "build:\n  stage: nowhere\n  script: [x]\n"}).
		want(t, http.StatusOK, &res)
	if res.Valid || len(res.Errors) == 0 || !strings.Contains(res.Errors[0], ".gitlab-ci.yml:") || !strings.Contains(res.Errors[0], "nowhere") ||
		res.MergedYAML != "" {
		t.Errorf("lint of an invalid configuration %+v: want the error with its position", res)
	}
	e.call(t, "POST", "/api/v4/ci/lint", e.AdminToken, map[string]any{}).wantError(t, http.StatusBadRequest, "content is missing")
	e.call(t, "POST", "/api/v4/ci/lint", e.AdminToken, map[string]any{"content": "a: b", "dry_run": true}).
		wantError(t, http.StatusBadRequest, "dry_run")
	e.call(t, "POST", "/api/v4/ci/lint", "", map[string]any{"content": "a: b"}).wantError(t, http.StatusUnauthorized)
}

func TestLintChecksGPURequestsAgainstTheServersMachineTypes(t *testing.T) {
	a100 := machine.Type{Tag: "saas-linux-large-amd64-gpu-a100", VCPU: 16, CostFactor: 20,
		GPU: machine.GPU{Count: 4, Model: "A100"}}
	catalog, err := machine.WithDefaults([]machine.Type{a100})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvOn(t, coordinatortest.SQLite, func(c *coordinator.Config) { c.Catalog = catalog })
	job := func(count string) string {
		return "train:\n  tags: [" + a100.Tag + "]\n  variables: {KILN_GPU_COUNT: \"" + count + "\"}\n  script: [x]\n"
	}
	var res entity.Lint
	e.call(t, "POST", "/api/v4/ci/lint", e.AdminToken, map[string]any{"content": job("4")}).want(t, http.StatusOK, &res)
	if !res.Valid || len(res.Errors) != 0 {
		t.Errorf("4 GPUs of the server's 4-GPU type: %+v; want valid", res)
	}
	e.call(t, "POST", "/api/v4/ci/lint", e.AdminToken, map[string]any{"content": job("5")}).want(t, http.StatusOK, &res)
	if res.Valid || len(res.Errors) != 1 || !strings.HasPrefix(res.Errors[0], ".gitlab-ci.yml:3:15: jobs:train ") ||
		!strings.Contains(res.Errors[0], "KILN_GPU_COUNT=5 exceeds machine type "+a100.Tag+", which gives 4 GPU(s)") {
		t.Errorf("5 GPUs of the server's 4-GPU type: %+v; want the error at the job's KILN_GPU_COUNT, worded as creating the pipeline words it", res)
	}
}

func TestProjectLintReadsIncludesFromTheRepository(t *testing.T) {
	e := newEnv(t)
	p := e.Project(t, e.Group(t, "acme", machine.PlanFree), "app", map[string]string{
		".gitlab-ci.yml": "include: ci/jobs.yml\n",
		"ci/jobs.yml":    "unit:\n  script: [go test ./...]\n",
	})
	path := "/api/v4/projects/" + itoa(p.ID) + "/ci/lint"
	var res entity.Lint
	e.call(t, "GET", path+"?include_jobs=true", e.AdminToken, nil).want(t, http.StatusOK, &res)
	if !res.Valid || len(res.Jobs) != 1 || res.Jobs[0].Name != "unit" || len(res.Includes) != 1 || res.Includes[0].Location != "ci/jobs.yml" {
		t.Errorf("lint of the project's configuration %+v", res)
	}
	e.call(t, "POST", path, e.AdminToken, map[string]any{"content": "include: ci/jobs.yml\nlint:\n  script: [vet]\n", "include_jobs": true}).
		want(t, http.StatusOK, &res)
	if !res.Valid || len(res.Jobs) != 2 {
		t.Errorf("lint of new content with the project's includes %+v", res)
	}
	e.call(t, "POST", path, e.AdminToken, map[string]any{"content": "include: ci/missing.yml\n"}).want(t, http.StatusOK, &res)
	if res.Valid || len(res.Errors) == 0 || !strings.Contains(strings.Join(res.Errors, " "), "ci/missing.yml") {
		t.Errorf("lint with a missing include %+v", res)
	}
	e.call(t, "GET", path+"?content_ref=nope", e.AdminToken, nil).wantError(t, http.StatusBadRequest, "ref does not have a valid value")
}

func TestLintOfAnEmptyProjectAsksForContent(t *testing.T) {
	e := newEnv(t)
	var p entity.Project
	e.call(t, "POST", "/api/v4/projects", e.AdminToken, map[string]any{"path": "empty"}).want(t, http.StatusCreated, &p)
	var res entity.Lint
	e.call(t, "GET", "/api/v4/projects/"+itoa(p.ID)+"/ci/lint", e.AdminToken, nil).want(t, http.StatusOK, &res)
	if res.Valid || len(res.Errors) != 1 || !strings.Contains(res.Errors[0], "Please provide content of .gitlab-ci.yml") {
		t.Errorf("lint of an empty project %+v", res)
	}
}
