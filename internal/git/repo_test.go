package git

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// seededRepo makes a repository with the history of a local work tree pushed to it.
func seededRepo(t *testing.T, files map[string]string) (*Repo, *client, string) {
	t.Helper()
	m := newTestManager(t)
	repo, err := m.Create(context.Background(), "group/project", CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t)
	wt := c.workTree(files)
	c.must(wt, "push", "--quiet", repo.Dir(), "main")
	return repo, c, wt
}

func TestResolveRefNamesCommits(t *testing.T) {
	ctx := context.Background()
	repo, c, wt := seededRepo(t, map[string]string{"a": "a"})
	head := c.must(wt, "rev-parse", "HEAD")
	c.must(wt, "tag", "-a", "-m", "annotated", "v1")
	c.must(wt, "tag", "light")
	c.must(wt, "push", "--quiet", "--tags", repo.Dir())

	for _, rev := range []string{"main", "refs/heads/main", "v1", "refs/tags/v1", "light", head, head[:8], "HEAD"} {
		got, err := repo.ResolveRef(ctx, rev)
		if err != nil || got != head {
			t.Errorf("ResolveRef(%q) = %q, %v; want %s", rev, got, err, head)
		}
	}
	for _, rev := range []string{"nope", "refs/heads/nope", strings.Repeat("e", 40)} {
		if _, err := repo.ResolveRef(ctx, rev); !errors.Is(err, ErrUnknownRevision) {
			t.Errorf("ResolveRef(%q) = %v, want ErrUnknownRevision", rev, err)
		}
	}
	for _, rev := range []string{"main~1", "--all", "main:a", ""} {
		if _, err := repo.ResolveRef(ctx, rev); !errors.Is(err, ErrInvalidRef) {
			t.Errorf("ResolveRef(%q) = %v, want ErrInvalidRef", rev, err)
		}
	}
}

