package docker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/kiln-ci/kiln/internal/executor"
)

// A job's own network, and how it stays off the job's critical path:
//
//   - Starting a container on a network costs about twice what starting one that
//     joins a running container's network namespace does. So the job's network holds
//     one small "sandbox" container from the job image (sh waiting on an open stdin,
//     read-only, no capabilities), and every script container joins its namespace
//     (NetworkMode container:<sandbox>). The sandbox answers to "build" on the
//     network, as the job's container does with gitlab-runner; scripts see its host
//     name, /etc/hosts and DNS configuration, which therefore last for the whole job.
//     With Config.Runtime set (a runtime that may not share a runc container's
//     namespace), script containers are attached to the network instead.
//   - Making a network costs about 0.15 s, a sandbox 0.3 s, removing both 0.3 s. So
//     the executor keeps Config.SpareNetworks of them made ahead per runner id (see
//     also KeepSpareNetworks). Prepare takes one (or makes what is missing), and
//     Cleanup, which the runner calls after the job's final status, removes the job's
//     network and sandbox and makes the next spare, its sandbox from the image of the
//     job that just ended (the likeliest image of the next).
//   - A spare has never had a job on it, so a job's network is always new to it. A
//     spare sandbox is used only by a job of the very image (by id) it runs: a job
//     must never share a network namespace with a process of an image it did not
//     choose. Spares carry the runner's labels (not a job's, which they cannot know),
//     so Reap removes them with the rest of a crashed runner's leftovers, and Close
//     removes them.

// LabelSpare marks a network or sandbox made ahead of the job that uses it (labels
// cannot change: it keeps the label in use); its value is the id of the executor that
// made it.
const LabelSpare = "dev.kiln.spare"

// sandboxCommand keeps the sandbox alive with a shell builtin only: read waits on the
// container's stdin, which stays open and silent.
var sandboxCommand = []string{"sh", "-c", "read -r _; exit 0"}

// spare is a network made ahead, with a sandbox on it unless making one failed.
type spare struct {
	network string
	sandbox string // container id
	image   string // the sandbox's image id
}

// spareNetworks holds the spares, per runner id. It is safe for concurrent use.
type spareNetworks struct {
	mu       sync.Mutex
	byRunner map[string][]spare // oldest first
	making   map[string]int     // spares being made
}

// reserve reports whether runner may have one more spare under target, and if so
// counts it as being made until put or unreserve.
func (s *spareNetworks) reserve(runner string, target int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.byRunner[runner])+s.making[runner] >= target {
		return false
	}
	s.making[runner]++
	return true
}

func (s *spareNetworks) unreserve(runner string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.making[runner]--
}

// take returns a spare of runner, one with a sandbox of image when there is one.
func (s *spareNetworks) take(runner, image string) (spare, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.byRunner[runner]
	if len(list) == 0 {
		return spare{}, false
	}
	i := 0
	for k, sp := range list {
		if sp.image == image && sp.sandbox != "" {
			i = k
			break
		}
	}
	sp := list[i]
	s.byRunner[runner] = append(list[:i:i], list[i+1:]...)
	return sp, true
}

// put adds a spare made under a reservation.
func (s *spareNetworks) put(runner string, sp spare) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.making[runner]--
	s.byRunner[runner] = append(s.byRunner[runner], sp)
}

// drop forgets runner's spares (Reap removes them).
func (s *spareNetworks) drop(runner string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byRunner, runner)
}

// dropAll forgets every spare and returns them.
func (s *spareNetworks) dropAll() []spare {
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []spare
	for _, list := range s.byRunner {
		all = append(all, list...)
	}
	clear(s.byRunner)
	return all
}

// KeepSpareNetworks turns the making of spares (networks with their sandboxes, see
// above) on, as Config.SpareNetworks says, or off. Spares already made stay until a
// job takes them or Close. A caller that knows no job will follow, as kiln exec once
// the last job of its pipeline has started, turns it off so that its end waits for
// nothing nobody will use. Safe for concurrent use.
func (e *Executor) KeepSpareNetworks(keep bool) { e.keepSpares.Store(keep) }

// spareTarget is how many spares to keep per runner id.
func (e *Executor) spareTarget() int {
	switch n := e.cfg.SpareNetworks; {
	case !e.keepSpares.Load() || n < 0:
		return 0
	case n == 0:
		return DefaultSpareNetworks
	default:
		return n
	}
}

// usesSandbox reports whether script containers join a sandbox's network namespace.
// A runtime other than Docker's default (Config.Runtime, e.g. a VM-based one) may not
// share a namespace with a runc container: its scripts are attached to the network.
func (e *Executor) usesSandbox() bool { return e.cfg.Runtime == "" }

// makeSpare makes one spare for runner, with a sandbox of image, when it has fewer
// than the target. A spare whose sandbox could not be made is kept without one.
func (e *Executor) makeSpare(ctx context.Context, runner, image string) error {
	if !e.spares.reserve(runner, e.spareTarget()) {
		return nil
	}
	labels := func(role string) map[string]string {
		return map[string]string{LabelManaged: "true", LabelRunner: runner, LabelRole: role, LabelSpare: e.id}
	}
	sp := spare{network: "kiln-spare-" + executor.SafeName(runner) + "-" + randomID()}
	if _, err := e.cli.NetworkCreate(ctx, sp.network, network.CreateOptions{Driver: "bridge", Labels: labels("network")}); err != nil {
		e.spares.unreserve(runner)
		return fmt.Errorf("making a spare network: %w", err)
	}
	if e.usesSandbox() {
		id, err := e.runSandbox(ctx, image, sp.network, sp.network+"-sandbox", labels("sandbox"))
		if err == nil {
			sp.sandbox, sp.image = id, image
		} else {
			e.log.Warn("could not make a spare sandbox", "network", sp.network, "error", err)
			if rerr := e.removeSandbox(ctx, id); rerr != nil {
				e.log.Warn("removing a spare sandbox that failed", "error", rerr)
			}
		}
	}
	e.spares.put(runner, sp)
	return nil
}

