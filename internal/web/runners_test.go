package web_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/coordinator"
	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/store"
)

// gpuRunner is a hosted GPU runner that has reported two T4s: one leased by job 77,
// one quarantined.
func (e *env) gpuRunner(t *testing.T) *store.Runner {
	t.Helper()
	r, _ := e.Runner(t, coordinator.CreateRunnerRequest{MachineType: machine.TagGPUMedium, Description: "gpu-host-1"})
	e.Service.RecordContact(context.Background(), r, coordinator.Contact{SystemID: "s_0123456789ab", IP: "10.1.2.3",
		Info: protocol.Info{Version: "18.1.0", Executor: "docker", Platform: "linux", Architecture: "amd64",
			Kiln: &protocol.KilnInfo{MachineType: machine.TagGPUMedium, FreeGPUs: 0, GPUs: []protocol.GPUInfo{
				{UUID: "GPU-11111111-aaaa", Model: "Tesla T4", MemoryBytes: 16 * machine.GiB, ComputeCapability: "7.5",
					CUDAVersion: "12.4", DriverVersion: "550.54", Healthy: true, Leased: true, LeasedByJob: 77, UtilizationPct: 93},
				{UUID: "GPU-22222222-bbbb", Model: "Tesla T4", MemoryBytes: 16 * machine.GiB, ComputeCapability: "7.5",
					Healthy: false, HealthReason: "Xid 79: <GPU has fallen off the bus>"},
			}}}})
	return r
}

func TestRunnersPageShowsMachineTypesAndGPUHealth(t *testing.T) {
	e := newEnv(t)
	gpu := e.gpuRunner(t)
	e.small(t)
	b := e.browser(t)
	wantStatus(t, b.get("/-/runners"), http.StatusSeeOther) // sign in first
	b.signIn(e.AdminToken)
	list := b.get("/-/runners")
	wantStatus(t, list, http.StatusOK)
	wantContains(t, list,
		"1 of 2 online",
		fmt.Sprintf(`href="/-/runners/%d"`, gpu.ID), "gpu-host-1",
		"<code>saas-linux-medium-amd64-gpu-standard</code>",
		"2 GPUs · Tesla T4 · <span class=\"ok\">0 free</span> · <span class=\"bad\">1 unhealthy</span>",
		`<span class="runner-state state-online">`, `<span class="runner-state state-never">`,
		"18.1.0",
	)

	detail := b.get(fmt.Sprintf("/-/runners/%d", gpu.ID))
	wantStatus(t, detail, http.StatusOK)
	wantContains(t, detail,
		"4 vCPU, 15 GB RAM, 1 GPU", "s_0123456789ab", "<code>10.1.2.3</code>",
		`<code title="GPU-11111111-aaaa">GPU-1111</code>`, "16 GiB", "12.4 / 550.54",
		"job #77", "93 %",
		`<tr class="gpu-bad">`, "quarantined", "Xid 79: &lt;GPU has fallen off the bus&gt;",
	)
	wantStatus(t, b.get("/-/runners/999"), http.StatusNotFound)
	wantStatus(t, b.get("/-/runners/abc"), http.StatusNotFound)
}

func TestNonAdministratorsSeeInstanceRunnersWithoutAddresses(t *testing.T) {
	e := newEnv(t)
	gpu := e.gpuRunner(t)
	p := e.project(t, "app", store.VisibilityPrivate, threeStages)
	projRunner, _ := e.Runner(t, coordinator.CreateRunnerRequest{Type: store.RunnerProject, ProjectID: p.ID, Description: "private-runner"})
	_, token := e.user(t, "dev", "read_api")
	b := e.browser(t)
	b.signIn(token)
	list := b.get("/-/runners")
	wantContains(t, list, "gpu-host-1", "The instance runners every project may use")
	wantNotContains(t, list, "private-runner")
	wantStatus(t, b.get(fmt.Sprintf("/-/runners/%d", projRunner.ID)), http.StatusNotFound)
	detail := b.get(fmt.Sprintf("/-/runners/%d", gpu.ID))
	wantStatus(t, detail, http.StatusOK)
	wantNotContains(t, detail, "10.1.2.3")
}

