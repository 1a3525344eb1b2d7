package coordinator_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/coordinator"
	"github.com/kiln-ci/kiln/internal/coordinator/coordinatortest"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/store"
	"github.com/kiln-ci/kiln/internal/store/storetest"
)

// contactEnv is a coordinator on a clock the test moves, with one runner.
func contactEnv(t *testing.T, engine string) (*coordinatortest.Env, *storetest.Clock, *store.Runner) {
	t.Helper()
	clock := storetest.NewClock()
	e := coordinatortest.New(t, coordinatortest.Options{Engine: engine, Now: clock.Now, NoRun: true})
	r, _ := e.Runner(t, coordinator.CreateRunnerRequest{RunUntagged: true})
	return e, clock, r
}

// stored reads the runner as the store has it.
func stored(t *testing.T, e *coordinatortest.Env, id int64) *store.Runner {
	t.Helper()
	r, err := e.Store.Runners.Runner(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var shellRunner = protocol.Info{Name: "gitlab-runner", Version: "19.4.0", Revision: "d79f3e7b", Platform: "linux",
	Architecture: "amd64", Executor: "shell"}

func TestARunnerPollingInALoopWritesItsContactOncePerInterval(t *testing.T) {
	coordinatortest.ForEachEngine(t, func(t *testing.T, engine string) {
		e, clock, r := contactEnv(t, engine)
		ctx := context.Background()
		c := coordinator.Contact{SystemID: "s_0123456789ab", Info: shellRunner, IP: "10.0.0.5"}
		first := clock.Now()
		writes := 0
		last := time.Time{}
		// A poll every 7 s for 5 minutes: contacted_at may lag a call by less than the
		// interval, and is written about once per interval, not once per poll.
		for i := 0; i < 43; i++ {
			e.Service.RecordContact(ctx, r, c)
			got := stored(t, e, r.ID).ContactedAt
			if lag := clock.Now().Sub(got); lag < 0 || lag >= coordinator.DefaultContactInterval {
				t.Fatalf("after the poll at +%s contacted_at is %s behind, want less than %s",
					clock.Now().Sub(first), lag, coordinator.DefaultContactInterval)
			}
			if !got.Equal(last) {
				writes++
				last = got
			}
			clock.Advance(7 * time.Second)
		}
		if writes < 5 || writes > 6 {
			t.Errorf("%d writes for 43 polls over 5 minutes, want one a minute", writes)
		}
		if got := stored(t, e, r.ID); got.Version != "19.4.0" || got.Executor != "shell" || got.IPAddress != "10.0.0.5" {
			t.Errorf("stored runner %+v", got)
		}
	})
}

func TestAChangedReportIsWrittenAtOnceButAGPUsMomentaryStateWaits(t *testing.T) {
	coordinatortest.ForEachEngine(t, func(t *testing.T, engine string) {
		e, clock, r := contactEnv(t, engine)
		ctx := context.Background()
		gpu := protocol.GPUInfo{UUID: "GPU-1", Model: "Tesla T4", MemoryBytes: 16 << 30, ComputeCapability: "7.5", Healthy: true}
		report := func(version string, g protocol.GPUInfo, free int) coordinator.Contact {
			info := shellRunner
			info.Version = version
			info.Kiln = &protocol.KilnInfo{GPUs: []protocol.GPUInfo{g}, FreeGPUs: free}
			return coordinator.Contact{SystemID: "s_0123456789ab", Info: info}
		}
		e.Service.RecordContact(ctx, r, report("19.4.0", gpu, 1))
		written := clock.Now()

		clock.Advance(5 * time.Second)
		busy := gpu
		busy.Leased, busy.LeasedByJob, busy.UtilizationPct = true, 42, 87
		e.Service.RecordContact(ctx, r, report("19.4.0", busy, 0))
		if got := stored(t, e, r.ID); !got.ContactedAt.Equal(written) || strings.Contains(string(got.GPUInventory), `"leased":true`) {
			t.Errorf("a lease was written at once: contacted_at %s, inventory %s", got.ContactedAt, got.GPUInventory)
		}

		for _, c := range []struct {
			what   string
			report coordinator.Contact
			want   string // in the stored inventory or version
		}{
			{"a new version", report("19.5.0", busy, 0), `"leased":true`},
			{"a GPU failing its health check", report("19.5.0", protocol.GPUInfo{UUID: "GPU-1", Model: "Tesla T4",
				MemoryBytes: 16 << 30, ComputeCapability: "7.5", HealthReason: "Xid 79"}, 0), `"health_reason":"Xid 79"`},
			{"another GPU", report("19.5.0", protocol.GPUInfo{UUID: "GPU-2", Model: "Tesla T4", MemoryBytes: 16 << 30,
				Healthy: true}, 1), `"uuid":"GPU-2"`},
		} {
			clock.Advance(5 * time.Second)
			e.Service.RecordContact(ctx, r, c.report)
			got := stored(t, e, r.ID)
			if !got.ContactedAt.Equal(clock.Now()) || !strings.Contains(string(got.GPUInventory), c.want) {
				t.Errorf("%s was not written at once: contacted_at %s (now %s), inventory %s", c.what, got.ContactedAt,
					clock.Now(), got.GPUInventory)
			}
		}
		if got := stored(t, e, r.ID); got.Version != "19.5.0" {
			t.Errorf("version %q, want 19.5.0", got.Version)
		}

		// A second host of the runner is written on its first call.
		clock.Advance(time.Second)
		other := report("19.5.0", gpu, 1)
		other.SystemID = "s_ba9876543210"
		e.Service.RecordContact(ctx, r, other)
		ms, err := e.Store.Runners.ListManagers(ctx, r.ID)
		if err != nil || len(ms) != 2 {
			t.Fatalf("managers %+v, %v; want two hosts", ms, err)
		}
	})
}
