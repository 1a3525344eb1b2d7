package coordinator_test

import (
	"context"
	"fmt"
	"hash/crc32"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/coordinator"
	"github.com/kiln-ci/kiln/internal/coordinator/coordinatortest"
	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/store"
	"github.com/kiln-ci/kiln/internal/store/storetest"
)

// A Kiln runner whose leased GPU failed its health gate sends the job back with
// Kiln.Requeue: the job goes back to the queue, is not failed, and its minutes are not
// charged; the run that follows on a healthy GPU is charged for itself alone.
func TestAJobRequeuedForAGPUFaultGoesBackToTheQueueUncharged(t *testing.T) {
	coordinatortest.ForEachEngine(t, func(t *testing.T, engine string) {
		clock := storetest.NewClock()
		e, p := setup(t, engine, machine.PlanPremium, gpuJob, withClock(clock))
		ctx := context.Background()
		month := store.MonthOf(clock.Now())
		faulty, healthy := gpuRunner(t, e), gpuRunner(t, e)
		e.Take(t, faulty, kilnInfo(t4("GPU-bad", false)), 50*time.Millisecond) // report their inventories
		e.Take(t, healthy, kilnInfo(t4("GPU-good", true)), 50*time.Millisecond)
		pl := e.CreatePipeline(t, p, "main")
		job := e.MustTake(t, faulty, kilnInfo(t4("GPU-bad", false)))
		clock.Advance(10 * time.Minute)

		j, err := e.Service.AuthenticateJob(ctx, job.Token)
		if err != nil {
			t.Fatal(err)
		}
		const trace = "GPU GPU-bad failed its health check\n"
		if _, _, err := e.Service.AppendTrace(ctx, j, 0, []byte(trace)); err != nil {
			t.Fatal(err)
		}
		why := "GPU GPU-bad failed its health check and was quarantined: Xid 79 (GPU has fallen off the bus); the job goes back to the queue"
		res, err := e.Service.UpdateJob(ctx, j, coordinator.JobUpdate{State: protocol.StateFailed,
			FailureReason: protocol.FailureGPUFault, Checksum: fmt.Sprintf("crc32:%08x", crc32.ChecksumIEEE([]byte(trace))),
			Bytesize: int64(len(trace)), Kiln: &protocol.KilnJobReport{Message: why, Requeue: true}})
		if err != nil || res.Status != string(store.StatusPending) {
			t.Fatalf("the requeue update answered %+v, %v; want pending", res, err)
		}
		got, err := e.Store.Jobs.Job(ctx, job.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != store.StatusPending || got.FailureReason != "" {
			t.Fatalf("after the requeue the job is %s (failure reason %q); want pending, not failed", got.Status, got.FailureReason)
		}
		if u, err := e.Store.Usage.Usage(ctx, p.RootNamespaceID, month); err != nil || u.Minutes != 0 {
			t.Fatalf("after the requeue %v minutes were charged (%v); want none", u.Minutes, err)
		}

		again := e.MustTake(t, healthy, kilnInfo(t4("GPU-good", false)))
		if again.ID != job.ID {
			t.Fatalf("the healthy runner got job %d, want the requeued job %d", again.ID, job.ID)
		}
		clock.Advance(3 * time.Minute)
		e.Succeed(t, again)
		wantStatuses(t, e, pl, "train=success", store.StatusSuccess)
		mt, _ := machine.DefaultCatalog().Get(machine.TagGPUMedium)
		u, err := e.Store.Usage.Usage(ctx, p.RootNamespaceID, month)
		if want := 3 * mt.CostFactor; err != nil || u.Minutes != want {
			t.Errorf("after the second run %v minutes were charged (%v); want %v, the second run's 3 minutes alone", u.Minutes, err, want)
		}
	})
}
