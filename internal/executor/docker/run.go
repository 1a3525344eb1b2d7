package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/pkg/stdcopy"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/kiln-ci/kiln/internal/executor"
)

// shellWrapper is the container's command: it runs the script ($0) with bash when the
// image has it, else sh, with stderr sent into stdout so the two stay in write order.
// TINI_KILL_PROCESS_GROUP makes the container's init (docker-init) signal the
// script's whole process group; the script itself must not see it.
const shellWrapper = `unset TINI_KILL_PROCESS_GROUP
if command -v bash >/dev/null 2>&1; then exec bash "$0" 2>&1; fi
exec sh "$0" 2>&1`

// How long Run waits for the attached output to end after the container exited.
const outputDrainWait = 5 * time.Second

// Run writes cmd.Script to the environment's script directory and runs it in a new
// container from the job image, with the job directory, volumes, devices, limits and
// network of the environment, and exactly cmd.Env (plus the image's ENV, as Docker
// does, and injected device variables). The container is removed when the script ends.
//
// When ctx is done first, the script's process group gets SIGTERM, then SIGKILL after
// cmd.Grace. When the memory limit killed the script, Result.OOMKilled is true.
func (e *Environment) Run(ctx context.Context, cmd executor.Command) (executor.Result, error) {
	if err := executor.CheckEnv("Command.Env", cmd.Env); err != nil {
		return executor.Result{}, fmt.Errorf("running %s: %w", cmd.Name, err)
	}
	script, name, err := e.writeScript(cmd)
	if err != nil {
		return executor.Result{}, err
	}
	defer os.Remove(script)
	if err := ctx.Err(); err != nil {
		return executor.Result{ExitCode: -1}, fmt.Errorf("running %s: not started: %w", cmd.Name, context.Cause(ctx))
	}

	cfg, host, netcfg := e.buildContainer(cmd, name)
	created, err := e.ex.cli.ContainerCreate(ctx, cfg, host, netcfg, (*ocispec.Platform)(nil), e.name(strings.TrimSuffix(name, ".sh")))
	if err != nil {
		return executor.Result{}, fmt.Errorf("running %s: creating container: %w", cmd.Name, e.causeOr(ctx, err))
	}
	id := created.ID
	// Removal uses its own context: it must happen after a cancel too.
	defer e.remove(context.WithoutCancel(ctx), id)
	if !e.setRunning(id) {
		return executor.Result{}, fmt.Errorf("running %s: environment was cleaned up", cmd.Name)
	}
	defer e.setRunning("")

	res, stopped, err := e.runContainer(ctx, id, cmd)
	switch {
	case err != nil:
		return res, fmt.Errorf("running %s: %w", cmd.Name, err)
	case stopped:
		return res, fmt.Errorf("running %s: stopped: %w", cmd.Name, context.Cause(ctx))
	}
	return res, nil
}

