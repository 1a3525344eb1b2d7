package localrun_test

import (
	"archive/zip"
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/docker/docker/client"

	"github.com/kiln-ci/kiln/internal/executor"
	"github.com/kiln-ci/kiln/internal/executor/docker"
	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/runner/cache"
	"github.com/kiln-ci/kiln/internal/testenv"
)

// Images built by scripts/test-images.sh.
const (
	busyboxImage = "kiln-test/busybox:latest"
	debianImage  = "kiln-test/debian:bookworm"
)

// gclProject is the project path gitlab-ci-local's git mocks give every case.
const gclProject = "gcl/test-project"

// cacheEntries lists the files of the cache archive kept for key (GitLab's key, with
// its -non_protected suffix), or nothing when there is none.
func cacheEntries(t *testing.T, state, key string) []string {
	t.Helper()
	store := cache.NewStore(filepath.Join(state, "cache", filepath.FromSlash(gclProject)))
	zr, err := zip.OpenReader(store.ArchivePath(key))
	if err != nil {
		return nil
	}
	defer zr.Close()
	var out []string
	for _, f := range zr.File {
		out = append(out, f.Name)
	}
	return out
}

// newDockerExecutor is the Docker executor with kiln exec's settings (images used
// if present, never pulled: there is no registry here).
func newDockerExecutor(t testing.TB) executor.Executor {
	t.Helper()
	return newDockerExecutorAt(t, "")
}

// newDockerExecutorAt is newDockerExecutor talking to the daemon at host ("" for the
// environment's).
func newDockerExecutorAt(t testing.TB, host string) executor.Executor {
	t.Helper()
	testenv.NeedDocker(t)
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	for _, img := range []string{busyboxImage, debianImage} {
		if _, err := cli.ImageInspect(context.Background(), img); err != nil {
			testenv.Missing(t, testenv.TierDocker, fmt.Sprintf("test image %s is missing (%v); run scripts/test-images.sh", img, err))
		}
	}
	// Image-less jobs get the Debian image, as a runner's configured default image.
	ex, err := docker.New(docker.Config{Host: host, Image: debianImage, PullPolicy: []string{jobspec.PullIfNotPresent},
		AllowedPullPolicies: []string{jobspec.PullAlways, jobspec.PullIfNotPresent, jobspec.PullNever},
		TempDir:             t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ex.Close() })
	return ex
}
