package userapi_test

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/kiln-ci/kiln/internal/api/entity"
	"github.com/kiln-ci/kiln/internal/coordinator"
	"github.com/kiln-ci/kiln/internal/protocol"
)

func TestAJobRunsAndShowsItsRunnerTraceAndArtifacts(t *testing.T) {
	e := newEnv(t)
	_, path := e.project(t, twoStages)
	runner := e.smallRunner(t)
	var pl entity.Pipeline
	e.call(t, "POST", path+"/pipeline?ref=main", e.AdminToken, nil).want(t, http.StatusCreated, &pl)

	job := e.MustTake(t, runner, nil)
	ctx := context.Background()
	stored, err := e.Service.AuthenticateJob(ctx, job.Token)
	if err != nil {
		t.Fatal(err)
	}
	var zipped bytes.Buffer
	zw := zip.NewWriter(&zipped)
	f, _ := zw.Create("out/model.bin")
	f.Write([]byte("weights"))
	zw.Close()
	if _, err := e.Service.UploadArtifact(ctx, stored, coordinator.ArtifactUpload{Filename: "artifacts.zip", Body: bytes.NewReader(zipped.Bytes())}); err != nil {
		t.Fatal(err)
	}
	const trace = "\x1b[32mRunning\x1b[0m\nbuilding hello\nJob succeeded\n"
	e.Finish(t, job, protocol.StateSuccess, trace, 0)

	var got entity.Job
	e.call(t, "GET", fmt.Sprintf("%s/jobs/%d", path, job.ID), e.AdminToken, nil).want(t, http.StatusOK, &got)
	if got.Status != "success" || got.Runner == nil || got.Runner.ID != runner.ID || got.Runner.MachineType == "" || got.StartedAt == nil ||
		got.FinishedAt == nil || got.Duration == nil || got.FailureReason != "" {
		t.Errorf("finished job %+v", got)
	}
	if got.ArtifactsFile == nil || got.ArtifactsFile.Filename != "artifacts.zip" || got.ArtifactsFile.Size != int64(zipped.Len()) ||
		len(got.Artifacts) != 1 || got.Artifacts[0].FileType != "archive" || got.Artifacts[0].FileFormat != "zip" {
		t.Errorf("artifacts %+v %+v", got.ArtifactsFile, got.Artifacts)
	}

	res := e.call(t, "GET", fmt.Sprintf("%s/jobs/%d/trace", path, job.ID), e.AdminToken, nil).want(t, http.StatusOK, nil)
	if string(res.body) != trace || res.header.Get("Content-Type") != "text/plain; charset=utf-8" || res.header.Get("Job-Status") != "success" {
		t.Errorf("trace %q, Content-Type %q, Job-Status %q", res.body, res.header.Get("Content-Type"), res.header.Get("Job-Status"))
	}

	res = e.call(t, "GET", fmt.Sprintf("%s/jobs/%d/artifacts", path, job.ID), e.AdminToken, nil).want(t, http.StatusOK, nil)
	if !bytes.Equal(res.body, zipped.Bytes()) || res.header.Get("Content-Type") != "application/zip" ||
		res.header.Get("Content-Disposition") != `attachment; filename="artifacts.zip"` {
		t.Errorf("artifacts download: %d bytes, headers %v", len(res.body), res.header)
	}

	var jobs []entity.Job
	e.call(t, "GET", path+"/jobs?scope[]=success&scope[]=failed", e.AdminToken, nil).want(t, http.StatusOK, &jobs)
	if len(jobs) != 1 || jobs[0].ID != job.ID {
		t.Errorf("successful jobs %+v", jobs)
	}
	e.call(t, "GET", path+"/jobs?scope[]=great", e.AdminToken, nil).wantError(t, http.StatusBadRequest, "scope does not have a valid value")
	e.call(t, "GET", fmt.Sprintf("%s/jobs/%d/artifacts", path, jobs[0].ID+1), e.AdminToken, nil).wantError(t, http.StatusNotFound, "404 Artifacts Not Found")
}

func TestATraceCanBeFollowedWithRanges(t *testing.T) {
	e := newEnv(t)
	_, path := e.project(t, twoStages)
	runner := e.smallRunner(t)
	e.call(t, "POST", path+"/pipeline?ref=main", e.AdminToken, nil).want(t, http.StatusCreated, nil)
	job := e.MustTake(t, runner, nil)
	stored, err := e.Service.AuthenticateJob(context.Background(), job.Token)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.Service.AppendTrace(context.Background(), stored, 0, []byte("first line\n")); err != nil {
		t.Fatal(err)
	}
	tracePath := fmt.Sprintf("%s/jobs/%d/trace", path, job.ID)
	ranged := func(from int) response {
		req, _ := http.NewRequest("GET", e.api+tracePath, nil)
		req.Header.Set("PRIVATE-TOKEN", e.AdminToken)
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", from))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(res.Body)
		return response{code: res.StatusCode, header: res.Header, body: b.Bytes()}
	}
	res := ranged(6)
	if res.code != http.StatusPartialContent || string(res.body) != "line\n" || res.header.Get("Content-Range") != "bytes 6-10/11" ||
		res.header.Get("Job-Status") != "running" {
		t.Errorf("bytes=6-: %d %q %v", res.code, res.body, res.header)
	}
	res = ranged(11)
	if res.code != http.StatusRequestedRangeNotSatisfiable || res.header.Get("Content-Range") != "bytes */11" {
		t.Errorf("bytes=11- at the end: %d %v", res.code, res.header)
	}
	if _, _, err := e.Service.AppendTrace(context.Background(), stored, 11, []byte("second\n")); err != nil {
		t.Fatal(err)
	}
	if res = ranged(11); res.code != http.StatusPartialContent || string(res.body) != "second\n" {
		t.Errorf("after more output: %d %q", res.code, res.body)
	}
}

