package demo

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// pushRequest is one push of a directory's files to a branch of a hosted repository.
type pushRequest struct {
	git     string // the git program
	remote  string // the repository's HTTP URL, without credentials
	user    string
	token   string
	dir     string
	branch  string
	message string
}

// push commits the files of r.dir (as `git add --all` sees them: its .gitignore is
// honoured) on top of r.branch of the remote repository, or as its first commit when
// the branch does not exist, pushes the commit and returns its SHA. A directory
// unchanged since the last push still gets a commit, so every push makes a pipeline.
//
// The credentials reach git as an HTTP Basic header through its environment
// (GIT_CONFIG_*), never in a URL or an argument, so neither a process list nor an
// error shows them.
func push(ctx context.Context, r pushRequest) (string, error) {
	abs, err := filepath.Abs(r.dir)
	if err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp("", "kiln-demo-push-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	g := gitRunner{git: r.git, env: pushEnv(r.user, r.token)}
	gitDir := "--git-dir=" + filepath.Join(tmp, ".git")
	workTree := "--work-tree=" + abs
	steps := [][]string{{"init", "--quiet", tmp}, {gitDir, "symbolic-ref", "HEAD", "refs/heads/" + r.branch}}
	for _, s := range steps {
		if _, err := g.run(ctx, tmp, s...); err != nil {
			return "", err
		}
	}
	ref := "refs/heads/" + r.branch
	heads, err := g.run(ctx, tmp, gitDir, "ls-remote", r.remote, ref)
	if err != nil {
		return "", err
	}
	if strings.TrimSpace(heads) != "" {
		if _, err := g.run(ctx, tmp, gitDir, "fetch", "--quiet", "--update-head-ok", r.remote, "+"+ref+":"+ref); err != nil {
			return "", err
		}
	}
	// The index starts empty, so the commit's tree is exactly the directory's files.
	if _, err := g.run(ctx, abs, gitDir, workTree, "add", "--all", "--", "."); err != nil {
		return "", err
	}
	if _, err := g.run(ctx, abs, gitDir, workTree, "commit", "--quiet", "--allow-empty", "--no-verify", "-m", r.message); err != nil {
		return "", err
	}
	sha, err := g.run(ctx, tmp, gitDir, "rev-parse", "HEAD")
	if err != nil {
		return "", err
	}
	if _, err := g.run(ctx, tmp, gitDir, "push", "--quiet", r.remote, "HEAD:"+ref); err != nil {
		return "", err
	}
	return strings.TrimSpace(sha), nil
}

// pushEnv is git's environment for the push: the caller's without git's own
// variables (a GIT_DIR or GIT_TRACE_CURL of the caller's must not apply), no system
// or global configuration, no prompts, the demo's identity and the credentials.
func pushEnv(user, token string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_") {
			env = append(env, kv)
		}
	}
	basic := base64.StdEncoding.EncodeToString([]byte(user + ":" + token))
	return append(env,
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull, "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=Kiln demo", "GIT_AUTHOR_EMAIL=demo@kiln.invalid",
		"GIT_COMMITTER_NAME=Kiln demo", "GIT_COMMITTER_EMAIL=demo@kiln.invalid",
		"GIT_CONFIG_COUNT=2",
		"GIT_CONFIG_KEY_0=http.extraHeader", "GIT_CONFIG_VALUE_0=Authorization: Basic "+basic,
		"GIT_CONFIG_KEY_1=init.defaultBranch", "GIT_CONFIG_VALUE_1=main",
	)
}

// gitRunner runs git with a fixed environment.
type gitRunner struct {
	git string
	env []string
}

// run runs git in dir and returns its standard output; a failure carries the
// command (without its environment) and the end of git's standard error.
func (g gitRunner) run(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, g.git, args...)
	cmd.Dir, cmd.Env = dir, g.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 2000 {
			msg = "…" + msg[len(msg)-2000:]
		}
		return "", fmt.Errorf("git %s: %w: %s", gitVerb(args), err, msg)
	}
	return stdout.String(), nil
}

// gitVerb is the git command a list of arguments runs, for messages.
func gitVerb(args []string) string {
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			return a
		}
	}
	return strings.Join(args, " ")
}
