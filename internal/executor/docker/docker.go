// Package docker is the Docker executor: each job gets its own containers from the job
// image, with its services as sidecar containers on a per-job network, through the
// official Docker client (API version negotiated, so Engine 20.10 / API 1.41 works).
//
// Design, as gitlab-runner's docker executor does it per stage: every Run is a fresh
// container from the job image that shares the job directory, so nothing but files
// passes from one script to the next, and a script's processes end with its container.
//
//   - The job directory (Spec.HostDir) is bind-mounted at Config.BuildsDir ("/builds"),
//     not copied into a volume: the runner writes sources, caches, file variables and
//     dependencies' artifacts there on the host and collects artifacts from it, so both
//     sides must see the same files without copying them through the API. A path P under
//     HostDir is GuestPath(P) = BuildsDir + P's path relative to HostDir, so a runner that
//     puts the project at HostDir/group/project gets GitLab's /builds/group/project.
//   - Scripts are written to a private host directory, bind-mounted read-only at
//     /.kiln/scripts, and run as `sh -c` that detects bash (else sh) in the image and
//     sends stderr into stdout, so the trace sees both in write order.
//   - The container's init (docker-init) is told to signal the script's whole process
//     group: a cancel's SIGTERM reaches every process, a trap sees it, and SIGKILL
//     follows after Command.Grace.
//   - Everything created is labelled dev.kiln.managed=true, dev.kiln.runner=<RunnerID>,
//     dev.kiln.job=<JobID>, dev.kiln.environment=<random id> plus Spec.Labels; Cleanup
//     removes what carries its environment's label, Reap what carries a runner's.
//   - Every job gets its own bridge network (services answer there to their aliases),
//     so jobs cannot reach each other; Config.SharedNetwork opts out for jobs without
//     services. Script containers join the network namespace of a small per-job
//     sandbox container on it, and networks are made ahead (network.go), which keeps
//     a job's own network nearly free.
//   - A script container is removed in the background once its script has ended and
//     its output is read; Cleanup waits for those removals.
//
// This package is on the runner side: the coordinator side must not import it.
package docker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docker/docker/client"

	"github.com/kiln-ci/kiln/internal/executor"
	"github.com/kiln-ci/kiln/internal/jobspec"
)

// Name is the Docker executor's name in configuration.
const Name = "docker"

// Labels on everything the executor creates.
const (
	LabelManaged     = "dev.kiln.managed"     // always "true"
	LabelRunner      = "dev.kiln.runner"      // Spec.RunnerID
	LabelJob         = "dev.kiln.job"         // Spec.JobID
	LabelEnvironment = "dev.kiln.environment" // random id of one Environment
	LabelRole        = "dev.kiln.role"        // "build", "service", "sandbox", "network", "volume", "probe"
)

// Defaults.
const (
	DefaultBuildsDir              = "/builds"
	DefaultWaitForServicesTimeout = 30 * time.Second
	// DefaultPullPolicy is gitlab-runner's default when neither the runner's
	// configuration nor the job sets one.
	DefaultPullPolicy = jobspec.PullAlways
	// DefaultSpareNetworks is how many networks are made ahead per runner id.
	DefaultSpareNetworks = 1
	scriptsGuestDir      = "/.kiln/scripts"
)