// runContainer attaches to the created container id, starts it, copies its output to
// cmd.Output, stops it when ctx is done (stopped is then true) and returns how the
// script ended.
func (e *Environment) runContainer(ctx context.Context, id string, cmd executor.Command) (res executor.Result, stopped bool, err error) {
	// Everything after the start must happen after a cancel too.
	bg := context.WithoutCancel(ctx)
	att, err := e.ex.cli.ContainerAttach(bg, id, container.AttachOptions{Stream: true, Stdout: true, Stderr: true})
	if err != nil {
		return res, false, fmt.Errorf("attaching to container: %w", err)
	}
	defer att.Close()

	started := time.Now()
	if err := e.ex.cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return res, false, fmt.Errorf("starting container: %w", e.causeOr(ctx, err))
	}
	// Asked after the start, "not running" is the script's end whenever it comes: a
	// wait for the next exit sent before the start could reach the daemon after a
	// short script had already ended, and never return.
	waitCtx, stopWaiting := context.WithCancel(bg)
	defer stopWaiting()
	waitC, waitErrC := e.ex.cli.ContainerWait(waitCtx, id, container.WaitConditionNotRunning)
	w := &stickyWriter{w: cmd.Output}
	copied := make(chan struct{})
	go func() {
		_, _ = stdcopy.StdCopy(w, w, att.Reader)
		close(copied)
	}()
	exited := make(chan waitOutcome, 1)
	go func() {
		select {
		case r := <-waitC:
			var err error
			if r.Error != nil && r.Error.Message != "" {
				err = errors.New(r.Error.Message)
			}
			exited <- waitOutcome{code: int(r.StatusCode), err: err}
		case err := <-waitErrC:
			exited <- waitOutcome{err: err}
		}
	}()

	var ended waitOutcome
	select {
	case ended = <-exited:
	case <-ctx.Done():
		stopped = true
		ended = e.stop(bg, id, cmd.Grace, exited)
	}
	res = executor.Result{ExitCode: ended.code, Duration: time.Since(started)}
	if ended.err != nil {
		return res, stopped, fmt.Errorf("waiting for container: %w", ended.err)
	}
	select {
	case <-copied:
	case <-time.After(outputDrainWait):
		att.Close()
		<-copied
	}
	// Only a script that failed can have been killed for memory: a successful one is
	// not asked about (one call less for every script that succeeds).
	if res.ExitCode != 0 {
		if st, err := e.ex.cli.ContainerInspect(bg, id); err == nil && st.State != nil {
			res.OOMKilled = st.State.OOMKilled
		}
		// SIGKILLed under a memory limit, yet not OOMKilled: the daemon may have learnt
		// of the OOM kill only after the exit.
		if !res.OOMKilled && !stopped && res.ExitCode == 128+9 && e.spec.Limits.MemoryBytes > 0 {
			res.OOMKilled = e.oomEvent(bg, id, started)
		}
	}
	// docker-init exits 128+n when a signal killed the script: a stop or the OOM killer.
	if (stopped && (res.ExitCode == 128+15 || res.ExitCode == 128+9)) || (res.OOMKilled && res.ExitCode == 128+9) {
		res.ExitCode = -1
	}
	if err := w.failure(); err != nil && !stopped {
		return res, false, fmt.Errorf("writing output: %w", err)
	}
	return res, stopped, nil
}

type waitOutcome struct {
	code int
	err  error
}

// stop sends SIGTERM (which docker-init passes to the script's process group), waits
// up to grace, then sends SIGKILL, and waits for the container to exit.
func (e *Environment) stop(ctx context.Context, id string, grace time.Duration, exited <-chan waitOutcome) waitOutcome {
	if grace <= 0 {
		grace = executor.DefaultGrace
	}
	if err := e.ex.cli.ContainerKill(ctx, id, "TERM"); err != nil {
		e.log.Warn("sending SIGTERM to a job container", "container", id, "error", err)
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case o := <-exited:
		return o
	case <-t.C:
	}
	if err := e.ex.cli.ContainerKill(ctx, id, "KILL"); err != nil {
		e.log.Warn("sending SIGKILL to a job container", "container", id, "error", err)
	}
	return <-exited
}

// buildContainer returns the configuration of the container that runs script name.
func (e *Environment) buildContainer(cmd executor.Command, name string) (*container.Config, *container.HostConfig, *network.NetworkingConfig) {
	env := cmd.Env
	if e.devices != nil {
		env = executor.MergeEnv(env, e.devices.Env)
	}
	cfg := &container.Config{
		Image:        e.imageID,
		Cmd:          []string{"sh", "-c", shellWrapper, path.Join(scriptsGuestDir, name)},
		Env:          append(append(make([]string, 0, len(env)+1), env...), "TINI_KILL_PROCESS_GROUP=1"),
		WorkingDir:   e.GuestPath(e.spec.HostDir),
		Labels:       e.labels("build"),
		AttachStdout: true,
		AttachStderr: true,
	}
	if e.image.Entrypoint != nil {
		cfg.Entrypoint = entrypoint(e.image.Entrypoint)
	}
	if o := e.image.ExecutorOpts; o != nil && o.Docker != nil {
		cfg.User = o.Docker.User
	}
	host := e.hostConfig(e.spec.Limits, true)
	host.Mounts = e.mounts
	if e.diskLimit {
		host.StorageOpt = map[string]string{"size": fmt.Sprint(e.spec.Limits.DiskBytes)}
	}
	init := true
	host.Init = &init
	var netcfg *network.NetworkingConfig
	if e.sandbox != "" {
		// The sandbox holds the job's network; DNS and hosts entries are its own.
		host.NetworkMode = container.NetworkMode("container:" + e.sandbox)
		host.DNS, host.ExtraHosts = nil, nil
	} else if e.network != "" {
		// On its per-job network the job's container answers to "build", as with
		// gitlab-runner (services can reach the job by that name).
		netcfg = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			e.network: {Aliases: []string{buildAlias}},
		}}
	}
	return cfg, host, netcfg
}

