package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"strings"
	"time"

	"github.com/kiln-ci/kiln/internal/coordinator/payload"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/store"
)

// AuthenticateJob returns the running (or canceling) job a job token belongs to.
// KindForbidden for a token of no running job: finished jobs' tokens are revoked.
// A lookup is reused for up to a second (a runner's PUT and PATCH come in bursts);
// this replica forgets it as soon as it moves the job, so a cancel or finish made
// on another replica shows within that second.
func (s *Service) AuthenticateJob(ctx context.Context, token string) (*store.Job, error) {
	if token == "" {
		return nil, newError(KindUnauthorized, nil, "401 Unauthorized - job token missing")
	}
	hash := string(store.HashToken(token))
	if j, ok := s.jobTokens.get(hash, s.now()); ok {
		return &j, nil
	}
	j, err := s.st.Jobs.JobByToken(ctx, token)
	if errors.Is(err, store.ErrNotFound) {
		return nil, newError(KindForbidden, err, "403 Forbidden - job token invalid or job not running")
	}
	if err != nil {
		return nil, fmt.Errorf("authenticating a job token: %w", err)
	}
	s.jobTokens.put(hash, *j, s.now())
	return j, nil
}

// touchEvery is the least time between two recorded signs of life of a job; it is far
// below any stuck timeout.
const touchEvery = 5 * time.Second

// JobUpdate is a runner's PUT /jobs/:id.
type JobUpdate struct {
	Contact
	State         string // running, success or failed
	FailureReason string
	ExitCode      int
	// Checksum is "crc32:%08x" of the whole trace (output.checksum or checksum), ""
	// when the runner sent none; Bytesize its length, 0 when not sent.
	Checksum string
	Bytesize int64
	Kiln     *protocol.KilnJobReport
}

// JobUpdateResult says how to answer a job update.
type JobUpdateResult struct {
	// Status is the job's status for the Job-Status header: running, canceling,
	// success, failed or canceled.
	Status string
	// TraceMismatch: the trace the coordinator holds does not match the runner's
	// checksum or size; it was emptied, so the runner must send it again (412).
	TraceMismatch bool
}

// UpdateJob applies a runner's job update. "running" records contact and answers the
// job's status (canceling when a cancel was asked). A final state first checks the
// trace against the runner's checksum and size (a mismatch empties it and answers
// TraceMismatch), then finishes the job: a canceling job becomes canceled whatever the
// runner says; a failure reason the coordinator does not accept becomes
// unknown_failure. A Kiln runner may ask to requeue a job it could not start (its
// GPU failed the health gate): it goes back to the queue, uncharged.
func (s *Service) UpdateJob(ctx context.Context, j *store.Job, u JobUpdate) (JobUpdateResult, error) {
	switch u.State {
	case protocol.StateRunning:
		// A touch is a sign of life for the stuck-job reaper; one right after the
		// last (the runner's first PUT follows the claim) adds nothing.
		if s.now().Sub(j.UpdatedAt) >= touchEvery {
			if err := s.st.Jobs.TouchJob(ctx, j.ID); err != nil && !errors.Is(err, store.ErrConflict) {
				return JobUpdateResult{}, fmt.Errorf("recording contact for job %d: %w", j.ID, err)
			}
		}
		s.contactFromJob(ctx, j, u.Contact)
		return JobUpdateResult{Status: string(j.Status)}, nil
	case protocol.StateSuccess, protocol.StateFailed:
	default:
		return JobUpdateResult{}, newError(KindInvalid, nil, "state %q must be running, success or failed", u.State)
	}
	if mismatch, err := s.checkTrace(ctx, j, u); err != nil || mismatch {
		return JobUpdateResult{Status: string(j.Status), TraceMismatch: mismatch}, err
	}
	s.contactFromJob(ctx, j, u.Contact)
	if u.Kiln != nil && u.Kiln.Requeue && j.Status == store.StatusRunning {
		return s.requeue(ctx, j, u.Kiln.Message)
	}
	o := outcome{status: store.StatusSuccess}
	if u.State == protocol.StateFailed {
		o.status = store.StatusFailed
		o.failureReason = u.FailureReason
		if !slices.Contains(payload.FailureReasons, o.failureReason) {
			o.failureReason = protocol.FailureUnknown
		}
		if u.ExitCode != 0 {
			code := u.ExitCode
			o.exitCode = &code
		}
	}
	if j.Status == store.StatusCanceling {
		o = outcome{status: store.StatusCanceled}
	}
	if u.Kiln != nil {
		o.message = u.Kiln.Message
		if len(u.Kiln.Telemetry) > 0 {
			o.telemetry, _ = json.Marshal(u.Kiln.Telemetry)
		}
	}
	done, err := s.finish(ctx, j, o)
	if errors.Is(err, store.ErrConflict) {
		// Finished meanwhile (the reaper, a cancel): answer what it is now.
		cur, err := s.st.Jobs.Job(ctx, j.ID)
		if err != nil {
			return JobUpdateResult{}, notFound(err, "job", j.ID)
		}
		return JobUpdateResult{Status: string(cur.Status)}, nil
	}
	if err != nil {
		return JobUpdateResult{}, err
	}
	return JobUpdateResult{Status: string(done.Status)}, nil
}

