package gpu

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/kiln-ci/kiln/internal/executor"
	"github.com/kiln-ci/kiln/internal/gpu/cuda"
	"github.com/kiln-ci/kiln/internal/gpu/device"
	"github.com/kiln-ci/kiln/internal/gpu/health"
	"github.com/kiln-ci/kiln/internal/gpu/lease"
	"github.com/kiln-ci/kiln/internal/gpu/scrub"
	"github.com/kiln-ci/kiln/internal/gpu/telemetry"
	"github.com/kiln-ci/kiln/internal/machine"
)

// Lease is one job's hold on its GPUs, from Acquire to Finish. Its methods are safe
// for concurrent use, but the runner calls them in the order the package doc gives.
type Lease struct {
	m       *Manager
	job     Job
	req     machine.GPURequest
	rec     lease.Lease
	gpus    []device.GPU
	devices executor.Devices

	mu       sync.Mutex
	recorder *telemetry.Recorder
	released bool
	result   *Result
}

// Result is what Finish reports.
type Result struct {
	// Report is the job's GPU telemetry (write it as telemetry.ReportFile); Footer its
	// lines for the end of the job log. Both are empty when telemetry never started.
	Report telemetry.Report
	Footer string
	// Scrubbed says what scrub did on each GPU; Quarantined names the GPUs that did not
	// come clean and were quarantined.
	Scrubbed    []scrub.Result
	Quarantined []string
}

// ID returns the lease id ("" for a lease of no GPUs).
func (l *Lease) ID() string { return l.rec.ID }

// GPUs returns the leased units.
func (l *Lease) GPUs() []device.GPU { return l.gpus }

// UUIDs returns the leased units' UUIDs.
func (l *Lease) UUIDs() []string { return l.rec.UUIDs }

// Devices returns the edits that make exactly the leased GPUs visible to the job.
func (l *Lease) Devices() executor.Devices { return l.devices }

// Check runs the health gate on every leased GPU again (time has passed since
// Acquire: the image was pulled) and the CUDA pre-flight against the image's
// environment (KEY=VALUE; nil for the shell executor) and the job's KILN_CUDA_MIN.
// On success it starts telemetry.
//
// A GPU that fails the gate is quarantined, the lease is released and a *FaultError
// (Requeue) is returned: Finish then does nothing. A CUDA mismatch is a
// *cuda.MismatchError and the lease stays held until Finish.
func (l *Lease) Check(ctx context.Context, imageEnv []string) error {
	if len(l.gpus) == 0 {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return errors.New("GPU lease already finished")
	}
	var faults []string
	var uuids []string
	for _, g := range l.gpus {
		err := l.m.gate.Check(ctx, g.UUID)
		var f *health.Fault
		switch {
		case errors.As(err, &f):
			if err := l.m.store.Quarantine(lease.Quarantine{UUID: g.UUID, Reason: f.Reason, JobID: l.job.ID}); err != nil {
				return err
			}
			l.m.log.Error("leased GPU failed its health check; quarantined, job goes back to the queue", "uuid", g.UUID, "job", l.job.ID, "reason", f.Reason)
			faults = append(faults, f.Reason)
			uuids = append(uuids, g.UUID)
		case err != nil:
			return err
		}
	}
	if len(faults) > 0 {
		// Nothing ran on the GPUs yet: no scrub is needed before the release.
		if err := l.m.store.Release(l.rec.ID); err != nil {
			return err
		}
		l.released = true
		l.result = &Result{}
		return &FaultError{UUIDs: uuids, Reason: strings.Join(faults, "; "), Requeue: true}
	}
	inv := l.m.inv
	for _, g := range l.gpus {
		h := cuda.Host{CUDA: inv.CUDAVersion, Driver: inv.DriverVersion, Brand: g.Brand, Arch: g.ComputeCapability}
		if err := cuda.Check(h, imageEnv, l.req.CUDAMin); err != nil {
			return err
		}
	}
	if l.recorder == nil {
		l.recorder = telemetry.Start(context.WithoutCancel(ctx), telemetry.Config{
			Sampler: l.m.host, UUIDs: l.rec.UUIDs, JobID: l.job.ID, Project: l.job.Project,
			Interval: l.m.cfg.SampleInterval, Logger: l.m.log,
		})
		l.m.collector.Track(l.recorder)
	}
	return nil
}

// Finish stops telemetry, scrubs every leased GPU (quarantining those that do not come
// clean) and only then releases the lease. It is idempotent: later calls return the
// first call's result.
func (l *Lease) Finish(ctx context.Context) (Result, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.result != nil {
		return *l.result, nil
	}
	if len(l.gpus) == 0 {
		l.result = &Result{}
		return *l.result, nil
	}
	var res Result
	if l.recorder != nil {
		res.Report = l.recorder.Stop()
		res.Footer = res.Report.Footer()
		l.m.collector.Untrack(l.recorder)
	}
	var err error
	res.Scrubbed, res.Quarantined, err = l.m.scrubAndRelease(ctx, l.rec)
	if err != nil {
		return res, fmt.Errorf("finishing job %d's GPU lease: %w", l.job.ID, err)
	}
	l.released = true
	l.result = &res
	return res, nil
}
