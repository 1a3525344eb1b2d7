// Package executor defines how the runner turns one job into processes in an isolated
// environment. Implementations live in subpackages (shell, docker); executortest holds
// the one conformance suite every executor must pass.
//
// The runner owns everything durable about a job (sources, cache, artifacts, trace); it
// prepares the job's directory on the host and hands an executor complete shell scripts
// to run there. An executor owns only the environment: making it, running scripts in it
// with the right limits and signals, and destroying it.
//
// This package is on the runner side: the coordinator side must not import it.
package executor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/machine"
)

// Executor makes environments of one kind.
type Executor interface {
	// Name is the executor's name in configuration: "shell", "docker".
	Name() string
	// NewEnvironment validates spec and returns an environment that is not yet prepared.
	// It does no I/O; a spec the executor cannot honour (an image not allowed, a limit it
	// cannot apply) is an error here.
	NewEnvironment(spec Spec) (Environment, error)
}

// Environment is one job's isolated environment.
//
// Call order: Prepare once; then Run any number of times, one at a time; then Cleanup.
// Cleanup must be called whatever happened before it: after a failed or canceled
// Prepare, or none at all. It is idempotent, removes everything the environment created
// (processes, containers, networks, volumes, temporary files; never the job directory,
// which the runner owns), and uses its own context so it runs even after the job's
// context was canceled.
type Environment interface {
	// Prepare creates the environment: pulls images, starts services, makes networks.
	// Progress lines for the user go to out (the job trace).
	Prepare(ctx context.Context, out io.Writer) error

	// Run executes cmd.Script and waits for it. A script that ran and exited non-zero
	// is not an error: its exit code is in Result. An error means the script could not
	// be run or waited for (a system failure). When ctx is done before the script ends,
	// Run stops it: SIGTERM to the whole process group or container, then SIGKILL after
	// cmd.Grace, and returns the Result so far with an error wrapping context.Cause(ctx).
	Run(ctx context.Context, cmd Command) (Result, error)

	// GuestPath maps a path under Spec.HostDir to the same file as the scripts see it.
	GuestPath(hostPath string) string

	// Cleanup destroys the environment (see the type's contract).
	Cleanup(ctx context.Context) error
}

// Spec describes the environment one job needs.
type Spec struct {
	// JobID and RunnerID label everything the executor creates, so that leftovers of a
	// crashed runner can be found and reaped.
	JobID    int64
	RunnerID string
	// JobName is for names shown to people (container names, logs).
	JobName string

	// HostDir is the job's directory on the host: sources, build output, temporary files.
	// It exists before Prepare and outlives Cleanup. Scripts see it at GuestPath(HostDir).
	HostDir string

	// Image is the job image and Services its sidecars; executors without containers
	// ignore both (as gitlab-runner's shell executor does).
	Image    jobspec.Image
	Services []jobspec.Image
	// ServiceEnv is the environment every service starts with (job variables).
	ServiceEnv []string
	// Credentials are the job's registry credentials (GitLab's job payload, type
	// "registry"), for pulling Image and Services. Never logged.
	Credentials []jobspec.Credentials

	// Limits are the machine type's resources.
	Limits Limits

	// Labels are added to the labels the executor puts on what it creates.
	Labels map[string]string
}

// Limits are the resources an environment may use. Zero means no limit.
type Limits struct {
	CPUs        float64
	MemoryBytes uint64
	PIDs        int64
	ShmBytes    uint64
	DiskBytes   uint64
}

// String describes the limits that are set, for people: "cpus 4, memory 15 GB, pids 4096".
func (l Limits) String() string {
	var parts []string
	if l.CPUs > 0 {
		parts = append(parts, "cpus "+strconv.FormatFloat(l.CPUs, 'f', -1, 64))
	}
	if l.MemoryBytes > 0 {
		parts = append(parts, "memory "+machine.FormatGB(l.MemoryBytes))
	}
	if l.PIDs > 0 {
		parts = append(parts, "pids "+strconv.FormatInt(l.PIDs, 10))
	}
	if l.ShmBytes > 0 {
		parts = append(parts, "shm "+machine.FormatBytes(l.ShmBytes))
	}
	if l.DiskBytes > 0 {
		parts = append(parts, "disk "+machine.FormatGB(l.DiskBytes))
	}
	if len(parts) == 0 {
		return "no limits"
	}
	return strings.Join(parts, ", ")
}

// Command is one script to run in a prepared environment.
type Command struct {
	// Name is the step this script is, e.g. "step_script" or "after_script".
	Name string
	// Script is a complete POSIX shell script. Executors run it with bash where the
	// environment has bash, else with sh.
	Script string
	// Env is the script's whole environment, KEY=VALUE. Nothing of the runner's own
	// environment leaks in.
	Env []string
	// Output receives stdout and stderr, interleaved in the order they were written.
	Output io.Writer
	// Grace is how long a canceled script has between SIGTERM and SIGKILL; 0 means
	// DefaultGrace.
	Grace time.Duration
}

