package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	dockerclient "github.com/docker/docker/client"

	"github.com/kiln-ci/kiln/internal/api/client"
	"github.com/kiln-ci/kiln/internal/executor/docker"
	"github.com/kiln-ci/kiln/internal/executor/shell"
	"github.com/kiln-ci/kiln/internal/gpu/device"
	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/runner/agent"
	"github.com/kiln-ci/kiln/internal/runner/config"
)

// upPlan is what kiln up serves on this host: the untagged machine type, with
// cpuJobs at once, and the GPU machine type with gpuJobs at once when GPUs fit it.
type upPlan struct {
	cpuJobs int
	gpuJobs int
	gpus    int // the host's GPUs (allocatable units), fitting or not
}

// planRunners reads the host's GPUs through openHost and decides what kiln up serves.
func planRunners(ctx context.Context, openHost hostOpener, log *slog.Logger, cpuJobs int) (upPlan, error) {
	p := upPlan{cpuJobs: cpuJobs}
	host, err := openHost(ctx, log)
	if err != nil {
		return p, fmt.Errorf("opening the GPU driver: %w", err)
	}
	defer host.Close()
	inv, err := host.Inventory(ctx)
	if err != nil {
		return p, fmt.Errorf("discovering GPUs: %w", err)
	}
	gpuType, _ := machine.DefaultCatalog().Get(machine.TagGPUMedium)
	p.gpus = len(inv.GPUs)
	p.gpuJobs, err = gpuJobsAtOnce(inv, gpuType)
	return p, err
}

// gpuJobsAtOnce is how many jobs of machine type mt the GPUs of inv can run at once.
func gpuJobsAtOnce(inv device.Inventory, mt machine.Type) (int, error) {
	req, err := mt.Resolve(machine.GPURequest{})
	if err != nil {
		return 0, fmt.Errorf("machine type %s: %w", mt.Tag, err)
	}
	fit := 0
	for _, g := range inv.GPUs {
		if ok, _ := req.Fits(machine.Device{Name: g.Name, MemoryBytes: g.MemoryBytes,
			ComputeCapability: g.ComputeCapability, CUDAVersion: g.CUDAVersion}); ok {
			fit++
		}
	}
	return fit / max(req.Wanted(), 1), nil
}

// machineTypes are the machine types served, the untagged one first.
func (p upPlan) machineTypes() []string {
	if p.gpuJobs > 0 {
		return []string{machine.TagSmall, machine.TagGPUMedium}
	}
	return []string{machine.TagSmall}
}

// hint ends the message of a job whose machine type kiln up does not serve, e.g.
// "kiln up serves only saas-linux-small-amd64 (this host has no GPU)".
func (p upPlan) hint() string {
	s := "kiln up serves only " + strings.Join(p.machineTypes(), " and ")
	switch {
	case p.gpus == 0:
		s += " (this host has no GPU)"
	case p.gpuJobs == 0:
		s += fmt.Sprintf(" (no GPU of this host fits %s)", machine.TagGPUMedium)
	}
	return s
}

// chooseExecutor resolves --executor: auto is docker when a daemon answers, else shell.
func chooseExecutor(ctx context.Context, choice string, dockerErr func(context.Context) error) (string, error) {
	switch choice {
	case shell.Name:
		return shell.Name, nil
	case docker.Name:
		if err := dockerErr(ctx); err != nil {
			return "", fmt.Errorf("--executor docker: no Docker daemon answers: %w", err)
		}
		return docker.Name, nil
	case upExecutorAuto:
		if dockerErr(ctx) == nil {
			return docker.Name, nil
		}
		return shell.Name, nil
	}
	return "", fmt.Errorf("--executor %q: want auto, docker or shell", choice)
}

// dockerAnswers pings the Docker daemon of the environment (DOCKER_HOST, else the
// default socket); nil when it answers within 3 seconds.
func dockerAnswers(ctx context.Context) error {
	cli, err := dockerclient.NewClientWithOpts(dockerclient.FromEnv, dockerclient.WithAPIVersionNegotiation())
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	_, err = cli.Ping(ctx)
	return err
}

