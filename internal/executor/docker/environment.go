package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"

	"github.com/kiln-ci/kiln/internal/executor"
	"github.com/kiln-ci/kiln/internal/jobspec"
)

// Environment is one job's Docker environment: its image, services, network, volumes
// and the containers its scripts run in. See executor.Environment for the call order;
// Cleanup may also be called while a Run is in progress (it removes the container).
type Environment struct {
	ex       *Executor
	spec     executor.Spec
	image    jobspec.Image // the job image, or the configured default
	policies []string
	services []service
	id       string // value of LabelEnvironment on everything this environment makes
	log      *slog.Logger

	mu           sync.Mutex
	touched      bool // Prepare began: there may be things to remove
	ready        bool // Prepare succeeded
	cleaned      bool
	devices      *executor.Devices
	imageID      string
	imageEnv     []string
	network      string // per-job network name, if the job has one
	spare        bool   // network was made ahead, without the job's labels
	sandbox      string // id of the container whose network namespace scripts join
	spareSandbox bool   // sandbox was made ahead, without the job's labels
	tmpRoot      string // private host directory (0700) holding scriptDir
	scriptDir    string // bind-mounted read-only at scriptsGuestDir
	mounts       []mount.Mount
	diskLimit    bool // Limits.DiskBytes is enforced
	runs         int
	running      string // id of the container a Run waits for

	removals sync.WaitGroup // script containers being removed; Add only while !cleaned
}

// service is a job service and what the environment made of it.
type service struct {
	jobspec.Image
	policies []string
	aliases  []string
}

var (
	_ executor.DeviceInjector = (*Environment)(nil)
	_ executor.ImageInspector = (*Environment)(nil)
)

// InjectDevices makes the leased devices visible to job containers (and to services
// when d.Services): Nodes become container devices, Mounts binds, Env variables that
// override job variables of the same name, Requests Docker device requests (which need
// a runtime such as NVIDIA's). It must be called before Prepare.
func (e *Environment) InjectDevices(d executor.Devices) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.touched || e.cleaned {
		return errors.New("docker executor: InjectDevices called after Prepare")
	}
	for i, n := range d.Nodes {
		if !filepath.IsAbs(n.HostPath) || !path.IsAbs(n.Path) {
			return fmt.Errorf("docker executor: device node %d (%q → %q) needs absolute paths", i, n.HostPath, n.Path)
		}
	}
	for i, m := range d.Mounts {
		if !filepath.IsAbs(m.HostPath) || !path.IsAbs(m.Path) {
			return fmt.Errorf("docker executor: device mount %d (%q → %q) needs absolute paths", i, m.HostPath, m.Path)
		}
		if !e.ex.cfg.AllowDockerSocket && exposesSocket(m.HostPath, e.ex.sockets) {
			return fmt.Errorf("docker executor: device mount %q exposes the Docker socket, which the runner's configuration does not allow", m.HostPath)
		}
	}
	if err := executor.CheckEnv("device environment", d.Env); err != nil {
		return err
	}
	e.devices = &d
	return nil
}

// ImageEnv returns the job image's configured environment (its ENV) after Prepare.
func (e *Environment) ImageEnv() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.imageEnv...)
}

// HostName returns the host name the job's scripts see once Prepare made the job's
// network sandbox: Docker names a container's host after its short id, and script
// containers joining the sandbox's network namespace share its host name. The
// sandbox runs the job image's sh, which proves the image runs scripts. Without a
// sandbox (Config.NetworkMode or Config.Runtime set) ok is false.
func (e *Environment) HostName() (string, bool) {
	if e.sandbox == "" {
		return "", false
	}
	return shortID(e.sandbox), true
}

// EnforcedLimits returns the machine-type limits job containers really get after
// Prepare: the spec's, without DiskBytes when the daemon's storage driver cannot limit
// a container's disk (Prepare then says so in the trace).
func (e *Environment) EnforcedLimits() executor.Limits {
	e.mu.Lock()
	defer e.mu.Unlock()
	l := e.spec.Limits
	if !e.diskLimit {
		l.DiskBytes = 0
	}
	return l
}

// Network names the job's own network after Prepare: "" when it has none (a shared
// network or the configured network mode).
func (e *Environment) Network() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.network
}

// GuestPath maps a path under the job directory to where job containers see it.
func (e *Environment) GuestPath(hostPath string) string {
	rel, err := filepath.Rel(e.spec.HostDir, hostPath)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return hostPath // not under the job directory: not visible in the container
	}
	return path.Join(e.ex.cfg.BuildsDir, filepath.ToSlash(rel))
}

