// Package inject turns a job's leased GPUs into the container edits an executor
// applies (an executor.Devices): for Docker and Podman, CDI edits — from the
// operator's CDI specs (e.g. /etc/cdi, /var/run/cdi) when they describe the GPUs, else
// from a spec Kiln generates from the NVML inventory — loaded and validated with
// tags.cncf.io/container-device-interface and applied by the runner itself, so no
// daemon CDI support is needed; the NVIDIA runtime's device requests in nvidia-runtime
// mode; and for the shell executor only CUDA_VISIBLE_DEVICES and NVIDIA_VISIBLE_DEVICES.
//
// It is on the runner side: the coordinator side must not import it.
package inject

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"

	"tags.cncf.io/container-device-interface/pkg/cdi"

	"github.com/kiln-ci/kiln/internal/executor"
	"github.com/kiln-ci/kiln/internal/gpu/device"
)

// Modes of injection.
type Mode string

const (
	// ModeCDI applies CDI container edits (device nodes, mounts, environment).
	ModeCDI Mode = "cdi"
	// ModeNvidiaRuntime asks the container runtime for the devices (Docker's
	// DeviceRequests with the NVIDIA runtime).
	ModeNvidiaRuntime Mode = "nvidia-runtime"
	// ModeEnv sets only CUDA_VISIBLE_DEVICES and NVIDIA_VISIBLE_DEVICES (shell executor).
	ModeEnv Mode = "env"
)

// DefaultSpecDirs are where operators put CDI specs.
var DefaultSpecDirs = []string{"/etc/cdi", "/var/run/cdi"}

// Environment variables set for a job's GPUs.
const (
	EnvNvidiaVisibleDevices = "NVIDIA_VISIBLE_DEVICES"
	EnvCUDAVisibleDevices   = "CUDA_VISIBLE_DEVICES"
)

// Config configures an Injector.
type Config struct {
	Mode Mode
	// Kind is the CDI kind of the GPUs (default nvidia.com/gpu).
	Kind string
	// SpecDirs are the operator's CDI spec directories (default DefaultSpecDirs). If
	// any spec in them has devices of Kind, they are used and nothing is generated.
	SpecDirs []string
	// GeneratedDir is where the generated spec is written (the runner's state
	// directory); required in ModeCDI when the operator has no spec.
	GeneratedDir string
	// Root is where the driver's files are looked for (default "/").
	Root   string
	Logger *slog.Logger
}

// Injector resolves leased units into executor.Devices. It is safe for concurrent use.
type Injector struct {
	cfg   Config
	cache *cdi.Cache
	// Source says where the CDI edits come from: the spec directories used.
	Source []string
}

// New prepares injection for inv. In ModeCDI it loads the operator's specs, or
// generates, writes and loads one; a spec that fails the CDI library's validation is
// an error naming its file.
func New(cfg Config, inv device.Inventory) (*Injector, error) {
	if cfg.Kind == "" {
		cfg.Kind = DefaultKind
	}
	if cfg.SpecDirs == nil {
		cfg.SpecDirs = DefaultSpecDirs
	}
	if cfg.Root == "" {
		cfg.Root = "/"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	in := &Injector{cfg: cfg}
	switch cfg.Mode {
	case ModeEnv, ModeNvidiaRuntime:
		return in, nil
	case ModeCDI:
	default:
		return nil, fmt.Errorf("GPU injection mode %q: want cdi, nvidia-runtime or env", cfg.Mode)
	}
	cache, err := loadCache(cfg.SpecDirs)
	if err != nil {
		return nil, err
	}
	if hasKind(cache, cfg.Kind) {
		in.cache, in.Source = cache, cfg.SpecDirs
		cfg.Logger.Info("using the operator's CDI specs for GPUs", "dirs", cfg.SpecDirs, "kind", cfg.Kind)
		return in, nil
	}
	if len(inv.GPUs) == 0 {
		return in, nil // nothing to inject
	}
	if cfg.GeneratedDir == "" {
		return nil, errors.New("no CDI spec describes the GPUs and no directory was given to generate one in")
	}
	spec, err := GenerateSpec(cfg.Kind, inv, FindDriver(cfg.Root, inv.DriverVersion), cfg.Root)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.GeneratedDir, 0o755); err != nil {
		return nil, fmt.Errorf("making CDI spec directory: %w", err)
	}
	gen, err := cdi.NewCache(cdi.WithSpecDirs(cfg.GeneratedDir), cdi.WithAutoRefresh(false))
	if err != nil {
		return nil, fmt.Errorf("opening CDI spec directory %s: %w", cfg.GeneratedDir, err)
	}
	if err := gen.WriteSpec(spec, GeneratedSpecName); err != nil {
		return nil, fmt.Errorf("writing the generated CDI spec to %s: %w", cfg.GeneratedDir, err)
	}
	if in.cache, err = loadCache([]string{cfg.GeneratedDir}); err != nil {
		return nil, err
	}
	in.Source = []string{cfg.GeneratedDir}
	cfg.Logger.Info("generated a CDI spec for the GPUs", "path", cfg.GeneratedDir+"/"+GeneratedSpecName, "devices", len(spec.Devices))
	return in, nil
}

