package git

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"testing/fstest"
)

// treeFixture is a commit with nested directories, an executable, an empty file,
// symbolic links to a file and to a directory, and a submodule.
func treeFixture(t *testing.T) (*Repo, *client, string) {
	t.Helper()
	repo, c, wt := seededRepo(t, map[string]string{
		".gitlab-ci.yml":  "include: ci/a.yml\n",
		"ci/a.yml":        "a: 1\n",
		"ci/b.yaml":       "b: 2\n",
		"ci/nested/c.yml": "c: 3\n",
		"docs/README.md":  "# docs\n",
		"empty":           "",
		"scripts/run.sh":  "#!/bin/sh\necho hi\n",
	})
	os.Chmod(filepath.Join(wt, "scripts/run.sh"), 0o755)
	must(t, os.Symlink("ci/a.yml", filepath.Join(wt, "link-to-file")))
	must(t, os.Symlink("nested", filepath.Join(wt, "ci", "link-to-dir")))
	must(t, os.Symlink("../ci", filepath.Join(wt, "docs", "ci")))
	c.must(wt, "add", "--all")
	head := c.must(wt, "rev-parse", "HEAD")
	c.must(wt, "update-index", "--add", "--cacheinfo", "160000,"+head+",vendor/sub")
	c.must(wt, "commit", "--quiet", "-m", "links and a submodule")
	c.must(wt, "push", "--quiet", repo.Dir(), "main")
	return repo, c, wt
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestTreeFSPassesFstest(t *testing.T) {
	repo, _, _ := treeFixture(t)
	tfs, err := repo.TreeFS(context.Background(), "main")
	if err != nil {
		t.Fatal(err)
	}
	defer tfs.Close()
	if err := fstest.TestFS(tfs,
		".gitlab-ci.yml", "ci/a.yml", "ci/b.yaml", "ci/nested/c.yml", "docs/README.md", "empty",
		"scripts/run.sh", "link-to-file", "ci/link-to-dir", "docs/ci", "vendor/sub",
	); err != nil {
		t.Fatal(err)
	}
}

func TestTreeFSFollowsSymbolicLinksInsideTheTree(t *testing.T) {
	repo, _, _ := treeFixture(t)
	tfs, err := repo.TreeFS(context.Background(), "main")
	if err != nil {
		t.Fatal(err)
	}
	defer tfs.Close()

	for name, want := range map[string]string{
		"link-to-file":              "a: 1\n",
		"ci/link-to-dir/c.yml":      "c: 3\n",
		"docs/ci/nested/c.yml":      "c: 3\n",
		"docs/ci/link-to-dir/c.yml": "c: 3\n",
	} {
		got, err := fs.ReadFile(tfs, name)
		if err != nil || string(got) != want {
			t.Errorf("ReadFile(%s) = %q, %v; want %q", name, got, err, want)
		}
	}
	if target, err := tfs.ReadLink("docs/ci"); err != nil || target != "../ci" {
		t.Errorf("ReadLink(docs/ci) = %q, %v", target, err)
	}
	if st, err := tfs.Lstat("link-to-file"); err != nil || st.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("Lstat(link-to-file) = %v, %v; want a symlink", st, err)
	}
	if st, err := tfs.Stat("link-to-file"); err != nil || !st.Mode().IsRegular() || st.Size() != 5 || st.Name() != "link-to-file" {
		t.Errorf("Stat(link-to-file) = %v, %v; want the 5-byte file, named as asked", st, err)
	}
	if _, err := tfs.ReadLink("ci/a.yml"); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("ReadLink of a file = %v, want fs.ErrInvalid", err)
	}
	if entries, err := tfs.ReadDir("vendor/sub"); err != nil || len(entries) != 0 {
		t.Errorf("submodule ReadDir = %v, %v; want an empty directory", entries, err)
	}
	if st, _ := tfs.Stat("scripts/run.sh"); st.Mode().Perm() != 0o755 {
		t.Errorf("run.sh mode = %v", st.Mode())
	}
}

func TestTreeFSLinksOutsideTheTreeDoNotExist(t *testing.T) {
	repo, c, wt := seededRepo(t, map[string]string{"a": "a"})
	must(t, os.Symlink("../../etc/passwd", filepath.Join(wt, "escape")))
	must(t, os.Symlink("/etc/passwd", filepath.Join(wt, "absolute")))
	must(t, os.Symlink("loop2", filepath.Join(wt, "loop1")))
	must(t, os.Symlink("loop1", filepath.Join(wt, "loop2")))
	c.must(wt, "add", "--all")
	c.must(wt, "commit", "--quiet", "-m", "bad links")
	c.must(wt, "push", "--quiet", repo.Dir(), "main")
	tfs, err := repo.TreeFS(context.Background(), "main")
	if err != nil {
		t.Fatal(err)
	}
	defer tfs.Close()

	for _, name := range []string{"escape", "absolute"} {
		if _, err := tfs.Open(name); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open(%s) = %v, want fs.ErrNotExist", name, err)
		}
		if _, err := tfs.Lstat(name); err != nil {
			t.Errorf("Lstat(%s) = %v; the link itself exists", name, err)
		}
	}
	if _, err := tfs.ReadFile("loop1"); !errors.Is(err, errTooManyLinks) {
		t.Errorf("ReadFile(loop1) = %v, want too many links", err)
	}
	if matches, err := tfs.Glob("*"); err != nil || !slices.Equal(matches, []string{"a", "absolute", "escape", "loop1", "loop2"}) {
		t.Errorf("Glob(*) = %v, %v", matches, err)
	}
}

