package docker_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/kiln-ci/kiln/internal/executor"
	"github.com/kiln-ci/kiln/internal/executor/docker"
	"github.com/kiln-ci/kiln/internal/jobspec"
)

// unreachable is a registry address that refuses connections at once.
const unreachable = "127.0.0.1:9"

func TestPullPolicyNeverWithoutTheImageFails(t *testing.T) {
	cli := dockerClient(t)
	ex := newExecutor(t, docker.Config{AllowedPullPolicies: []string{"never", "if-not-present"}})
	spec := newSpec(t, "kiln-test/absent:never")
	spec.Image.PullPolicy = []string{jobspec.PullNever}
	j := open(t, cli, ex, spec)
	err := j.env.Prepare(context.Background(), &j.out)
	if !errors.Is(err, executor.ErrImageUnavailable) {
		t.Fatalf("Prepare: error %v, want one wrapping ErrImageUnavailable", err)
	}
	if want := `image "kiln-test/absent:never" not found locally and pull policy is never`; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
}

func TestPullPolicyIfNotPresentReportsTheRegistryError(t *testing.T) {
	cli := dockerClient(t)
	ex := newExecutor(t, docker.Config{})
	j := open(t, cli, ex, newSpec(t, unreachable+"/kiln-test/absent:1"))
	err := j.env.Prepare(context.Background(), &j.out)
	if !errors.Is(err, executor.ErrImageUnavailable) {
		t.Fatalf("Prepare: error %v, want one wrapping ErrImageUnavailable", err)
	}
	for _, want := range []string{`pulling image "` + unreachable + `/kiln-test/absent:1" (pull policy if-not-present)`, "connection refused"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if !strings.Contains(j.out.String(), "Pulling docker image "+unreachable+"/kiln-test/absent:1 ...") {
		t.Errorf("the trace does not show the pull:\n%s", j.out.String())
	}
}

func TestPullPolicyAlwaysFallsBackToTheNextPolicy(t *testing.T) {
	cli := dockerClient(t, busybox)
	ref := unreachable + "/kiln-test/busybox:fallback"
	if err := cli.ImageTag(context.Background(), busybox, ref); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.ImageRemove(context.Background(), ref, image.RemoveOptions{}) })
	ex := newExecutor(t, docker.Config{PullPolicy: []string{jobspec.PullAlways}, AllowedPullPolicies: []string{jobspec.PullAlways, jobspec.PullIfNotPresent}})

	// "always" alone: the image is here, but it cannot be pulled.
	j := open(t, cli, ex, newSpec(t, ref))
	if err := j.env.Prepare(context.Background(), &j.out); !errors.Is(err, executor.ErrImageUnavailable) {
		t.Fatalf("Prepare with pull policy always: error %v, want ErrImageUnavailable", err)
	}

	// "always" then "if-not-present": the local image is used after a warning.
	spec := newSpec(t, ref)
	spec.Image.PullPolicy = []string{jobspec.PullAlways, jobspec.PullIfNotPresent}
	j = start(t, cli, ex, spec)
	for _, want := range []string{"WARNING: pulling image", `Attempting with pull policy "if-not-present"`, `Using locally found image version due to "if-not-present" pull policy`} {
		if !strings.Contains(j.out.String(), want) {
			t.Errorf("Prepare's output lacks %q:\n%s", want, j.out.String())
		}
	}
	if _, out := j.run(t, "echo ran"); out != "ran\n" {
		t.Errorf("output %q", out)
	}
}

