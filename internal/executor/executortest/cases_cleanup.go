package executortest

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func testCleanupAfterFailedPrepare(t *testing.T, s *suite) {
	spec := s.newSpec(t)
	spec.HostDir = filepath.Join(spec.HostDir, "does-not-exist") // Prepare must fail
	j := s.jobFor(t, spec)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := j.env.Prepare(ctx, &out); err == nil {
		t.Fatalf("Prepare with a missing job directory succeeded")
	}
	if _, _, err := j.run(ctx, "true\n"); err == nil {
		t.Errorf("Run after a failed Prepare succeeded")
	}
	for i := range 2 {
		if err := j.env.Cleanup(ctx); err != nil {
			t.Errorf("Cleanup #%d after a failed Prepare: %v", i+1, err)
		}
	}
	j.checkNoLeftovers()
}

func testCleanupWithoutPrepare(t *testing.T, s *suite) {
	j := s.newJob(t)
	for i := range 2 {
		if err := j.env.Cleanup(context.Background()); err != nil {
			t.Errorf("Cleanup #%d without Prepare: %v", i+1, err)
		}
	}
}

func testCleanupTwice(t *testing.T, s *suite) {
	j := s.newJob(t)
	j.prepare()
	j.mustRun("echo hello > greeting.txt\n")
	// Cleanup's own context, even a canceled job context, must not stop it.
	for i := range 2 {
		if err := j.env.Cleanup(context.Background()); err != nil {
			t.Errorf("Cleanup #%d: %v", i+1, err)
		}
	}
	j.checkNoLeftovers()
	if b, err := os.ReadFile(filepath.Join(j.spec.HostDir, "greeting.txt")); err != nil || string(b) != "hello\n" {
		t.Errorf("Cleanup touched the job directory, which the runner owns: greeting.txt = %q, %v", b, err)
	}
}

func testNoProcessLeft(t *testing.T, s *suite) {
	j := s.newJob(t)
	j.prepare()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// One background process with its own output, one still holding the step's output.
	res, out, err := j.run(ctx, `sleep 300 >/dev/null 2>&1 &
echo $! > quiet.pid
sleep 301 &
echo $! > holding-output.pid
echo done
`)
	if err != nil {
		t.Fatalf("Run with background processes: %v (did it wait for a process holding the output?)", err)
	}
	if res.ExitCode != 0 || string(out) != "done\n" {
		t.Errorf("Run = exit %d, output %q; want 0, %q", res.ExitCode, out, "done\n")
	}
	if err := j.env.Cleanup(context.Background()); err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	j.checkNoLeftovers()
	if s.target.HostPIDs {
		pids := readPIDs(t, filepath.Join(j.spec.HostDir, "quiet.pid"))
		pids = append(pids, readPIDs(t, filepath.Join(j.spec.HostDir, "holding-output.pid"))...)
		waitGone(t, pids)
	}
}

// readPIDs reads whitespace-separated process ids from a file a script wrote.
func readPIDs(t *testing.T, path string) []int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading pids the script wrote: %v", err)
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("%s: %q is not a pid", path, f)
		}
		pids = append(pids, pid)
	}
	return pids
}

// waitGone fails t unless every pid is gone (or a zombie) within ten seconds.
func waitGone(t *testing.T, pids []int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for alive(pid) {
			if time.Now().After(deadline) {
				stat, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
				t.Errorf("process %d (%q) is still running", pid, bytes.ReplaceAll(stat, []byte{0}, []byte{' '}))
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// alive reports whether pid runs: it exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || (b[i+2] != 'Z' && b[i+2] != 'X')
}
