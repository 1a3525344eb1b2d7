package localrun_test

import (
	"context"
	"io"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
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
	f := filters.NewArgs(filters.Arg("label", docker.LabelRunner+"="+localrun.SystemID(state)))
	ctrs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	nets, err := cli.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range ctrs {
		t.Errorf("container %s (%s) is left after Run returned", c.Names[0], c.Labels[docker.LabelRole])
	}
	for _, n := range nets {
		t.Errorf("network %s is left after Run returned", n.Name)
	}
}
