package sources

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/protocol/protocoltest"
	"github.com/kiln-ci/kiln/internal/runner/trace"
)

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// repoServer serves a bare repository group/project.git with two commits behind the
// fake coordinator's 401 challenge and returns the server, a running job and the shas.
func repoServer(t *testing.T) (*protocoltest.Server, *jobspec.Job, []string) {
	t.Helper()
	root := t.TempDir()
	work := t.TempDir()
	git(t, work, "init", "-q", "-b", "main")
	os.WriteFile(filepath.Join(work, "README.md"), []byte("one\n"), 0o644)
	git(t, work, "add", ".")
	git(t, work, "commit", "-q", "-m", "first")
	first := git(t, work, "rev-parse", "HEAD")
	os.WriteFile(filepath.Join(work, "README.md"), []byte("two\n"), 0o644)
	os.WriteFile(filepath.Join(work, ".gitignore"), []byte("build/\n"), 0o644)
	git(t, work, "add", ".")
	git(t, work, "commit", "-q", "-m", "second")
	second := git(t, work, "rev-parse", "HEAD")
	bare := filepath.Join(root, "group", "project.git")
	git(t, root, "clone", "-q", "--bare", work, bare)
	git(t, bare, "update-ref", "refs/pipelines/7", second)

	s := protocoltest.New(t, protocoltest.Options{GitRoot: root})
	r := s.AddRunner("glrt-git")
	id := s.Enqueue(jobspec.Job{})
	c, _ := protocol.NewClient(protocol.ClientConfig{URL: s.URL})
	job, err := c.RequestJob(context.Background(), protocol.JobRequest{Token: r.Token})
	if err != nil || job == nil || job.ID != id {
		t.Fatalf("RequestJob: %v", err)
	}
	u := strings.Replace(s.URL, "http://", "http://gitlab-ci-token:"+job.Token+"@", 1) + "/group/project.git"
	job.GitInfo = jobspec.GitInfo{RepoURL: u, Ref: "main", Sha: second, RefType: "branch",
		Refspecs: []string{"+refs/pipelines/7:refs/pipelines/7", "+refs/heads/*:refs/remotes/origin/*"}}
	return s, job, []string{first, second}
}

func getSources(t *testing.T, job *jobspec.Job, vars jobspec.Variables, dir, tmp string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	log := trace.NewLog(&out, trace.LogConfig{Limit: -1}) // no masking: the token must not appear at all
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := Git{UserAgent: "kiln-test"}.Get(ctx, Request{Job: job, Vars: vars, Dir: dir, TmpDir: tmp, Log: log})
	log.Finish("")
	return out.String(), err
}

func TestGitFetchAuthenticatesAfterThe401AndKeepsTheTokenOutOfGitConfigAndTrace(t *testing.T) {
	s, job, shas := repoServer(t)
	job.AllowGitFetch = true
	dir := filepath.Join(t.TempDir(), "group", "project")
	tmp := t.TempDir()
	out, err := getSources(t, job, nil, dir, tmp)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "README.md")); string(b) != "two\n" {
		t.Errorf("README.md = %q", b)
	}
	if head := git(t, dir, "rev-parse", "HEAD"); head != shas[1] {
		t.Errorf("HEAD = %s, want %s", head, shas[1])
	}
	cfg, _ := os.ReadFile(filepath.Join(dir, ".git", "config"))
	if bytes.Contains(cfg, []byte(job.Token)) || !bytes.Contains(cfg, []byte(extConfigName)) {
		t.Errorf(".git/config holds the token or lacks the include:\n%s", cfg)
	}
	if git(t, dir, "config", "--file", ".git/config", "remote.origin.url") != s.URL+"/group/project.git" {
		t.Errorf("origin carries credentials")
	}
	if strings.Contains(out, job.Token) {
		t.Errorf("trace shows the job token:\n%s", out)
	}
	st, err := os.Stat(filepath.Join(tmp, extConfigName))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("credentials file: %v %v", st, err)
	}
	for _, want := range []string{"Fetching changes...", "Created fresh repository.", "Checking out " + shas[1][:8] + " as detached HEAD (ref is main)...", "Skipping Git submodules setup"} {
		if !strings.Contains(out, want) {
			t.Errorf("trace lacks %q:\n%s", want, out)
		}
	}
	var sawChallenge, sawAuth bool
	for _, r := range s.Requests() {
		if strings.HasSuffix(r.Path, "/info/refs") {
			if r.Header.Get("Authorization") == "" && r.Status == 401 {
				sawChallenge = true
			}
			if strings.HasPrefix(r.Header.Get("Authorization"), "Basic ") && r.Status == 200 {
				sawAuth = true
			}
			if ua := r.Header.Get("User-Agent"); !strings.Contains(ua, "kiln-test") {
				t.Errorf("git User-Agent = %q", ua)
			}
		}
	}
	if !sawChallenge || !sawAuth {
		t.Errorf("401 challenge seen %v, authenticated retry seen %v", sawChallenge, sawAuth)
	}
	if !bytes.Contains([]byte(git(t, dir, "for-each-ref")), []byte("refs/pipelines/7")) {
		t.Error("refspec refs/pipelines/7 was not fetched")
	}

	// A second fetch reuses the repository and cleans untracked files.
	os.WriteFile(filepath.Join(dir, "stray.txt"), []byte("x"), 0o644)
	job.GitInfo.Sha = shas[0]
	out, err = getSources(t, job, nil, dir, tmp)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if strings.Contains(out, "Created fresh repository.") {
		t.Error("fetch strategy recreated the repository")
	}
	if _, err := os.Stat(filepath.Join(dir, "stray.txt")); err == nil {
		t.Error("git clean -ffdx did not remove an untracked file")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "README.md")); string(b) != "one\n" {
		t.Errorf("README.md at the first commit = %q", b)
	}
}

