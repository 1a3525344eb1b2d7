package script

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// run executes a generated script with each available shell and returns output and
// exit status per shell.
func run(t *testing.T, script string) map[string]struct {
	out  string
	code int
} {
	t.Helper()
	res := map[string]struct {
		out  string
		code int
	}{}
	for _, sh := range []string{"bash", "sh", "busybox"} {
		path, err := exec.LookPath(sh)
		if err != nil {
			continue
		}
		args := []string{"-c", script}
		if sh == "busybox" {
			args = append([]string{"sh"}, args...)
		}
		cmd := exec.Command(path, args...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "GREETING=hello"}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err = cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		res[sh] = struct {
			out  string
			code int
		}{out.String(), code}
	}
	if len(res) == 0 {
		t.Skip("no shell found")
	}
	return res
}

func TestCommandsEchoEachCommandAndStopAtTheFirstFailure(t *testing.T) {
	s := Commands([]string{`echo "$GREETING"`, "false", "echo never"}, Options{Dir: t.TempDir()})
	for sh, r := range run(t, s) {
		want := "\x1b[32;1m$ echo \"$GREETING\"\x1b[0;m\nhello\n\x1b[32;1m$ false\x1b[0;m\n"
		if r.out != want || r.code != 1 {
			t.Errorf("%s: output %q exit %d; want %q exit 1", sh, r.out, r.code, want)
		}
	}
}

func TestCommandsKeepTheFailingExitCode(t *testing.T) {
	for sh, r := range run(t, Commands([]string{"(exit 3)"}, Options{})) {
		if r.code != 3 {
			t.Errorf("%s: exit %d, want 3", sh, r.code)
		}
	}
	for sh, r := range run(t, Commands([]string{"exit 42"}, Options{})) {
		if r.code != 42 {
			t.Errorf("%s: exit %d, want 42", sh, r.code)
		}
	}
}

func TestCommandsFailOnAFailingPipelineStageWhereTheShellHasPipefail(t *testing.T) {
	r := run(t, Commands([]string{"false | cat", "echo after"}, Options{}))
	if b, ok := r["bash"]; ok && (b.code == 0 || strings.Contains(b.out, "after")) {
		t.Errorf("bash: a failing pipeline did not stop the script: %q exit %d", b.out, b.code)
	}
}

func TestMultiLineCommandsAndOddCharactersSurviveQuoting(t *testing.T) {
	cmds := []string{
		"if true; then\n  echo multi\nfi",
		`echo 'single '"'"'quoted'"'"''`,
		"printf '%s\\n' \"tab\there\"",
	}
	for sh, r := range run(t, Commands(cmds, Options{})) {
		if r.code != 0 {
			t.Errorf("%s: exit %d: %q", sh, r.code, r.out)
		}
		for _, want := range []string{
			"$ if true; then # collapsed multi-line command\x1b[0;m\nmulti\n",
			"single 'quoted'\n",
			"tab\there\n",
		} {
			if !strings.Contains(r.out, want) {
				t.Errorf("%s: output %q lacks %q", sh, r.out, want)
			}
		}
	}
}

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{"": "''", "a b": "'a b'", "it's": `'it'\''s'`} {
		if got := Quote(in); got != want {
			t.Errorf("Quote(%q) = %s, want %s", in, got, want)
		}
	}
}
