package remote

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/runner"
)

// errRangeMismatch: the coordinator holds a different amount of trace; sent was
// moved to its offset and the rest goes next time.
var errRangeMismatch = errors.New("trace range mismatch (416)")

// sendPending PATCHes everything written but not yet acknowledged, in chunks of at
// most 1 MiB. It stops at the first answer that is not a success. In final mode a
// 416 is resent at once instead of at the next interval.
func (c *Channel) sendPending(ctx context.Context, final bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	buf := make([]byte, ChunkSize)
	mismatches := 0
	for {
		size := c.store.Size()
		if c.sent >= size {
			return nil
		}
		n := int(min(int64(ChunkSize), size-c.sent))
		n, err := c.store.ReadAt(buf[:n], c.sent)
		if err != nil && n == 0 {
			return fmt.Errorf("reading the trace file: %w", err)
		}
		res, err := c.cfg.Client.PatchTrace(ctx, c.cfg.Job.ID, c.cfg.Job.Token, c.sent, buf[:n], c.debugTrace)
		if errors.Is(err, protocol.ErrForbidden) {
			c.abort(fmt.Errorf("sending the trace: %w", err))
			return err
		}
		if err != nil {
			return err
		}
		c.mu.Unlock()
		c.observe(res)
		c.mu.Lock()
		switch res.StatusCode {
		case http.StatusAccepted:
			c.sent += int64(n)
			c.lastSent = time.Now()
		case http.StatusRequestedRangeNotSatisfiable:
			c.sent = max(res.RemoteSize, 0)
			c.log.Info("trace range mismatch; resending from the coordinator's offset", "offset", c.sent)
			mismatches++
			if !final || mismatches > 5 {
				return errRangeMismatch
			}
		case http.StatusNotFound:
			return nil // GitLab skips the patch; the job goes on
		}
	}
}

// Finish sends the rest of the trace and the final update, as gitlab-runner does:
// up to FinalAttempts tries; 202 (two-phase commit) waits an interval and re-flushes;
// 412 resends the whole trace; 403, 404 or Job-Status canceled/failed end the job on
// the coordinator's side, which is accepted as done. The trace file is removed.
func (c *Channel) Finish(ctx context.Context, o runner.Outcome) error {
	close(c.stop)
	<-c.done
	defer c.store.Close()
	req := c.finalRequest(o)
	attempts := c.cfg.FinalAttempts
	if c.aborted.Load() {
		attempts = 1 // the coordinator is done with the job; tell it once, as a courtesy
	}
	var lastErr error
	for failures, pending := 0, 0; failures < attempts; {
		if failures > 0 && lastErr != nil {
			if err := sleep(ctx, c.cfg.FinalBackoff.Exponential(failures)); err != nil {
				return fmt.Errorf("final update of job %d: %w (after %v)", c.cfg.Job.ID, err, lastErr)
			}
		}
		if err := c.sendPending(ctx, true); err != nil {
			if c.aborted.Load() {
				return nil
			}
			lastErr = err
			failures++
			continue
		}
		req.Output = protocol.JobTraceOutput{Checksum: c.store.Checksum(), Bytesize: c.store.Size()}
		req.Checksum = req.Output.Checksum
		res, err := c.cfg.Client.UpdateJob(ctx, c.cfg.Job.ID, req)
		if errors.Is(err, protocol.ErrForbidden) || errors.Is(err, protocol.ErrNotFound) || res.Aborted() {
			return nil
		}
		if err != nil {
			lastErr = err
			failures++
			continue
		}
		switch res.StatusCode {
		case http.StatusOK:
			return nil
		case http.StatusAccepted:
			// A two-phase commit in progress is not a failed try, but it is not
			// waited for forever either.
			if pending++; pending > maxPending {
				return fmt.Errorf("final update of job %d: still not completed after %d accepted updates (202)", c.cfg.Job.ID, pending-1)
			}
			c.mu.Lock()
			wait := c.interval
			c.mu.Unlock()
			if err := sleep(ctx, wait); err != nil {
				return err
			}
			lastErr = nil
		case http.StatusPreconditionFailed:
			c.log.Info("the coordinator failed to validate the trace; resending it whole")
			c.mu.Lock()
			c.sent = 0
			c.mu.Unlock()
			lastErr = errors.New("trace validation failed (412)")
			failures++
		}
	}
	return fmt.Errorf("final update of job %d failed after %d attempts: %w", c.cfg.Job.ID, attempts, lastErr)
}

// maxPending bounds how many 202 answers the final update waits through.
const maxPending = 100

// finalRequest is the final PUT's body for an outcome.
func (c *Channel) finalRequest(o runner.Outcome) protocol.UpdateJobRequest {
	req := protocol.UpdateJobRequest{Info: c.info(), Token: c.cfg.Job.Token, State: o.State()}
	k := &protocol.KilnJobReport{}
	if !o.Succeeded() {
		req.FailureReason = protocol.MapFailureReason(o.FailureReason, c.cfg.Job.Features.FailureReasons)
		if code, ok := o.ScriptExitCode(); ok {
			req.ExitCode = code
		}
		k.Message, k.Requeue = o.Message, o.Requeue
	}
	if o.Devices != nil {
		k.GPUs, k.Telemetry = o.Devices.GPUs, o.Devices.Telemetry
	}
	if k.Message != "" || k.Requeue || len(k.GPUs) > 0 || len(k.Telemetry) > 0 {
		req.Kiln = k
	}
	return req
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}