func TestJobsAreCanceledRetriedAndPlayed(t *testing.T) {
	e := newEnv(t)
	_, path := e.project(t, twoStages)
	runner := e.smallRunner(t)
	var pl entity.Pipeline
	e.call(t, "POST", path+"/pipeline?ref=main", e.AdminToken, nil).want(t, http.StatusCreated, &pl)
	var jobs []entity.Job
	e.call(t, "GET", fmt.Sprintf("%s/pipelines/%d/jobs", path, pl.ID), e.AdminToken, nil).want(t, http.StatusOK, &jobs)
	build, deploy := jobs[0], jobs[2]
	jobPath := func(id int64, action string) string { return fmt.Sprintf("%s/jobs/%d/%s", path, id, action) }

	taken := e.MustTake(t, runner, nil)
	var j entity.Job
	e.call(t, "POST", jobPath(build.ID, "retry"), e.AdminToken, nil).wantError(t, http.StatusForbidden, "Job is not retryable")
	e.call(t, "POST", jobPath(build.ID, "cancel"), e.AdminToken, nil).want(t, http.StatusCreated, &j)
	if j.Status != "canceling" {
		t.Errorf("a running job is %s after cancel, want canceling", j.Status)
	}
	e.Finish(t, taken, protocol.StateFailed, "stopped\n", 1)
	e.call(t, "GET", fmt.Sprintf("%s/jobs/%d", path, build.ID), e.AdminToken, nil).want(t, http.StatusOK, &j)
	if j.Status != "canceled" {
		t.Errorf("job is %s once its runner stopped, want canceled", j.Status)
	}
	// Canceling a finished job changes nothing, as in GitLab.
	e.call(t, "POST", jobPath(build.ID, "cancel"), e.AdminToken, nil).want(t, http.StatusCreated, &j)
	if j.Status != "canceled" {
		t.Errorf("status %s", j.Status)
	}
	var retried entity.Job
	e.call(t, "POST", jobPath(build.ID, "retry"), e.AdminToken, nil).want(t, http.StatusCreated, &retried)
	if retried.ID == build.ID || retried.Name != "build" || retried.Status != "pending" || retried.Attempt != 2 {
		t.Errorf("retried job %+v", retried)
	}
	e.call(t, "POST", jobPath(build.ID, "retry"), e.AdminToken, nil).wantError(t, http.StatusForbidden, "Job is not retryable")

	e.call(t, "POST", jobPath(build.ID, "play"), e.AdminToken, nil).wantError(t, http.StatusBadRequest, "Unplayable Job")
	_, dev := e.user(t, "dev")
	e.call(t, "POST", jobPath(deploy.ID, "cancel"), dev, nil).wantError(t, http.StatusNotFound)
}

func TestAManualJobIsPlayed(t *testing.T) {
	e := newEnv(t)
	_, path := e.project(t, "deploy:\n  when: manual\n  script: [echo deploy]\n")
	var pl entity.Pipeline
	e.call(t, "POST", path+"/pipeline?ref=main", e.AdminToken, nil).want(t, http.StatusCreated, &pl)
	var jobs []entity.Job
	e.call(t, "GET", fmt.Sprintf("%s/pipelines/%d/jobs", path, pl.ID), e.AdminToken, nil).want(t, http.StatusOK, &jobs)
	if len(jobs) != 1 || jobs[0].Status != "manual" {
		t.Fatalf("jobs %+v, want one manual job", jobs)
	}
	var j entity.Job
	e.call(t, "POST", fmt.Sprintf("%s/jobs/%d/play", path, jobs[0].ID), e.AdminToken, nil).want(t, http.StatusOK, &j)
	if j.Status != "pending" {
		t.Errorf("played manual job is %s, want pending", j.Status)
	}
	e.call(t, "POST", fmt.Sprintf("%s/jobs/%d/play", path, jobs[0].ID), e.AdminToken, nil).wantError(t, http.StatusBadRequest, "Unplayable Job")
}

func TestAJobOfAnotherProjectIsNotFound(t *testing.T) {
	e := newEnv(t)
	_, path := e.project(t, twoStages)
	other := e.Project(t, e.Group(t, "other", "free"), "app", map[string]string{".gitlab-ci.yml": twoStages})
	pl := e.CreatePipeline(t, other, "main")
	for name, j := range e.Jobs(t, pl.ID) {
		e.call(t, "GET", fmt.Sprintf("%s/jobs/%d", path, j.ID), e.AdminToken, nil).wantError(t, http.StatusNotFound, "404 Job Not Found")
		e.call(t, "GET", fmt.Sprintf("%s/jobs/%d/trace", path, j.ID), e.AdminToken, nil).wantError(t, http.StatusNotFound)
		_ = name
	}
}
