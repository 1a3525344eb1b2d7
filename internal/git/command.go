package git

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// gitExec runs the git binary with an environment that ignores the host's system and
// global git configuration and any GIT_* variables of the server process, so that a
// repository behaves the same on every host.
type gitExec struct {
	path string   // absolute path of the git binary
	env  []string // environment for every git process
}

// minGitVersion: GIT_CONFIG_COUNT (per-process configuration) arrived in git 2.31.
var minGitVersion = [2]int{2, 31}

func newGitExec(ctx context.Context, binary string) (gitExec, error) {
	if binary == "" {
		binary = "git"
	}
	path, err := exec.LookPath(binary)
	if err != nil {
		return gitExec{}, fmt.Errorf("finding git binary %q: %w", binary, err)
	}
	g := gitExec{path: path, env: hermeticEnv(os.Environ())}
	out, err := g.output(ctx, "", nil, nil, "version")
	if err != nil {
		return gitExec{}, err
	}
	v := strings.TrimSpace(string(out))
	major, minor, ok := parseGitVersion(v)
	if !ok {
		return gitExec{}, fmt.Errorf("git %s: cannot parse version %q", path, v)
	}
	if major < minGitVersion[0] || major == minGitVersion[0] && minor < minGitVersion[1] {
		return gitExec{}, fmt.Errorf("git %s is %q; Kiln needs git %d.%d or newer", path, v, minGitVersion[0], minGitVersion[1])
	}
	return g, nil
}

// parseGitVersion reads "git version 2.39.5" (or "... 2.39.5.windows.1").
func parseGitVersion(s string) (major, minor int, ok bool) {
	f := strings.Fields(s)
	if len(f) < 3 {
		return 0, 0, false
	}
	parts := strings.Split(f[2], ".")
	if len(parts) < 2 {
		return 0, 0, false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	return major, minor, err1 == nil && err2 == nil
}

// hermeticEnv drops the caller's GIT_* variables (GIT_DIR in the server's environment
// must never redirect a command) and switches off system and global configuration.
func hermeticEnv(environ []string) []string {
	env := make([]string, 0, len(environ)+5)
	for _, kv := range environ {
		if strings.HasPrefix(kv, "GIT_") || strings.HasPrefix(kv, "LC_ALL=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_ATTR_NOSYSTEM=1",
		"GIT_TERMINAL_PROMPT=0",
		"LC_ALL=C",
	)
}

// command prepares git with args in dir (a repository directory, or "" for none).
func (g gitExec) command(ctx context.Context, dir string, extraEnv []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, g.path, args...)
	cmd.Dir = dir
	cmd.Env = append(append([]string(nil), g.env...), extraEnv...)
	return cmd
}

// output runs git and returns its standard output. A failure is a *commandError
// carrying git's exit status and the end of its standard error.
func (g gitExec) output(ctx context.Context, dir string, stdin io.Reader, extraEnv []string, args ...string) ([]byte, error) {
	cmd := g.command(ctx, dir, extraEnv, args...)
	cmd.Stdin = stdin
	var stdout bytes.Buffer
	stderr := tailBuffer{max: 2048}
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), newCommandError(args, err, stderr.String())
	}
	return stdout.Bytes(), nil
}

// commandError is a failed git command.
type commandError struct {
	subcommand string
	exitCode   int // -1 when git did not exit by itself
	stderr     string
	err        error
}

func newCommandError(args []string, err error, stderr string) *commandError {
	ce := &commandError{exitCode: -1, stderr: strings.TrimSpace(stderr), err: err}
	if len(args) > 0 {
		ce.subcommand = args[0]
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		ce.exitCode = exit.ExitCode()
	}
	return ce
}

func (e *commandError) Error() string {
	if e.stderr != "" {
		return fmt.Sprintf("git %s: %v: %s", e.subcommand, e.err, e.stderr)
	}
	return fmt.Sprintf("git %s: %v", e.subcommand, e.err)
}

func (e *commandError) Unwrap() error { return e.err }

// exitCode returns git's exit status in err, or -1.
func exitCode(err error) int {
	var ce *commandError
	if errors.As(err, &ce) {
		return ce.exitCode
	}
	return -1
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.buf) }
