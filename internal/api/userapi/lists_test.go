package userapi_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/kiln-ci/kiln/internal/api/entity"
	"github.com/kiln-ci/kiln/internal/coordinator"
	"github.com/kiln-ci/kiln/internal/coordinator/coordinatortest"
	"github.com/kiln-ci/kiln/internal/store"
)

// TestJobAndPipelineListsAreCountedAndPagedNewestFirst pages through a project's 75
// jobs and 25 pipelines on both engines: every page continues where the last one
// stopped, and X-Total counts the whole list, filtered by scope.
func TestJobAndPipelineListsAreCountedAndPagedNewestFirst(t *testing.T) {
	coordinatortest.ForEachEngine(t, func(t *testing.T, engine string) {
		e := newEnvOn(t, engine)
		p := e.Project(t, e.Group(t, "lab", "free"), "app", map[string]string{".gitlab-ci.yml": twoStages})
		for range 25 {
			if _, err := e.Service.CreatePipeline(context.Background(), coordinator.CreatePipelineRequest{
				ProjectID: p.ID, Ref: "main", Source: store.SourceAPI, UserID: e.Admin.ID}); err != nil {
				t.Fatal(err)
			}
		}
		path := "/api/v4/projects/" + itoa(p.ID)
		last := int64(1 << 62)
		for page, want := range []int{20, 20, 20, 15} {
			var jobs []entity.Job
			res := e.call(t, "GET", path+"/jobs?per_page=20&page="+itoa(int64(page+1)), e.AdminToken, nil).want(t, http.StatusOK, &jobs)
			if len(jobs) != want || res.header.Get("X-Total") != "75" || res.header.Get("X-Total-Pages") != "4" {
				t.Errorf("page %d: %d jobs, X-Total %q, X-Total-Pages %q; want %d of 75 in 4 pages",
					page+1, len(jobs), res.header.Get("X-Total"), res.header.Get("X-Total-Pages"), want)
			}
			for _, j := range jobs {
				if j.ID >= last {
					t.Errorf("page %d: job %d after job %d, want newest first without repeats", page+1, j.ID, last)
				}
				last = j.ID
			}
		}
		var pending []entity.Job
		res := e.call(t, "GET", path+"/jobs?scope[]=pending&per_page=10&page=2", e.AdminToken, nil).want(t, http.StatusOK, &pending)
		if len(pending) != 10 || res.header.Get("X-Total") != "25" || pending[0].Status != "pending" {
			t.Errorf("pending jobs page 2: %d, X-Total %q; want 10 of 25", len(pending), res.header.Get("X-Total"))
		}
		var pls []entity.PipelineBasic
		res = e.call(t, "GET", path+"/pipelines?per_page=10&page=3", e.AdminToken, nil).want(t, http.StatusOK, &pls)
		if len(pls) != 5 || res.header.Get("X-Total") != "25" || res.header.Get("X-Next-Page") != "" {
			t.Errorf("pipelines page 3: %d, X-Total %q, X-Next-Page %q; want the last 5 of 25", len(pls), res.header.Get("X-Total"),
				res.header.Get("X-Next-Page"))
		}
	})
}
