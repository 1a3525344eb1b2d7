package web_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kiln-ci/kiln/internal/api/auth"
	"github.com/kiln-ci/kiln/internal/coordinator"
	"github.com/kiln-ci/kiln/internal/coordinator/coordinatortest"
	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/store"
	"github.com/kiln-ci/kiln/internal/web"
)

// benchEnv is a coordinator with a public project whose pipeline has jobs stages of
// width jobs each, the first job finished with a log of logBytes.
func benchEnv(b *testing.B, stages, width, logBytes int) (http.Handler, string, int64) {
	h, path, jobID, _ := benchEnvLog(b, stages, width, logBytes)
	return h, path, jobID
}

// benchEnvLog is benchEnv that also returns the log's size.
func benchEnvLog(b *testing.B, stages, width, logBytes int) (http.Handler, string, int64, int) {
	e := coordinatortest.New(b, coordinatortest.Options{})
	var ci strings.Builder
	ci.WriteString("stages: [")
	for s := range stages {
		fmt.Fprintf(&ci, "s%d,", s)
	}
	ci.WriteString("]\n")
	for s := range stages {
		for j := range width {
			fmt.Fprintf(&ci, "job-%d-%d:\n  stage: s%d\n  script: [make]\n", s, j, s)
		}
	}
	g := e.Group(b, "acme", machine.PlanFree)
	p := e.Project(b, g, "app", map[string]string{".gitlab-ci.yml": ci.String()})
	p.Visibility = store.VisibilityPublic
	e.Store.Projects.UpdateProject(b.Context(), p)
	r, _ := e.Runner(b, coordinator.CreateRunnerRequest{RunUntagged: true, MachineType: machine.TagSmall})
	pl := e.CreatePipeline(b, p, "main")
	job := e.MustTake(b, r, nil)
	var log strings.Builder
	for i := 0; log.Len() < logBytes; i++ {
		fmt.Fprintf(&log, "section_start:%d:step_%d\r\x1b[0K\x1b[36;1mStep %d\x1b[0;m\n", 1700000000+i, i, i)
		for j := range 20 {
			fmt.Fprintf(&log, "\x1b[32;1m$ make target-%d\x1b[0;m\ncompiling module_%d/file_%d.go <ok> in 12ms\n", j, i, j)
		}
		fmt.Fprintf(&log, "section_end:%d:step_%d\r\x1b[0K\n", 1700000003+i, i)
	}
	e.Finish(b, job, protocol.StateSuccess, log.String(), 0)
	h, err := web.New(web.Config{Service: e.Service, Auth: auth.New(e.Store.Users, nil), Repos: e.Repos})
	if err != nil {
		b.Fatal(err)
	}
	return h, fmt.Sprintf("/acme/app/-/pipelines/%d", pl.ID), job.ID, log.Len()
}

func serve(b *testing.B, h http.Handler, path string) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	if rec.Code != http.StatusOK {
		b.Fatalf("GET %s: %d", path, rec.Code)
	}
}

// BenchmarkJobPage renders a job page with a 1 MiB log (the most a page shows).
func BenchmarkJobPage(b *testing.B) {
	h, _, jobID := benchEnv(b, 1, 1, 1<<20)
	path := fmt.Sprintf("/acme/app/-/jobs/%d", jobID)
	for b.Loop() {
		serve(b, h, path)
	}
}

// BenchmarkPipelinePage renders a pipeline of 5 stages × 20 jobs, with its commit.
func BenchmarkPipelinePage(b *testing.B) {
	h, path, _ := benchEnv(b, 5, 20, 1024)
	for b.Loop() {
		serve(b, h, path)
	}
}

// BenchmarkTracePoll answers follow-mode polls: with nothing new (the common case),
// and with the last 4 KiB of the log new.
func BenchmarkTracePoll(b *testing.B) {
	h, _, jobID, size := benchEnvLog(b, 1, 1, 64<<10)
	for _, c := range []struct {
		name   string
		offset int
	}{{"idle", size}, {"4KiB", size - 4096}} {
		b.Run(c.name, func(b *testing.B) {
			path := fmt.Sprintf("/acme/app/-/jobs/%d/trace.json?offset=%d", jobID, c.offset)
			for b.Loop() {
				serve(b, h, path)
			}
		})
	}
}