// buildImage builds a small image FROM the busybox test image with the given Dockerfile
// lines, once; it is kept like the other test images.
func buildImage(t *testing.T, cli *client.Client, tag string, lines ...string) {
	t.Helper()
	if _, err := cli.ImageInspect(context.Background(), tag); err == nil {
		return
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dockerfile := "FROM " + busybox + "\n" + strings.Join(lines, "\n") + "\n"
	tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(dockerfile))})
	tw.Write([]byte(dockerfile))
	tw.Close()
	resp, err := cli.ImageBuild(context.Background(), &buf, build.ImageBuildOptions{
		Tags: []string{tag}, Remove: true, ForceRemove: true,
		Labels: map[string]string{"dev.kiln.test-image": "true"},
	})
	if err != nil {
		t.Fatalf("building %s: %v", tag, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if _, err := cli.ImageInspect(context.Background(), tag); err != nil {
		t.Fatalf("building %s failed:\n%s", tag, out)
	}
}

func TestEntrypointOverride(t *testing.T) {
	cli := dockerClient(t, busybox)
	const tag = "kiln-test/entrypoint:latest"
	buildImage(t, cli, tag, `ENTRYPOINT ["/bin/echo", "entrypoint got:"]`)
	ex := newExecutor(t, docker.Config{})

	// The image's entrypoint receives the shell command instead of running the script.
	j := start(t, cli, ex, newSpec(t, tag))
	if _, out := j.run(t, "echo script ran"); !strings.HasPrefix(out, "entrypoint got: sh -c") {
		t.Errorf("without an override, output %q, want the entrypoint's", out)
	}
	// entrypoint: [""] removes it, as on GitLab.
	spec := newSpec(t, tag)
	spec.Image.Entrypoint = []string{""}
	j = start(t, cli, ex, spec)
	if _, out := j.run(t, "echo script ran"); out != "script ran\n" {
		t.Errorf("with entrypoint [\"\"], output %q, want the script's", out)
	}
}

func TestServicesAreReachableByTheirAliases(t *testing.T) {
	cli := dockerClient(t, busybox)
	ex := newExecutor(t, docker.Config{})
	spec := newSpec(t, busybox)
	spec.ServiceEnv = []string{"JOB_VARIABLE=from the job", "GREETING=overridden"}
	spec.Services = []jobspec.Image{{
		Name:      busybox,
		Alias:     "web, www",
		Variables: jobspec.Variables{{Key: "GREETING", Value: "hello from the service"}},
		Command:   []string{"sh", "-c", `mkdir /www && echo "$GREETING; $JOB_VARIABLE" > /www/index.html && exec httpd -f -p 8080 -h /www`},
		Ports:     []jobspec.Port{{Number: 8080}},
	}}
	j := start(t, cli, ex, spec)
	if strings.Contains(j.out.String(), "WARNING") {
		t.Errorf("Prepare warned about the service:\n%s", j.out.String())
	}
	for _, alias := range []string{"kiln-test__busybox", "kiln-test-busybox", "web", "www"} {
		res, out := j.run(t, "wget -q -O - http://"+alias+":8080/")
		if res.ExitCode != 0 || out != "hello from the service; from the job\n" {
			t.Errorf("service by alias %s: exit %d, %q", alias, res.ExitCode, out)
		}
	}
}

func TestAServiceThatDiesIsAWarningNotAFailure(t *testing.T) {
	cli := dockerClient(t, busybox)
	ex := newExecutor(t, docker.Config{WaitForServicesTimeout: 5 * time.Second})
	spec := newSpec(t, busybox)
	// With a port to wait for, the health check sees the container die.
	spec.Services = []jobspec.Image{{Name: busybox, Alias: "broken", Command: []string{"sh", "-c", "echo cannot start >&2; exit 3"}, Ports: []jobspec.Port{{Number: 8080}}}}
	j := start(t, cli, ex, spec)
	for _, want := range []string{"*** WARNING: Service " + busybox + " probably didn't start properly.", "exited with code 3", "cannot start"} {
		if !strings.Contains(j.out.String(), want) {
			t.Errorf("Prepare's output lacks %q:\n%s", want, j.out.String())
		}
	}
}

func TestLimitsAreVisibleInsideTheContainer(t *testing.T) {
	cli := dockerClient(t, busybox)
	ex := newExecutor(t, docker.Config{})
	spec := newSpec(t, busybox)
	spec.Limits = executor.Limits{CPUs: 1.5, MemoryBytes: 256 << 20, PIDs: 64, ShmBytes: 32 << 20, DiskBytes: 10_000_000_000}
	j := start(t, cli, ex, spec)
	_, out := j.run(t, `if [ -f /sys/fs/cgroup/memory.max ]; then
  echo "memory $(cat /sys/fs/cgroup/memory.max)"
  echo "swap $(cat /sys/fs/cgroup/memory.swap.max)"
  echo "pids $(cat /sys/fs/cgroup/pids.max)"
  echo "cpu $(cat /sys/fs/cgroup/cpu.max)"
else
  echo "memory $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)"
  echo "swap $(( $(cat /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes) - $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes) ))"
  echo "pids $(cat /sys/fs/cgroup/pids/pids.max)"
  echo "cpu $(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)"
fi
echo "shm $(df -k /dev/shm | awk 'NR == 2 { print $2 }')"
`)
	want := "memory 268435456\nswap 0\npids 64\ncpu 150000 100000\nshm 32768\n"
	if out != want {
		t.Errorf("limits inside the container:\n%s\nwant:\n%s", out, want)
	}
	// This daemon's storage driver may not limit disk: then the trace says so and the
	// environment reports the disk limit as not enforced.
	warned := strings.Contains(j.out.String(), "WARNING: the disk limit (disk 10 GB) is not enforced")
	if enforced := j.env.EnforcedLimits().DiskBytes != 0; enforced == warned {
		t.Errorf("disk limit enforced = %v, but the trace warning present = %v:\n%s", enforced, warned, j.out.String())
	}
}

func TestOutOfMemoryIsReportedAsOOMKilled(t *testing.T) {
	cli := dockerClient(t, debian)
	ex := newExecutor(t, docker.Config{})
	spec := newSpec(t, debian)
	spec.Limits = executor.Limits{MemoryBytes: 32 << 20}
	j := start(t, cli, ex, spec)
	// bash holds the whole string in memory: far more than the limit.
	res, out := j.run(t, "echo allocating\nx=$(head -c 200000000 /dev/zero | tr '\\0' a)\necho survived ${#x}\n")
	if !res.OOMKilled {
		t.Errorf("Result = %+v, want OOMKilled; output %q", res, out)
	}
	if res.ExitCode != -1 {
		t.Errorf("Result.ExitCode = %d, want -1 (killed), not Docker's 137", res.ExitCode)
	}
	if strings.Contains(out, "survived") {
		t.Errorf("the script outlived the memory limit: %q", out)
	}
}

// capScript prints the script's effective capabilities and the full set for this kernel.
const capScript = `awk '/^CapEff/ { print $2 }' /proc/self/status; cat /proc/sys/kernel/cap_last_cap`

func capabilities(t *testing.T, out string) (eff, full uint64) {
	t.Helper()
	f := strings.Fields(out)
	if len(f) != 2 {
		t.Fatalf("unexpected output %q", out)
	}
	eff, err := strconv.ParseUint(f[0], 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	last, err := strconv.Atoi(f[1])
	if err != nil {
		t.Fatal(err)
	}
	return eff, 1<<(last+1) - 1
}

func TestContainersAreNotPrivilegedUnlessConfigured(t *testing.T) {
	cli := dockerClient(t, busybox)
	j := start(t, cli, newExecutor(t, docker.Config{}), newSpec(t, busybox))
	_, out := j.run(t, capScript)
	if eff, full := capabilities(t, out); eff == full {
		t.Errorf("job container has every capability (%x): privileged", eff)
	}
	j = start(t, cli, newExecutor(t, docker.Config{Privileged: true}), newSpec(t, busybox))
	var buf bytes.Buffer
	_, err := j.env.Run(context.Background(), executor.Command{Name: "step_script", Script: capScript, Output: &buf})
	if err != nil && strings.Contains(err.Error(), "unable to apply caps") {
		t.Logf("this Docker daemon cannot start privileged containers (%v); the configured case is not checked here", err)
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if eff, full := capabilities(t, buf.String()); eff != full {
		t.Errorf("with privileged = true, capabilities %x, want all (%x)", eff, full)
	}
}

func TestTheDockerSocketIsNeverMountedUnlessAllowed(t *testing.T) {
	cli := dockerClient(t, busybox)
	probe := "for s in /var/run/docker.sock /run/docker.sock; do [ -S $s ] && echo socket at $s; done; echo checked"
	j := start(t, cli, newExecutor(t, docker.Config{}), newSpec(t, busybox))
	if _, out := j.run(t, probe); out != "checked\n" {
		t.Errorf("job sees the Docker socket: %q", out)
	}
	if _, err := newExecutor(t, docker.Config{Volumes: []string{"/var/run/docker.sock:/var/run/docker.sock"}}).NewEnvironment(newSpec(t, busybox)); err == nil || !strings.Contains(err.Error(), "exposes the Docker socket") {
		t.Errorf("a socket volume without permission: error %v", err)
	}
	if _, err := os.Stat("/var/run/docker.sock"); err == nil {
		ex := newExecutor(t, docker.Config{Volumes: []string{"/var/run/docker.sock:/var/run/docker.sock"}, AllowDockerSocket: true})
		j = start(t, cli, ex, newSpec(t, busybox))
		if _, out := j.run(t, probe); !strings.Contains(out, "socket at /var/run/docker.sock") {
			t.Errorf("with the socket allowed, output %q", out)
		}
	}
}

func TestImageEnvIsTheJobImagesEnv(t *testing.T) {
	cli := dockerClient(t, cuda)
	j := start(t, cli, newExecutor(t, docker.Config{}), newSpec(t, cuda))
	env := j.env.ImageEnv()
	for _, want := range []string{"CUDA_VERSION=12.1.1", "NVIDIA_REQUIRE_CUDA=cuda>=12.1 brand=tesla,driver>=470,driver<471"} {
		if !slices.Contains(env, want) {
			t.Errorf("ImageEnv() = %q lacks %q", env, want)
		}
	}
	if _, out := j.run(t, `echo "$CUDA_VERSION"`); out != "12.1.1\n" {
		t.Errorf("the script sees CUDA_VERSION=%q", out)
	}
}
