package docker

import (
	"context"
	"fmt"
	"strconv"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
)

// Leftovers lists the containers, networks and volumes on cli's daemon labelled with
// runnerID and, when jobID is not 0, with jobID: what Cleanup removes for a job and
// Reap for a runner. Each entry is described for people, e.g.
// "container /kiln-job-7-…-sandbox (sandbox, running)". For tests and diagnostics.
func Leftovers(ctx context.Context, cli *client.Client, runnerID string, jobID int64) ([]string, error) {
	f := filters.NewArgs(filters.Arg("label", LabelRunner+"="+runnerID))
	if jobID != 0 {
		f.Add("label", LabelJob+"="+strconv.FormatInt(jobID, 10))
	}
	var left []string
	ctrs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("listing containers: %w", err)
	}
	for _, c := range ctrs {
		name := c.ID[:12]
		if len(c.Names) > 0 {
			name = c.Names[0]
		}
		left = append(left, fmt.Sprintf("container %s (%s, %s)", name, c.Labels[LabelRole], c.State))
	}
	nets, err := cli.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("listing networks: %w", err)
	}
	for _, n := range nets {
		left = append(left, "network "+n.Name)
	}
	vols, err := cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("listing volumes: %w", err)
	}
	for _, v := range vols.Volumes {
		left = append(left, "volume "+v.Name)
	}
	return left, nil
}