// Config configures the Docker executor, after gitlab-runner's [runners.docker].
type Config struct {
	// Host is the daemon's address (DOCKER_HOST); empty uses the environment's
	// DOCKER_HOST or the default socket.
	Host string
	// Image is the default job image, used when a job names none (`image`).
	Image string
	// PullPolicy is tried in order for each image a job does not set a policy for
	// (`pull_policy`); empty means [DefaultPullPolicy], as in gitlab-runner.
	PullPolicy []string
	// AllowedPullPolicies bounds the policies a job may ask for
	// (`allowed_pull_policies`); empty means PullPolicy.
	AllowedPullPolicies []string
	// AllowedImages and AllowedServices are glob patterns a job's image and services
	// must match (`allowed_images`, `allowed_services`): * matches within a path
	// segment, ** across segments. Empty allows all. The default Image is trusted.
	AllowedImages   []string
	AllowedServices []string
	// Privileged runs job and service containers privileged (`privileged`). Never
	// otherwise.
	Privileged bool
	// Volumes are added to every job container (`volumes`): "HOST:GUEST[:ro|rw]" binds
	// or "GUEST" for a volume made per job (labelled, removed by Cleanup). A bind of the
	// Docker socket (or a directory holding it) is refused unless AllowDockerSocket.
	Volumes []string
	// AllowDockerSocket permits Volumes and injected mounts to expose the Docker socket.
	AllowDockerSocket bool
	// ShmSize is /dev/shm's size in bytes when the machine type sets none (`shm_size`).
	ShmSize uint64
	// ServiceLimits apply to each service container (`service_cpus`,
	// `service_memory`, ...); the machine type's limits apply to job containers only.
	ServiceLimits executor.Limits
	// NetworkMode puts job containers in this Docker network mode (`network_mode`)
	// instead of a per-job network; jobs with services are then refused.
	NetworkMode string
	// SharedNetwork puts jobs without services on Docker's default bridge instead of a
	// network of their own. That lets concurrent jobs reach each other, so it is off by
	// default: Kiln's security model gives every job its own network (gitlab-runner's
	// FF_NETWORK_PER_BUILD, on). Jobs with services always get one.
	SharedNetwork bool
	// SpareNetworks is how many per-job networks the executor keeps made ahead for each
	// runner id, so that a job need not wait for one (see network.go): 0 means
	// DefaultSpareNetworks, negative none. Each is a bridge with a subnet from the
	// daemon's address pools, which are small (about 30 by default).
	SpareNetworks int
	// BuildsDir is where the job directory appears in containers; default "/builds".
	BuildsDir string
	// WaitForServicesTimeout bounds the wait for services' ports
	// (`wait_for_services_timeout`); 0 means 30 s, negative disables the wait.
	WaitForServicesTimeout time.Duration
	// CapAdd, CapDrop, SecurityOpt, DNS, ExtraHosts and Runtime pass through to every
	// container (`cap_add`, `cap_drop`, `security_opt`, `dns`, `extra_hosts`, `runtime`).
	// With Runtime set, script containers are attached to the job's network rather
	// than joining a sandbox's network namespace (network.go).
	CapAdd, CapDrop, SecurityOpt, DNS, ExtraHosts []string
	Runtime                                       string
	// TempDir is where environments keep their script files; empty means os.TempDir().
	TempDir string
	// Logger receives the executor's own diagnostics (never job output). Nil discards.
	Logger *slog.Logger
}

// Executor makes Docker environments. It is safe for concurrent use.
type Executor struct {
	cfg     Config
	cli     *client.Client
	log     *slog.Logger
	sockets []string // Docker socket paths no container may see unless allowed
	id      string   // this executor's random id, on the spare networks it makes
	spares  *spareNetworks

	keepSpares atomic.Bool // see KeepSpareNetworks

	mu          sync.Mutex
	diskLimitOK *bool  // whether the daemon's storage driver takes a size; nil until probed
	driver      string // the daemon's storage driver, once asked
}

// New returns a Docker executor with its own client. It does not contact the daemon.
func New(cfg Config) (*Executor, error) {
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if cfg.Host != "" {
		opts = append(opts, client.WithHost(cfg.Host))
	}
	cli, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker executor: making client: %w", err)
	}
	if err := cfg.validate(); err != nil {
		cli.Close()
		return nil, err
	}
	if cfg.BuildsDir == "" {
		cfg.BuildsDir = DefaultBuildsDir
	}
	if cfg.WaitForServicesTimeout == 0 {
		cfg.WaitForServicesTimeout = DefaultWaitForServicesTimeout
	}
	if len(cfg.PullPolicy) == 0 {
		cfg.PullPolicy = []string{DefaultPullPolicy}
	}
	if len(cfg.AllowedPullPolicies) == 0 {
		cfg.AllowedPullPolicies = cfg.PullPolicy
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	host := cfg.Host
	if host == "" {
		host = cli.DaemonHost()
	}
	e := &Executor{cfg: cfg, cli: cli, log: log.With("executor", Name), sockets: sockets(host),
		id: randomID(), spares: &spareNetworks{byRunner: map[string][]spare{}, making: map[string]int{}}}
	e.keepSpares.Store(true)
	return e, nil
}

// closeTimeout bounds the removal of spare networks when the executor closes.
const closeTimeout = 30 * time.Second

// Close removes the spare networks (and their sandboxes) the executor made and closes
// its client.
// Environments must be cleaned up first.
func (e *Executor) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	err := e.removeSpares(ctx, e.spares.dropAll())
	if err != nil {
		err = fmt.Errorf("docker executor: removing spare networks: %w", err)
	}
	return errors.Join(err, e.cli.Close())
}

// Name returns "docker".
func (e *Executor) Name() string { return Name }

