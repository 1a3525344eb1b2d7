package store

import "errors"

// Sentinel errors. Implementations wrap them with context; callers test with errors.Is.
var (
	// ErrNotFound: the record does not exist (or a token matches nothing live).
	ErrNotFound = errors.New("not found")
	// ErrConflict: the write would break a uniqueness rule (a taken path, a key defined
	// twice), or a compare-and-set found the record in another state than expected.
	ErrConflict = errors.New("conflict")
	// ErrInvalid: the input is malformed; the message names the field and the value's
	// problem (never a secret value itself). Nothing was changed.
	ErrInvalid = errors.New("invalid")
	// ErrRangeMismatch: a trace append did not start at the trace's current length.
	ErrRangeMismatch = errors.New("offset does not match the trace length")
	// ErrSchemaTooNew: the database holds migrations this build does not know; an older
	// Kiln must not run against it.
	ErrSchemaTooNew = errors.New("database schema is newer than this build")
)
