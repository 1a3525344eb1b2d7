package runnerapi_test

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/coordinator"
)

func zipOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, content := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, content)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipOf(s string) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(s))
	zw.Close()
	return buf.Bytes()
}

// upload posts a file as gitlab-runner's artifacts-uploader does: multipart field
// "file", type and format in the query, streamed with unknown length.
func upload(t *testing.T, e *env, job specJob, query, filename string, data []byte) response {
	t.Helper()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		part, err := mw.CreateFormFile("file", filename)
		if err == nil {
			_, err = part.Write(data)
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	req, err := http.NewRequest("POST", e.URL+"/api/v4/jobs/"+itoa(job.ID)+"/artifacts?"+query, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Job-Token", job.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return response{Response: resp, body: body}
}

func TestArtifactsPassFromOneStageToTheNextWithTheDependentsToken(t *testing.T) {
	e := newEnv(t, buildAndTest, nil)
	e.CreatePipeline(t, e.project, "main")
	build, _ := e.take(t)
	archive := zipOf(t, map[string]string{"out/a.txt": "built\n"})
	upload(t, e, build, "artifact_format=zip&artifact_type=archive&expire_in=1+day", "build-out.zip", archive).
		wantStatus(t, http.StatusCreated)
	upload(t, e, build, "artifact_format=zip&artifact_type=archive", "again.zip", archive).
		wantStatus(t, http.StatusConflict)
	put(t, e, build, `{"state":"success"}`).wantStatus(t, http.StatusOK)

	test, _ := e.take(t)
	if len(test.Dependencies) != 1 {
		t.Fatalf("dependencies %+v", test.Dependencies)
	}
	dep := test.Dependencies[0]
	if dep.ID != build.ID || dep.Name != "build" || dep.Token != test.Token ||
		dep.ArtifactsFile.Filename != "build-out.zip" || dep.ArtifactsFile.Size != int64(len(archive)) {
		t.Errorf("dependency %+v", dep)
	}
	got := call(t, "GET", e.URL+"/api/v4/jobs/"+itoa(dep.ID)+"/artifacts?direct_download=true", jobHeaders(dep.Token), nil)
	got.wantStatus(t, http.StatusOK)
	if !bytes.Equal(got.body, archive) || got.Header.Get("Content-Type") != "application/zip" {
		t.Errorf("downloaded %d bytes (%s), want the %d uploaded", len(got.body), got.Header.Get("Content-Type"), len(archive))
	}
	// The build job's own token died with the job.
	call(t, "GET", e.URL+"/api/v4/jobs/"+itoa(build.ID)+"/artifacts", jobHeaders(build.Token), nil).
		wantStatus(t, http.StatusForbidden)
	call(t, "GET", e.URL+"/api/v4/jobs/"+itoa(build.ID)+"/artifacts", nil, nil).wantStatus(t, http.StatusUnauthorized)
	// A job without artifacts.
	call(t, "GET", e.URL+"/api/v4/jobs/"+itoa(test.ID)+"/artifacts", jobHeaders(test.Token), nil).wantStatus(t, http.StatusNotFound)
}

func TestAJobTokenDoesNotReadArtifactsOfJobsItDoesNotDependOn(t *testing.T) {
	e := newEnv(t, "a:\n  script: [x]\n  artifacts:\n    paths: [a]\nb:\n  script: [y]\n", nil)
	e.CreatePipeline(t, e.project, "main")
	a, _ := e.take(t)
	b, _ := e.take(t)
	upload(t, e, a, "artifact_type=archive&artifact_format=zip", "a.zip", zipOf(t, map[string]string{"a": "1"})).
		wantStatus(t, http.StatusCreated)
	call(t, "GET", e.URL+"/api/v4/jobs/"+itoa(a.ID)+"/artifacts", jobHeaders(b.Token), nil).wantStatus(t, http.StatusForbidden)
}

func TestAnUploadOverTheLimitIs413AndLeavesNothing(t *testing.T) {
	e := newEnv(t, buildAndTest, func(c *coordinator.Config) { c.MaxArtifactBytes = 1000 })
	e.CreatePipeline(t, e.project, "main")
	build, _ := e.take(t)
	upload(t, e, build, "artifact_type=archive&artifact_format=zip", "big.zip", bytes.Repeat([]byte("x"), 5000)).
		wantStatus(t, http.StatusRequestEntityTooLarge)
	upload(t, e, build, "artifact_type=archive&artifact_format=zip", "small.zip", []byte("fits")).
		wantStatus(t, http.StatusCreated)
}

func TestBadUploadsAre400(t *testing.T) {
	e := newEnv(t, buildAndTest, nil)
	e.CreatePipeline(t, e.project, "main")
	build, _ := e.take(t)
	upload(t, e, build, "artifact_type=archive&artifact_format=rar", "x", []byte("x")).wantStatus(t, http.StatusBadRequest)
	upload(t, e, build, "artifact_type=archive&expire_in=someday", "x", []byte("x")).wantStatus(t, http.StatusBadRequest)
	upload(t, e, build, "artifact_type=dotenv&artifact_format=gzip", ".env.gz", gzipOf("NOT A LINE\n")).
		wantStatus(t, http.StatusBadRequest)
	resp := call(t, "POST", e.URL+"/api/v4/jobs/"+itoa(build.ID)+"/artifacts", jobHeaders(build.Token), []byte("plain"))
	resp.wantStatus(t, http.StatusBadRequest)
}

func TestDotenvVariablesReachDependentJobsBelowProjectVariables(t *testing.T) {
	ci := `
build:
  stage: build
  script: [echo]
  artifacts:
    reports:
      dotenv: build.env
deploy:
  stage: deploy
  variables:
    FROM_DOTENV: yaml-loses
  script: [echo]
`
	e := newEnv(t, ci, nil)
	ctx := t.Context()
	if err := e.Store.Variables.CreateVariable(ctx, &storeVariable{Owner: storeProjectOwner(e.project.ID), Key: "PINNED", Value: "project-wins"}); err != nil {
		t.Fatal(err)
	}
	e.CreatePipeline(t, e.project, "main")
	build, _ := e.take(t)
	if len(build.Artifacts) != 1 || build.Artifacts[0].Type != "dotenv" || build.Artifacts[0].Format != "gzip" {
		t.Fatalf("build artifacts %+v", build.Artifacts)
	}
	upload(t, e, build, "artifact_type=dotenv&artifact_format=gzip", ".env.gz",
		gzipOf("FROM_DOTENV=dotenv-wins\nPINNED=dotenv-loses\nVERSION = 1.2.3\n")).wantStatus(t, http.StatusCreated)
	put(t, e, build, `{"state":"success"}`).wantStatus(t, http.StatusOK)
	deploy, _ := e.take(t)
	for key, want := range map[string]string{"FROM_DOTENV": "dotenv-wins", "PINNED": "project-wins", "VERSION": "1.2.3"} {
		if v, _ := deploy.variable(key); v.Value != want {
			t.Errorf("%s = %q, want %q", key, v.Value, want)
		}
	}
	if d := deploy.Dependencies; len(d) != 1 || d[0].ArtifactsFile.Filename != "" {
		t.Errorf("a dependency with only a report has no archive to download: %+v", d)
	}
	if strings.Contains(e.Trace(t, build.ID), "dotenv-wins") {
		t.Error("dotenv values leaked into a trace")
	}
}

func TestArtifactsAreDeletedOnceExpired(t *testing.T) {
	e := newEnv(t, buildAndTest, nil)
	e.CreatePipeline(t, e.project, "main")
	build, _ := e.take(t)
	upload(t, e, build, "artifact_type=archive&artifact_format=zip&expire_in=1+second", "a.zip", zipOf(t, map[string]string{"a": "1"})).
		wantStatus(t, http.StatusCreated)
	time.Sleep(1100 * time.Millisecond)
	e.Service.Reap(t.Context())
	call(t, "GET", e.URL+"/api/v4/jobs/"+itoa(build.ID)+"/artifacts", jobHeaders(build.Token), nil).wantStatus(t, http.StatusNotFound)
}
