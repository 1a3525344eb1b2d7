package runner_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/runner"
	"github.com/kiln-ci/kiln/internal/runner/local"
	"github.com/kiln-ci/kiln/internal/testenv"
)

// reportingProvider leases one pretend GPU whose lease ends with a job report file.
type reportingProvider struct{ fakeProvider }

type reportingLease struct{ fakeLease }

func (p *reportingProvider) Acquire(ctx context.Context, job *jobspec.Job, req machine.GPURequest) (runner.DeviceLease, error) {
	l, err := p.fakeProvider.Acquire(ctx, job, req)
	if err != nil {
		return nil, err
	}
	return reportingLease{l.(fakeLease)}, nil
}

func (l reportingLease) Finish(ctx context.Context) (runner.DeviceReport, error) {
	rep, err := l.fakeLease.Finish(ctx)
	rep.Files = []runner.DeviceFile{{Name: "gpu-telemetry.json", Type: protocol.ArtifactTypeGPUTelemetry, Content: []byte(`{"job_id":1}`)}}
	return rep, err
}

// refusingChannel is a local channel whose coordinator refuses GPU reports, as GitLab
// refuses an artifact type it does not know.
type refusingChannel struct{ *local.Channel }

func (c refusingChannel) UploadArtifacts(ctx context.Context, up protocol.ArtifactUpload) error {
	if up.Type == protocol.ArtifactTypeGPUTelemetry {
		return errors.New("400 Bad Request: artifact_type is invalid")
	}
	return c.Channel.UploadArtifacts(ctx, up)
}

func TestTheLeasesReportIsUploadedAfterTheFooter(t *testing.T) {
	mt := testMachine(1)
	p := &reportingProvider{}
	h := newHarness(t, func(c *runner.Config) { c.MachineType = &mt; c.Devices = p })
	job := h.job([]string{"echo working"})
	o, log := h.run(job)
	if o.Kind != runner.Success || len(o.Artifacts) != 1 || o.Artifacts[0].Type != protocol.ArtifactTypeGPUTelemetry {
		t.Fatalf("%+v\n%s", o, log)
	}
	inOrder(t, log, "working", "GPU telemetry: peak memory 1 GiB", `Uploading gpu-telemetry.json as "kiln_gpu_telemetry" to coordinator... 201 Created`, "Job succeeded")
	kept := h.artifacts.Path(job.ID, protocol.ArtifactUpload{Name: "gpu-telemetry.json", Format: jobspec.ArtifactFormatRaw, Type: protocol.ArtifactTypeGPUTelemetry})
	if b, err := os.ReadFile(kept); err != nil || string(b) != `{"job_id":1}` {
		t.Errorf("kept report %q, %v", b, err)
	}
}

func TestARefusedReportOnlyWarns(t *testing.T) {
	mt := testMachine(1)
	h := newHarness(t, func(c *runner.Config) { c.MachineType = &mt; c.Devices = &reportingProvider{} })
	lc, err := runner.NewLifecycle(h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	out := &testenv.Buffer{}
	job := h.job([]string{"true"})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	o := lc.Run(ctx, job, runner.Slot{}, refusingChannel{local.NewChannel(out, job.ID, h.artifacts)})
	if o.Kind != runner.Success || len(o.Artifacts) != 0 {
		t.Fatalf("%+v\n%s", o, out)
	}
	if !strings.Contains(out.String(), `WARNING: Uploading gpu-telemetry.json as "kiln_gpu_telemetry" to coordinator... failed: 400 Bad Request`) {
		t.Errorf("no warning:\n%s", out)
	}
}
