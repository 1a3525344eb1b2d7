package userapi_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/kiln-ci/kiln/internal/coordinator"
	"github.com/kiln-ci/kiln/internal/coordinator/coordinatortest"
	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/store"
)

// benchEnv is a SQLite coordinator whose project holds pipelines pipelines of three
// jobs each, on the user API's server.
func benchEnv(b testing.TB, pipelines int) (*env, string) {
	b.Helper()
	e := newEnvOn(b, coordinatortest.SQLite)
	p := e.Project(b, e.Group(b, "acme", machine.PlanFree), "app", map[string]string{".gitlab-ci.yml": twoStages})
	for range pipelines {
		if _, err := e.Service.CreatePipeline(context.Background(), coordinator.CreatePipelineRequest{
			ProjectID: p.ID, Ref: "main", Source: store.SourceAPI, UserID: e.Admin.ID}); err != nil {
			b.Fatal(err)
		}
	}
	return e, "/api/v4/projects/" + itoa(p.ID)
}

// get requests path and drains the answer, failing on anything but 200.
func (e *env) get(b *testing.B, path string) {
	req, _ := http.NewRequest("GET", e.api+path, nil)
	req.Header.Set("PRIVATE-TOKEN", e.AdminToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b.Fatalf("GET %s: %d", path, res.StatusCode)
	}
}

// BenchmarkListJobs is GET /projects/:id/jobs?per_page=100 on 1,000 pipelines
// (3,000 jobs): one page of jobs with their pipeline, user, runner and artifacts,
// and the count GitLab's X-Total asks for.
func BenchmarkListJobs(b *testing.B) {
	e, path := benchEnv(b, 1000)
	for _, page := range []int{1, 20} {
		b.Run(fmt.Sprintf("page %d", page), func(b *testing.B) {
			for b.Loop() {
				e.get(b, fmt.Sprintf("%s/jobs?per_page=100&page=%d", path, page))
			}
		})
	}
}

// BenchmarkListPipelines is GET /projects/:id/pipelines (20 a page) on 1,000
// pipelines, counted.
func BenchmarkListPipelines(b *testing.B) {
	e, path := benchEnv(b, 1000)
	for b.Loop() {
		e.get(b, path+"/pipelines")
	}
}

// BenchmarkGetJob is GET /projects/:id/jobs/:job_id.
func BenchmarkGetJob(b *testing.B) {
	e, path := benchEnv(b, 1)
	jobs, err := e.Store.Jobs.ListJobs(context.Background(), store.JobQuery{Page: store.Page{Limit: 1}})
	if err != nil || len(jobs) == 0 {
		b.Fatal(err)
	}
	for b.Loop() {
		e.get(b, fmt.Sprintf("%s/jobs/%d", path, jobs[0].ID))
	}
}
