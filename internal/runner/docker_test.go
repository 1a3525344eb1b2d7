package runner_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/kiln-ci/kiln/internal/executor/docker"
	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/runner"
	"github.com/kiln-ci/kiln/internal/testenv"
)

const debianImage = "kiln-test/debian:bookworm" // built by scripts/test-images.sh

// dockerHarness runs jobs with the real Docker executor, or skips (fails when the
// docker tier is required) without a daemon or the test image.
func dockerHarness(t *testing.T, tweak func(*runner.Config)) *harness {
	t.Helper()
	testenv.NeedDocker(t)
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.ImageInspect(context.Background(), debianImage); err != nil {
		testenv.Missing(t, testenv.TierDocker, fmt.Sprintf("test image %s is missing (%v); run scripts/test-images.sh", debianImage, err))
	}
	ex, err := docker.New(docker.Config{PullPolicy: []string{jobspec.PullIfNotPresent},
		AllowedPullPolicies: []string{jobspec.PullIfNotPresent, jobspec.PullNever}, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ex.Close() })
	return newHarness(t, func(c *runner.Config) {
		c.Executor = ex
		c.BaseEnvironment = nil // the image's own PATH applies
		if tweak != nil {
			tweak(c)
		}
	})
}

func TestDockerJobSeesItsProjectAtTheGuestPathWithFileVariablesAndArtifacts(t *testing.T) {
	h := dockerHarness(t, nil)
	job := h.job([]string{`cat /etc/debian_version >/dev/null && echo "debian in $CI_PROJECT_DIR"`, "pwd",
		`cat "$MY_FILE"; echo`, "mkdir -p out && echo from-container > out/x.txt"}, `echo "after: $CI_JOB_STATUS"`)
	job.Image = jobspec.Image{Name: debianImage}
	job.Variables = append(job.Variables, jobspec.Variable{Key: "MY_FILE", Value: "file-content", File: true})
	job.Artifacts = []jobspec.Artifact{{Name: "out", Paths: []string{"out/"}, When: "on_success", ArtifactType: "archive"}}
	o, log := h.run(job)
	if o.Kind != runner.Success {
		t.Fatalf("%+v\n%s", o, log)
	}
	inOrder(t, log, "debian in /builds/project-42\n", "/builds/project-42\n", "file-content\n", "after: success", "Job succeeded")
	if len(o.Artifacts) != 1 || o.Artifacts[0].Files[1] != "out/x.txt" {
		t.Errorf("artifacts %+v", o.Artifacts)
	}
}

func TestDockerPrepareNamesTheHostTheScriptsRunOnWithoutAContainerOfItsOwn(t *testing.T) {
	h := dockerHarness(t, nil)
	job := h.job([]string{`echo "script on $(hostname)"`})
	job.ID = time.Now().UnixNano() // its containers' dev.kiln.job label, unique among tests
	job.Image = jobspec.Image{Name: debianImage}
	since := time.Now()
	o, log := h.run(job)
	if o.Kind != runner.Success {
		t.Fatalf("%+v\n%s", o, log)
	}
	m := regexp.MustCompile(`Running on (\S+)\.\.\.\n(?s:.*)script on (\S+)\n`).FindStringSubmatch(log)
	if m == nil || m[1] != m[2] {
		t.Fatalf("prepare_script and the script disagree on the host name:\n%s", log)
	}
	if n := startedScriptContainers(t, job.ID, since); n != 1 {
		t.Errorf("%d script containers were started, want 1: prepare_script should start none", n)
	}
}

// startedScriptContainers counts the script ("build") containers of job started since.
func startedScriptContainers(t *testing.T, job int64, since time.Time) int {
	t.Helper()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	msgs, errs := cli.Events(ctx, events.ListOptions{
		Since: strconv.FormatInt(since.Add(-time.Second).Unix(), 10), Until: strconv.FormatInt(time.Now().Add(time.Second).Unix(), 10),
		Filters: filters.NewArgs(filters.Arg("type", "container"), filters.Arg("event", "start"),
			filters.Arg("label", docker.LabelJob+"="+strconv.FormatInt(job, 10)), filters.Arg("label", docker.LabelRole+"=build")),
	})
	n := 0
	for {
		select {
		case <-msgs:
			n++
		case err := <-errs:
			if err != nil && !errors.Is(err, io.EOF) {
				t.Fatalf("reading Docker's events: %v", err)
			}
			return n
		}
	}
}

func TestDockerOutOfMemorySaysTheMachineTypesLimit(t *testing.T) {
	mt := machine.Type{Tag: "tiny", VCPU: 1, MemoryBytes: 200 * machine.GB / 1000}
	h := dockerHarness(t, func(c *runner.Config) { c.MachineType = &mt })
	job := h.job([]string{"dd if=/dev/zero of=/dev/null bs=600M count=1"})
	job.Image = jobspec.Image{Name: debianImage}
	o, log := h.run(job)
	if o.Kind != runner.OutOfMemory || o.FailureReason != protocol.FailureOutOfMemory || o.Message != "out of memory (limit 0.2 GB)" {
		t.Fatalf("outcome %+v\n%s", o, log)
	}
	if !strings.HasSuffix(log, "ERROR: Job failed: out of memory (limit 0.2 GB)\x1b[0;m\n") {
		t.Errorf("final line: %q", log[max(0, len(log)-200):])
	}
}

func TestDockerImageThatCannotBeHadIsAnImagePullFailure(t *testing.T) {
	h := dockerHarness(t, nil)
	job := h.job([]string{"true"})
	job.Image = jobspec.Image{Name: "kiln-test/does-not-exist:1", PullPolicy: []string{jobspec.PullNever}}
	o, log := h.run(job)
	if o.Kind != runner.ImagePullFailure || o.FailureReason != protocol.FailureImagePull {
		t.Fatalf("outcome %+v\n%s", o, log)
	}
	job.Image.PullPolicy = []string{jobspec.PullAlways} // not allowed by this runner
	if o, _ = h.run(job); o.Kind != runner.ConfigurationError || !strings.Contains(o.Message, `"always"`) {
		t.Errorf("a pull policy the runner refuses: %+v", o)
	}
}

func TestDockerJobGetsTheMachineTypesShmSizeAndPIDsLimit(t *testing.T) {
	mt := machine.Type{Tag: "shm", VCPU: 1, MemoryBytes: machine.GB, PIDsLimit: 128, ShmBytes: 48 << 20}
	h := dockerHarness(t, func(c *runner.Config) { c.MachineType = &mt })
	job := h.job([]string{`echo "shm=$(df -k /dev/shm | awk 'NR==2 {print $2}') KiB"`,
		`echo "pids=$(cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max)"`})
	job.Image = jobspec.Image{Name: debianImage}
	o, log := h.run(job)
	if o.Kind != runner.Success {
		t.Fatalf("%+v\n%s", o, log)
	}
	for _, want := range []string{"shm=49152 KiB\n", "pids=128\n"} {
		if !strings.Contains(log, want) {
			t.Errorf("the job did not see %q:\n%s", want, log)
		}
	}
}