// DefaultGrace is the time between SIGTERM and SIGKILL when a script is stopped.
const DefaultGrace = 10 * time.Second

// Result is how a script ended.
type Result struct {
	// ExitCode is the script's exit status; -1 when it was killed by a signal.
	ExitCode int
	// OOMKilled is true when the environment's memory limit killed the script.
	OOMKilled bool
	// Duration is how long the script ran.
	Duration time.Duration
}

// ErrImageNotAllowed is returned when a job's image is outside the runner's allow-list.
var ErrImageNotAllowed = errors.New("image not allowed")

// ErrImageUnavailable is returned when an image can be neither found locally nor pulled
// under the job's pull policy.
var ErrImageUnavailable = errors.New("image unavailable")

// ImageInspector is an optional ability of an Environment that runs a job image: what
// the image itself configures. The runner uses it after Prepare, e.g. to read
// CUDA_VERSION and NVIDIA_REQUIRE_CUDA for a CUDA pre-flight check.
type ImageInspector interface {
	// ImageEnv returns the job image's configured environment (its ENV), KEY=VALUE,
	// or nil before a successful Prepare.
	ImageEnv() []string
}

// HostNamer is an optional ability of an Environment: once prepared, it knows the host
// name its scripts will see and has already run a shell of the job's image (Docker's
// network sandbox), so the runner's prepare_script stage prints that name instead of
// running a script to learn it.
type HostNamer interface {
	// HostName returns the scripts' host name; ok is false when a script must run to
	// find it (and to prove the environment runs scripts).
	HostName() (name string, ok bool)
}

// DeviceInjector is an optional ability of an Environment: giving the job host devices
// (GPUs). The runner checks for it with a type assertion before Prepare; an executor
// whose environments lack it cannot run jobs that need GPUs.
type DeviceInjector interface {
	// InjectDevices makes exactly the given devices visible to the job's scripts (and to
	// services only when Devices.Services is set). It must be called before Prepare.
	InjectDevices(d Devices) error
}

// Devices are container edits in the shape of a CDI spec's containerEdits, resolved for
// one job: what to add to an environment so it sees its leased devices and nothing else.
type Devices struct {
	// IDs name the devices (GPU or MIG UUIDs), for logs and labels.
	IDs []string
	// Env entries KEY=VALUE, e.g. NVIDIA_VISIBLE_DEVICES and CUDA_VISIBLE_DEVICES.
	Env []string
	// Nodes are device nodes to create in the environment.
	Nodes []DeviceNode
	// Mounts are host files or directories to bind into the environment.
	Mounts []Mount
	// Requests, when set, ask the container runtime itself for devices (Docker's
	// DeviceRequests with the NVIDIA runtime) instead of Nodes and Mounts.
	Requests []DeviceRequest
	// Services also gives the devices to the job's services.
	Services bool
}

// DeviceNode is a device node: HostPath on the host appears at Path in the environment.
type DeviceNode struct {
	Path        string
	HostPath    string
	Permissions string // cgroup permissions, e.g. "rwm"; empty means "rwm"
}

// Mount binds HostPath on the host at Path in the environment.
type Mount struct {
	HostPath string
	Path     string
	ReadOnly bool
}

// DeviceRequest asks a container runtime driver for devices by id.
type DeviceRequest struct {
	Driver       string   // e.g. "nvidia"
	DeviceIDs    []string // e.g. GPU UUIDs
	Capabilities []string // e.g. "gpu", "utility", "compute"
}

// CheckEnv returns an error naming the first entry of env that is not KEY=VALUE or
// holds a NUL byte, by its index and key, never its value (which may be a secret).
// what names the list in the error, e.g. "Command.Env".
func CheckEnv(what string, env []string) error {
	for i, kv := range env {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("%s entry %d is not KEY=VALUE", what, i)
		}
		if strings.ContainsRune(kv, 0) {
			return fmt.Errorf("%s entry %d (%s) contains a NUL byte", what, i, k)
		}
	}
	return nil
}

// MergeEnv returns env with the entries of override replacing those of the same key,
// override's entries last. Neither argument is modified.
func MergeEnv(env, override []string) []string {
	out := make([]string, 0, len(env)+len(override))
	keys := make(map[string]bool, len(override))
	for _, kv := range override {
		k, _, _ := strings.Cut(kv, "=")
		keys[k] = true
	}
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); !keys[k] {
			out = append(out, kv)
		}
	}
	return append(out, override...)
}

// SafeName keeps a name (a step's, a runner's, a service alias) usable in file,
// container and network names: ASCII letters, digits, "_" and "-" stay, every other
// character becomes "_", and an empty name becomes "script".
func SafeName(s string) string {
	if s == "" {
		return "script"
	}
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' {
			return r
		}
		return '_'
	}, s)
}
