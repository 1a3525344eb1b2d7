package localrun_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/executor"
	"github.com/kiln-ci/kiln/internal/executor/shell"
	"github.com/kiln-ci/kiln/internal/localrun"
	"github.com/kiln-ci/kiln/internal/testenv"
)

// gitRepo writes files into a new git repository (branch main, one commit) and
// returns its directory.
func gitRepo(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	commitAll(t, dir, "main", "First commit\n\nWith a description.")
	return dir
}

// commitAll makes dir a git repository on branch with every file committed.
func commitAll(t testing.TB, dir, branch, message string) {
	t.Helper()
	git(t, dir, "init", "-q", "-b", branch)
	git(t, dir, "add", "-A")
	git(t, dir, "-c", "user.name=Tester", "-c", "user.email=tester@example.invalid", "commit", "-q", "-m", message)
}

func git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_AUTHOR_DATE=2020-01-05T00:00:00Z", "GIT_COMMITTER_DATE=2020-01-05T00:00:00Z")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// shellExecutor is the real shell executor as kiln exec configures it.
func shellExecutor(t testing.TB) executor.Executor {
	return shell.New(shell.Config{AllowUnenforcedLimits: true, TempDir: t.TempDir()})
}

// hostEnv is what shell jobs start from in tests.
func hostEnv() []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "LANG=C.UTF-8"}
}

// run runs dir's pipeline with the shell executor and returns the result and the
// output (without colours).
func run(t testing.TB, dir string, tweak func(*localrun.Options)) (*localrun.Result, string) {
	t.Helper()
	res, out, err := tryRun(t, dir, tweak)
	if err != nil {
		t.Fatalf("kiln exec: %v\n%s", err, out)
	}
	return res, out
}

func tryRun(t testing.TB, dir string, tweak func(*localrun.Options)) (*localrun.Result, string, error) {
	t.Helper()
	out := &testenv.Buffer{}
	opts := localrun.Options{Dir: dir, Executor: shellExecutor(t), BaseEnvironment: hostEnv(),
		StateDir: filepath.Join(t.TempDir(), "state"), Output: out, Concurrency: 4}
	if tweak != nil {
		tweak(&opts)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p, err := localrun.New(ctx, opts)
	if err != nil {
		return nil, out.String(), err
	}
	defer p.Close()
	res, err := p.Run(ctx)
	return res, out.String(), err
}

// jobLines returns the output lines of job name (the text after its prefix).
func jobLines(out, name string) []string {
	return localrun.JobLines(out, name)
}