func TestGitStrategiesAndVariables(t *testing.T) {
	_, job, shas := repoServer(t)
	job.AllowGitFetch = false // default strategy clone
	dir := filepath.Join(t.TempDir(), "p")
	tmp := t.TempDir()
	vars := jobspec.Variables{{Key: "GIT_DEPTH", Value: "1"}, {Key: "GIT_CLEAN_FLAGS", Value: "none"}}
	job.GitInfo.Refspecs = []string{"+refs/heads/main:refs/remotes/origin/main"}
	out, err := getSources(t, job, vars, dir, tmp)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "Fetching changes with git depth set to 1...") {
		t.Errorf("trace: %s", out)
	}
	if n := git(t, dir, "rev-list", "--count", "HEAD"); n != "1" {
		t.Errorf("depth 1 fetched %s commits", n)
	}
	os.WriteFile(filepath.Join(dir, "keep.txt"), []byte("x"), 0o644)
	job.GitInfo.Sha = shas[1]
	if out, err = getSources(t, job, jobspec.Variables{{Key: "GIT_STRATEGY", Value: "fetch"}, {Key: "GIT_CLEAN_FLAGS", Value: "none"}, {Key: "GIT_DEPTH", Value: "1"}}, dir, tmp); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "keep.txt")); err != nil {
		t.Error("GIT_CLEAN_FLAGS=none still cleaned")
	}
	if out, err = getSources(t, job, jobspec.Variables{{Key: "GIT_STRATEGY", Value: "clone"}}, dir, tmp); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "keep.txt")); err == nil {
		t.Error("clone kept a file from the previous checkout")
	}
	out, _ = getSources(t, job, jobspec.Variables{{Key: "GIT_CHECKOUT", Value: "false"}, {Key: "GIT_STRATEGY", Value: "clone"}}, dir, tmp)
	if !strings.Contains(out, "Skipping Git checkout") {
		t.Errorf("GIT_CHECKOUT=false: %s", out)
	}
	os.WriteFile(filepath.Join(dir, "left.txt"), []byte("x"), 0o644)
	out, _ = getSources(t, job, jobspec.Variables{{Key: "GIT_STRATEGY", Value: "none"}}, dir, tmp)
	if _, err := os.Stat(filepath.Join(dir, "left.txt")); err != nil || !strings.Contains(out, "Skipping Git repository setup") {
		t.Errorf("none strategy touched the directory: %v %s", err, out)
	}
	getSources(t, job, jobspec.Variables{{Key: "GIT_STRATEGY", Value: "empty"}}, dir, tmp)
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("empty strategy left %d entries", len(entries))
	}
	if _, err := getSources(t, job, jobspec.Variables{{Key: "GIT_STRATEGY", Value: "copy"}}, dir, tmp); err == nil || !strings.Contains(err.Error(), `"copy"`) {
		t.Errorf("unknown strategy: %v", err)
	}
}

func TestGitFailsClearlyWithAWrongToken(t *testing.T) {
	_, job, _ := repoServer(t)
	job.Token = "glcbt-not-a-valid-token"
	job.GitInfo.RepoURL = strings.Replace(job.GitInfo.RepoURL, job.GitInfo.RepoURL[strings.Index(job.GitInfo.RepoURL, "//")+2:strings.Index(job.GitInfo.RepoURL, "@")+1], "", 1)
	out, err := getSources(t, job, nil, filepath.Join(t.TempDir(), "p"), t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "git fetch") {
		t.Fatalf("error = %v\n%s", err, out)
	}
	if strings.Contains(err.Error(), job.Token) || strings.Contains(out, job.Token) {
		t.Error("the token appears in the error or the trace")
	}
}

func TestTreeCopiesAndCleanCopyDropsIgnoredFiles(t *testing.T) {
	src := t.TempDir()
	git(t, src, "init", "-q")
	os.WriteFile(filepath.Join(src, ".gitignore"), []byte("*.log\nbuilds/\n"), 0o644)
	os.WriteFile(filepath.Join(src, "main.go"), []byte("package main"), 0o644)
	os.WriteFile(filepath.Join(src, "debug.log"), []byte("noise"), 0o644)
	git(t, src, "add", "main.go", ".gitignore")
	os.WriteFile(filepath.Join(src, "new.go"), []byte("package main"), 0o644)
	dst := filepath.Join(src, "builds", "0", "project") // inside the tree: must not recurse
	for _, clean := range []bool{false, true} {
		var out bytes.Buffer
		log := trace.NewLog(&out, trace.LogConfig{})
		err := Tree{Dir: src, Clean: clean}.Get(context.Background(), Request{Job: &jobspec.Job{}, Dir: dst, TmpDir: t.TempDir(), Log: log})
		if err != nil {
			t.Fatalf("clean=%v: %v", clean, err)
		}
		for _, f := range []string{"main.go", "new.go", ".git/HEAD"} {
			if _, err := os.Stat(filepath.Join(dst, f)); err != nil {
				t.Errorf("clean=%v: %s missing", clean, f)
			}
		}
		_, err = os.Stat(filepath.Join(dst, "debug.log"))
		if clean == (err == nil) {
			t.Errorf("clean=%v: ignored debug.log present = %v", clean, err == nil)
		}
		if _, err := os.Stat(filepath.Join(dst, "builds")); err == nil {
			t.Errorf("clean=%v: the copy contains the builds directory", clean)
		}
	}
}
