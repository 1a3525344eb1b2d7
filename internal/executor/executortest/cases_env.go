package executortest

import (
	"bytes"
	"crypto/sha256"
	"hash"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// secretInRunner is a variable of the runner's own process that no script may see.
const secretInRunner = "KILN_SECRET_IN_RUNNER"

// shellOwned are variables a POSIX shell may export by itself.
var shellOwned = []string{"PWD", "OLDPWD", "SHLVL", "_"}

func testEnvironment(t *testing.T, s *suite) {
	secret := "runner-only-" + randomHex(8)
	t.Setenv(secretInRunner, secret)
	j := s.newJob(t)
	j.prepare()
	env := []string{
		"CI=true",
		"GREETING=hello world",
		"MULTILINE=line one\nline two\n",
		"EQUALS=a=b=c",
		"UNICODE=héllo ✓",
		"EMPTY=",
		"QUOTES=it's \"quoted\" $HOME `id` \\",
	}
	// /proc/$$/environ is the environment the executor gave the script's shell.
	j.mustRun("cat /proc/$$/environ > environ.bin\n", env...)
	raw, err := os.ReadFile(filepath.Join(j.spec.HostDir, "environ.bin"))
	if err != nil {
		t.Fatalf("reading the environment the script saw: %v", err)
	}
	if bytes.Contains(raw, []byte(secret)) {
		t.Errorf("the runner's %s reached the script", secretInRunner)
	}
	got := map[string]string{}
	for _, kv := range strings.Split(strings.TrimSuffix(string(raw), "\x00"), "\x00") {
		k, v, _ := strings.Cut(kv, "=")
		got[k] = v
	}
	for _, kv := range env {
		k, want, _ := strings.Cut(kv, "=")
		if v, ok := got[k]; !ok {
			t.Errorf("script lacks %s", k)
		} else if v != want {
			t.Errorf("script sees %s=%q, want %q", k, v, want)
		}
		delete(got, k)
	}
	for k := range got {
		if !slices.Contains(s.target.ExtraEnv, k) && !slices.Contains(shellOwned, k) {
			t.Errorf("script sees %s, which is neither in Command.Env nor defined by the environment", k)
		}
	}
}

func testWorkingDir(t *testing.T, s *suite) {
	j := s.newJob(t)
	j.prepare()
	_, out := j.mustRun("pwd\n")
	if want := j.env.GuestPath(j.spec.HostDir) + "\n"; string(out) != want {
		t.Errorf("scripts start in %q, want the job directory %q", out, want)
	}
}

func testFileVariable(t *testing.T, s *suite) {
	j := s.newJob(t)
	j.prepare()
	// The runner writes file-type variables under the job directory with mode 0600.
	dir := filepath.Join(j.spec.HostDir, "tmp")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "KUBECONFIG")
	content := "apiVersion: v1\nkind: Config # a file variable\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	_, out := j.mustRun(`cat "$KUBECONFIG"`+"\n", "KUBECONFIG="+j.env.GuestPath(path))
	if string(out) != content {
		t.Errorf("file variable read as %q, want %q", out, content)
	}
}

func testSharedJobDir(t *testing.T, s *suite) {
	j := s.newJob(t)
	j.prepare()
	j.mustRun("echo one > first.txt\nmkdir -p dir/sub\nprintf two > dir/sub/second.txt\n")
	if b, err := os.ReadFile(filepath.Join(j.spec.HostDir, "dir", "sub", "second.txt")); err != nil || string(b) != "two" {
		t.Errorf("the runner cannot read what a script wrote: dir/sub/second.txt = %q, %v", b, err)
	}
	if err := os.WriteFile(filepath.Join(j.spec.HostDir, "from-runner.txt"), []byte("three\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, out := j.mustRun("cat first.txt dir/sub/second.txt from-runner.txt\n")
	if want := "one\ntwothree\n"; string(out) != want {
		t.Errorf("second Run read %q, want %q", out, want)
	}
}

// hashWriter counts and hashes what is written to it.
type hashWriter struct {
	h hash.Hash
	n int64
}

func (w *hashWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return w.h.Write(p)
}

func testLargeOutput(t *testing.T, s *suite) {
	j := s.newJob(t)
	j.prepare()
	const size = 50 << 20
	data := make([]byte, size)
	rng := rand.NewChaCha8([32]byte{'k', 'i', 'l', 'n'})
	_, _ = rng.Read(data)
	if err := os.WriteFile(filepath.Join(j.spec.HostDir, "large.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	want := sha256.New()
	want.Write(data)
	want.Write([]byte("end\n"))

	got := &hashWriter{h: sha256.New()}
	res, err := j.env.Run(t.Context(), commandTo(got, "cat large.bin\necho end >&2\n"))
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("Run = exit %d, %v", res.ExitCode, err)
	}
	if got.n != size+4 || !bytes.Equal(got.h.Sum(nil), want.Sum(nil)) {
		t.Errorf("output differs: got %d bytes, want %d, identical content: %v", got.n, size+4, bytes.Equal(got.h.Sum(nil), want.Sum(nil)))
	}
}

func testBinaryOutput(t *testing.T, s *suite) {
	j := s.newJob(t)
	j.prepare()
	_, out := j.mustRun(`printf '\000\001\377\376 \033[31mred\033[0m \r\n\303\050 end'` + "\n")
	want := []byte{0, 1, 0xff, 0xfe, ' ', 0x1b, '[', '3', '1', 'm', 'r', 'e', 'd', 0x1b, '[', '0', 'm', ' ', '\r', '\n', 0xc3, 0x28, ' ', 'e', 'n', 'd'}
	if !bytes.Equal(out, want) {
		t.Errorf("binary output changed:\n got %q\nwant %q", out, want)
	}
}