// loadCache loads and validates the specs in dirs; any invalid spec is an error.
func loadCache(dirs []string) (*cdi.Cache, error) {
	cache, err := cdi.NewCache(cdi.WithSpecDirs(dirs...), cdi.WithAutoRefresh(false))
	if err != nil {
		return nil, fmt.Errorf("loading CDI specs from %v: %w", dirs, err)
	}
	if errs := cache.GetErrors(); len(errs) > 0 {
		var msgs []string
		for path, es := range errs {
			msgs = append(msgs, fmt.Sprintf("%s: %v", path, errors.Join(es...)))
		}
		slices.Sort(msgs)
		return nil, fmt.Errorf("invalid CDI spec: %s", strings.Join(msgs, "; "))
	}
	return cache, nil
}

func hasKind(c *cdi.Cache, kind string) bool {
	return slices.ContainsFunc(c.ListDevices(), func(name string) bool { return strings.HasPrefix(name, kind+"=") })
}

// Devices returns the edits that give a job exactly the units gpus and nothing else.
func (in *Injector) Devices(gpus []device.GPU) (executor.Devices, error) {
	var d executor.Devices
	if len(gpus) == 0 {
		return d, nil
	}
	for _, g := range gpus {
		d.IDs = append(d.IDs, g.UUID)
	}
	ids := strings.Join(d.IDs, ",")
	switch in.cfg.Mode {
	case ModeEnv:
		d.Env = []string{EnvNvidiaVisibleDevices + "=" + ids, EnvCUDAVisibleDevices + "=" + ids}
		return d, nil
	case ModeNvidiaRuntime:
		d.Requests = []executor.DeviceRequest{{Driver: "nvidia", DeviceIDs: slices.Clone(d.IDs), Capabilities: []string{"gpu"}}}
		return d, nil
	}
	if in.cache == nil {
		return d, errors.New("no CDI spec describes this host's GPUs")
	}
	var edits []*cdi.ContainerEdits
	specsSeen := map[*cdi.Spec]bool{}
	for _, g := range gpus {
		dev := in.lookup(g)
		if dev == nil {
			return executor.Devices{}, fmt.Errorf("no CDI device %s=%s (or =%d) in %v", in.cfg.Kind, g.UUID, g.Index, in.Source)
		}
		if s := dev.GetSpec(); !specsSeen[s] {
			specsSeen[s] = true
			edits = append(edits, &cdi.ContainerEdits{ContainerEdits: &s.ContainerEdits})
		}
		edits = append(edits, &cdi.ContainerEdits{ContainerEdits: &dev.ContainerEdits})
	}
	if err := in.apply(&d, edits); err != nil {
		return executor.Devices{}, err
	}
	d.Env = setEnv(d.Env, EnvNvidiaVisibleDevices, ids)
	d.Env = setEnv(d.Env, EnvCUDAVisibleDevices, ids)
	return d, nil
}

// lookup finds a unit's CDI device by UUID, or a whole GPU's by its index.
func (in *Injector) lookup(g device.GPU) *cdi.Device {
	if dev := in.cache.GetDevice(in.cfg.Kind + "=" + g.UUID); dev != nil {
		return dev
	}
	if !g.IsMIG() {
		return in.cache.GetDevice(in.cfg.Kind + "=" + strconv.Itoa(g.Index))
	}
	return nil
}
