package docker_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/kiln-ci/kiln/internal/executor"
	"github.com/kiln-ci/kiln/internal/executor/docker"
	"github.com/kiln-ci/kiln/internal/executor/executortest"
	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/testenv"
)

// Images that scripts/test-images.sh builds.
const (
	busybox = "kiln-test/busybox:latest"
	debian  = "kiln-test/debian:bookworm"
	cuda    = "nvcr.io/nvidia/cuda:12.1.1-base-ubuntu22.04"
)

// dockerClient returns a client for test assertions, or skips (fails when the docker
// tier is required) without a daemon or without the test images.
func dockerClient(t testing.TB, images ...string) *client.Client {
	t.Helper()
	testenv.NeedDocker(t)
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	for _, img := range images {
		if _, err := cli.ImageInspect(context.Background(), img); err != nil {
			testenv.Missing(t, testenv.TierDocker, fmt.Sprintf("test image %s is missing (%v); run scripts/test-images.sh", img, err))
		}
	}
	return cli
}

// newExecutor returns an executor with test defaults: local images only, scripts in
// a test directory.
func newExecutor(t testing.TB, cfg docker.Config) *docker.Executor {
	t.Helper()
	if cfg.PullPolicy == nil {
		cfg.PullPolicy = []string{jobspec.PullIfNotPresent}
	}
	if cfg.TempDir == "" {
		cfg.TempDir = t.TempDir()
	}
	ex, err := docker.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ex.Close() })
	return ex
}

// leftovers lists containers, networks and volumes labelled with spec's job and
// runner, and script directories of the job in tempDir.
func leftovers(t testing.TB, cli *client.Client, tempDir string, spec executor.Spec) []string {
	t.Helper()
	left, err := docker.Leftovers(context.Background(), cli, spec.RunnerID, spec.JobID)
	if err != nil {
		t.Fatal(err)
	}
	dirs, _ := filepath.Glob(filepath.Join(tempDir, fmt.Sprintf("kiln-docker-*.%d-*", spec.JobID)))
	for _, d := range dirs {
		left = append(left, "directory "+d)
	}
	return left
}

func conformance(t *testing.T, image string, extraEnv ...string) {
	cli := dockerClient(t, image)
	tmp := t.TempDir()
	ex := newExecutor(t, docker.Config{TempDir: tmp})
	executortest.Run(t, executortest.Target{
		NewEnvironment: func(t *testing.T, spec executor.Spec) executor.Environment {
			spec.Image = jobspec.Image{Name: image}
			env, err := ex.NewEnvironment(spec)
			if err != nil {
				t.Fatalf("NewEnvironment: %v", err)
			}
			return env
		},
		ExtraEnv: append([]string{"HOSTNAME", "HOME", "PATH"}, extraEnv...),
		Leftovers: func(t *testing.T, spec executor.Spec) []string {
			return leftovers(t, cli, tmp, spec)
		},
	})
}

func TestConformanceBusybox(t *testing.T) { conformance(t, busybox) }

func TestConformanceDebianWithBash(t *testing.T) { conformance(t, debian) }

// job is a prepared environment for a test, cleaned up (and checked for leftovers)
// when the test ends.
type job struct {
	env  *docker.Environment
	spec executor.Spec
	out  bytes.Buffer // Prepare's output
}

// lastJobID makes job ids unique within the test binary and, by its start, across runs.
var lastJobID atomic.Int64

func init() { lastJobID.Store(time.Now().Unix() % 1e6 * 1000) }

// newSpec returns a spec with a unique job id, a fresh job directory and image.
func newSpec(t testing.TB, image string) executor.Spec {
	return executor.Spec{
		JobID:    lastJobID.Add(1),
		RunnerID: "docker-test",
		JobName:  t.Name(),
		HostDir:  t.TempDir(),
		Image:    jobspec.Image{Name: image},
		Labels:   map[string]string{"dev.kiln.test": "docker"},
	}
}

// start makes an environment for spec and prepares it, failing t on error.
func start(t *testing.T, cli *client.Client, ex *docker.Executor, spec executor.Spec) *job {
	t.Helper()
	j := open(t, cli, ex, spec)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := j.env.Prepare(ctx, &j.out); err != nil {
		t.Fatalf("Prepare: %v\n%s", err, j.out.String())
	}
	return j
}

// open makes an environment for spec that is cleaned up and checked when t ends.
func open(t *testing.T, cli *client.Client, ex *docker.Executor, spec executor.Spec) *job {
	t.Helper()
	env, err := ex.NewEnvironment(spec)
	if err != nil {
		t.Fatalf("NewEnvironment: %v", err)
	}
	j := &job{env: env.(*docker.Environment), spec: spec}
	t.Cleanup(func() {
		// A network made ahead of the job does not carry its labels.
		net := j.env.Network()
		if err := j.env.Cleanup(context.Background()); err != nil {
			t.Errorf("Cleanup: %v", err)
		}
		if left := leftovers(t, cli, "", spec); len(left) > 0 {
			t.Errorf("left behind after Cleanup: %v", left)
		}
		if net != "" {
			if _, err := cli.NetworkInspect(context.Background(), net, network.InspectOptions{}); err == nil {
				t.Errorf("the job's network %s is left behind after Cleanup", net)
			}
		}
	})
	return j
}

// run runs script and returns its result and output, failing t on a Run error.
func (j *job) run(t *testing.T, script string, env ...string) (executor.Result, string) {
	t.Helper()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := j.env.Run(ctx, executor.Command{Name: "step_script", Script: script, Env: env, Output: &out})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	return res, out.String()
}