func TestARunnersRecentJobsLeaveOutProjectsTheViewerCannotRead(t *testing.T) {
	e := newEnv(t)
	r := e.small(t)
	const one = "solo:\n  script: [echo hi]\n"
	secret := e.project(t, "secret", store.VisibilityPrivate, one)
	open := e.project(t, "open", store.VisibilityPublic, one)
	e.CreatePipeline(t, secret, "main")
	e.Succeed(t, e.take(t, r))
	e.CreatePipeline(t, open, "main")
	e.Succeed(t, e.take(t, r))
	_, token := e.user(t, "dev", "read_api")
	b := e.browser(t)
	b.signIn(token)
	detail := b.get(fmt.Sprintf("/-/runners/%d", r.ID))
	wantContains(t, detail, "acme/open")
	wantNotContains(t, detail, "acme/secret")
}

func TestMachineTypesPageListsTheCatalog(t *testing.T) {
	e := newEnv(t)
	e.gpuRunner(t)
	page := e.browser(t).get("/-/machine_types")
	wantStatus(t, page, http.StatusOK)
	for _, mt := range machine.DefaultCatalog().Types() {
		wantContains(t, page, `<tr id="`+mt.Tag+`">`)
	}
	gpuRow := page.Body[strings.Index(page.Body, `<tr id="saas-linux-medium-amd64-gpu-standard">`):]
	gpuRow = gpuRow[:strings.Index(gpuRow, "</tr>")]
	for _, want := range []string{"<td>4</td>", "<td>15 GB</td>", "<td>50 GB</td>", "1 GPU, 16 GB", "<td>7</td>", "Premium, Ultimate", "1 online", "0 of 2 GPUs free"} {
		if !strings.Contains(gpuRow, want) {
			t.Errorf("the GPU machine type's row misses %q:\n%s", want, gpuRow)
		}
	}
	wantContains(t, page, `<code>saas-linux-small-amd64</code> <span class="pill pill-info">untagged jobs</span>`)
}

func TestUsageQuotasShowGitLabsWarnings(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	low := e.Group(t, "low", machine.PlanFree)
	spent := e.Group(t, "spent", machine.PlanFree)
	fine := e.Group(t, "fine", machine.PlanPremium)
	now := store.MonthOf(time.Now())
	for ns, minutes := range map[int64]float64{low.ID: 390, spent.ID: 400, fine.ID: 1234.5} {
		if _, err := e.Store.Usage.AddMinutes(ctx, ns, now, minutes); err != nil {
			t.Fatal(err)
		}
	}
	b := e.browser(t)
	b.signIn(e.AdminToken)
	page := b.get("/-/usage_quotas")
	wantStatus(t, page, http.StatusOK)
	section := func(path string) string {
		i := strings.Index(page.Body, `<a href="/`+path+`">`)
		if i < 0 {
			t.Fatalf("no usage for %s", path)
		}
		s := page.Body[strings.LastIndex(page.Body[:i], "<section"):]
		return s[:strings.Index(s, "</section>")]
	}
	for path, wants := range map[string][]string{
		"low":   {"usage-danger", "<strong>390</strong> / 400 compute minutes", "2.5% left", "compute minutes running low: 2% (10 of 400 minutes) left"},
		"spent": {"usage-danger", "compute quota exceeded: 400 of 400 compute minutes used", "0% left"},
		"fine":  {"usage-ok", "<strong>1,234.5</strong> / 10,000 compute minutes", "Premium plan"},
	} {
		s := section(path)
		for _, w := range wants {
			if !strings.Contains(s, w) {
				t.Errorf("%s: misses %q in\n%s", path, w, s)
			}
		}
	}
	if strings.Contains(section("fine"), "alert") {
		t.Error("a namespace with 87% left shows a warning")
	}

	_, token := e.user(t, "dev", "read_api")
	dev := e.browser(t)
	dev.signIn(token)
	mine := dev.get("/-/usage_quotas")
	wantContains(t, mine, `<a href="/dev">dev</a>`)
	wantNotContains(t, mine, `<a href="/low">`)
}

func TestAProjectsPipelinesWarnItsWritersOfASpentQuota(t *testing.T) {
	e := newEnv(t)
	p := e.project(t, "app", store.VisibilityPublic, threeStages)
	if _, err := e.Store.Usage.AddMinutes(context.Background(), p.RootNamespaceID, store.MonthOf(time.Now()), 400); err != nil {
		t.Fatal(err)
	}
	admin := e.browser(t)
	admin.signIn(e.AdminToken)
	wantContains(t, admin.get("/acme/app/-/pipelines"), `<div class="alert alert-danger" role="alert">compute quota exceeded: 400 of 400`)
	wantNotContains(t, e.browser(t).get("/acme/app/-/pipelines"), "compute quota exceeded") // readers are not told
}
