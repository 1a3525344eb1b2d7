package gpu_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/kiln-ci/kiln/internal/executor"
	"github.com/kiln-ci/kiln/internal/executor/docker"
	"github.com/kiln-ci/kiln/internal/gpu"
	"github.com/kiln-ci/kiln/internal/gpu/inject"
	"github.com/kiln-ci/kiln/internal/gpu/nvmltest"
	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/testenv"
)

const busybox = "kiln-test/busybox:latest" // built by scripts/test-images.sh

// harmlessSpec writes a CDI spec whose "GPUs" are harmless: each device sets
// KILN_TEST_DEVICE to its UUID, bind-mounts a small file of its own read-only at
// /run/kiln-device/<index>.txt, and maps /dev/null to /dev/nvidia<index>.
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
		fmt.Fprintf(&b, `  - name: %s
    containerEdits:
      env: ["KILN_TEST_DEVICE=%s"]
      deviceNodes:
        - {path: /dev/nvidia%d, hostPath: /dev/null}
      mounts:
        - {hostPath: %s, containerPath: /run/kiln-device/%d.txt, options: [ro, bind]}
`, u, u, i, f, i)
	}
	b.WriteString("containerEdits:\n  env: [KILN_TEST_COMMON=yes]\n")
	if err := os.WriteFile(filepath.Join(dir, "harmless.yaml"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

const probe = `echo "device=$KILN_TEST_DEVICE common=$KILN_TEST_COMMON cuda=$CUDA_VISIBLE_DEVICES"
for n in /dev/nvidia*; do [ -e "$n" ] && echo "node $n"; done
cat /run/kiln-device/*.txt
for f in /run/kiln-device/*.txt; do (echo x > "$f") 2>/dev/null && echo "writable $f"; done
true
`

// TestTwoConcurrentDockerJobsSeeOnlyTheirOwnDevice runs two jobs at once on the real
// Docker daemon, each with one GPU leased from a mock 8-GPU host and injected through
// a harmless CDI spec, and checks from inside each container that exactly its own
// device's edits arrived and nothing of the other's.
func TestTwoConcurrentDockerJobsSeeOnlyTheirOwnDevice(t *testing.T) {
	testenv.NeedDocker(t)
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.ImageInspect(context.Background(), busybox); err != nil {
		testenv.Missing(t, testenv.TierDocker, fmt.Sprintf("test image %s is missing (%v); run scripts/test-images.sh", busybox, err))
	}
	s := nvmltest.NewDGXA100()
	cfg := config(t, s, t.TempDir())
	cfg.Injection = inject.ModeCDI
	cfg.CDISpecDirs = []string{harmlessSpec(t, s.UUIDs())}
	m := newManagerWith(t, s, cfg, nil)
	ex, err := docker.New(docker.Config{PullPolicy: []string{jobspec.PullIfNotPresent}, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()

	const runner = "gpu-cdi-test"
	outputs := make([]string, 2)
	leased := make([]string, 2)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			ctx := context.Background()
			job := int64(7100 + i)
			l, err := m.Acquire(ctx, gpu.Job{ID: job}, request(t, oneGPU, nil))
			if err != nil {
				t.Error(err)
				return
			}
			defer l.Finish(ctx)
			leased[i] = l.UUIDs()[0]
			env, err := ex.NewEnvironment(executor.Spec{JobID: job, RunnerID: runner, JobName: "gpu", HostDir: t.TempDir(), Image: jobspec.Image{Name: busybox}})
			if err != nil {
				t.Error(err)
				return
			}
			defer env.Cleanup(context.Background())
			if err := env.(executor.DeviceInjector).InjectDevices(l.Devices()); err != nil {
				t.Error(err)
				return
			}
			if err := env.Prepare(ctx, &bytes.Buffer{}); err != nil {
				t.Error(err)
				return
			}
			if err := l.Check(ctx, env.(executor.ImageInspector).ImageEnv()); err != nil {
				t.Error(err)
				return
			}
			var out bytes.Buffer
			res, err := env.Run(ctx, executor.Command{Name: "step_script", Script: probe, Env: []string{"CI=true"}, Output: &out})
			if err != nil || res.ExitCode != 0 {
				t.Errorf("job %d: exit %d, %v\n%s", job, res.ExitCode, err, out.String())
			}
			outputs[i] = out.String()
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if leased[0] == leased[1] {
		t.Fatalf("both jobs leased %s", leased[0])
	}
	for i, out := range outputs {
		t.Logf("job %d on %s saw:\n%s", i, leased[i], out)
		own := slices.Index(s.UUIDs(), leased[i])
		other := slices.Index(s.UUIDs(), leased[1-i])
		want := []string{
			fmt.Sprintf("device=%s common=yes cuda=%s", leased[i], leased[i]),
			fmt.Sprintf("node /dev/nvidia%d", own),
			fmt.Sprintf("device %d", own),
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("job %d lacks %q:\n%s", i, w, out)
			}
		}
		for _, bad := range []string{leased[1-i], fmt.Sprintf("/dev/nvidia%d", other), fmt.Sprintf("device %d", other), "writable"} {
			if strings.Contains(out, bad) {
				t.Errorf("job %d sees %q, which is not its own (or is writable):\n%s", i, bad, out)
			}
		}
		if n := strings.Count(out, "node /dev/nvidia"); n != 1 {
			t.Errorf("job %d sees %d GPU nodes, want 1:\n%s", i, n, out)
		}
	}
	ctrs, err := cli.ContainerList(context.Background(), container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", docker.LabelRunner+"="+runner))})
	if err != nil || len(ctrs) != 0 {
		t.Errorf("containers left behind: %d (%v)", len(ctrs), err)
	}
	if list, _ := m.List(); list.Free != 8 {
		t.Errorf("after both jobs %d GPUs are free, want 8", list.Free)
	}
}
