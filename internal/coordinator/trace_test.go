package coordinator_test

import (
	"context"
	"fmt"
	"hash/crc32"
	"sync/atomic"
	"testing"

	"github.com/kiln-ci/kiln/internal/coordinator"
	"github.com/kiln-ci/kiln/internal/coordinator/coordinatortest"
	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/store"
)

// countingTraces counts the trace checksums read from the store.
type countingTraces struct {
	store.Traces
	infos atomic.Int64
}

func (c *countingTraces) TraceInfo(ctx context.Context, jobID int64) (store.TraceInfo, error) {
	c.infos.Add(1)
	return c.Traces.TraceInfo(ctx, jobID)
}

func TestAFinalUpdateAfterThisReplicasAppendsReadsNoTraceBack(t *testing.T) {
	coordinatortest.ForEachEngine(t, func(t *testing.T, engine string) {
		e, p := setup(t, engine, machine.PlanFree, "a:\n  script: [make]\nb:\n  script: [make]\n")
		traces := &countingTraces{Traces: e.Store.Traces}
		e.Store.Traces = traces
		ctx := context.Background()
		e.CreatePipeline(t, p, "main")
		r, _ := e.Runner(t, coordinator.CreateRunnerRequest{RunUntagged: true})
		finish := func(j *store.Job, log string) coordinator.JobUpdateResult {
			t.Helper()
			res, err := e.Service.UpdateJob(ctx, j, coordinator.JobUpdate{State: protocol.StateSuccess,
				Checksum: fmt.Sprintf("crc32:%08x", crc32.ChecksumIEEE([]byte(log))), Bytesize: int64(len(log))})
			if err != nil {
				t.Fatal(err)
			}
			return res
		}

		// Three patches through this coordinator: the checksum it chained over them
		// answers the runner's, and nothing is read back.
		job := e.MustTake(t, r, nil)
		j, err := e.Service.AuthenticateJob(ctx, job.Token)
		if err != nil {
			t.Fatal(err)
		}
		log := ""
		for _, part := range []string{"Running with gitlab-runner\n", "$ make\n", "Job succeeded\n"} {
			if _, _, err := e.Service.AppendTrace(ctx, j, int64(len(log)), []byte(part)); err != nil {
				t.Fatal(err)
			}
			log += part
		}
		if res := finish(j, log); res.TraceMismatch || res.Status != string(store.StatusSuccess) || traces.infos.Load() != 0 {
			t.Errorf("final update = %+v after %d checksum reads; want success without a read", res, traces.infos.Load())
		}

		// A patch this coordinator did not see (another replica's) breaks the chain:
		// the final update reads the stored checksum, and still matches.
		job = e.MustTake(t, r, nil)
		if j, err = e.Service.AuthenticateJob(ctx, job.Token); err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.Service.AppendTrace(ctx, j, 0, []byte("one ")); err != nil {
			t.Fatal(err)
		}
		if _, err := traces.Traces.AppendTrace(ctx, j.ID, 4, []byte("two ")); err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.Service.AppendTrace(ctx, j, 8, []byte("three")); err != nil {
			t.Fatal(err)
		}
		if res := finish(j, "one two three"); res.TraceMismatch || traces.infos.Load() != 1 {
			t.Errorf("final update = %+v after %d checksum reads; want a match found by one read", res, traces.infos.Load())
		}
	})
}