// NewEnvironment checks spec against the configuration (an image to run, the
// allow-lists, pull policies, services with a per-job network) and returns an
// unprepared environment. It does no I/O.
func (e *Executor) NewEnvironment(spec executor.Spec) (executor.Environment, error) {
	if spec.HostDir == "" || !filepath.IsAbs(spec.HostDir) {
		return nil, fmt.Errorf("docker executor: HostDir %q is not an absolute path", spec.HostDir)
	}
	img := spec.Image
	if img.Name == "" {
		if e.cfg.Image == "" {
			return nil, errors.New("docker executor: the job has no image and the runner's configuration sets no default image")
		}
		img.Name = e.cfg.Image
	} else if !allowed(img.Name, e.cfg.AllowedImages) {
		return nil, fmt.Errorf("%w: the %q image is not on the runner's list of allowed images (%s)", executor.ErrImageNotAllowed, img.Name, strings.Join(e.cfg.AllowedImages, ", "))
	}
	policies, err := e.pullPolicies("image", img)
	if err != nil {
		return nil, err
	}
	if len(spec.Services) > 0 && e.cfg.NetworkMode != "" {
		return nil, fmt.Errorf("docker executor: the job has services, which need a per-job network, but the runner's network_mode is %q", e.cfg.NetworkMode)
	}
	services := make([]service, 0, len(spec.Services))
	for i, s := range spec.Services {
		if s.Name == "" {
			return nil, fmt.Errorf("docker executor: service %d has no name", i)
		}
		if !allowed(s.Name, e.cfg.AllowedServices) {
			return nil, fmt.Errorf("%w: the %q service is not on the runner's list of allowed services (%s)", executor.ErrImageNotAllowed, s.Name, strings.Join(e.cfg.AllowedServices, ", "))
		}
		p, err := e.pullPolicies("service "+s.Name, s)
		if err != nil {
			return nil, err
		}
		services = append(services, service{Image: s, policies: p, aliases: serviceAliases(s)})
	}
	if !e.cfg.AllowDockerSocket {
		if err := checkSocketBinds(e.cfg.Volumes, e.sockets); err != nil {
			return nil, err
		}
	}
	return &Environment{
		ex:       e,
		spec:     spec,
		image:    img,
		policies: policies,
		services: services,
		id:       randomID(),
		log:      e.log.With("job_id", spec.JobID, "runner_id", spec.RunnerID),
	}, nil
}

// pullPolicies returns the policies for img: its own, which must be allowed, or the
// configured ones.
func (e *Executor) pullPolicies(what string, img jobspec.Image) ([]string, error) {
	if len(img.PullPolicy) == 0 {
		return e.cfg.PullPolicy, nil
	}
	for _, p := range img.PullPolicy {
		if !validPullPolicy(p) {
			return nil, fmt.Errorf("docker executor: %s: unknown pull policy %q (want always, if-not-present or never)", what, p)
		}
		if !slices.Contains(e.cfg.AllowedPullPolicies, p) {
			return nil, fmt.Errorf("docker executor: %s: pull policy %q is not allowed by the runner (allowed: %s)", what, p, strings.Join(e.cfg.AllowedPullPolicies, ", "))
		}
	}
	return img.PullPolicy, nil
}

func (c Config) validate() error {
	for _, list := range [][]string{c.PullPolicy, c.AllowedPullPolicies} {
		for _, p := range list {
			if !validPullPolicy(p) {
				return fmt.Errorf("docker executor: unknown pull policy %q in the configuration (want always, if-not-present or never)", p)
			}
		}
	}
	for _, pats := range [][]string{c.AllowedImages, c.AllowedServices} {
		for _, p := range pats {
			if _, err := path.Match(strings.ReplaceAll(p, "**", "*"), ""); err != nil {
				return fmt.Errorf("docker executor: bad allow-list pattern %q: %w", p, err)
			}
		}
	}
	if c.BuildsDir != "" && !path.IsAbs(c.BuildsDir) {
		return fmt.Errorf("docker executor: builds_dir %q is not an absolute path", c.BuildsDir)
	}
	for _, v := range c.Volumes {
		if _, err := parseVolume(v); err != nil {
			return err
		}
	}
	return nil
}

func validPullPolicy(p string) bool {
	return p == jobspec.PullAlways || p == jobspec.PullIfNotPresent || p == jobspec.PullNever
}

// labels returns the labels for something an environment creates in role.
func (e *Environment) labels(role string) map[string]string {
	l := make(map[string]string, len(e.spec.Labels)+5)
	for k, v := range e.spec.Labels {
		l[k] = v
	}
	l[LabelManaged] = "true"
	l[LabelRunner] = e.spec.RunnerID
	l[LabelJob] = strconv.FormatInt(e.spec.JobID, 10)
	l[LabelEnvironment] = e.id
	l[LabelRole] = role
	return l
}

// scriptDirPrefix starts the names of the script directories of a runner's jobs:
// the prefix, then the job id, a dash and random characters.
func scriptDirPrefix(runnerID string) string {
	return "kiln-docker-" + executor.SafeName(runnerID) + "."
}

// tempDir is the configured directory for script files.
func (e *Executor) tempDir() string {
	if e.cfg.TempDir != "" {
		return e.cfg.TempDir
	}
	return os.TempDir()
}
