package coordinatortest

import (
	"context"
	"fmt"
	"hash/crc32"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/coordinator"
	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/store"
)

// Take asks for a job for runner r through the service (as jobs/request does) and
// returns it, or nil when none comes within wait. kiln is what a Kiln runner
// reports (nil for gitlab-runner).
func (e *Env) Take(t testing.TB, r *store.Runner, kiln *protocol.KilnInfo, wait time.Duration) *jobspec.Job {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	cur, err := e.Store.Runners.Runner(context.Background(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	job, _, err := e.Service.RequestJob(ctx, cur, coordinator.JobRequest{
		Contact: coordinator.Contact{SystemID: "s_000000000001", Info: protocol.Info{Name: "test-runner", Kiln: kiln}}})
	if err != nil {
		t.Fatalf("requesting a job for runner %d: %v", r.ID, err)
	}
	return job
}

// MustTake is Take that fails the test when no job comes within 5 seconds.
func (e *Env) MustTake(t testing.TB, r *store.Runner, kiln *protocol.KilnInfo) *jobspec.Job {
	t.Helper()
	job := e.Take(t, r, kiln, 5*time.Second)
	if job == nil {
		t.Fatalf("runner %d got no job", r.ID)
	}
	return job
}

// Finish sends a trace and the final update of a job as a runner does, and returns
// the answer's Job-Status. exitCode is used when state is failed.
func (e *Env) Finish(t testing.TB, job *jobspec.Job, state, trace string, exitCode int) string {
	t.Helper()
	ctx := context.Background()
	j, err := e.Service.AuthenticateJob(ctx, job.Token)
	if err != nil {
		t.Fatalf("job %d's token: %v", job.ID, err)
	}
	if trace != "" {
		if _, _, err := e.Service.AppendTrace(ctx, j, 0, []byte(trace)); err != nil {
			t.Fatalf("appending the trace of job %d: %v", job.ID, err)
		}
	}
	u := coordinator.JobUpdate{State: state, Checksum: fmt.Sprintf("crc32:%08x", crc32.ChecksumIEEE([]byte(trace))),
		Bytesize: int64(len(trace))}
	if state == protocol.StateFailed {
		u.FailureReason, u.ExitCode = protocol.FailureScript, exitCode
	}
	res, err := e.Service.UpdateJob(ctx, j, u)
	if err != nil || res.TraceMismatch {
		t.Fatalf("finishing job %d: %v (trace mismatch %v)", job.ID, err, res.TraceMismatch)
	}
	return res.Status
}

// Succeed finishes a job successfully with a one-line trace.
func (e *Env) Succeed(t testing.TB, job *jobspec.Job) {
	t.Helper()
	e.Finish(t, job, protocol.StateSuccess, "job "+job.JobInfo.Name+" ok\n", 0)
}

// Fail finishes a job with a script failure and exit code.
func (e *Env) Fail(t testing.TB, job *jobspec.Job, exitCode int) {
	t.Helper()
	e.Finish(t, job, protocol.StateFailed, "job "+job.JobInfo.Name+" failed\n", exitCode)
}
