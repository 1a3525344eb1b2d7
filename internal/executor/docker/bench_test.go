package docker_test

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"

	"github.com/kiln-ci/kiln/internal/executor"
	"github.com/kiln-ci/kiln/internal/executor/docker"
	"github.com/kiln-ci/kiln/internal/executor/executortest"
	"github.com/kiln-ci/kiln/internal/jobspec"
)

// BenchmarkJobTrue measures a job whose script is `true` with the image present:
// go test -run '^$' -bench JobTrue -benchtime=50x ./internal/executor/docker/
func BenchmarkJobTrue(b *testing.B) {
	for _, img := range []string{busybox, debian} {
		b.Run(img, func(b *testing.B) {
			dockerClient(b, img)
			ex := newExecutor(b, docker.Config{})
			executortest.BenchmarkJob(b, func(b *testing.B, spec executor.Spec) executor.Environment {
				spec.Image = jobspec.Image{Name: img}
				env, err := ex.NewEnvironment(spec)
				if err != nil {
					b.Fatal(err)
				}
				return env
			})
		})
	}
}

// BenchmarkBareContainer is the floor BenchmarkJobTrue stands on: the same daemon
// creating, starting, waiting for and removing one container running `true`, with
// nothing of the executor, on Docker's default bridge, on a network of its own, and
// joining the network namespace of a running container on that network (as the
// executor's script containers join their job's sandbox):
//
//	go test -run '^$' -bench BareContainer -benchtime=30x ./internal/executor/docker/
func BenchmarkBareContainer(b *testing.B) {
	cli := dockerClient(b, busybox)
	ctx := context.Background()
	labels := map[string]string{"dev.kiln.test": "bench"}
	net := "kiln-bench-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if _, err := cli.NetworkCreate(ctx, net, network.CreateOptions{Driver: "bridge", Labels: labels}); err != nil {
		b.Fatal(err)
	}
	defer cli.NetworkRemove(ctx, net)
	sandbox, err := cli.ContainerCreate(ctx, &container.Config{Image: busybox, Cmd: []string{"sh", "-c", "read -r _"}, OpenStdin: true, Labels: labels},
		&container.HostConfig{NetworkMode: container.NetworkMode(net)}, nil, nil, "")
	if err != nil {
		b.Fatal(err)
	}
	defer cli.ContainerRemove(ctx, sandbox.ID, container.RemoveOptions{Force: true})
	if err := cli.ContainerStart(ctx, sandbox.ID, container.StartOptions{}); err != nil {
		b.Fatal(err)
	}
	for _, mode := range []struct{ name, network string }{
		{"default-bridge", ""}, {"own-network", net}, {"joining-a-sandbox", "container:" + sandbox.ID},
	} {
		b.Run(mode.name, func(b *testing.B) {
			took := make([]time.Duration, 0, b.N)
			for range b.N {
				start := time.Now()
				c, err := cli.ContainerCreate(ctx, &container.Config{Image: busybox, Cmd: []string{"true"}, Labels: labels},
					&container.HostConfig{NetworkMode: container.NetworkMode(mode.network)}, nil, nil, "")
				if err != nil {
					b.Fatal(err)
				}
				if err := cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
					b.Fatal(err)
				}
				wait, errc := cli.ContainerWait(ctx, c.ID, container.WaitConditionNotRunning)
				select {
				case <-wait:
				case err := <-errc:
					b.Fatal(err)
				}
				if err := cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil {
					b.Fatal(err)
				}
				took = append(took, time.Since(start))
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2])/1e6, "p50-ms")
			b.ReportMetric(float64(took[(len(took)*95+99)/100-1])/1e6, "p95-ms")
		})
	}
}
