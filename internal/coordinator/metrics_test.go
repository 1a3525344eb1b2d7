package coordinator_test

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kiln-ci/kiln/internal/coordinator/coordinatortest"
	"github.com/kiln-ci/kiln/internal/machine"
)

func TestMetricsCountJobsQueueDepthPickupLatencyAndRunners(t *testing.T) {
	e, p := setup(t, coordinatortest.SQLite, machine.PlanFree, "a:\n  script: [x]\nb:\n  script: [x]\n")
	r := small(t, e)
	e.CreatePipeline(t, p, "main")
	e.Succeed(t, e.MustTake(t, r, nil))
	want := `
# HELP kiln_jobs_finished_total Jobs that finished, by status and failure reason.
# TYPE kiln_jobs_finished_total counter
kiln_jobs_finished_total{failure_reason="",status="success"} 1
# HELP kiln_queue_depth Pending jobs waiting for a runner (counted up to 1000).
# TYPE kiln_queue_depth gauge
kiln_queue_depth 1
# HELP kiln_runners_online Runners that contacted the coordinator within 2 hours.
# TYPE kiln_runners_online gauge
kiln_runners_online 1
`
	if err := testutil.GatherAndCompare(e.Metrics, strings.NewReader(want),
		"kiln_jobs_finished_total", "kiln_queue_depth", "kiln_runners_online"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(e.Metrics, "kiln_job_pickup_latency_seconds"); n != 1 {
		t.Errorf("pickup latency series: %d", n)
	}
	if !strings.Contains(gather(t, e), "kiln_job_pickup_latency_seconds_count 1") {
		t.Errorf("one claim should be observed:\n%s", gather(t, e))
	}
}

func gather(t *testing.T, e *coordinatortest.Env) string {
	mfs, err := e.Metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if h := m.GetHistogram(); h != nil {
				b.WriteString(mf.GetName() + "_count " + itoa(int64(h.GetSampleCount())) + "\n")
			}
		}
	}
	return b.String()
}
