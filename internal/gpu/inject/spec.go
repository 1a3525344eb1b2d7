package inject

import (
	"fmt"
	"path/filepath"

	"github.com/kiln-ci/kiln/internal/gpu/device"
	specs "tags.cncf.io/container-device-interface/specs-go"
)

// DefaultKind is the CDI kind of NVIDIA GPUs (vendor nvidia.com, class gpu), as
// nvidia-ctk names them.
const DefaultKind = "nvidia.com/gpu"

// GeneratedSpecName is the file the generated spec is written to in its directory.
const GeneratedSpecName = "kiln-nvidia.yaml"

// GenerateSpec makes a CDI spec for inv from the driver files found on the host: one
// device per unit, named by its UUID, holding its own device nodes
// (/dev/nvidia<minor>, and for a MIG slice its nvidia-caps nodes); and common edits
// holding the control nodes and the driver's libraries and tools, mounted read-only.
// root is the driver root: host paths are root joined with the container path ("/" on
// a plain host; e.g. /run/nvidia/driver where the driver lives in a container). The environment
// (NVIDIA_VISIBLE_DEVICES, CUDA_VISIBLE_DEVICES) depends on which units a job leases,
// so it is set when devices are resolved, not in the spec.
func GenerateSpec(kind string, inv device.Inventory, drv Driver, root string) (*specs.Spec, error) {
	if kind == "" {
		kind = DefaultKind
	}
	host := func(p string) string { return filepath.Join(root, p) }
	node := func(p string) *specs.DeviceNode { return &specs.DeviceNode{Path: p, HostPath: host(p)} }
	s := &specs.Spec{Kind: kind}
	for _, n := range drv.Nodes {
		s.ContainerEdits.DeviceNodes = append(s.ContainerEdits.DeviceNodes, node(n))
	}
	for _, lib := range drv.Libraries {
		s.ContainerEdits.Mounts = append(s.ContainerEdits.Mounts, roMount(host(lib.Path), lib.Path))
		for _, link := range lib.Links {
			s.ContainerEdits.Mounts = append(s.ContainerEdits.Mounts, roMount(host(lib.Path), link))
		}
	}
	for _, b := range drv.Binaries {
		s.ContainerEdits.Mounts = append(s.ContainerEdits.Mounts, roMount(host(b), b))
	}
	for _, g := range inv.GPUs {
		d := specs.Device{Name: g.UUID}
		d.ContainerEdits.DeviceNodes = append(d.ContainerEdits.DeviceNodes, node(fmt.Sprintf("/dev/nvidia%d", g.Minor)))
		for _, n := range MIGNodes(root, g) {
			d.ContainerEdits.DeviceNodes = append(d.ContainerEdits.DeviceNodes, node(n))
		}
		s.Devices = append(s.Devices, d)
	}
	v, err := specs.MinimumRequiredVersion(s)
	if err != nil {
		return nil, fmt.Errorf("generating the CDI spec: %w", err)
	}
	s.Version = v
	return s, nil
}

func roMount(host, container string) *specs.Mount {
	return &specs.Mount{HostPath: filepath.Clean(host), ContainerPath: filepath.Clean(container), Options: []string{"ro", "nosuid", "nodev", "bind"}}
}
