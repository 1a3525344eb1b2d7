package userapi_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/kiln-ci/kiln/internal/api/entity"
	"github.com/kiln-ci/kiln/internal/coordinator/coordinatortest"
)

// TestTheAPIWorksOnPostgreSQL takes the API's main paths on PostgreSQL: projects,
// variables, pipelines with filters and counted pages, jobs, runners.
func TestTheAPIWorksOnPostgreSQL(t *testing.T) {
	e := newEnvOn(t, coordinatortest.Postgres)
	var g entity.Group
	e.call(t, "POST", "/api/v4/groups", e.AdminToken, map[string]any{"name": "Acme", "path": "acme", "plan": "premium"}).
		want(t, http.StatusCreated, &g)
	var p entity.Project
	e.call(t, "POST", "/api/v4/projects", e.AdminToken, map[string]any{"path": "empty", "namespace_id": g.ID}).
		want(t, http.StatusCreated, &p)
	e.call(t, "POST", "/api/v4/projects", e.AdminToken, map[string]any{"path": "empty", "namespace_id": g.ID}).
		wantError(t, http.StatusBadRequest, "path has already been taken")

	pr := e.Project(t, e.Group(t, "lab", "free"), "app", map[string]string{".gitlab-ci.yml": twoStages})
	path := "/api/v4/projects/" + itoa(pr.ID)
	e.call(t, "POST", path+"/variables", e.AdminToken, map[string]any{"key": "TOKEN", "value": "abcdefgh12", "masked": true}).
		want(t, http.StatusCreated, nil)
	for range 25 {
		e.call(t, "POST", path+"/pipeline?ref=main", e.AdminToken, nil).want(t, http.StatusCreated, nil)
	}
	var pls []entity.PipelineBasic
	res := e.call(t, "GET", path+"/pipelines?per_page=10&page=2&status=pending", e.AdminToken, nil).want(t, http.StatusOK, &pls)
	if len(pls) != 10 || res.header.Get("X-Total") != "25" || res.header.Get("X-Next-Page") != "3" {
		t.Errorf("page 2: %d pipelines, X-Total %q, X-Next-Page %q", len(pls), res.header.Get("X-Total"), res.header.Get("X-Next-Page"))
	}
	var jobs []entity.Job
	res = e.call(t, "GET", path+"/jobs?per_page=100", e.AdminToken, nil).want(t, http.StatusOK, &jobs)
	if len(jobs) != 75 || res.header.Get("X-Total") != "75" {
		t.Errorf("%d jobs, X-Total %q, want 75", len(jobs), res.header.Get("X-Total"))
	}
	r := e.smallRunner(t)
	job := e.MustTake(t, r, nil)
	e.Succeed(t, job)
	var j entity.Job
	e.call(t, "GET", fmt.Sprintf("%s/jobs/%d", path, job.ID), e.AdminToken, nil).want(t, http.StatusOK, &j)
	if j.Status != "success" || j.Runner == nil || j.Runner.ID != r.ID {
		t.Errorf("job %+v", j)
	}
	var runners []entity.Runner
	e.call(t, "GET", "/api/v4/runners/all?type=instance_type", e.AdminToken, nil).want(t, http.StatusOK, &runners)
	if len(runners) != 1 || runners[0].Status != "online" {
		t.Errorf("runners %+v", runners)
	}
}
