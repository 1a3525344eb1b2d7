package provider_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/kiln-ci/kiln/internal/executor/docker"
	"github.com/kiln-ci/kiln/internal/gpu/nvmltest"
	"github.com/kiln-ci/kiln/internal/gpu/provider"
	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/testenv"
)

const busybox = "kiln-test/busybox:latest" // built by scripts/test-images.sh

// harmlessSpec writes a CDI spec (testing.md) whose "GPUs" are harmless: device i sets
// KILN_TEST_DEVICE to its UUID, binds a small file of its own read-only at
// /run/kiln-device/<i>.txt and maps /dev/null to /dev/nvidia<i>; the spec as a whole
// sets KILN_TEST_COMMON.
func harmlessSpec(t *testing.T, uuids []string) string {
	t.Helper()
	dir, files := t.TempDir(), t.TempDir()
	var b strings.Builder
	b.WriteString("cdiVersion: 0.6.0\nkind: nvidia.com/gpu\ndevices:\n")
	for i, u := range uuids {
		f := filepath.Join(files, fmt.Sprintf("device-%d.txt", i))
		if err := os.WriteFile(f, []byte("device "+strconv.Itoa(i)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "  - name: %s\n    containerEdits:\n      env: [\"KILN_TEST_DEVICE=%s\"]\n"+
			"      deviceNodes:\n        - {path: /dev/nvidia%d, hostPath: /dev/null}\n"+
			"      mounts:\n        - {hostPath: %s, containerPath: /run/kiln-device/%d.txt, options: [ro, bind]}\n", u, u, i, f, i)
	}
	b.WriteString("containerEdits:\n  env: [KILN_TEST_COMMON=yes]\n")
	if err := os.WriteFile(filepath.Join(dir, "harmless.yaml"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// probe waits (on a directory shared by both jobs) until both jobs run, then prints
// what of the GPUs reached its container.
const probe = `mkdir "/barrier/$KILN_TEST_DEVICE"
i=0; while [ "$(ls /barrier | wc -l)" -lt 2 ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
echo "together=$(ls /barrier | wc -l)"
echo "device=$KILN_TEST_DEVICE common=$KILN_TEST_COMMON cuda=$CUDA_VISIBLE_DEVICES nvidia=$NVIDIA_VISIBLE_DEVICES"
for n in /dev/nvidia*; do [ -e "$n" ] && echo "node $n"; done
cat /run/kiln-device/*.txt
for f in /run/kiln-device/*.txt; do (echo x > "$f") 2>/dev/null && echo "writable $f"; done
true`

// TestTwoConcurrentDockerJobsSeeOnlyTheirOwnLeasedDevice runs two jobs at once through
// the runner (agent, lifecycle, remote channel) on the real Docker daemon, each with a
// GPU leased from the fake 8-GPU host and injected as the CDI edits of a harmless spec,
// and checks from inside each container that exactly its own device's edits arrived,
// and afterwards that nothing of the jobs is left on the daemon.
func TestTwoConcurrentDockerJobsSeeOnlyTheirOwnLeasedDevice(t *testing.T) {
	testenv.NeedDocker(t)
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.ImageInspect(context.Background(), busybox); err != nil {
		testenv.Missing(t, testenv.TierDocker, fmt.Sprintf("test image %s is missing (%v); run scripts/test-images.sh", busybox, err))
	}
	shared := t.TempDir()
	if err := os.Chmod(shared, 0o777); err != nil {
		t.Fatal(err)
	}
	ex, err := docker.New(docker.Config{PullPolicy: []string{jobspec.PullIfNotPresent}, TempDir: t.TempDir(),
		Volumes: []string{shared + ":/barrier"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ex.Close() }) // when the test failed before it closes it
	const runnerID = "s_cd1test0b0001"
	gpus := nvmltest.NewDGXA100()
	specDir := harmlessSpec(t, gpus.UUIDs())
	r := newRig(t, rigOptions{gpus: gpus, executor: ex, concurrent: 2, systemID: runnerID,
		tweak: func(c *provider.Config) { c.CDISpecDirs = []string{specDir} }})
	var ids []int64
	for range 2 {
		ids = append(ids, r.coord.Enqueue(jobspec.Job{JobInfo: jobspec.JobInfo{Name: "cdi", ProjectID: 5},
			Image:     jobspec.Image{Name: busybox},
			Variables: jobspec.Variables{{Key: "GIT_STRATEGY", Value: "none"}},
			Steps:     []jobspec.Step{{Name: "script", Script: []string{probe}, When: "on_success"}}}))
	}
	jobs := r.final(t, ids...)
	var leased []string
	for _, j := range jobs {
		if j.Final.State != protocol.StateSuccess || j.Final.Kiln == nil || len(j.Final.Kiln.GPUs) != 1 {
			t.Fatalf("job %d: %s, kiln %+v\n%s", j.Spec.ID, j.Final.State, j.Final.Kiln, j.Trace)
		}
		leased = append(leased, j.Final.Kiln.GPUs[0])
	}
	if leased[0] == leased[1] {
		t.Fatalf("both jobs leased %s", leased[0])
	}
	uuids := r.gpus.UUIDs()
	for i, j := range jobs {
		out := string(j.Trace)
		own, other := slices.Index(uuids, leased[i]), slices.Index(uuids, leased[1-i])
		for _, want := range []string{
			"together=2",
			fmt.Sprintf("device=%s common=yes cuda=%s nvidia=%s", leased[i], leased[i], leased[i]),
			fmt.Sprintf("node /dev/nvidia%d", own),
			fmt.Sprintf("device %d", own),
		} {
			if !strings.Contains(out, want) {
				t.Errorf("job %d lacks %q:\n%s", j.Spec.ID, want, out)
			}
		}
		for _, bad := range []string{leased[1-i], fmt.Sprintf("/dev/nvidia%d", other), fmt.Sprintf("device %d", other), "writable"} {
			if strings.Contains(out, bad) {
				t.Errorf("job %d sees %q, which is not its own (or is writable):\n%s", j.Spec.ID, bad, out)
			}
		}
		if n := strings.Count(out, "node /dev/nvidia"); n != 1 {
			t.Errorf("job %d sees %d GPU device nodes, want 1", j.Spec.ID, n)
		}
	}
	// Once the runner has stopped, every job's environment is cleaned up: what is left
	// of the runner is only what the executor made ahead for a next job, which its
	// Close removes.
	r.stop()
	for _, left := range leftovers(t, cli, runnerID) {
		if !left.spare {
			t.Errorf("a job's %s is left behind after its cleanup: %s", left.kind, left.name)
		}
	}
	if err := ex.Close(); err != nil {
		t.Errorf("closing the executor: %v", err)
	}
	if left := leftovers(t, cli, runnerID); len(left) > 0 {
		t.Errorf("left behind after the executor closed: %v", left)
	}
	if n := r.p.Capacity(); n != 8 {
		t.Errorf("after both jobs %d GPUs are placeable, want 8", n)
	}
}

// leftover is a container or network labelled with a runner's id.
type leftover struct {
	kind, name string
	spare      bool // made ahead of a job (docker.LabelSpare)
}

// leftovers lists the containers and networks labelled with runnerID.
func leftovers(t *testing.T, cli *client.Client, runnerID string) []leftover {
	t.Helper()
	f := filters.NewArgs(filters.Arg("label", docker.LabelRunner+"="+runnerID))
	ctrs, err := cli.ContainerList(context.Background(), container.ListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	nets, err := cli.NetworkList(context.Background(), network.ListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	var out []leftover
	for _, c := range ctrs {
		_, spare := c.Labels[docker.LabelSpare]
		out = append(out, leftover{"container", strings.Join(c.Names, ","), spare})
	}
	for _, n := range nets {
		_, spare := n.Labels[docker.LabelSpare]
		out = append(out, leftover{"network", n.Name, spare})
	}
	return out
}

// cudaImage is the CUDA-like test image (scripts/test-images.sh): Debian with the
// CUDA_VERSION=12.1.1 and NVIDIA_REQUIRE_CUDA="cuda>=12.1 …" of NVIDIA's image.
const cudaImage = "nvcr.io/nvidia/cuda:12.1.1-base-ubuntu22.04"

// TestAnImageNeedingANewerCUDAFailsBeforeItsScriptNamingBothVersions runs a job of the
// CUDA-like image through the runner on the real Docker daemon, on a fake host whose
// driver supports only CUDA 12.0: the pre-flight reads the image's requirement from
// its configuration and fails the job before the script, naming both versions and
// what to do, as a CUDA failure (not a script failure, not requeued); the GPU is free
// again afterwards.
func TestAnImageNeedingANewerCUDAFailsBeforeItsScriptNamingBothVersions(t *testing.T) {
	testenv.NeedDocker(t)
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.ImageInspect(context.Background(), cudaImage); err != nil {
		testenv.Missing(t, testenv.TierDocker, fmt.Sprintf("test image %s is missing (%v); run scripts/test-images.sh", cudaImage, err))
	}
	ex, err := docker.New(docker.Config{PullPolicy: []string{jobspec.PullIfNotPresent}, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ex.Close() })
	gpus := nvmltest.NewDGXA100()
	gpus.SystemGetCudaDriverVersionFunc = func() (int, nvml.Return) { return 12000, nvml.SUCCESS }
	r := newRig(t, rigOptions{gpus: gpus, executor: ex, systemID: "s_cd1test0b0002",
		tweak: func(c *provider.Config) { c.CDISpecDirs = []string{harmlessSpec(t, gpus.UUIDs())} }})
	j := r.final(t, r.coord.Enqueue(jobspec.Job{JobInfo: jobspec.JobInfo{Name: "cuda", ProjectID: 5},
		Features:  jobspec.GitlabFeatures{FailureReasons: []string{protocol.FailureCUDAIncompatible}}, // as Kiln's coordinator
		Image:     jobspec.Image{Name: cudaImage},
		Variables: jobspec.Variables{{Key: "GIT_STRATEGY", Value: "none"}},
		Steps:     []jobspec.Step{{Name: "script", Script: []string{"echo the script ran"}, When: "on_success"}}}))[0]
	trace := string(j.Trace)
	if j.Final.State != protocol.StateFailed || j.Final.FailureReason != protocol.FailureCUDAIncompatible || j.Final.ExitCode != 0 ||
		(j.Final.Kiln != nil && j.Final.Kiln.Requeue) {
		t.Fatalf("final update %+v (kiln %+v); want a CUDA failure, not a script failure or a requeue\n%s", j.Final, j.Final.Kiln, trace)
	}
	if strings.Contains(trace, "the script ran") {
		t.Errorf("the script ran despite the CUDA mismatch:\n%s", trace)
	}
	for _, want := range []string{"the image needs CUDA 12.1", `NVIDIA_REQUIRE_CUDA="cuda>=12.1`, "supports CUDA 12.0",
		"use an image built for CUDA ≤ 12.0 or a runner with a newer driver"} {
		if !strings.Contains(trace, want) {
			t.Errorf("the trace does not say %q:\n%s", want, trace)
		}
	}
	if n := r.p.Capacity(); n != 8 {
		t.Errorf("after the job %d GPUs are placeable, want 8", n)
	}
}