// buildAlias is the job container's host name on the per-job network.
const buildAlias = "build"

// hostConfig applies the configuration, limits and (when withDevices) devices.
func (e *Environment) hostConfig(l executor.Limits, withDevices bool) *container.HostConfig {
	c := e.ex.cfg
	host := &container.HostConfig{
		Privileged:  c.Privileged,
		CapAdd:      c.CapAdd,
		CapDrop:     c.CapDrop,
		SecurityOpt: c.SecurityOpt,
		DNS:         c.DNS,
		ExtraHosts:  c.ExtraHosts,
		Runtime:     c.Runtime,
		NetworkMode: container.NetworkMode(c.NetworkMode),
	}
	if e.network != "" {
		host.NetworkMode = container.NetworkMode(e.network)
	}
	host.NanoCPUs = int64(l.CPUs * 1e9)
	if l.MemoryBytes > 0 {
		host.Memory = int64(l.MemoryBytes)
		host.MemorySwap = int64(l.MemoryBytes) // no swap beyond the limit
	}
	if l.PIDs > 0 {
		pids := l.PIDs
		host.PidsLimit = &pids
	}
	host.ShmSize = int64(c.ShmSize)
	if l.ShmBytes > 0 {
		host.ShmSize = int64(l.ShmBytes)
	}
	if d := e.devices; d != nil && withDevices {
		for _, n := range d.Nodes {
			perm := n.Permissions
			if perm == "" {
				perm = "rwm"
			}
			host.Devices = append(host.Devices, container.DeviceMapping{PathOnHost: n.HostPath, PathInContainer: n.Path, CgroupPermissions: perm})
		}
		for _, r := range d.Requests {
			host.DeviceRequests = append(host.DeviceRequests, container.DeviceRequest{Driver: r.Driver, DeviceIDs: r.DeviceIDs, Capabilities: [][]string{r.Capabilities}})
		}
	}
	return host
}

// entrypoint turns a job's entrypoint into Docker's: [""] (GitLab's way of saying
// "none") becomes an empty, non-nil list, which overrides the image's.
func entrypoint(ep []string) []string {
	for _, s := range ep {
		if s != "" {
			return ep
		}
	}
	return []string{}
}

// writeScript writes cmd.Script into the script directory and returns its host path
// and file name.
func (e *Environment) writeScript(cmd executor.Command) (string, string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.ready {
		return "", "", fmt.Errorf("running %s: Run called before a successful Prepare", cmd.Name)
	}
	if e.cleaned {
		return "", "", fmt.Errorf("running %s: environment was cleaned up", cmd.Name)
	}
	e.runs++
	name := fmt.Sprintf("%03d-%s.sh", e.runs, executor.SafeName(cmd.Name))
	p := filepath.Join(e.scriptDir, name)
	// Readable by whatever user the image runs as; the directory above is private.
	if err := os.WriteFile(p, []byte(cmd.Script), 0o644); err != nil {
		return "", "", fmt.Errorf("running %s: writing script: %w", cmd.Name, err)
	}
	return p, name, nil
}

// remove removes a script's container in the background; Cleanup waits for it. Once
// Cleanup has begun it removes at once.
func (e *Environment) remove(ctx context.Context, id string) {
	rm := func() {
		err := e.ex.cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
		if err != nil && !isNotFound(err) {
			e.log.Warn("removing a script's container", "container", id, "error", err)
		}
	}
	e.mu.Lock()
	if e.cleaned {
		e.mu.Unlock()
		rm() // Cleanup's own sweep may be under way: removing twice is harmless
		return
	}
	e.removals.Add(1)
	e.mu.Unlock()
	go func() {
		defer e.removals.Done()
		rm()
	}()
}

func (e *Environment) setRunning(id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if id != "" && e.cleaned {
		return false
	}
	e.running = id
	return true
}

// causeOr returns the context's cause when ctx is done (the real reason an API call
// failed), else err.
func (e *Environment) causeOr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", context.Cause(ctx), err)
	}
	return err
}

// stickyWriter passes writes on until one fails, then swallows the rest (so the
// container never blocks on its output) and keeps the first error.
type stickyWriter struct {
	mu  sync.Mutex
	w   io.Writer
	err error
}

// failure returns the first write error.
func (s *stickyWriter) failure() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *stickyWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil && s.w != nil {
		if _, err := s.w.Write(p); err != nil {
			s.err = err
		}
	}
	return len(p), nil
}