// checkTrace compares the stored trace with what the runner says it sent.
func (s *Service) checkTrace(ctx context.Context, j *store.Job, u JobUpdate) (bool, error) {
	if u.Checksum == "" && u.Bytesize == 0 {
		return false, nil
	}
	matches := func(info store.TraceInfo) bool {
		return (u.Bytesize == 0 || u.Bytesize == info.Size) &&
			(u.Checksum == "" || strings.EqualFold(u.Checksum, fmt.Sprintf("crc32:%08x", info.CRC32)))
	}
	if info, ok := s.traces.get(j.ID, s.now()); ok && matches(info) {
		return false, nil // this replica's last append left exactly what the runner sent
	}
	info, err := s.st.Traces.TraceInfo(ctx, j.ID)
	if err != nil {
		return false, fmt.Errorf("reading the trace of job %d: %w", j.ID, err)
	}
	if matches(info) {
		return false, nil
	}
	s.log.Warn("trace does not match the runner's checksum; emptied for a resend", "job", j.ID,
		"stored_bytes", info.Size, "runner_bytes", u.Bytesize)
	s.traces.drop(j.ID)
	if err := s.st.Traces.ResetTrace(ctx, j.ID); err != nil {
		return false, fmt.Errorf("emptying the trace of job %d: %w", j.ID, err)
	}
	return true, nil
}

func (s *Service) requeue(ctx context.Context, j *store.Job, why string) (JobUpdateResult, error) {
	pending, err := s.transition(ctx, j.ID, store.JobTransition{
		From: []store.Status{store.StatusRunning}, To: store.StatusPending, KilnMessage: why})
	if err != nil {
		return JobUpdateResult{}, fmt.Errorf("requeueing job %d: %w", j.ID, err)
	}
	// The next run's runner sends its trace from offset 0: the attempt's trace goes
	// (its reason stays in the job's Kiln message).
	s.traces.drop(j.ID)
	if err := s.st.Traces.ResetTrace(ctx, j.ID); err != nil {
		return JobUpdateResult{}, fmt.Errorf("emptying the trace of requeued job %d: %w", j.ID, err)
	}
	s.log.Info("job requeued by its runner", "job", j.ID, "runner", j.RunnerID, "why", why)
	s.announce(ctx, pending)
	return JobUpdateResult{Status: string(store.StatusPending)}, nil
}

// contactFromJob records the runner's report that came with a job update.
func (s *Service) contactFromJob(ctx context.Context, j *store.Job, c Contact) {
	if c.Info.Kiln == nil || j.RunnerID == 0 {
		return
	}
	r, err := s.runner(ctx, j.RunnerID)
	if err != nil {
		return
	}
	s.RecordContact(ctx, r, c)
}

// RangeError is AppendTrace's answer to a patch that does not start at the end of
// the stored trace (416 with Range: 0-<Size>).
type RangeError struct{ Size int64 }

func (e *RangeError) Error() string {
	return fmt.Sprintf("416 Range Not Satisfiable: the trace has %d bytes", e.Size)
}

// AppendTrace appends a runner's trace patch that starts at offset, and returns the
// trace's new length and the job's status (canceling tells the runner to stop). A
// patch not starting at the current length changes nothing and returns a
// *RangeError; one that would take the trace past the limit is KindTooLarge.
func (s *Service) AppendTrace(ctx context.Context, j *store.Job, offset int64, data []byte) (int64, string, error) {
	if offset < 0 {
		return 0, "", newError(KindInvalid, nil, "Content-Range starts at %d", offset)
	}
	if offset+int64(len(data)) > s.cfg.MaxTraceBytes {
		return 0, "", newError(KindTooLarge, nil, "the trace would exceed %d bytes", s.cfg.MaxTraceBytes)
	}
	info, err := s.st.Traces.AppendTrace(ctx, j.ID, offset, data)
	if errors.Is(err, store.ErrRangeMismatch) {
		s.traces.drop(j.ID)
		return info.Size, string(j.Status), &RangeError{Size: info.Size}
	}
	if err != nil {
		s.traces.drop(j.ID)
		return 0, "", fmt.Errorf("appending to the trace of job %d: %w", j.ID, err)
	}
	s.rememberAppend(j.ID, offset, data, info.Size)
	return info.Size, string(j.Status), nil
}

// rememberAppend keeps the size and checksum of a job's trace after an append this
// replica made at offset, so that the final update's check needs no read: the
// checksum continues the one remembered for the first offset bytes, or starts afresh
// at offset 0. An append after bytes this replica did not see leaves nothing to
// remember. (What is remembered is only ever compared with the runner's own claim, and
// a mismatch reads the store.)
func (s *Service) rememberAppend(jobID, offset int64, data []byte, size int64) {
	var crc uint32
	switch prev, ok := s.traces.get(jobID, s.now()); {
	case offset == 0:
		crc = crc32.ChecksumIEEE(data)
	case ok && prev.Size == offset:
		crc = crc32.Update(prev.CRC32, crc32.IEEETable, data)
	default:
		s.traces.drop(jobID)
		return
	}
	s.traces.put(jobID, store.TraceInfo{Size: size, CRC32: crc}, s.now())
}
