package git

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// tree lists every path under root, for checking that nothing changed.
func tree(t *testing.T, root string) []string {
	t.Helper()
	var paths []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil {
			rel, _ := filepath.Rel(root, p)
			paths = append(paths, rel)
		}
		return nil
	})
	return paths
}

func TestCreateMakesABareRepositoryAtTheProjectPath(t *testing.T) {
	ctx := context.Background()
	m := newTestManager(t)
	repo, err := m.Create(ctx, "Group/Sub/Project", CreateOptions{DefaultBranch: "trunk"})
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(m.Root(), "group", "sub", "project.git")
	if repo.Dir() != want {
		t.Errorf("Dir() = %s, want %s", repo.Dir(), want)
	}
	c := newClient(t)
	if got := c.must(repo.Dir(), "rev-parse", "--is-bare-repository"); got != "true" {
		t.Errorf("not a bare repository: %s", got)
	}
	if b, err := repo.DefaultBranch(ctx); err != nil || b != "trunk" {
		t.Errorf("DefaultBranch() = %q, %v; want trunk", b, err)
	}
	if repo.Path() != "Group/Sub/Project" {
		t.Errorf("Path() = %q", repo.Path())
	}

	// GitLab paths are case-insensitive: the same repository.
	if _, err := m.Create(ctx, "group/sub/project", CreateOptions{}); !errors.Is(err, ErrExists) {
		t.Errorf("second Create = %v, want ErrExists", err)
	}
	if r, err := m.Open("GROUP/sub/PROJECT"); err != nil || r.Dir() != want {
		t.Errorf("Open in another case = %v, %v", r, err)
	}
}

func TestCreateRefusesBadPathsAndBranchesWithoutTouchingTheDisk(t *testing.T) {
	ctx := context.Background()
	m := newTestManager(t)
	before := tree(t, filepath.Dir(m.Root()))
	for _, p := range []string{"../escape", "group/../../escape", "group/.git", "/abs/path", "group/+kiln", "group/p\x00"} {
		if _, err := m.Create(ctx, p, CreateOptions{}); !errors.Is(err, ErrInvalidPath) {
			t.Errorf("Create(%q) = %v, want ErrInvalidPath", p, err)
		}
		if _, err := m.Open(p); !errors.Is(err, ErrInvalidPath) {
			t.Errorf("Open(%q) = %v, want ErrInvalidPath", p, err)
		}
		if err := m.Delete(ctx, p); !errors.Is(err, ErrInvalidPath) {
			t.Errorf("Delete(%q) = %v, want ErrInvalidPath", p, err)
		}
		if err := m.Rename(ctx, "group/project", p); !errors.Is(err, ErrInvalidPath) {
			t.Errorf("Rename to %q = %v, want ErrInvalidPath", p, err)
		}
	}
	if _, err := m.Create(ctx, "group/project", CreateOptions{DefaultBranch: "bad..branch"}); !errors.Is(err, ErrInvalidRef) {
		t.Errorf("Create with a bad branch = %v, want ErrInvalidRef", err)
	}
	if after := tree(t, filepath.Dir(m.Root())); !slices.Equal(before, after) {
		t.Errorf("disk changed:\nbefore %v\nafter  %v", before, after)
	}
}

func TestOpenOfAMissingRepositoryIsNotFound(t *testing.T) {
	m := newTestManager(t)
	if _, err := m.Open("group/missing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open = %v, want ErrNotFound", err)
	}
}