// removeSpares removes spares' sandboxes and networks, ignoring what has gone.
func (e *Executor) removeSpares(ctx context.Context, spares []spare) error {
	var errs []error
	for _, sp := range spares {
		errs = append(errs, e.removeSandbox(ctx, sp.sandbox))
		if sp.network != "" {
			errs = append(errs, e.removeNetwork(ctx, sp.network))
		}
	}
	return errors.Join(errs...)
}

func (e *Executor) removeNetwork(ctx context.Context, name string) error {
	if err := e.cli.NetworkRemove(ctx, name); err != nil && !isNotFound(err) {
		return fmt.Errorf("removing network %s: %w", name, err)
	}
	return nil
}

func (e *Executor) removeSandbox(ctx context.Context, id string) error {
	if id == "" {
		return nil
	}
	if err := e.cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true}); err != nil && !isNotFound(err) {
		return fmt.Errorf("removing network sandbox %s: %w", shortID(id), err)
	}
	return nil
}

// runSandbox creates and starts a sandbox of image on net; the id is set once the
// container was created.
func (e *Executor) runSandbox(ctx context.Context, image, net, name string, labels map[string]string) (string, error) {
	cfg := &container.Config{
		Image:      image,
		Entrypoint: []string{},
		Cmd:        sandboxCommand,
		OpenStdin:  true, // never written: read waits until the container is removed
		Labels:     labels,
	}
	pids := int64(8)
	host := &container.HostConfig{
		NetworkMode:    container.NetworkMode(net),
		DNS:            e.cfg.DNS,
		ExtraHosts:     e.cfg.ExtraHosts,
		CapDrop:        []string{"ALL"},
		SecurityOpt:    []string{"no-new-privileges"},
		ReadonlyRootfs: true,
		Resources:      container.Resources{PidsLimit: &pids, Memory: 32 << 20, MemorySwap: 32 << 20},
	}
	netcfg := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
		net: {Aliases: []string{buildAlias}},
	}}
	created, err := e.cli.ContainerCreate(ctx, cfg, host, netcfg, (*ocispec.Platform)(nil), name)
	if err != nil {
		return "", err
	}
	return created.ID, e.cli.ContainerStart(ctx, created.ID, container.StartOptions{})
}

// jobNetwork gives the environment its network and sandbox: a spare's when there is
// one (its sandbox only when it runs the job's image), else new ones labelled with the
// job. What a spare lacks, or what has gone from it (reaped, pruned, stopped by a
// daemon restart), is made anew.
func (e *Environment) jobNetwork(ctx context.Context) error {
	sp, ok := e.ex.spares.take(e.spec.RunnerID, e.imageID)
	if ok {
		e.network, e.spare = sp.network, true
		if sp.sandbox != "" && sp.image == e.imageID && e.ex.running(ctx, sp.sandbox) {
			e.sandbox, e.spareSandbox = sp.sandbox, true
			return nil
		}
		// Another image's sandbox must be gone before the job is on the network.
		if err := e.ex.removeSandbox(ctx, sp.sandbox); err != nil {
			return err
		}
	} else if err := e.newJobNetwork(ctx); err != nil {
		return err
	}
	if !e.ex.usesSandbox() {
		return nil
	}
	id, err := e.ex.runSandbox(ctx, e.imageID, e.network, e.name("sandbox"), e.labels("sandbox"))
	if err != nil && e.spare && isNotFound(err) {
		e.log.Warn("a spare network has gone; making a new one", "network", e.network)
		if err = e.ex.removeSandbox(ctx, id); err != nil {
			return err
		}
		if err = e.newJobNetwork(ctx); err == nil {
			id, err = e.ex.runSandbox(ctx, e.imageID, e.network, e.name("sandbox"), e.labels("sandbox"))
		}
	}
	if err != nil {
		if strings.Contains(err.Error(), "executable file not found") {
			return fmt.Errorf("starting the job's network container: the job image %s has no sh, which Kiln needs to run scripts: %w", e.image.Name, err)
		}
		return fmt.Errorf("starting the job's network container: %w", err)
	}
	e.sandbox = id
	return nil
}

func (e *Environment) newJobNetwork(ctx context.Context) error {
	name := e.name("network")
	if _, err := e.ex.cli.NetworkCreate(ctx, name, network.CreateOptions{Driver: "bridge", Labels: e.labels("network")}); err != nil {
		return fmt.Errorf("creating network %s: %w", name, err)
	}
	e.network, e.spare = name, false
	return nil
}

// running reports whether container id runs.
func (e *Executor) running(ctx context.Context, id string) bool {
	st, err := e.cli.ContainerInspect(ctx, id)
	return err == nil && st.State != nil && st.State.Running
}

func shortID(id string) string { return id[:min(12, len(id))] }
