package runner

import (
	"context"
	"errors"
	"fmt"

	"github.com/kiln-ci/kiln/internal/executor"
	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/protocol"
)

// DeviceProvider leases host devices (GPUs) to jobs; internal/gpu implements it. A nil
// provider means the runner has no GPUs: a job that needs one fails at once, saying so.
//
// Acquire may be called concurrently for different jobs. It returns a lease holding
// devices that fit req, exclusive to the job, or an error; errors may implement
// FailureReason() string (e.g. protocol.FailureGPUUnavailable) and Requeue() bool
// (true when the job should go back to the queue rather than fail).
type DeviceProvider interface {
	Acquire(ctx context.Context, job *jobspec.Job, req machine.GPURequest) (DeviceLease, error)
}

// DeviceLease is one job's devices, from Acquire to Finish.
//
// Call order: Devices (any time); Check once, after the environment is prepared (so the
// image's environment is known); Finish exactly once, whatever happened, after the
// environment is cleaned up. Errors of Check follow Acquire's conventions.
type DeviceLease interface {
	// Devices are the edits that give the environment exactly the leased devices; the
	// lifecycle passes them to the environment's executor.DeviceInjector.
	Devices() executor.Devices
	// Check is the health gate and the CUDA pre-flight: imageEnv is the job image's
	// configured environment (CUDA_VERSION, NVIDIA_REQUIRE_CUDA), nil for executors
	// without images.
	Check(ctx context.Context, imageEnv []string) error
	// Finish stops telemetry, scrubs the devices and releases the lease.
	Finish(ctx context.Context) (DeviceReport, error)
}

// DeviceReport is what a lease tells about its job when it ends.
type DeviceReport struct {
	// Footer is printed at the end of the job log (e.g. GPU telemetry), before the
	// final status line.
	Footer string
	// GPUs are the devices' UUIDs; Telemetry their per-job figures.
	GPUs      []string
	Telemetry []protocol.GPUTelemetry
	// Files are job reports about the devices (e.g. gpu-telemetry.json), which the
	// lifecycle uploads as raw artifacts once the lease has ended.
	Files []DeviceFile
}

// DeviceFile is one job report a lease produced.
type DeviceFile struct {
	// Name is the file name (e.g. gpu-telemetry.json); Type its artifact_type
	// (e.g. protocol.ArtifactTypeGPUTelemetry).
	Name    string
	Type    string
	Content []byte
}

// deviceOutcome turns a device error into a GPU failure with its reason and requeue
// flag.
func deviceOutcome(err error, fallbackReason string) Outcome {
	o := Outcome{Kind: GPUFailure, FailureReason: fallbackReason, Message: err.Error()}
	var fr interface{ FailureReason() string }
	if errors.As(err, &fr) && fr.FailureReason() != "" {
		o.FailureReason = fr.FailureReason()
	}
	var rq interface{ Requeue() bool }
	if errors.As(err, &rq) {
		o.Requeue = rq.Requeue()
	}
	return o
}

// gpuRequest resolves what the job asks of GPUs against the runner's machine type.
func gpuRequest(mt *machine.Type, vars jobspec.Variables) (machine.GPURequest, error) {
	req, err := machine.ParseGPURequest(vars.Lookup)
	if err != nil {
		return req, err
	}
	if mt == nil {
		return req, nil
	}
	return mt.Resolve(req)
}

func noGPUsHere(req machine.GPURequest, mt *machine.Type) error {
	what := fmt.Sprintf("%d GPU", req.Wanted())
	if req.Wanted() != 1 {
		what += "s"
	}
	if mt != nil && mt.HasGPU() {
		return fmt.Errorf("this job needs %s of machine type %s, but no GPU of that machine type is available on this runner", what, mt.Tag)
	}
	return fmt.Errorf("this job needs %s (%s), but this runner has no GPUs", what, machine.VarGPUCount)
}
