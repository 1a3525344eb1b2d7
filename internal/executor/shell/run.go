package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kiln-ci/kiln/internal/executor"
)

// How long Run waits for the output pipe to reach end of file once the script's shell
// has exited and its process group was killed, before it kills any other process that
// still holds the pipe (one that left the group, e.g. with setsid), and then before it
// stops reading altogether.
const (
	pipeHolderWait = 100 * time.Millisecond
	pipeGiveUpWait = 2 * time.Second
)

// Run writes cmd.Script to a private file and runs it with the environment's shell in
// the job directory, in a new process group, with exactly cmd.Env (plus injected device
// variables). Stdout and stderr share one pipe, so cmd.Output sees them in write order.
//
// When the script's shell exits, whatever it left running in its process group is
// killed: nothing a step starts outlives it (as in a container). A process that left the
// group but still holds the output pipe is found by the pipe and killed too, so it can
// neither hang Run nor write into a later step. When ctx is done first, the group gets
// SIGTERM, then SIGKILL after cmd.Grace.
func (e *Environment) Run(ctx context.Context, cmd executor.Command) (executor.Result, error) {
	if err := executor.CheckEnv("Command.Env", cmd.Env); err != nil {
		return executor.Result{}, fmt.Errorf("running %s: %w", cmd.Name, err)
	}
	script, err := e.writeScript(cmd)
	if err != nil {
		return executor.Result{}, err
	}
	defer os.Remove(script)
	if err := ctx.Err(); err != nil {
		return executor.Result{ExitCode: -1}, fmt.Errorf("running %s: not started: %w", cmd.Name, context.Cause(ctx))
	}

	pr, pw, err := os.Pipe()
	if err != nil {
		return executor.Result{}, fmt.Errorf("running %s: making output pipe: %w", cmd.Name, err)
	}
	defer pr.Close()
	c := exec.Command(e.shell, script)
	c.Dir = e.spec.HostDir
	c.Env = executor.MergeEnv(cmd.Env, e.deviceEnv) // never nil: a nil Env would inherit the runner's
	c.Stdout, c.Stderr = pw, pw
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}

	started := time.Now()
	e.mu.Lock()
	if e.cleaned {
		e.mu.Unlock()
		pw.Close()
		return executor.Result{}, fmt.Errorf("running %s: environment was cleaned up", cmd.Name)
	}
	err = c.Start()
	if err == nil {
		e.running = c.Process.Pid
	}
	e.mu.Unlock()
	pw.Close() // the script's processes hold the only write ends now
	if err != nil {
		return executor.Result{}, fmt.Errorf("running %s: starting %s: %w", cmd.Name, e.shell, err)
	}
	pid := c.Process.Pid

	copied := make(chan error, 1)
	go func() { copied <- copyOutput(cmd.Output, pr) }()
	exited := make(chan error, 1)
	go func() { exited <- waitExitNoReap(pid) }()

	stopped := false
	var waitErr error
	select {
	case waitErr = <-exited:
	case <-ctx.Done():
		stopped = true
		waitErr = stop(pid, cmd.Grace, exited)
	}
	// The shell has exited but is not reaped yet, so its pid still names its group:
	// kill what the script left behind.
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	if waitErr != nil {
		_ = c.Process.Kill()
	}
	_ = c.Wait() // reaps; returns at once (no copying goroutines: the pipe is ours)
	e.mu.Lock()
	e.running = 0
	e.mu.Unlock()
	res := executor.Result{ExitCode: exitCode(c.ProcessState), Duration: time.Since(started)}

	outErr := drain(copied, pr)
	switch {
	case waitErr != nil:
		return res, fmt.Errorf("running %s: waiting for %s: %w", cmd.Name, e.shell, waitErr)
	case stopped:
		return res, fmt.Errorf("running %s: stopped: %w", cmd.Name, context.Cause(ctx))
	case outErr != nil:
		return res, fmt.Errorf("running %s: %w", cmd.Name, outErr)
	}
	return res, nil
}

// writeScript puts cmd.Script in a new 0600 file in the environment's script directory.
func (e *Environment) writeScript(cmd executor.Command) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.prepared {
		return "", fmt.Errorf("running %s: Run called before Prepare", cmd.Name)
	}
	if e.cleaned {
		return "", fmt.Errorf("running %s: environment was cleaned up", cmd.Name)
	}
	e.runs++
	name := fmt.Sprintf("%03d-%s.sh", e.runs, executor.SafeName(cmd.Name))
	path := filepath.Join(e.scriptDir, name)
	if err := os.WriteFile(path, []byte(cmd.Script), 0o600); err != nil {
		return "", fmt.Errorf("running %s: writing script: %w", cmd.Name, err)
	}
	return path, nil
}

// stop sends SIGTERM to the process group, waits up to grace for the shell to exit,
// then sends SIGKILL and waits for the exit.
func stop(pid int, grace time.Duration, exited <-chan error) error {
	if grace <= 0 {
		grace = executor.DefaultGrace
	}
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case err := <-exited:
		return err
	case <-t.C:
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	return <-exited
}

// waitExitNoReap waits until process pid has exited without reaping it, so that its
// pid (and so its process group id) cannot be reused while the group is killed.
func waitExitNoReap(pid int) error {
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// copyOutput copies the pipe to w until the pipe ends. When w fails, it keeps reading
// (so the script never blocks on a full pipe) and returns w's first error at the end.
func copyOutput(w io.Writer, r io.Reader) error {
	if w == nil {
		w = io.Discard
	}
	buf := make([]byte, 64<<10)
	var werr error
	for {
		n, err := r.Read(buf)
		if n > 0 && werr == nil {
			if _, werr = w.Write(buf[:n]); werr != nil {
				werr = fmt.Errorf("writing output: %w", werr)
			}
		}
		if err != nil {
			return werr
		}
	}
}

// drain waits for the output copy to reach end of file. If processes outside the
// killed group still hold the pipe, it kills them; if that does not help either, it
// closes the read end and stops waiting.
func drain(copied <-chan error, pr *os.File) error {
	select {
	case err := <-copied:
		return err
	case <-time.After(pipeHolderWait):
	}
	killPipeHolders(pr)
	select {
	case err := <-copied:
		return err
	case <-time.After(pipeGiveUpWait):
	}
	pr.Close()
	<-copied
	return errors.New("output pipe still open after the script ended; stopped reading it")
}

// killPipeHolders sends SIGKILL to every other process that has the pipe open.
func killPipeHolders(pr *os.File) {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(pr.Fd()), &st); err != nil {
		return
	}
	target := "pipe:[" + strconv.FormatUint(st.Ino, 10) + "]"
	self := os.Getpid()
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == self {
			continue
		}
		fds, err := os.ReadDir(filepath.Join("/proc", p.Name(), "fd"))
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if link, err := os.Readlink(filepath.Join("/proc", p.Name(), "fd", fd.Name())); err == nil && link == target {
				_ = syscall.Kill(pid, syscall.SIGKILL)
				break
			}
		}
	}
}

// exitCode is the shell's exit status, or -1 when a signal killed it.
func exitCode(ps *os.ProcessState) int {
	if ps == nil {
		return -1
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return -1
	}
	return ps.ExitCode()
}
