package docker_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"

	"github.com/kiln-ci/kiln/internal/executor"
	"github.com/kiln-ci/kiln/internal/executor/docker"
	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/testenv"
)

// runInBackground starts script and waits until it printed "ready"; the returned
// function cancels it and returns Run's outcome.
func runInBackground(t *testing.T, env executor.Environment, script string) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &testenv.Buffer{}
	done := make(chan error, 1)
	go func() {
		_, err := env.Run(ctx, executor.Command{Name: "step_script", Script: script, Output: out, Grace: time.Second})
		done <- err
	}()
	deadline := time.Now().Add(time.Minute)
	for !bytes.Contains(out.Bytes(), []byte("ready")) {
		select {
		case err := <-done:
			t.Fatalf("Run ended early: %v\n%s", err, out.Bytes())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("script never got ready:\n%s", out.Bytes())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return func() error {
		cancel()
		return <-done
	}
}

func TestEverythingCreatedIsLabelled(t *testing.T) {
	cli := dockerClient(t, busybox)
	ex := newExecutor(t, docker.Config{Volumes: []string{"/cache"}})
	spec := newSpec(t, busybox)
	spec.Labels = map[string]string{"dev.kiln.pipeline": "7"}
	spec.Services = []jobspec.Image{{Name: busybox, Alias: "sidecar", Command: []string{"sleep", "300"}}}
	j := start(t, cli, ex, spec)
	stop := runInBackground(t, j.env, "echo ready; sleep 300")
	defer stop()

	want := map[string]string{
		docker.LabelManaged: "true",
		docker.LabelRunner:  spec.RunnerID,
		docker.LabelJob:     strconv.FormatInt(spec.JobID, 10),
		"dev.kiln.pipeline": "7",
	}
	check := func(what string, labels map[string]string) {
		t.Helper()
		for k, v := range want {
			if labels[k] != v {
				t.Errorf("%s: label %s = %q, want %q (labels %v)", what, k, labels[k], v, labels)
			}
		}
	}
	f := filters.NewArgs(filters.Arg("label", docker.LabelJob+"="+strconv.FormatInt(spec.JobID, 10)))
	ctx := context.Background()
	ctrs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	roles := map[string]int{}
	for _, c := range ctrs {
		check("container "+c.Names[0], c.Labels)
		roles[c.Labels[docker.LabelRole]]++
		st, err := cli.ContainerInspect(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if st.HostConfig.Privileged {
			t.Errorf("container %s is privileged", c.Names[0])
		}
	}
	if roles["build"] != 1 || roles["service"] != 1 {
		t.Errorf("containers by role %v, want one build and one service container", roles)
	}
	nets, err := cli.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil || len(nets) != 1 {
		t.Fatalf("networks of the job: %v, %v; want one", nets, err)
	}
	check("network "+nets[0].Name, nets[0].Labels)
	vols, err := cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil || len(vols.Volumes) != 1 {
		t.Fatalf("volumes of the job: %v, %v; want one", vols.Volumes, err)
	}
	check("volume "+vols.Volumes[0].Name, vols.Volumes[0].Labels)
}

func TestPerJobVolumesAreSharedBetweenRuns(t *testing.T) {
	cli := dockerClient(t, busybox)
	j := start(t, cli, newExecutor(t, docker.Config{Volumes: []string{"/cache"}}), newSpec(t, busybox))
	j.run(t, "echo kept > /cache/file")
	if _, out := j.run(t, "cat /cache/file"); out != "kept\n" {
		t.Errorf("second Run read %q from the job's volume", out)
	}
}

func TestCleanupAfterAPrepareThatFailedHalfway(t *testing.T) {
	cli := dockerClient(t, busybox)
	ex := newExecutor(t, docker.Config{Volumes: []string{"/cache"}})
	spec := newSpec(t, busybox)
	spec.Services = []jobspec.Image{
		{Name: busybox, Alias: "first", Command: []string{"sleep", "300"}},
		{Name: "kiln-test/absent:service", PullPolicy: nil},
	}
	j := open(t, cli, ex, spec)
	err := j.env.Prepare(context.Background(), &j.out)
	if !errors.Is(err, executor.ErrImageUnavailable) {
		t.Fatalf("Prepare: error %v, want ErrImageUnavailable for the second service", err)
	}
	if left := leftovers(t, cli, "", spec); len(left) < 3 {
		t.Fatalf("before Cleanup, want the network, volume and first service to exist; found %v", left)
	}
	// open's cleanup runs Cleanup and checks that nothing is left.
}

func TestCleanupDuringRunStopsIt(t *testing.T) {
	cli := dockerClient(t, busybox)
	j := start(t, cli, newExecutor(t, docker.Config{}), newSpec(t, busybox))
	stop := runInBackground(t, j.env, "echo ready; sleep 300")
	if err := j.env.Cleanup(context.Background()); err != nil {
		t.Fatalf("Cleanup during Run: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- stop() }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("Run did not return after Cleanup removed its container")
	}
}

func TestReapRemovesWhatACrashedRunnerLeft(t *testing.T) {
	cli := dockerClient(t, busybox)
	crashed := "crashed-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	survivor := "other-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	tmp := t.TempDir()
	ex := newExecutor(t, docker.Config{Volumes: []string{"/cache"}, TempDir: tmp})

	// A runner prepares a job with a service, starts a script and "crashes": nobody
	// calls Cleanup.
	spec := newSpec(t, busybox)
	spec.RunnerID = crashed
	spec.Services = []jobspec.Image{{Name: busybox, Command: []string{"sleep", "300"}}}
	env, err := ex.NewEnvironment(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Prepare(context.Background(), &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	stop := runInBackground(t, env, "echo ready; sleep 300")
	defer stop()

	// Another runner's job on the same daemon must survive the reaping.
	other := newSpec(t, busybox)
	other.RunnerID = survivor
	j := start(t, cli, ex, other)

	restarted := newExecutor(t, docker.Config{TempDir: tmp})
	reaped, err := restarted.Reap(context.Background(), crashed)
	if err != nil {
		t.Fatalf("Reap: %v", err)
	}
	// Containers: the script's, the service's and the job's network sandbox.
	if want := (docker.Reaped{Containers: 3, Networks: 1, Volumes: 1, ScriptDirs: 1}); reaped != want {
		t.Errorf("Reap removed %+v, want %+v", reaped, want)
	}
	if left := leftovers(t, cli, tmp, spec); len(left) > 0 {
		t.Errorf("after Reap, the crashed runner's job left %v", left)
	}
	if left := leftovers(t, cli, tmp, other); len(left) != 4 {
		t.Errorf("Reap touched another runner's job: its resources are now %v, want its network sandbox, network, volume and script directory", left)
	}
	if _, out := j.run(t, "echo still here"); out != "still here\n" {
		t.Errorf("the other runner's job no longer runs: %q", out)
	}
	if _, err := restarted.Reap(context.Background(), ""); err == nil {
		t.Errorf("Reap with an empty runner id succeeded")
	}
}

func TestEveryJobGetsItsOwnNetworkUnlessShared(t *testing.T) {
	cli := dockerClient(t, busybox)
	networks := func(spec executor.Spec) []network.Summary {
		f := filters.NewArgs(filters.Arg("label", docker.LabelJob+"="+strconv.FormatInt(spec.JobID, 10)))
		nets, err := cli.NetworkList(context.Background(), network.ListOptions{Filters: f})
		if err != nil {
			t.Fatal(err)
		}
		return nets
	}
	plain := newSpec(t, busybox)
	j := start(t, cli, newExecutor(t, docker.Config{SharedNetwork: true}), plain)
	if nets := networks(plain); len(nets) != 0 {
		t.Errorf("with SharedNetwork, a job without services got networks %v", nets)
	}
	j.run(t, "true")

	isolated := newSpec(t, busybox)
	j = start(t, cli, newExecutor(t, docker.Config{}), isolated)
	nets := networks(isolated)
	if len(nets) != 1 || len(nets[0].IPAM.Config) == 0 {
		t.Fatalf("by default, the job's networks are %v, want one with a subnet", nets)
	}
	_, subnet, err := net.ParseCIDR(nets[0].IPAM.Config[0].Subnet)
	if err != nil {
		t.Fatal(err)
	}
	_, out := j.run(t, "ip -o -4 addr show eth0 | awk '{ print $4 }'")
	ip, _, err := net.ParseCIDR(strings.TrimSpace(out))
	if err != nil || !subnet.Contains(ip) {
		t.Errorf("the job's address %q is not on its network %s", out, subnet)
	}
}
