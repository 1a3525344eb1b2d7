package docker

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/pkg/stdcopy"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/kiln-ci/kiln/internal/executor"
)

// LabelService names the service a container runs (its first alias).
const LabelService = "dev.kiln.service"

// startedService is a running service container and the ports to wait for.
type startedService struct {
	svc   service
	id    string
	ports []int
}

// startServices pulls, creates and starts every service on the job network, reachable
// by its aliases, then waits for their ports.
func (e *Environment) startServices(ctx context.Context, out io.Writer) error {
	started := make([]startedService, 0, len(e.services))
	for i, s := range e.services {
		img, err := e.ex.ensureImage(ctx, out, s.Image, s.policies, e.spec.Credentials)
		if err != nil {
			return fmt.Errorf("service %s: %w", s.Name, err)
		}
		fmt.Fprintf(out, "Starting service %s ...\n", s.Name)
		env := executor.MergeEnv(e.spec.ServiceEnv, nil)
		var own []string
		for _, v := range s.Variables.Dedup() {
			own = append(own, v.Key+"="+v.Value)
		}
		env = executor.MergeEnv(env, own)
		labels := e.labels("service")
		labels[LabelService] = s.aliases[0]
		cfg := &container.Config{Image: img.ID, Env: env, Labels: labels, Cmd: s.Command}
		if s.Entrypoint != nil {
			cfg.Entrypoint = entrypoint(s.Entrypoint)
		}
		if e.devices != nil && e.devices.Services {
			cfg.Env = executor.MergeEnv(cfg.Env, e.devices.Env)
		}
		withDevices := e.devices != nil && e.devices.Services
		host := e.hostConfig(e.ex.cfg.ServiceLimits, withDevices)
		if withDevices {
			for _, m := range e.devices.Mounts {
				host.Mounts = append(host.Mounts, mount.Mount{Type: mount.TypeBind, Source: m.HostPath, Target: m.Path, ReadOnly: m.ReadOnly})
			}
		}
		netcfg := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			e.network: {Aliases: s.aliases},
		}}
		name := e.name(fmt.Sprintf("service-%d-%s", i, executor.SafeName(s.aliases[0])))
		created, err := e.ex.cli.ContainerCreate(ctx, cfg, host, netcfg, (*ocispec.Platform)(nil), name)
		if err != nil {
			return fmt.Errorf("service %s: creating container: %w", s.Name, err)
		}
		if err := e.ex.cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
			return fmt.Errorf("service %s: starting container: %w", s.Name, err)
		}
		ss := startedService{svc: s, id: created.ID}
		for _, p := range s.Ports {
			if p.Protocol == "" || p.Protocol == "tcp" || p.Protocol == "http" || p.Protocol == "https" {
				ss.ports = append(ss.ports, p.Number)
			}
		}
		if len(ss.ports) == 0 && img.Config != nil {
			for p := range img.Config.ExposedPorts {
				port, proto, _ := strings.Cut(string(p), "/")
				if n, err := strconv.Atoi(port); err == nil && (proto == "" || proto == "tcp") {
					ss.ports = append(ss.ports, n)
				}
			}
		}
		started = append(started, ss)
	}
	if e.ex.cfg.WaitForServicesTimeout < 0 {
		return nil
	}
	deadline := time.Now().Add(e.ex.cfg.WaitForServicesTimeout)
	for _, ss := range started {
		if err := e.waitForService(ctx, ss, deadline); err != nil {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			// As in gitlab-runner, a service that does not answer is a warning: the job
			// may not need it, and its own script can wait longer.
			fmt.Fprintf(out, "*** WARNING: Service %s probably didn't start properly.\n\nHealth check error:\n%v\n\nService container logs:\n%s\n*********\n", ss.svc.Name, err, e.serviceLogs(ctx, ss.id))
		}
	}
	return nil
}

// waitForService waits until the service runs and each of its TCP ports (the job's
// `ports`, else the image's exposed ones) accepts a connection on the job network, or
// the deadline passes. A service without ports is only checked to be running, as
// gitlab-runner skips the health check for it.
func (e *Environment) waitForService(ctx context.Context, ss startedService, deadline time.Time) error {
	for {
		st, err := e.ex.cli.ContainerInspect(ctx, ss.id)
		if err != nil {
			return fmt.Errorf("inspecting service container: %w", err)
		}
		if st.State != nil && !st.State.Running {
			return fmt.Errorf("service container exited with code %d", st.State.ExitCode)
		}
		ip := ""
		if st.NetworkSettings != nil {
			if n := st.NetworkSettings.Networks[e.network]; n != nil {
				ip = n.IPAddress
			}
		}
		pending := ""
		for _, p := range ss.ports {
			if ip == "" {
				pending = "no address on the job network"
				break
			}
			addr := net.JoinHostPort(ip, strconv.Itoa(p))
			d := net.Dialer{Timeout: time.Second}
			c, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				pending = fmt.Sprintf("port %d: %v", p, err)
				break
			}
			c.Close()
		}
		if pending == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s (gave up after %v)", pending, e.ex.cfg.WaitForServicesTimeout)
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// serviceLogs returns the last lines a service container wrote, for a warning.
func (e *Environment) serviceLogs(ctx context.Context, id string) string {
	rc, err := e.ex.cli.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: "20"})
	if err != nil {
		return fmt.Sprintf("(logs unavailable: %v)", err)
	}
	defer rc.Close()
	var b strings.Builder
	lw := &limitWriter{w: &b, n: 8 << 10}
	_, _ = stdcopy.StdCopy(lw, lw, rc)
	return b.String()
}

// limitWriter keeps at most n bytes and drops the rest.
type limitWriter struct {
	w io.Writer
	n int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	k := min(len(p), l.n)
	if k > 0 {
		_, _ = l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}
