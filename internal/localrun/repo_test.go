package localrun

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseRemoteKeepsHostAndPathAndDropsCredentials(t *testing.T) {
	cases := []struct {
		remote, host, path string
		ok                 bool
	}{
		{"git@gitlab.com:gcl/test-project.git", "gitlab.com", "gcl/test-project", true},
		{"https://gitlab.com/group/sub/project.git", "gitlab.com", "group/sub/project", true},
		{"https://oauth2:glpat-s3cr3t-t0ken@gitlab.example:8443/team/app", "gitlab.example", "team/app", true},
		{"ssh://git@gitlab.example:2222/team/app.git", "gitlab.example", "team/app", true},
		{"gitlab.com:team/app", "gitlab.com", "team/app", true},
		{"/srv/git/app.git", "", "", false},
		{"../relative/app", "", "", false},
		{"https://gitlab.com/", "", "", false},
	}
	for _, c := range cases {
		host, p, ok := parseRemote(c.remote)
		if host != c.host || p != c.path || ok != c.ok {
			t.Errorf("parseRemote(%q) = %q, %q, %v; want %q, %q, %v", c.remote, host, p, ok, c.host, c.path, c.ok)
		}
		if strings.Contains(host+p, "s3cr3t") {
			t.Errorf("parseRemote(%q) kept the credentials", c.remote)
		}
	}
}

func TestSplitMessageIsGitLabsTitleAndDescription(t *testing.T) {
	title, desc := splitMessage("Fix the build\n\nIt broke on Tuesday.\nNow it does not.")
	if title != "Fix the build" || desc != "It broke on Tuesday.\nNow it does not." {
		t.Errorf("title %q, description %q", title, desc)
	}
	if title, desc := splitMessage("One line"); title != "One line" || desc != "" {
		t.Errorf("title %q, description %q", title, desc)
	}
}

func runGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestReadRepoKnowsTheCommitAsAPushWould(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ".gitlab-ci.yml"), []byte("job: {script: [true]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	runGit(t, dir, "init", "-q", "-b", "feature/x")
	runGit(t, dir, "add", "-A")
	runGit(t, dir, "-c", "user.name=Ada", "-c", "user.email=ada@example.invalid", "commit", "-q", "-m", "First\n\nBody")
	runGit(t, dir, "-c", "user.name=Ada", "-c", "user.email=ada@example.invalid", "commit", "-q", "--allow-empty", "-m", "Second")
	runGit(t, dir, "remote", "add", "origin", "https://user:pw@gitlab.example/team/app.git")
	r, err := ReadRepo(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if r.Ref != "feature/x" || r.Tag || len(r.SHA) != 40 || len(r.BeforeSHA) != 40 || r.Message != "Second" || r.Author != "Ada <ada@example.invalid>" {
		t.Errorf("repo = %+v", r)
	}
	if r.Path() != "team/app" || r.URL != "https://gitlab.example/team/app" || r.Host != "gitlab.example" {
		t.Errorf("project = %q at %q (%q)", r.Path(), r.URL, r.Host)
	}
	if r.Changed != nil {
		t.Errorf("changed = %q; origin has no such branch, so changes are unknown", r.Changed)
	}

	// A detached HEAD at a tag is a tag pipeline.
	runGit(t, dir, "-c", "user.name=Ada", "-c", "user.email=ada@example.invalid", "tag", "-a", "v1.0.0", "-m", "v1")
	runGit(t, dir, "checkout", "-q", "--detach", "v1.0.0")
	r, err = ReadRepo(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if r.Ref != "v1.0.0" || !r.Tag {
		t.Errorf("ref %q, tag %v; want the tag", r.Ref, r.Tag)
	}
}

func TestReadRepoRefusesWhatIsNotAGitWorkingTree(t *testing.T) {
	_, err := ReadRepo(context.Background(), t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "is not in a git working tree") {
		t.Errorf("error = %v", err)
	}
	dir := t.TempDir()
	runGit(t, dir, "init", "-q")
	if _, err := ReadRepo(context.Background(), dir); err == nil || !strings.Contains(err.Error(), "has no commit yet") {
		t.Errorf("error = %v", err)
	}
}
