package web_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/kiln-ci/kiln/internal/coordinator"
	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/store"
)

func TestAJobShowsItsGPUTelemetryAndArtifacts(t *testing.T) {
	e := newEnv(t)
	g := e.Group(t, "ml", machine.PlanPremium)
	p := e.Project(t, g, "train", map[string]string{".gitlab-ci.yml": "train:\n  tags: [saas-linux-medium-amd64-gpu-standard]\n  script: [python train.py]\n"})
	r, _ := e.Runner(t, coordinator.CreateRunnerRequest{MachineType: machine.TagGPUMedium})
	kiln := &protocol.KilnInfo{MachineType: machine.TagGPUMedium, FreeGPUs: 1, GPUs: []protocol.GPUInfo{
		{UUID: "GPU-abcdef12-3456", Model: "Tesla T4", MemoryBytes: 16 * machine.GiB, ComputeCapability: "7.5", CUDAVersion: "12.4", Healthy: true}}}
	ctx := t.Context()
	// The runner reports its GPUs before the job is created, or no runner could ever take it.
	e.Service.RecordContact(ctx, r, coordinator.Contact{SystemID: "s_000000000001", Info: protocol.Info{Kiln: kiln}})
	e.CreatePipeline(t, p, "main")
	job := e.MustTake(t, r, kiln)
	j, err := e.Service.AuthenticateJob(ctx, job.Token)
	if err != nil {
		t.Fatal(err)
	}
	zip := "PK\x05\x06" + strings.Repeat("\x00", 18) // an empty zip archive
	if _, err := e.Service.UploadArtifact(ctx, j, coordinator.ArtifactUpload{Filename: "model.zip", Body: strings.NewReader(zip)}); err != nil {
		t.Fatal(err)
	}
	update := jobUpdate(protocol.StateSuccess, "")
	update.Kiln = &protocol.KilnJobReport{GPUs: []string{"GPU-abcdef12-3456"}, Telemetry: []protocol.GPUTelemetry{
		{UUID: "GPU-abcdef12-3456", PeakMemoryBytes: 12 * machine.GiB, MeanUtilizationPct: 87.4, MeanPowerWatts: 61.2, PeakTemperatureC: 71, Samples: 30}}}
	if _, err := e.Service.UpdateJob(ctx, j, update); err != nil {
		t.Fatal(err)
	}
	b := e.browser(t)
	b.signIn(e.AdminToken)
	jobURL := fmt.Sprintf("/ml/train/-/jobs/%d", job.ID)
	page := b.get(jobURL)
	wantStatus(t, page, http.StatusOK)
	wantContains(t, page, "GPU telemetry", `<code title="GPU-abcdef12-3456">GPU-abcd</code>`, "<td>12 GiB</td>", "<td>87 %</td>",
		"<td>61 W</td>", "<td>71 °C</td>", "model.zip", `href="`+jobURL+`/artifacts/download"`,
		"saas-linux-medium-amd64-gpu-standard", "<dt>GPUs</dt><dd>1</dd>")

	dl := b.get(jobURL + "/artifacts/download")
	wantStatus(t, dl, http.StatusOK)
	if dl.Body != zip || dl.Header.Get("Content-Disposition") != `attachment; filename="model.zip"` {
		t.Errorf("download: %q %q", dl.Header.Get("Content-Disposition"), dl.Body)
	}
	// Private project: others see nothing, not even the archive.
	wantStatus(t, e.browser(t).get(jobURL+"/artifacts/download"), http.StatusNotFound)

	// A job without an archive answers 404 in the coordinator's words.
	other := e.project(t, "app", store.VisibilityPublic, threeStages)
	small := e.small(t)
	e.CreatePipeline(t, other, "main")
	plain := e.take(t, small)
	e.Succeed(t, plain)
	wantStatus(t, b.get(fmt.Sprintf("/acme/app/-/jobs/%d/artifacts/download", plain.ID)), http.StatusNotFound)
}
