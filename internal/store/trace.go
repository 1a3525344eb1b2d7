package store

import "context"

// TraceInfo describes a job's stored trace.
type TraceInfo struct {
	Size  int64  // bytes stored
	CRC32 uint32 // CRC-32 (IEEE) of the whole trace, what the runner's checksum names
}

// Traces keeps job logs as append-only chunks, with the semantics of the runner
// API's trace PATCH: an append must start exactly at the current length.
type Traces interface {
	// AppendTrace appends data at offset and returns the trace's new Size (CRC32 is
	// left zero: TraceInfo computes it). It counts as runner contact (the job's
	// UpdatedAt becomes now). When offset is not the current length it appends
	// nothing and returns the current Size with an error wrapping ErrRangeMismatch
	// (answer 416 with it). Empty data is a no-op that still checks the offset.
	// ErrNotFound for a missing job; ErrInvalid for a negative offset.
	AppendTrace(ctx context.Context, jobID, offset int64, data []byte) (TraceInfo, error)
	// TraceInfo returns the size and checksum of a job's trace (combined from its
	// chunks' checksums: cost grows with the number of appends, not bytes). ErrNotFound.
	TraceInfo(ctx context.Context, jobID int64) (TraceInfo, error)
	// ReadTrace returns the trace from offset to its end (empty when offset is at or
	// past the end). ErrNotFound; ErrInvalid for a negative offset.
	ReadTrace(ctx context.Context, jobID, offset int64) ([]byte, error)
	// ResetTrace truncates a job's trace to nothing, so the runner can resend it from
	// zero (after a 412). ErrNotFound.
	ResetTrace(ctx context.Context, jobID int64) error
}