func TestTreeFSRefusesInvalidNames(t *testing.T) {
	repo, _, _ := treeFixture(t)
	tfs, err := repo.TreeFS(context.Background(), "main")
	if err != nil {
		t.Fatal(err)
	}
	defer tfs.Close()
	for _, name := range []string{"../etc/passwd", "/etc/passwd", "ci/../ci/a.yml", "./ci", "ci/", ""} {
		if _, err := tfs.Open(name); !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("Open(%q) = %v, want fs.ErrInvalid", name, err)
		}
	}
	for _, name := range []string{"missing", "ci/a.yml/x", "empty/x"} {
		if _, err := tfs.Stat(name); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Stat(%q) = %v, want fs.ErrNotExist", name, err)
		}
	}
	if _, err := tfs.ReadFile("ci"); err == nil {
		t.Error("ReadFile of a directory succeeded")
	}
	if _, err := tfs.ReadDir("ci/a.yml"); err == nil {
		t.Error("ReadDir of a file succeeded")
	}
	d, _ := tfs.Open("ci")
	if _, err := d.Read(make([]byte, 1)); err == nil {
		t.Error("Read of a directory succeeded")
	}
}

// genericFS hides TreeFS's own Glob, so fs.Glob walks it with ReadDir.
type genericFS struct{ fsys fs.FS }

func (g genericFS) Open(name string) (fs.File, error) { return g.fsys.Open(name) }

func TestTreeFSGlobAgreesWithFsGlob(t *testing.T) {
	repo, _, _ := treeFixture(t)
	tfs, err := repo.TreeFS(context.Background(), "main")
	if err != nil {
		t.Fatal(err)
	}
	defer tfs.Close()
	for _, pattern := range []string{
		"*", "ci/*.yml", "ci/*", "*/*.yml", "*/*/*", "ci/link-to-dir/*", "docs/ci/*/c.yml",
		"c?/[ab].y*ml", "ci/[!a]*", "vendor/*", "vendor/sub/*", "nothing*", ".gitlab-ci.yml", "missing",
		"ci/a.yml/*", `ci/\a.yml`,
	} {
		got, err := tfs.Glob(pattern)
		want, werr := fs.Glob(genericFS{tfs}, pattern)
		if err != nil || werr != nil || !slices.Equal(got, want) {
			t.Errorf("Glob(%q) = %v, %v; fs.Glob says %v, %v", pattern, got, err, want, werr)
		}
	}
	if got, _ := tfs.Glob("ci/*.yml"); !slices.Equal(got, []string{"ci/a.yml"}) {
		t.Errorf("Glob(ci/*.yml) = %v", got)
	}
	if _, err := tfs.Glob("ci/[a"); !errors.Is(err, fs.ErrInvalid) && err == nil {
		t.Error("a bad pattern was accepted")
	}
}

func TestTreeFSTimesAreTheCommitDateAndCloseStopsContentReads(t *testing.T) {
	repo, _, _ := treeFixture(t)
	ctx := context.Background()
	tfs, err := repo.TreeFS(ctx, "main")
	if err != nil {
		t.Fatal(err)
	}
	commit, _ := repo.Commit(ctx, "main")
	if tfs.Commit().SHA != commit.SHA {
		t.Errorf("Commit() = %s, want %s", tfs.Commit().SHA, commit.SHA)
	}
	st, _ := tfs.Stat("ci/a.yml")
	if !st.ModTime().Equal(commit.CommittedAt) {
		t.Errorf("ModTime = %v, want the commit date %v", st.ModTime(), commit.CommittedAt)
	}
	f, _ := tfs.Open("ci/a.yml")
	if b, err := io.ReadAll(f); err != nil || string(b) != "a: 1\n" {
		t.Errorf("read %q, %v", b, err)
	}
	f.Close()
	tfs.Close()
	if _, err := tfs.ReadFile("ci/b.yaml"); err == nil {
		t.Error("ReadFile after Close succeeded")
	}
	if _, err := tfs.Stat("ci/b.yaml"); err != nil {
		t.Errorf("Stat after Close = %v; metadata stays readable", err)
	}
	if err := tfs.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestTreeFSOfAnUnknownRevision(t *testing.T) {
	repo, _, _ := seededRepo(t, map[string]string{"a": "a"})
	if _, err := repo.TreeFS(context.Background(), "nope"); !errors.Is(err, ErrUnknownRevision) {
		t.Errorf("TreeFS(nope) = %v, want ErrUnknownRevision", err)
	}
}
