package sources

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/runner/trace"
)

func TestTreeLinksGitObjectsAndCopiesEverythingElse(t *testing.T) {
	src := t.TempDir()
	git(t, src, "init", "-q", "-b", "main")
	os.WriteFile(filepath.Join(src, "main.go"), []byte("package main\n"), 0o644)
	git(t, src, "add", "main.go")
	git(t, src, "commit", "-q", "-m", "first")
	head := git(t, src, "rev-parse", "HEAD")
	dst := filepath.Join(t.TempDir(), "project")
	var out bytes.Buffer
	err := Tree{Dir: src, Clean: true}.Get(context.Background(), Request{Job: &jobspec.Job{}, Dir: dst, TmpDir: t.TempDir(),
		Log: trace.NewLog(&out, trace.LogConfig{})})
	if err != nil {
		t.Fatal(err)
	}
	linked, copied := 0, 0
	filepath.WalkDir(filepath.Join(src, ".git"), func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		rel, _ := filepath.Rel(src, p)
		a, _ := os.Stat(p)
		b, err := os.Stat(filepath.Join(dst, rel))
		if err != nil {
			t.Errorf("%s was not copied", rel)
			return nil
		}
		same := os.SameFile(a, b)
		if isGitObject(rel) != same {
			t.Errorf("%s: hard-linked %v, want %v", rel, same, isGitObject(rel))
		}
		if same {
			linked++
		} else {
			copied++
		}
		return nil
	})
	if linked == 0 || copied == 0 {
		t.Errorf("%d files linked, %d copied", linked, copied)
	}
	// git works in the copy, and what a job commits there stays there.
	if got := git(t, dst, "rev-parse", "HEAD"); got != head {
		t.Errorf("HEAD in the copy = %s, want %s", got, head)
	}
	os.WriteFile(filepath.Join(dst, "main.go"), []byte("package changed\n"), 0o644)
	git(t, dst, "commit", "-q", "-am", "in the job")
	if got := git(t, src, "rev-parse", "HEAD"); got != head {
		t.Errorf("a commit in the job moved the user's HEAD to %s", got)
	}
	if b, _ := os.ReadFile(filepath.Join(src, "main.go")); !strings.Contains(string(b), "package main") {
		t.Errorf("the job changed the user's file: %q", b)
	}
	if status := git(t, src, "status", "--porcelain"); status != "" {
		t.Errorf("the user's repository changed: %q", status)
	}
}
