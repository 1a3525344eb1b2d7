package localrun_test

import (
	"context"
	"io"
	"testing"

	"github.com/docker/docker/client"

	"github.com/kiln-ci/kiln/internal/executor/docker"
	"github.com/kiln-ci/kiln/internal/localrun"
)

// Jobs' environments are cleaned up while the pipeline goes on, but Run returns only
// once all of them are gone, and kiln exec makes nothing ahead for jobs that will not
// come: when Run returns, nothing labelled with its runner is left.
func TestDockerPipelineLeavesNothingBehindWhenRunReturns(t *testing.T) {
	ex := newDockerExecutor(t)
	dir := gitRepo(t, map[string]string{".gitlab-ci.yml": "stages: [one, two]\n" +
		"first:\n  stage: one\n  image: " + busyboxImage + "\n  script: ['echo first']\n" +
		"second:\n  stage: two\n  image: " + busyboxImage + "\n  script: ['echo second']\n"})
	state := t.TempDir()
	ctx := context.Background()
	p, err := localrun.New(ctx, localrun.Options{Dir: dir, Executor: ex, StateDir: state, Output: io.Discard, Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	res, err := p.Run(ctx)
	if err != nil || res.Status != localrun.StatusSuccess {
		t.Fatalf("pipeline %+v, %v", res, err)
	}

	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	left, err := docker.Leftovers(ctx, cli, localrun.SystemID(state), 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range left {
		t.Errorf("%s is left after Run returned", l)
	}
}