func TestDeleteRemovesTheRepositoryAndEmptyGroups(t *testing.T) {
	ctx := context.Background()
	m := newTestManager(t)
	for _, p := range []string{"a/b/c/one", "a/two"} {
		if _, err := m.Create(ctx, p, CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Delete(ctx, "a/b/c/one"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Open("a/b/c/one"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open after Delete = %v, want ErrNotFound", err)
	}
	if _, err := os.Stat(filepath.Join(m.Root(), "a", "b")); !os.IsNotExist(err) {
		t.Errorf("empty group directories left behind: %v", err)
	}
	if _, err := m.Open("a/two"); err != nil {
		t.Errorf("sibling repository gone: %v", err)
	}
	if err := m.Delete(ctx, "a/b/c/one"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Delete = %v, want ErrNotFound", err)
	}
	if left, _ := os.ReadDir(m.trashDir()); len(left) != 0 {
		t.Errorf("trash not emptied: %v", left)
	}
}

func TestRenameMovesTheRepositoryWithItsHistory(t *testing.T) {
	ctx := context.Background()
	m := newTestManager(t)
	c := newClient(t)
	repo, err := m.Create(ctx, "old/project", CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wt := c.workTree(map[string]string{"a.txt": "a"})
	c.must(wt, "push", "--quiet", repo.Dir(), "main")
	head := c.must(wt, "rev-parse", "HEAD")
	if _, err := m.Create(ctx, "taken/project", CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	if err := m.Rename(ctx, "old/project", "taken/project"); !errors.Is(err, ErrExists) {
		t.Errorf("Rename onto an existing repository = %v, want ErrExists", err)
	}
	if err := m.Rename(ctx, "missing/project", "new/project"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Rename of a missing repository = %v, want ErrNotFound", err)
	}
	if err := m.Rename(ctx, "old/project", "new/deep/project"); err != nil {
		t.Fatal(err)
	}
	moved, err := m.Open("new/deep/project")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := moved.ResolveRef(ctx, "main"); err != nil || got != head {
		t.Errorf("main after rename = %s, %v; want %s", got, err, head)
	}
	if _, err := m.Open("old/project"); !errors.Is(err, ErrNotFound) {
		t.Errorf("old path still opens: %v", err)
	}
	if _, err := os.Stat(filepath.Join(m.Root(), "old")); !os.IsNotExist(err) {
		t.Errorf("empty old group left behind")
	}
	if err := m.Rename(ctx, "new/deep/project", "New/Deep/Project"); err != nil {
		t.Errorf("case-only rename = %v, want nil", err)
	}
}

func TestSetDefaultBranchPointsHEAD(t *testing.T) {
	ctx := context.Background()
	m := newTestManager(t)
	repo, err := m.Create(ctx, "group/project", CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.SetDefaultBranch(ctx, "develop"); err != nil {
		t.Fatal(err)
	}
	if b, _ := repo.DefaultBranch(ctx); b != "develop" {
		t.Errorf("DefaultBranch() = %q, want develop", b)
	}
	if err := repo.SetDefaultBranch(ctx, "bad branch"); !errors.Is(err, ErrInvalidRef) {
		t.Errorf("SetDefaultBranch(bad) = %v, want ErrInvalidRef", err)
	}
	if b, _ := repo.DefaultBranch(ctx); b != "develop" {
		t.Errorf("a refused SetDefaultBranch changed HEAD to %q", b)
	}
}

func TestNewManagerClearsWhatAnInterruptedCreateLeft(t *testing.T) {
	root := filepath.Join(t.TempDir(), "repos")
	m, err := NewManager(context.Background(), Config{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(m.tmpDir(), "create-123")
	if err := os.MkdirAll(junk, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := NewManager(context.Background(), Config{Root: root}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(junk); !os.IsNotExist(err) {
		t.Errorf("leftover %s survived a restart", junk)
	}
}

func TestNewManagerRefusesAMissingGit(t *testing.T) {
	_, err := NewManager(context.Background(), Config{Root: t.TempDir(), GitBinary: "/nonexistent/git"})
	if err == nil {
		t.Fatal("NewManager with no git binary succeeded")
	}
}

func TestParseGitVersion(t *testing.T) {
	for s, want := range map[string][2]int{
		"git version 2.39.5":           {2, 39},
		"git version 2.31.0.windows.1": {2, 31},
		"git version 3.0":              {3, 0},
	} {
		major, minor, ok := parseGitVersion(s)
		if !ok || major != want[0] || minor != want[1] {
			t.Errorf("parseGitVersion(%q) = %d.%d %v", s, major, minor, ok)
		}
	}
	if _, _, ok := parseGitVersion("garbage"); ok {
		t.Error("parsed garbage")
	}
}
