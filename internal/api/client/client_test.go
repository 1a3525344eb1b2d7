package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// gitlabTrace serves a job log the way GitLab does: the whole log every time,
// whatever Range asks for, and no Job-Status header.
func gitlabTrace(log *string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.EscapedPath() != "/api/v4/projects/acme%2Fapp/jobs/7/trace" {
			http.Error(w, `{"message":"404 Not found"}`, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, *log)
	}
}

func TestTraceSkipsWhatWasSeenWhenTheServerIgnoresRanges(t *testing.T) {
	log := "one\n"
	srv := httptest.NewServer(gitlabTrace(&log))
	defer srv.Close()
	c, err := New(srv.URL+"/api/v4/", "glpat-x", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	chunk, err := c.Trace(ctx, "acme/app", 7, 0)
	if err != nil || string(chunk.Data) != "one\n" || chunk.Next != 4 || chunk.JobStatus != "" {
		t.Fatalf("first read %+v %v", chunk, err)
	}
	log += "two\n"
	chunk, err = c.Trace(ctx, "acme/app", 7, chunk.Next)
	if err != nil || string(chunk.Data) != "two\n" || chunk.Next != 8 {
		t.Fatalf("second read %+v %v", chunk, err)
	}
	chunk, err = c.Trace(ctx, "acme/app", 7, chunk.Next)
	if err != nil || len(chunk.Data) != 0 || chunk.Next != 8 {
		t.Fatalf("read at the end %+v %v", chunk, err)
	}
}

func TestErrorsCarryGitLabsMessageButNotTheToken(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"message":{"path":["has already been taken"]}}`)
	}))
	defer srv.Close()
	const token = "glpat-secret-secret"
	c, err := New(srv.URL, token, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateProject(context.Background(), CreateProjectOptions{Name: "app"})
	var apiErr *Error
	if !errors.As(err, &apiErr) || apiErr.Status != 400 || apiErr.Message != "path has already been taken" {
		t.Fatalf("error %v", err)
	}
	if strings.Contains(err.Error(), token) {
		t.Errorf("the error %q shows the token", err)
	}
	if IsNotFound(err) {
		t.Error("a 400 reads as not found")
	}
}

func TestNewRefusesURLsThatAreNotHTTP(t *testing.T) {
	for _, u := range []string{"", "localhost:8080", "ftp://host", "http://"} {
		if _, err := New(u, "", nil); err == nil {
			t.Errorf("New(%q) accepted it", u)
		}
	}
}
