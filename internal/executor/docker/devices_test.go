package docker_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/kiln-ci/kiln/internal/executor"
	"github.com/kiln-ci/kiln/internal/executor/docker"
	"github.com/kiln-ci/kiln/internal/jobspec"
)

// The GPU tests inject CDI-resolved devices through the same interface; these check
// that each kind of edit reaches the container, with harmless stand-ins for devices.

func TestInjectedDevicesReachTheJob(t *testing.T) {
	cli := dockerClient(t, busybox)
	ex := newExecutor(t, docker.Config{})
	lib := filepath.Join(t.TempDir(), "libnvidia-ml.so.1")
	if err := os.WriteFile(lib, []byte("not really a driver\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := newSpec(t, busybox)
	j := open(t, cli, ex, spec)
	err := j.env.InjectDevices(executor.Devices{
		IDs:    []string{"GPU-0a1b"},
		Env:    []string{"NVIDIA_VISIBLE_DEVICES=GPU-0a1b", "CUDA_VISIBLE_DEVICES=GPU-0a1b"},
		Nodes:  []executor.DeviceNode{{Path: "/dev/nvidia0", HostPath: "/dev/null"}},
		Mounts: []executor.Mount{{HostPath: lib, Path: "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1", ReadOnly: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.env.Prepare(context.Background(), &j.out); err != nil {
		t.Fatal(err)
	}
	_, out := j.run(t, `[ -c /dev/nvidia0 ] && echo "device node"
cat /usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1
echo x 2>/dev/null > /usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1 || echo "read-only"
echo "$NVIDIA_VISIBLE_DEVICES $CUDA_VISIBLE_DEVICES"`, "CUDA_VISIBLE_DEVICES=all")
	if want := "device node\nnot really a driver\nread-only\nGPU-0a1b GPU-0a1b\n"; out != want {
		t.Errorf("inside the container:\n%s\nwant:\n%s", out, want)
	}
	if err := j.env.InjectDevices(executor.Devices{}); err == nil {
		t.Errorf("InjectDevices after Prepare succeeded")
	}
}

func TestInjectedDevicesReachServicesOnlyWhenAsked(t *testing.T) {
	cli := dockerClient(t, busybox)
	ex := newExecutor(t, docker.Config{})
	lib := filepath.Join(t.TempDir(), "libcuda.so.1")
	if err := os.WriteFile(lib, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, services := range []bool{false, true} {
		spec := newSpec(t, busybox)
		spec.Services = []jobspec.Image{{Name: busybox, Alias: "gpu-service", Command: []string{"sleep", "300"}}}
		j := open(t, cli, ex, spec)
		err := j.env.InjectDevices(executor.Devices{
			IDs:      []string{"GPU-0a1b"},
			Env:      []string{"NVIDIA_VISIBLE_DEVICES=GPU-0a1b"},
			Nodes:    []executor.DeviceNode{{Path: "/dev/nvidia0", HostPath: "/dev/null"}},
			Mounts:   []executor.Mount{{HostPath: lib, Path: "/usr/lib/libcuda.so.1", ReadOnly: true}},
			Services: services,
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := j.env.Prepare(context.Background(), &j.out); err != nil {
			t.Fatal(err)
		}
		f := filters.NewArgs(filters.Arg("label", docker.LabelJob+"="+strconv.FormatInt(spec.JobID, 10)), filters.Arg("label", docker.LabelRole+"=service"))
		ctrs, err := cli.ContainerList(context.Background(), container.ListOptions{Filters: f})
		if err != nil || len(ctrs) != 1 {
			t.Fatalf("service containers: %v, %v", ctrs, err)
		}
		st, err := cli.ContainerInspect(context.Background(), ctrs[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		got := []bool{
			slices.Contains(st.Config.Env, "NVIDIA_VISIBLE_DEVICES=GPU-0a1b"),
			len(st.HostConfig.Devices) == 1 && st.HostConfig.Devices[0].PathInContainer == "/dev/nvidia0",
			len(st.HostConfig.Mounts) == 1 && st.HostConfig.Mounts[0].Target == "/usr/lib/libcuda.so.1",
		}
		for i, what := range []string{"device variable", "device node", "device mount"} {
			if got[i] != services {
				t.Errorf("Devices.Services = %v, but the service has the %s: %v", services, what, got[i])
			}
		}
	}
}

func TestDeviceRequestsGoToTheRuntime(t *testing.T) {
	cli := dockerClient(t, busybox)
	j := open(t, cli, newExecutor(t, docker.Config{}), newSpec(t, busybox))
	if err := j.env.InjectDevices(executor.Devices{IDs: []string{"GPU-1"}, Requests: []executor.DeviceRequest{{Driver: "nvidia", DeviceIDs: []string{"GPU-1"}, Capabilities: []string{"gpu"}}}}); err != nil {
		t.Fatal(err)
	}
	if err := j.env.Prepare(context.Background(), &j.out); err != nil {
		t.Fatal(err)
	}
	// This daemon has no NVIDIA runtime: the request reaching it is what fails.
	_, err := j.env.Run(context.Background(), executor.Command{Name: "step_script", Script: "true", Output: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "could not select device driver") {
		t.Errorf("Run with a device request on a daemon without NVIDIA's runtime: error %v", err)
	}
}