// dockerImageHere reports whether the Docker daemon has image ref, so that kiln up can
// say at start that jobs without an image would have to pull it.
func dockerImageHere(ctx context.Context, ref string) bool {
	cli, err := dockerclient.NewClientWithOpts(dockerclient.FromEnv, dockerclient.WithAPIVersionNegotiation())
	if err != nil {
		return false
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err = cli.ImageInspect(ctx, ref)
	return err == nil
}

// runnerSetup is what ensureRunners registers and writes.
type runnerSetup struct {
	path        string // the runners' config.toml
	url         string // the coordinator's URL
	executor    string
	dockerImage string
	gpuStateDir string
	logLevel    string
	plan        upPlan
}

// servedRunner is a runner kiln up runs, for the instructions.
type servedRunner struct {
	id          int64
	machineType string
	jobs        int
}

// ensureRunners makes config.toml hold one runner per machine type of the plan,
// registered with the coordinator: runners of an earlier start whose token still
// works are kept (with the executor and URL of this start), others are created with
// POST /user/runners and verified as `kiln runner register` does; a runner of a
// machine type no longer served (the GPUs are gone) is deleted.
func ensureRunners(ctx context.Context, api *client.Client, s runnerSetup) ([]servedRunner, error) {
	file, err := config.LoadOrEmpty(s.path)
	if err != nil {
		return nil, err
	}
	systemID, err := config.SystemID(s.path)
	if err != nil {
		return nil, err
	}
	rc, err := newClient(s.url, nil)
	if err != nil {
		return nil, err
	}
	byType := map[string]config.Runner{}
	for _, r := range file.Runners {
		r.URL = s.url // the port may differ from the last start's
		mt := ""
		if r.Kiln != nil {
			mt = r.Kiln.MachineType
		}
		_, err := rc.Verify(ctx, protocol.VerifyRunnerRequest{Info: agent.Info(s.executor, "", mt), Token: r.Token, SystemID: systemID})
		switch {
		case errors.Is(err, protocol.ErrForbidden):
			continue // deleted on the server: made again below if still wanted
		case err != nil:
			return nil, fmt.Errorf("verifying runner %s: %w", r.Name, err)
		}
		if served(s.plan, mt) {
			byType[mt] = r
		} else if err := api.DeleteRunner(ctx, r.ID); err != nil && !client.IsNotFound(err) {
			return nil, fmt.Errorf("deleting runner %s of machine type %s, which this host no longer serves: %w", r.Name, mt, err)
		}
	}
	host, _ := os.Hostname()
	file.Runners = nil
	var out []servedRunner
	for _, mt := range s.plan.machineTypes() {
		r, ok := byType[mt]
		if !ok {
			untagged := mt == machine.TagSmall
			created, err := api.CreateRunner(ctx, client.CreateRunnerOptions{RunnerType: "instance_type", MachineType: mt,
				RunUntagged: &untagged, Description: fmt.Sprintf("kiln up on %s (%s)", host, mt)})
			if err != nil {
				return nil, fmt.Errorf("creating the runner of machine type %s: %w", mt, err)
			}
			res, err := rc.Verify(ctx, protocol.VerifyRunnerRequest{Info: agent.Info(s.executor, "", mt), Token: created.Token, SystemID: systemID})
			if err != nil {
				return nil, fmt.Errorf("verifying the runner of machine type %s: %w", mt, err)
			}
			r = config.Runner{Name: "kiln-up-" + shortType(mt), URL: s.url, ID: res.ID, Token: created.Token,
				TokenObtainedAt: time.Now().UTC().Truncate(time.Second)}
		}
		jobs := s.plan.cpuJobs
		r.Kiln = &config.Kiln{MachineType: mt}
		if mt == machine.TagGPUMedium {
			jobs = s.plan.gpuJobs
			r.Kiln.StateDir = s.gpuStateDir
		}
		r.Executor, r.Limit, r.Docker = s.executor, jobs, nil
		if s.executor == docker.Name {
			r.Docker = &config.Docker{Image: s.dockerImage, PullPolicy: config.StringList{jobspec.PullIfNotPresent}}
		}
		file.Runners = append(file.Runners, r)
		out = append(out, servedRunner{id: r.ID, machineType: mt, jobs: jobs})
	}
	file.Concurrent = s.plan.cpuJobs + s.plan.gpuJobs
	file.LogLevel = s.logLevel
	if err := file.Save(); err != nil {
		return nil, fmt.Errorf("saving %s: %w", s.path, err)
	}
	if _, err := config.Load(s.path); err != nil {
		return nil, err
	}
	return out, nil
}

func served(p upPlan, mt string) bool {
	for _, t := range p.machineTypes() {
		if t == mt {
			return true
		}
	}
	return false
}

// shortType names a runner after its machine type: "small", "gpu".
func shortType(mt string) string {
	if mt == machine.TagGPUMedium {
		return "gpu"
	}
	return strings.TrimSuffix(strings.TrimPrefix(mt, "saas-linux-"), "-amd64")
}
