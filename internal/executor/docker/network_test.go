package docker_test

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/kiln-ci/kiln/internal/executor"
	"github.com/kiln-ci/kiln/internal/executor/docker"
)

// spareNetworks names the networks made ahead for runner (in use by a job or not).
func spareNetworks(t *testing.T, cli *client.Client, runner string) []string {
	t.Helper()
	f := filters.NewArgs(filters.Arg("label", docker.LabelRunner+"="+runner), filters.Arg("label", docker.LabelSpare))
	nets, err := cli.NetworkList(context.Background(), network.ListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range nets {
		names = append(names, n.Name)
		if n.Labels[docker.LabelManaged] != "true" {
			t.Errorf("spare network %s lacks %s=true: %v", n.Name, docker.LabelManaged, n.Labels)
		}
	}
	return names
}

// sandboxes lists the ids of the sandbox containers on network net.
func sandboxes(t *testing.T, cli *client.Client, net string) []string {
	t.Helper()
	n, err := cli.NetworkInspect(context.Background(), net, network.InspectOptions{})
	if err != nil {
		t.Fatalf("inspecting network %s: %v", net, err)
	}
	var ids []string
	for id := range n.Containers {
		c, err := cli.ContainerInspect(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if c.Config.Labels[docker.LabelRole] != "sandbox" {
			t.Errorf("container %s (%v) is on network %s", c.Name, c.Config.Labels, net)
			continue
		}
		ids = append(ids, id)
	}
	return ids
}

func uniqueRunner(prefix string) string {
	return prefix + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
}

// address returns the job's IPv4 address on eth0, with its prefix length.
func address(t *testing.T, j *job) string {
	t.Helper()
	_, out := j.run(t, "ip -o -4 addr show eth0 | awk '{ print $4 }'")
	return strings.TrimSpace(out)
}

func TestAJobTakesASpareNetworkAndItsCleanupMakesTheNext(t *testing.T) {
	cli := dockerClient(t, busybox)
	ex := newExecutor(t, docker.Config{})
	runner := uniqueRunner("spares")
	spec := func() executor.Spec {
		s := newSpec(t, busybox)
		s.RunnerID = runner
		return s
	}

	first := start(t, cli, ex, spec())
	if spares := spareNetworks(t, cli, runner); len(spares) != 0 {
		t.Fatalf("before any job ended, spares %v", spares)
	}
	own := first.env.Network()
	if own == "" || len(sandboxes(t, cli, own)) != 1 {
		t.Fatalf("the first job's network %q, want one made for it with one sandbox", own)
	}
	if err := first.env.Cleanup(context.Background()); err != nil {
		t.Fatal(err)
	}
	spares := spareNetworks(t, cli, runner)
	if len(spares) != 1 || spares[0] == own {
		t.Fatalf("after the first job's cleanup, spares are %v, want one new network (the job's was %s)", spares, own)
	}
	spareSandbox := sandboxes(t, cli, spares[0])
	if len(spareSandbox) != 1 {
		t.Fatalf("the spare network holds sandboxes %v, want one", spareSandbox)
	}

	second := start(t, cli, ex, spec())
	if got := second.env.Network(); got != spares[0] {
		t.Fatalf("the second job is on %q, want the spare %s", got, spares[0])
	}
	if got := sandboxes(t, cli, spares[0]); len(got) != 1 || got[0] != spareSandbox[0] {
		t.Errorf("the second job (same image) has sandboxes %v, want the spare's %v", got, spareSandbox)
	}
	n, err := cli.NetworkInspect(context.Background(), spares[0], network.InspectOptions{})
	if err != nil || len(n.IPAM.Config) == 0 {
		t.Fatalf("inspecting the spare: %v, %v", n, err)
	}
	_, subnet, _ := net.ParseCIDR(n.IPAM.Config[0].Subnet)
	if ip, _, err := net.ParseCIDR(address(t, second)); err != nil || !subnet.Contains(ip) {
		t.Errorf("the second job's address %v is not on the spare's subnet %v", ip, subnet)
	}
	if res, out := second.run(t, "ping -c 1 build >/dev/null && echo reachable"); res.ExitCode != 0 || out != "reachable\n" {
		t.Errorf("on the spare, ping build: exit %d, %q", res.ExitCode, out)
	}
	if err := second.env.Cleanup(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.NetworkInspect(context.Background(), spares[0], network.InspectOptions{}); err == nil {
		t.Errorf("the spare the second job used is still there after its cleanup: networks are never used twice")
	}
	if _, err := cli.ContainerInspect(context.Background(), spareSandbox[0]); err == nil {
		t.Errorf("the spare sandbox the second job used is still there after its cleanup")
	}
	next := spareNetworks(t, cli, runner)
	if len(next) != 1 || next[0] == spares[0] {
		t.Errorf("after the second job, spares are %v, want one new network", next)
	}

	if err := ex.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if left := spareNetworks(t, cli, runner); len(left) != 0 {
		t.Errorf("Close left spare networks %v", left)
	}
	f := filters.NewArgs(filters.Arg("label", docker.LabelRunner+"="+runner))
	if ctrs, _ := cli.ContainerList(context.Background(), container.ListOptions{All: true, Filters: f}); len(ctrs) != 0 {
		t.Errorf("Close left containers %v", ctrs)
	}
}

// A spare sandbox runs the image of the job that ended before; a job of another image
// never shares its network namespace with it.
func TestAJobOfAnotherImageGetsItsOwnSandboxOnTheSpare(t *testing.T) {
	cli := dockerClient(t, busybox, debian)
	ex := newExecutor(t, docker.Config{})
	spec := newSpec(t, busybox)
	spec.RunnerID = uniqueRunner("other-image")
	first := start(t, cli, ex, spec)
	if err := first.env.Cleanup(context.Background()); err != nil {
		t.Fatal(err)
	}
	spares := spareNetworks(t, cli, spec.RunnerID)
	if len(spares) != 1 {
		t.Fatalf("spares %v, want one", spares)
	}
	old := sandboxes(t, cli, spares[0])

	spec = newSpec(t, debian)
	spec.RunnerID = first.spec.RunnerID
	second := start(t, cli, ex, spec)
	if second.env.Network() != spares[0] {
		t.Fatalf("the job is on %q, want the spare network %s", second.env.Network(), spares[0])
	}
	now := sandboxes(t, cli, spares[0])
	if len(now) != 1 || len(old) != 1 || now[0] == old[0] {
		t.Fatalf("the spare's busybox sandbox %v is still on the network of a debian job (sandboxes now %v)", old, now)
	}
	if _, err := cli.ContainerInspect(context.Background(), old[0]); err == nil {
		t.Errorf("the spare's busybox sandbox still exists")
	}
	c, err := cli.ContainerInspect(context.Background(), now[0])
	img, _ := cli.ImageInspect(context.Background(), debian)
	if err != nil || c.Image != img.ID || c.Config.Labels[docker.LabelJob] != strconv.FormatInt(spec.JobID, 10) {
		t.Errorf("the debian job's sandbox: image %q (want %s), labels %v, %v", c.Image, img.ID, c.Config.Labels, err)
	}
	if _, out := second.run(t, "cat /etc/debian_version >/dev/null && echo debian"); out != "debian\n" {
		t.Errorf("the job ran in %q", out)
	}
}

func TestNoSpareNetworksWhenTurnedOff(t *testing.T) {
	cli := dockerClient(t, busybox)
	ex := newExecutor(t, docker.Config{SpareNetworks: -1})
	spec := newSpec(t, busybox)
	spec.RunnerID = uniqueRunner("no-spares")
	j := start(t, cli, ex, spec)
	if err := j.env.Cleanup(context.Background()); err != nil {
		t.Fatal(err)
	}
	if spares := spareNetworks(t, cli, spec.RunnerID); len(spares) != 0 {
		t.Errorf("with SpareNetworks -1, spares %v", spares)
	}
}

// A runner restarted after a crash reaps the spares of its previous run; an executor
// whose spare has gone (reaped, or `docker network prune`) makes a new network.
func TestReapRemovesSparesAndAJobWhoseSpareWentGetsANewNetwork(t *testing.T) {
	cli := dockerClient(t, busybox)
	ex := newExecutor(t, docker.Config{})
	runner := uniqueRunner("reaped-spares")
	spec := newSpec(t, busybox)
	spec.RunnerID = runner
	first := start(t, cli, ex, spec)
	if err := first.env.Cleanup(context.Background()); err != nil {
		t.Fatal(err)
	}
	if spares := spareNetworks(t, cli, runner); len(spares) != 1 {
		t.Fatalf("spares %v, want one", spares)
	}
	reaped, err := newExecutor(t, docker.Config{}).Reap(context.Background(), runner)
	if err != nil || reaped.Networks != 1 || reaped.Containers != 1 {
		t.Fatalf("Reap removed %+v (%v), want the spare network and its sandbox", reaped, err)
	}
	if spares := spareNetworks(t, cli, runner); len(spares) != 0 {
		t.Fatalf("after Reap, spares %v", spares)
	}

	spec = newSpec(t, busybox)
	spec.RunnerID = runner
	second := start(t, cli, ex, spec)
	if n := second.env.Network(); n == "" || len(sandboxes(t, cli, n)) != 1 {
		t.Fatalf("the job whose spare had gone is on network %q, want a new one with its sandbox", n)
	}
	if res, out := second.run(t, "ping -c 1 build >/dev/null && echo reachable"); res.ExitCode != 0 || out != "reachable\n" {
		t.Errorf("on its new network, ping build: exit %d, %q", res.ExitCode, out)
	}
}

// Every script runs in a container of its own (nothing but the job directory passes
// between them), and all of them share the job's network sandbox: one address, one
// host name.
func TestScriptsRunInFreshContainersThatShareTheJobsNetwork(t *testing.T) {
	cli := dockerClient(t, busybox)
	j := start(t, cli, newExecutor(t, docker.Config{}), newSpec(t, busybox))
	_, first := j.run(t, "echo left-behind > /marker; hostname; ip -o -4 addr show eth0 | awk '{ print $4 }'")
	_, second := j.run(t, "cat /marker 2>/dev/null || echo fresh; hostname; ip -o -4 addr show eth0 | awk '{ print $4 }'")
	firstLines, secondLines := strings.Split(first, "\n"), strings.Split(second, "\n")
	if len(firstLines) < 2 || len(secondLines) < 3 {
		t.Fatalf("outputs %q and %q", first, second)
	}
	if secondLines[0] != "fresh" {
		t.Errorf("the second script saw a file the first one wrote outside the job directory: %q", secondLines[0])
	}
	if firstLines[0] != secondLines[1] || firstLines[1] != secondLines[2] || firstLines[1] == "" {
		t.Errorf("host name and address differ between the job's scripts: %q vs %q", first, second)
	}
}

func TestKeepSpareNetworksOffMakesNoneAndOnMakesThemAgain(t *testing.T) {
	cli := dockerClient(t, busybox)
	ex := newExecutor(t, docker.Config{})
	runner := uniqueRunner("keep-spares")
	cleanupOne := func() {
		t.Helper()
		spec := newSpec(t, busybox)
		spec.RunnerID = runner
		j := start(t, cli, ex, spec)
		if err := j.env.Cleanup(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	ex.KeepSpareNetworks(false)
	cleanupOne()
	if spares := spareNetworks(t, cli, runner); len(spares) != 0 {
		t.Errorf("with spares turned off, a job's cleanup made %v", spares)
	}
	ex.KeepSpareNetworks(true)
	cleanupOne()
	if spares := spareNetworks(t, cli, runner); len(spares) != 1 {
		t.Errorf("with spares turned on again, spares are %v, want one", spares)
	}
}

// With a runtime of the configuration's choosing, which may not share a runc
// container's network namespace, scripts are attached to the job's network.
func TestWithAConfiguredRuntimeScriptsAreOnTheNetworkWithoutASandbox(t *testing.T) {
	cli := dockerClient(t, busybox)
	j := start(t, cli, newExecutor(t, docker.Config{Runtime: "runc"}), newSpec(t, busybox))
	if got := sandboxes(t, cli, j.env.Network()); len(got) != 0 {
		t.Errorf("with runtime runc configured, the job's network holds sandboxes %v", got)
	}
	if res, out := j.run(t, "ping -c 1 build >/dev/null && echo reachable"); res.ExitCode != 0 || out != "reachable\n" {
		t.Errorf("ping build: exit %d, %q", res.ExitCode, out)
	}
}
