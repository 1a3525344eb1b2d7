package provider

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/kiln-ci/kiln/internal/executor"
	"github.com/kiln-ci/kiln/internal/gpu"
	"github.com/kiln-ci/kiln/internal/gpu/telemetry"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/runner"
)

// jobLease is a gpu.Lease as a runner.DeviceLease.
type jobLease struct {
	p *Provider
	l *gpu.Lease
}

// Devices returns the edits that give the job exactly its leased GPUs.
func (j *jobLease) Devices() executor.Devices { return j.l.Devices() }

// Check is the health gate and the CUDA pre-flight; it starts telemetry. A GPU that
// fails the gate is quarantined and the job goes back to the queue; a CUDA mismatch
// fails the job, naming the image's and the driver's versions.
func (j *jobLease) Check(ctx context.Context, imageEnv []string) error {
	return outcome(j.l.Check(ctx, imageEnv))
}

// Finish stops telemetry, scrubs the GPUs and releases the lease. Its report holds
// the telemetry footer with what scrub did, the GPUs' UUIDs and figures, and
// gpu-telemetry.json when telemetry ran.
func (j *jobLease) Finish(ctx context.Context) (runner.DeviceReport, error) {
	res, err := j.l.Finish(ctx)
	j.p.forget(j.l.ID())
	rep := runner.DeviceReport{Footer: footer(res), GPUs: j.l.UUIDs(), Telemetry: res.Report.GPUs}
	if len(res.Report.GPUs) > 0 {
		var b bytes.Buffer
		if werr := res.Report.WriteJSON(&b); werr != nil {
			j.p.log.Warn("writing the GPU telemetry report failed", "error", werr)
		} else {
			rep.Files = []runner.DeviceFile{{Name: telemetry.ReportFile, Type: protocol.ArtifactTypeGPUTelemetry, Content: b.Bytes()}}
		}
	}
	return rep, err
}

// footer is the telemetry footer followed by what scrub had to do.
func footer(res gpu.Result) string {
	var b strings.Builder
	b.WriteString(res.Footer)
	for _, s := range res.Scrubbed {
		if len(s.Killed) > 0 {
			fmt.Fprintf(&b, "GPU %s: killed %d process(es) the job left running (pid %s)\n", s.UUID, len(s.Killed), joinInts(s.Killed))
		}
	}
	for _, u := range res.Quarantined {
		fmt.Fprintf(&b, "GPU %s did not come clean after the job and was quarantined\n", u)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ", ")
}