// Prepare makes the job's environment: the image under its pull policies, the per-job
// network (see Config.SharedNetwork), volumes, and the services (started, then waited
// for). Progress lines go to
// out. Whatever it made before failing is removed by Cleanup.
func (e *Environment) Prepare(ctx context.Context, out io.Writer) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.touched:
		return errors.New("docker executor: Prepare called twice")
	case e.cleaned:
		return errors.New("docker executor: Prepare called after Cleanup")
	}
	e.touched = true
	if err := e.prepare(ctx, out); err != nil {
		return fmt.Errorf("preparing docker environment: %w", err)
	}
	e.ready = true
	return nil
}

func (e *Environment) prepare(ctx context.Context, out io.Writer) error {
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	if st, err := os.Stat(e.spec.HostDir); err != nil {
		return fmt.Errorf("job directory: %w", err)
	} else if !st.IsDir() {
		return fmt.Errorf("job directory %q is not a directory", e.spec.HostDir)
	}
	fmt.Fprintf(out, "Using Docker executor with image %s ...\n", e.image.Name)
	img, err := e.ex.ensureImage(ctx, out, e.image, e.policies, e.spec.Credentials)
	if err != nil {
		return err
	}
	e.imageID = img.ID
	if img.Config != nil {
		e.imageEnv = append([]string(nil), img.Config.Env...)
	}

	if e.tmpRoot, err = os.MkdirTemp(e.ex.tempDir(), scriptDirPrefix(e.spec.RunnerID)+strconv.FormatInt(e.spec.JobID, 10)+"-"); err != nil {
		return fmt.Errorf("making script directory: %w", err)
	}
	// The root is private to the runner's user; the directory mounted into containers
	// is readable by any user an image runs as.
	e.scriptDir = filepath.Join(e.tmpRoot, "scripts")
	if err := os.Mkdir(e.scriptDir, 0o755); err != nil {
		return fmt.Errorf("making script directory: %w", err)
	}
	if err := e.makeMounts(ctx); err != nil {
		return err
	}
	if e.ex.cfg.NetworkMode == "" && (len(e.services) > 0 || !e.ex.cfg.SharedNetwork) {
		if err := e.jobNetwork(ctx); err != nil {
			return err
		}
	}
	if e.spec.Limits.DiskBytes > 0 {
		ok, driver, err := e.ex.diskLimitSupported(ctx, e)
		if err != nil {
			return err
		}
		e.diskLimit = ok
		if !ok {
			fmt.Fprintf(out, "WARNING: the disk limit (%s) is not enforced: Docker's storage driver %q cannot limit a container's size\n", executor.Limits{DiskBytes: e.spec.Limits.DiskBytes}, driver)
		}
	}
	return e.startServices(ctx, out)
}

// makeMounts turns the configuration's volumes into mounts, creating per-job volumes.
func (e *Environment) makeMounts(ctx context.Context) error {
	e.mounts = []mount.Mount{
		{Type: mount.TypeBind, Source: e.spec.HostDir, Target: e.ex.cfg.BuildsDir},
		{Type: mount.TypeBind, Source: e.scriptDir, Target: scriptsGuestDir, ReadOnly: true},
	}
	for i, s := range e.ex.cfg.Volumes {
		v, err := parseVolume(s)
		if err != nil {
			return err
		}
		if v.Host != "" {
			e.mounts = append(e.mounts, mount.Mount{Type: mount.TypeBind, Source: v.Host, Target: v.Guest, ReadOnly: v.ReadOnly})
			continue
		}
		name := e.name("volume-" + strconv.Itoa(i))
		if _, err := e.ex.cli.VolumeCreate(ctx, volume.CreateOptions{Name: name, Labels: e.labels("volume")}); err != nil {
			return fmt.Errorf("creating volume %s for %s: %w", name, v.Guest, err)
		}
		e.mounts = append(e.mounts, mount.Mount{Type: mount.TypeVolume, Source: name, Target: v.Guest})
	}
	if d := e.devices; d != nil {
		for _, m := range d.Mounts {
			e.mounts = append(e.mounts, mount.Mount{Type: mount.TypeBind, Source: m.HostPath, Target: m.Path, ReadOnly: m.ReadOnly})
		}
	}
	return nil
}

// name is a container, network or volume name unique to this environment.
func (e *Environment) name(what string) string {
	return fmt.Sprintf("kiln-job-%d-%s-%s", e.spec.JobID, e.id, what)
}