func TestCommitCarriesWhatCICommitVariablesNeed(t *testing.T) {
	ctx := context.Background()
	repo, c, wt := seededRepo(t, map[string]string{"a": "a"})
	parent := c.must(wt, "rev-parse", "HEAD")
	msg := "Add the GPU job\n\nIt runs nvidia-smi on the\nGPU machine type.\n"
	if err := os.WriteFile(filepath.Join(wt, "b"), []byte("b"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.must(wt, "add", "b")
	cmd := []string{"commit", "--quiet", "--cleanup=verbatim", "-m", msg}
	if out, err := c.run(wt, []string{
		"GIT_AUTHOR_NAME=Ada Lovelace", "GIT_AUTHOR_EMAIL=ada@example.com", "GIT_AUTHOR_DATE=2024-02-03T04:05:06+01:00",
		"GIT_COMMITTER_DATE=2024-02-03T10:00:00+02:00",
	}, cmd...); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	c.must(wt, "push", "--quiet", repo.Dir(), "main")
	sha := c.must(wt, "rev-parse", "HEAD")

	got, err := repo.Commit(ctx, "main")
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string][2]string{
		"SHA":         {got.SHA, sha},
		"ParentSHA":   {got.ParentSHA(), parent},
		"Message":     {got.Message, msg},
		"Title":       {got.Title(), "Add the GPU job"},
		"Description": {got.Description(), "\nIt runs nvidia-smi on the\nGPU machine type."},
		"Author":      {got.Author(), "Ada Lovelace <ada@example.com>"},
		"Timestamp":   {got.Timestamp(), "2024-02-03T08:00:00Z"},
		"Committer":   {got.CommitterName + " <" + got.CommitterEmail + ">", "Test Committer <committer@example.com>"},
		"AuthoredAt":  {got.AuthoredAt.Format(time.RFC3339), "2024-02-03T04:05:06+01:00"},
	}
	for name, v := range checks {
		if v[0] != v[1] {
			t.Errorf("%s = %q, want %q", name, v[0], v[1])
		}
	}
	if _, err := repo.Commit(ctx, "missing"); !errors.Is(err, ErrUnknownRevision) {
		t.Errorf("Commit(missing) = %v, want ErrUnknownRevision", err)
	}
}

func TestCommitTitleAndDescriptionFollowGitLab(t *testing.T) {
	long := strings.Repeat("x", 100)
	for _, tc := range []struct{ message, title, description string }{
		{"One line", "One line", ""},
		{"One line\n", "One line", ""},
		{"Title\n\nBody\n", "Title", "\nBody"},
		{"Title\nBody\n\n", "Title", "Body\n"},
		{"Title\r\nBody\r\n", "Title", "Body"},
		{"", "--no commit message", "--no commit message"},
		{"  \n", "--no commit message", "--no commit message"},
		{long + "\nrest\n", long, long + "\nrest\n"},
		{strings.Repeat("é", 99) + "\nrest", strings.Repeat("é", 99), "rest"},
	} {
		c := Commit{Message: tc.message}
		if got := c.Title(); got != tc.title {
			t.Errorf("Title(%q) = %q, want %q", tc.message, got, tc.title)
		}
		if got := c.Description(); got != tc.description {
			t.Errorf("Description(%q) = %q, want %q", tc.message, got, tc.description)
		}
	}
}

func TestParseCommitRefusesMalformedObjects(t *testing.T) {
	for _, raw := range []string{
		"author A <a@x> 1 +0000\n\nmsg",                    // no tree
		"tree t\nauthor A a@x 1 +0000\n\nmsg",              // no <email>
		"tree t\nauthor A <a@x>\n\nmsg",                    // no date
		"tree t\ncommitter A <a@x> yesterday +0000\n\nmsg", // bad date
		"tree t\ncommitter A <a@x> 1700000000 +01\n\nmsg",  // bad zone
	} {
		if _, err := parseCommit("sha", []byte(raw)); err == nil {
			t.Errorf("parseCommit(%q) succeeded", raw)
		}
	}
	c, err := parseCommit("sha", []byte("tree t\nparent p1\nparent p2\nauthor A B <a@x> 1700000000 -0130\ncommitter C <c@x> 1700000000 +0000\ngpgsig -----BEGIN\n line\n\nmsg\xff\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.ParentSHAs, []string{"p1", "p2"}) || c.AuthorName != "A B" || c.Message != "msg\uFFFD\n" {
		t.Errorf("parsed %+v", c)
	}
	if _, off := c.AuthoredAt.Zone(); off != -(90 * 60) {
		t.Errorf("author zone offset = %d, want -5400", off)
	}
}

func TestReadFileAtACommit(t *testing.T) {
	ctx := context.Background()
	repo, c, wt := seededRepo(t, map[string]string{".gitlab-ci.yml": "job: {script: [true]}\n", "ci/inc.yml": "x: 1\n"})
	first := c.must(wt, "rev-parse", "HEAD")
	c.commit(wt, "change", map[string]string{".gitlab-ci.yml": "changed\n"})
	c.must(wt, "push", "--quiet", repo.Dir(), "main")

	for _, tc := range []struct{ rev, path, want string }{
		{"main", ".gitlab-ci.yml", "changed\n"},
		{first, ".gitlab-ci.yml", "job: {script: [true]}\n"},
		{"main", "ci/inc.yml", "x: 1\n"},
	} {
		got, err := repo.ReadFile(ctx, tc.rev, tc.path)
		if err != nil || string(got) != tc.want {
			t.Errorf("ReadFile(%s, %s) = %q, %v; want %q", tc.rev, tc.path, got, err, tc.want)
		}
	}
	if _, err := repo.ReadFile(ctx, "main", "missing.yml"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
	if _, err := repo.ReadFile(ctx, "nope", ".gitlab-ci.yml"); !errors.Is(err, ErrUnknownRevision) {
		t.Errorf("unknown revision: %v, want ErrUnknownRevision", err)
	}
	if _, err := repo.ReadFile(ctx, "main", "ci"); err == nil || !strings.Contains(err.Error(), "is a tree") {
		t.Errorf("directory: %v, want an error saying it is a tree", err)
	}
	for _, p := range []string{"../outside", "/etc/passwd", "./x", "ci/../x", "", ".", "a\nb"} {
		if _, err := repo.ReadFile(ctx, "main", p); !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("ReadFile(%q) = %v, want fs.ErrInvalid", p, err)
		}
	}
}

func TestChangedFilesBetweenCommits(t *testing.T) {
	ctx := context.Background()
	repo, c, wt := seededRepo(t, map[string]string{"keep": "k", "edit": "1", "gone": "g", "old/name": "n"})
	before := c.must(wt, "rev-parse", "HEAD")
	c.must(wt, "rm", "--quiet", "gone")
	c.must(wt, "mv", "old/name", "renamed")
	after := c.commit(wt, "change", map[string]string{"edit": "2", "added/file": "a"})
	c.must(wt, "push", "--quiet", repo.Dir(), "main")

	got, err := repo.ChangedFiles(ctx, before, after)
	want := []string{"added/file", "edit", "gone", "old/name", "renamed"}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("ChangedFiles = %v, %v; want %v", got, err, want)
	}
	if got, err := repo.ChangedFiles(ctx, after, after); err != nil || len(got) != 0 {
		t.Errorf("no change = %v, %v", got, err)
	}
	if _, err := repo.ChangedFiles(ctx, ZeroSHA, after); !errors.Is(err, ErrNoBase) {
		t.Errorf("zero before = %v, want ErrNoBase", err)
	}
	if _, err := repo.ChangedFiles(ctx, strings.Repeat("e", 40), after); !errors.Is(err, ErrUnknownRevision) {
		t.Errorf("unknown before = %v, want ErrUnknownRevision", err)
	}
}

func TestUpdateAndDeleteRefsWithCompareAndSwap(t *testing.T) {
	ctx := context.Background()
	repo, c, wt := seededRepo(t, map[string]string{"a": "a"})
	one := c.must(wt, "rev-parse", "HEAD")
	two := c.commit(wt, "two", map[string]string{"a": "b"})
	c.must(wt, "push", "--quiet", repo.Dir(), "main")

	if err := repo.UpdateRef(ctx, "refs/pipelines/7", one, ZeroSHA); err != nil {
		t.Fatal(err)
	}
	if err := repo.UpdateRef(ctx, "refs/pipelines/7", two, ZeroSHA); !errors.Is(err, ErrRefChanged) {
		t.Errorf("create over an existing ref = %v, want ErrRefChanged", err)
	}
	if err := repo.UpdateRef(ctx, "refs/pipelines/7", two, two); !errors.Is(err, ErrRefChanged) {
		t.Errorf("update with a wrong old value = %v, want ErrRefChanged", err)
	}
	if got, _ := repo.ResolveRef(ctx, "refs/pipelines/7"); got != one {
		t.Errorf("refused updates moved the ref to %s", got)
	}
	if err := repo.UpdateRef(ctx, "refs/pipelines/7", two, one); err != nil {
		t.Fatal(err)
	}
	if err := repo.UpdateRef(ctx, "refs/pipelines/7", one, ""); err != nil {
		t.Fatal(err)
	}
	if err := repo.DeleteRef(ctx, "refs/pipelines/7", two); !errors.Is(err, ErrRefChanged) {
		t.Errorf("delete with a wrong old value = %v, want ErrRefChanged", err)
	}
	if err := repo.DeleteRef(ctx, "refs/pipelines/7", one); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.ResolveRef(ctx, "refs/pipelines/7"); !errors.Is(err, ErrUnknownRevision) {
		t.Errorf("deleted ref still resolves: %v", err)
	}
	if err := repo.DeleteRef(ctx, "refs/pipelines/7", ""); err != nil {
		t.Errorf("deleting a missing ref = %v, want nil", err)
	}

	for _, tc := range []struct{ ref, sha, old string }{
		{"pipelines/7", one, ""},
		{"refs/pipelines/a..b", one, ""},
		{"refs/pipelines/8", "main", ""},
		{"refs/pipelines/8", ZeroSHA, ""},
		{"refs/pipelines/8", one, "main"},
	} {
		if err := repo.UpdateRef(ctx, tc.ref, tc.sha, tc.old); !errors.Is(err, ErrInvalidRef) {
			t.Errorf("UpdateRef(%q, %q, %q) = %v, want ErrInvalidRef", tc.ref, tc.sha, tc.old, err)
		}
	}
	if err := repo.UpdateRef(ctx, "refs/pipelines/9", strings.Repeat("e", 40), ""); err == nil {
		t.Error("UpdateRef to a missing object succeeded")
	}
}

func TestBranchesAndTagsAreListed(t *testing.T) {
	ctx := context.Background()
	repo, c, wt := seededRepo(t, map[string]string{"a": "a"})
	head := c.must(wt, "rev-parse", "HEAD")
	c.must(wt, "branch", "feature/x")
	c.must(wt, "tag", "-a", "-m", "annotated", "v2")
	c.must(wt, "tag", "v1")
	c.must(wt, "push", "--quiet", repo.Dir(), "feature/x", "v1", "v2")
	tagObject := c.must(wt, "rev-parse", "v2")

	branches, err := repo.Branches(ctx)
	wantBranches := []Ref{
		{Name: "feature/x", FullName: "refs/heads/feature/x", SHA: head},
		{Name: "main", FullName: "refs/heads/main", SHA: head},
	}
	if err != nil || !slices.Equal(branches, wantBranches) {
		t.Errorf("Branches() = %+v, %v\nwant %+v", branches, err, wantBranches)
	}
	tags, err := repo.Tags(ctx)
	wantTags := []Ref{
		{Name: "v1", FullName: "refs/tags/v1", SHA: head},
		{Name: "v2", FullName: "refs/tags/v2", SHA: head, TagSHA: tagObject},
	}
	if err != nil || !slices.Equal(tags, wantTags) {
		t.Errorf("Tags() = %+v, %v\nwant %+v", tags, err, wantTags)
	}
}

func TestCreateFromDirMakesOneCommitByTheConfiguredAuthor(t *testing.T) {
	ctx := context.Background()
	m := newTestManager(t)
	src := t.TempDir()
	for p, content := range map[string]string{
		".gitlab-ci.yml": "gpu-job:\n  script: [nvidia-smi]\n",
		"train/train.py": "print('hi')\n",
		".gitignore":     "*.log\n",
		"debug.log":      "ignored\n",
		"scripts/run.sh": "#!/bin/sh\n",
	} {
		full := filepath.Join(src, filepath.FromSlash(p))
		os.MkdirAll(filepath.Dir(full), 0o755)
		os.WriteFile(full, []byte(content), 0o644)
	}
	os.Chmod(filepath.Join(src, "scripts/run.sh"), 0o755)
	when := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

	repo, sha, err := m.CreateFromDir(ctx, "demo/examples", src, InitialCommit{
		Branch: "main", Message: "Import examples", AuthorName: "Kiln Demo", AuthorEmail: "demo@kiln.invalid", Time: when,
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := repo.Commit(ctx, "main")
	if err != nil {
		t.Fatal(err)
	}
	if c.SHA != sha || c.Author() != "Kiln Demo <demo@kiln.invalid>" || c.CommitterEmail != "demo@kiln.invalid" ||
		c.Title() != "Import examples" || !c.CommittedAt.Equal(when) || len(c.ParentSHAs) != 0 {
		t.Errorf("commit = %+v", c)
	}
	tfs, err := repo.TreeFS(ctx, "main")
	if err != nil {
		t.Fatal(err)
	}
	defer tfs.Close()
	var files []string
	fs.WalkDir(tfs, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if want := []string{".gitignore", ".gitlab-ci.yml", "scripts/run.sh", "train/train.py"}; !slices.Equal(files, want) {
		t.Errorf("imported %v, want %v", files, want)
	}
	if st, _ := tfs.Stat("scripts/run.sh"); st == nil || st.Mode().Perm() != 0o755 {
		t.Errorf("run.sh lost its executable bit: %v", st)
	}
	if b, _ := repo.DefaultBranch(ctx); b != "main" {
		t.Errorf("default branch %q", b)
	}

	if _, _, err := m.CreateFromDir(ctx, "demo/examples", src, InitialCommit{AuthorName: "a", AuthorEmail: "b"}); !errors.Is(err, ErrExists) {
		t.Errorf("importing over an existing project = %v, want ErrExists", err)
	}
	if _, _, err := m.CreateFromDir(ctx, "demo/other", src, InitialCommit{}); err == nil {
		t.Error("import without an author succeeded")
	}
	if _, _, err := m.CreateFromDir(ctx, "demo/other", filepath.Join(src, "missing"), InitialCommit{AuthorName: "a", AuthorEmail: "b"}); err == nil {
		t.Error("import of a missing directory succeeded")
	}
	if _, err := m.Open("demo/other"); !errors.Is(err, ErrNotFound) {
		t.Errorf("failed imports left a repository: %v", err)
	}
}
