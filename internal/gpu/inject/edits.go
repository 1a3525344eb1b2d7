package inject

import (
	"fmt"
	"slices"
	"strings"

	"tags.cncf.io/container-device-interface/pkg/cdi"

	"github.com/kiln-ci/kiln/internal/executor"
)

// apply merges CDI container edits into d, in order: environment (a later value of a
// variable replaces an earlier one), device nodes and bind mounts (one per container
// path). Hooks cannot be run without a CDI-aware runtime and are skipped with a log
// line; a mount that is not a bind mount, network devices and Intel RDT are errors.
func (in *Injector) apply(d *executor.Devices, edits []*cdi.ContainerEdits) error {
	for _, e := range edits {
		if e == nil || e.ContainerEdits == nil {
			continue
		}
		for _, kv := range e.Env {
			k, v, _ := strings.Cut(kv, "=")
			d.Env = setEnv(d.Env, k, v)
		}
		for _, n := range e.DeviceNodes {
			node := executor.DeviceNode{Path: n.Path, HostPath: n.HostPath, Permissions: n.Permissions}
			if node.HostPath == "" {
				node.HostPath = n.Path
			}
			if !slices.ContainsFunc(d.Nodes, func(x executor.DeviceNode) bool { return x.Path == node.Path }) {
				d.Nodes = append(d.Nodes, node)
			}
		}
		for _, m := range e.Mounts {
			if m.Type != "" && m.Type != "bind" {
				return fmt.Errorf("CDI mount of %s at %s has type %q; only bind mounts can be applied", m.HostPath, m.ContainerPath, m.Type)
			}
			mount := executor.Mount{HostPath: m.HostPath, Path: m.ContainerPath, ReadOnly: slices.Contains(m.Options, "ro")}
			if !slices.ContainsFunc(d.Mounts, func(x executor.Mount) bool { return x.Path == mount.Path }) {
				d.Mounts = append(d.Mounts, mount)
			}
		}
		for _, h := range e.Hooks {
			in.cfg.Logger.Warn("skipping a CDI hook: Kiln applies CDI edits itself and runs no OCI hooks", "hook", h.HookName, "path", h.Path)
		}
		if len(e.NetDevices) > 0 || e.IntelRdt != nil {
			return fmt.Errorf("CDI edits with network devices or Intel RDT cannot be applied to a GPU job")
		}
	}
	return nil
}

// setEnv sets key=value in env, replacing an earlier value.
func setEnv(env []string, key, value string) []string {
	env = slices.DeleteFunc(env, func(kv string) bool { return strings.HasPrefix(kv, key+"=") })
	return append(env, key+"="+value)
}