// Cleanup removes every container, network and volume labelled with this
// environment's id, and the job's network, and the script files; then, when the job
// had a network of its own, it makes a spare network for a later job (a failure to do
// so is only logged). It is idempotent, never touches the job directory, and makes no
// Docker call for an environment never prepared.
func (e *Environment) Cleanup(ctx context.Context) error {
	e.mu.Lock()
	first := !e.cleaned
	e.cleaned = true
	touched, tmp, net, image := e.touched, e.tmpRoot, e.network, e.imageID
	var ahead spare // what was made ahead carries no job label: removed by name
	if e.spare {
		ahead.network = net
	}
	if e.spareSandbox {
		ahead.sandbox = e.sandbox
	}
	// network and sandbox stay set: a Run may still read them. Removing twice is
	// harmless, and only the first Cleanup makes a spare.
	e.tmpRoot = ""
	e.mu.Unlock()
	e.removals.Wait()
	var errs []error
	if touched {
		f := filters.NewArgs(filters.Arg("label", LabelEnvironment+"="+e.id))
		errs = append(errs, e.ex.removeLabelled(ctx, f, nil))
	}
	errs = append(errs, e.ex.removeSpares(ctx, []spare{ahead}))
	if first && net != "" && ctx.Err() == nil {
		if err := e.ex.makeSpare(ctx, e.spec.RunnerID, image); err != nil {
			e.log.Warn("could not make a network ahead of the next job", "error", err)
		}
	}
	if tmp != "" {
		if err := os.RemoveAll(tmp); err != nil {
			errs = append(errs, fmt.Errorf("removing script directory: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cleaning up docker environment: %w", err)
	}
	return nil
}

// Reaped counts what Reap removed.
type Reaped struct {
	Containers, Networks, Volumes, ScriptDirs int
}

// Reap removes every container, network and volume that the runner runnerID left
// behind, e.g. after it crashed, and its script directories in the TempDir, and the
// spare networks made for it. The runner calls it at start-up, before it takes jobs:
// it would also remove the environments of jobs still running under that id.
func (e *Executor) Reap(ctx context.Context, runnerID string) (Reaped, error) {
	if runnerID == "" {
		return Reaped{}, errors.New("docker executor: reaping needs a runner id")
	}
	f := filters.NewArgs(
		filters.Arg("label", LabelManaged+"=true"),
		filters.Arg("label", LabelRunner+"="+runnerID),
	)
	var r Reaped
	e.spares.drop(runnerID) // removed below with the rest
	err := e.removeLabelled(ctx, f, &r)
	dirs, _ := filepath.Glob(filepath.Join(e.tempDir(), scriptDirPrefix(runnerID)+"*"))
	for _, d := range dirs {
		if rerr := os.RemoveAll(d); rerr != nil {
			err = errors.Join(err, fmt.Errorf("removing script directory: %w", rerr))
			continue
		}
		r.ScriptDirs++
	}
	if err != nil {
		return r, fmt.Errorf("reaping leftovers of runner %q: %w", runnerID, err)
	}
	if r != (Reaped{}) {
		e.log.Info("reaped leftovers of a previous run", "runner_id", runnerID, "containers", r.Containers, "networks", r.Networks, "volumes", r.Volumes, "script_dirs", r.ScriptDirs)
	}
	return r, nil
}

// removeLabelled removes containers (with their anonymous volumes), then networks,
// then volumes matching f, counting them in r when it is not nil.
func (e *Executor) removeLabelled(ctx context.Context, f filters.Args, r *Reaped) error {
	if r == nil {
		r = &Reaped{}
	}
	var errs []error
	ctrs, err := e.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return fmt.Errorf("listing containers: %w", err)
	}
	for _, c := range ctrs {
		if err := e.cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("removing container %s: %w", c.ID[:12], err))
			continue
		}
		r.Containers++
	}
	nets, err := e.cli.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("listing networks: %w", err))...)
	}
	for _, n := range nets {
		if err := e.cli.NetworkRemove(ctx, n.ID); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("removing network %s: %w", n.Name, err))
			continue
		}
		r.Networks++
	}
	vols, err := e.cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("listing volumes: %w", err))...)
	}
	for _, v := range vols.Volumes {
		if err := e.cli.VolumeRemove(ctx, v.Name, true); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("removing volume %s: %w", v.Name, err))
			continue
		}
		r.Volumes++
	}
	return errors.Join(errs...)
}
