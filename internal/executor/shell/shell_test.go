package shell_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/executor"
	"github.com/kiln-ci/kiln/internal/executor/executortest"
	"github.com/kiln-ci/kiln/internal/executor/shell"
)

func TestConformance(t *testing.T) {
	tmp := t.TempDir()
	ex := shell.New(shell.Config{TempDir: tmp})
	executortest.Run(t, executortest.Target{
		NewEnvironment: func(t *testing.T, spec executor.Spec) executor.Environment {
			env, err := ex.NewEnvironment(spec)
			if err != nil {
				t.Fatalf("NewEnvironment: %v", err)
			}
			return env
		},
		Leftovers: func(t *testing.T, spec executor.Spec) []string {
			left, _ := filepath.Glob(filepath.Join(tmp, "kiln-shell-"+strconv.FormatInt(spec.JobID, 10)+"-*"))
			return left
		},
		HostPIDs: true,
	})
}

// prepared returns a prepared environment for a fresh job directory.
func prepared(t *testing.T, cfg shell.Config, inject *executor.Devices) (*shell.Environment, string) {
	t.Helper()
	dir := t.TempDir()
	env, err := shell.New(cfg).NewEnvironment(executor.Spec{JobID: 1, RunnerID: "r", HostDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	e := env.(*shell.Environment)
	if inject != nil {
		if err := e.InjectDevices(*inject); err != nil {
			t.Fatalf("InjectDevices: %v", err)
		}
	}
	if err := e.Prepare(context.Background(), &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Cleanup(context.Background()) })
	return e, dir
}

func run(t *testing.T, e executor.Environment, script string, env ...string) (executor.Result, string) {
	t.Helper()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := e.Run(ctx, executor.Command{Name: "step_script", Script: script, Env: env, Output: &out})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	return res, out.String()
}

func TestBackgroundProcessesDieWithTheirStep(t *testing.T) {
	e, dir := prepared(t, shell.Config{}, nil)
	run(t, e, "sleep 300 >/dev/null 2>&1 &\necho $! > bg.pid\n")
	pid := readPID(t, filepath.Join(dir, "bg.pid"))
	waitGone(t, pid)
}

func TestProcessThatLeftTheGroupCannotHangRun(t *testing.T) {
	if _, err := os.Stat("/usr/bin/setsid"); err != nil {
		t.Skip("setsid (util-linux) is not installed")
	}
	e, dir := prepared(t, shell.Config{}, nil)
	// setsid puts sleep in a new session and process group, out of reach of a group
	// kill, but it still holds the step's output pipe.
	started := time.Now()
	res, out := run(t, e, "setsid sleep 300 &\necho $! > escaped.pid\necho done\n")
	if res.ExitCode != 0 || out != "done\n" {
		t.Errorf("Run = exit %d, %q", res.ExitCode, out)
	}
	if took := time.Since(started); took > 30*time.Second {
		t.Errorf("Run waited %v for a process holding its output", took)
	}
	waitGone(t, readPID(t, filepath.Join(dir, "escaped.pid")))
}

func TestInjectedDeviceEnvOverridesJobVariables(t *testing.T) {
	e, _ := prepared(t, shell.Config{}, &executor.Devices{
		IDs: []string{"GPU-1"},
		Env: []string{"CUDA_VISIBLE_DEVICES=GPU-1", "NVIDIA_VISIBLE_DEVICES=GPU-1"},
	})
	_, out := run(t, e, `echo "$CUDA_VISIBLE_DEVICES $NVIDIA_VISIBLE_DEVICES $OTHER"`,
		"CUDA_VISIBLE_DEVICES=all", "OTHER=kept")
	if out != "GPU-1 GPU-1 kept\n" {
		t.Errorf("script sees %q, want the leased device only", out)
	}
}

func TestInjectDevicesRefusesNodesAndMounts(t *testing.T) {
	for name, d := range map[string]executor.Devices{
		"nodes":    {IDs: []string{"GPU-1"}, Nodes: []executor.DeviceNode{{Path: "/dev/nvidia0", HostPath: "/dev/null"}}},
		"mounts":   {IDs: []string{"GPU-1"}, Mounts: []executor.Mount{{HostPath: "/usr/lib/x", Path: "/usr/lib/x"}}},
		"requests": {IDs: []string{"GPU-1"}, Requests: []executor.DeviceRequest{{Driver: "nvidia", DeviceIDs: []string{"GPU-1"}}}},
	} {
		t.Run(name, func(t *testing.T) {
			env, err := shell.New(shell.Config{}).NewEnvironment(executor.Spec{HostDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			err = env.(executor.DeviceInjector).InjectDevices(d)
			if err == nil || !strings.Contains(err.Error(), name[:len(name)-1]) {
				t.Errorf("InjectDevices with %s: error %v, want one naming the %s", name, err, name)
			}
		})
	}
}

func TestNewEnvironmentRejectsBadSpecs(t *testing.T) {
	ex := shell.New(shell.Config{})
	for name, tc := range map[string]struct {
		spec executor.Spec
		want string
	}{
		"no job directory":       {executor.Spec{}, "no HostDir"},
		"relative job directory": {executor.Spec{HostDir: "builds/1"}, `"builds/1" is not an absolute path`},
		"limits":                 {executor.Spec{HostDir: "/tmp", Limits: executor.Limits{CPUs: 4, MemoryBytes: 15_000_000_000}}, "cannot enforce machine-type limits (cpus 4, memory 15 GB)"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ex.NewEnvironment(tc.spec)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestUnenforcedLimitsAreSaidInTheTrace(t *testing.T) {
	env, err := shell.New(shell.Config{AllowUnenforcedLimits: true}).NewEnvironment(executor.Spec{HostDir: t.TempDir(), Limits: executor.Limits{PIDs: 100}})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Cleanup(context.Background())
	var out bytes.Buffer
	if err := env.Prepare(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "does not enforce this machine type's limits (pids 100)") {
		t.Errorf("Prepare's output %q does not say the limits are not enforced", out.String())
	}
}

func TestConfiguredShellIsUsed(t *testing.T) {
	e, _ := prepared(t, shell.Config{Shell: "sh"}, nil)
	// bash sets BASH_VERSION; sh (dash here) does not.
	_, out := run(t, e, `echo "[${BASH_VERSION:-}]"`)
	if _, err := os.Stat("/bin/dash"); err == nil && out != "[]\n" {
		t.Errorf("configured sh, but the script ran in bash (%q)", out)
	}
}

func TestMalformedEnvIsRefusedWithoutItsValue(t *testing.T) {
	e, _ := prepared(t, shell.Config{}, nil)
	_, err := e.Run(context.Background(), executor.Command{Script: "true", Env: []string{"OK=1", "hunter2"}})
	if err == nil || !strings.Contains(err.Error(), "entry 1 is not KEY=VALUE") || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %v, want one naming entry 1 and not its content", err)
	}
}

func readPID(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
		if err != nil {
			return
		}
		if i := bytes.LastIndexByte(b, ')'); i > 0 && i+2 < len(b) && b[i+2] == 'Z' {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d still runs after its step ended", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
