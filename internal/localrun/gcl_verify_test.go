package localrun_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/kiln-ci/kiln/internal/localrun"
)

func (e *gclExpect) verify(t *testing.T, what string, res *localrun.Result, out string, err error, state, dir string) {
	t.Helper()
	if e.err != "" {
		if err == nil || !strings.Contains(err.Error(), e.err) {
			t.Errorf("%s: error = %v, want one containing %q", what, err, e.err)
		}
		return
	}
	if err != nil {
		t.Fatalf("%s: kiln exec: %v\n%s", what, err, out)
	}
	for job, want := range e.lines {
		got := jobLines(out, job)
		for _, w := range want {
			if !slices.Contains(got, w) {
				t.Errorf("%s: job %q's output lacks the line %q; it has:\n%s", what, job, w, strings.Join(got, "\n"))
			}
		}
	}
	for job, never := range e.noLines {
		got := jobLines(out, job)
		for _, w := range never {
			if slices.Contains(got, w) {
				t.Errorf("%s: job %q's output has the line %q", what, job, w)
			}
		}
	}
	for job, want := range e.seq {
		got := "\n" + strings.Join(jobLines(out, job), "\n") + "\n"
		if !strings.Contains(got, "\n"+strings.Join(want, "\n")+"\n") {
			t.Errorf("%s: job %q's output lacks the lines\n%s\nin a row; it has:%s", what, job, strings.Join(want, "\n"), got)
		}
	}
	for _, x := range e.exact {
		var got []string
		for _, l := range jobLines(out, x.job) {
			if strings.HasPrefix(l, x.prefix) {
				got = append(got, l)
			}
		}
		if x.sorted {
			slices.Sort(got)
		}
		if !slices.Equal(got, x.want) {
			t.Errorf("%s: job %q's lines starting %q = %q, want %q", what, x.job, x.prefix, got, x.want)
		}
	}
	for _, s := range e.contains {
		if !strings.Contains(out, s) {
			t.Errorf("%s: output lacks %q", what, s)
		}
	}
	for _, s := range e.absent {
		if strings.Contains(out, s) {
			t.Errorf("%s: output holds %q", what, s)
		}
	}
	for s, n := range e.count {
		got := 0
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, s) && !strings.HasPrefix(l, "==> ") {
				got++
			}
		}
		if got != n {
			t.Errorf("%s: %d output lines contain %q, want %d", what, got, s, n)
		}
	}
	e.verifyResult(t, what, res, state)
	if e.check != nil {
		e.check(t, res, out, dir)
	}
}

func (e *gclExpect) verifyResult(t *testing.T, what string, res *localrun.Result, state string) {
	t.Helper()
	if e.pipeline != "" && res.Status != e.pipeline {
		t.Errorf("%s: pipeline status %s, want %s", what, res.Status, e.pipeline)
	}
	for job, want := range e.status {
		if j, ok := res.Job(job); !ok || j.Status != want {
			t.Errorf("%s: job %q status %q (in pipeline: %v), want %s", what, job, j.Status, ok, want)
		}
	}
	for job, want := range e.allowFailures {
		if j, _ := res.Job(job); j.AllowFailure != want {
			t.Errorf("%s: job %q allow_failure %v, want %v", what, job, j.AllowFailure, want)
		}
	}
	for _, job := range e.ran {
		if j, ok := res.Job(job); !ok || j.Outcome == nil {
			t.Errorf("%s: job %q did not run", what, job)
		}
	}
	for _, job := range e.notRan {
		if j, ok := res.Job(job); ok && j.Outcome != nil {
			t.Errorf("%s: job %q ran (%s), want it not to", what, job, j.Status)
		}
	}
	for job, files := range e.artifacts {
		j, _ := res.Job(job)
		for _, f := range files {
			if !slices.Contains(j.Artifacts, f) {
				t.Errorf("%s: job %q's artifacts %q lack %q", what, job, j.Artifacts, f)
			}
		}
	}
	for job, files := range e.noArtifacts {
		j, _ := res.Job(job)
		for _, f := range files {
			if slices.Contains(j.Artifacts, f) {
				t.Errorf("%s: job %q's artifacts %q hold %q", what, job, j.Artifacts, f)
			}
		}
	}
	for key, files := range e.cacheFiles {
		got := cacheEntries(t, state, key)
		for _, f := range files {
			if !slices.Contains(got, f) {
				t.Errorf("%s: cache %q holds %q, want %q among them", what, key, got, f)
			}
		}
	}
	for key, files := range e.noCacheFiles {
		got := cacheEntries(t, state, key)
		for _, f := range files {
			if slices.Contains(got, f) {
				t.Errorf("%s: cache %q holds %q, want it not to", what, key, f)
			}
		}
	}
}
