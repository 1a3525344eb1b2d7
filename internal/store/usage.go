package store

import (
	"context"
	"time"
)

// NotWarned is ComputeUsage.Warned before any warning this month.
const NotWarned = -1

// ComputeUsage is a top-level namespace's compute minutes in one month.
type ComputeUsage struct {
	RootNamespaceID int64
	Month           string  // "2006-01" (UTC)
	Minutes         float64 // duration / 60 × cost factor, summed
	// Warned is the lowest "percent left" warning already sent this month (25, 5 or
	// 0), or NotWarned.
	Warned int
}

// MonthOf returns the usage month of t ("2006-01", UTC).
func MonthOf(t time.Time) string { return t.UTC().Format("2006-01") }

// Usage keeps compute minutes per top-level namespace per month.
type Usage interface {
	// AddMinutes adds minutes to a top-level namespace's month atomically (concurrent
	// adds all count) and returns the month's new usage. ErrInvalid for a negative or
	// non-finite amount, a bad month or a namespace that is not top-level;
	// ErrNotFound for a missing namespace.
	AddMinutes(ctx context.Context, rootNamespaceID int64, month string, minutes float64) (ComputeUsage, error)
	// Usage returns a namespace's month; no usage yet is zero minutes, NotWarned.
	Usage(ctx context.Context, rootNamespaceID int64, month string) (ComputeUsage, error)
	// ListUsage returns a namespace's months, newest first.
	ListUsage(ctx context.Context, rootNamespaceID int64) ([]ComputeUsage, error)
	// MarkWarned records that the warning for level percent left (25, 5 or 0) was
	// sent, and reports whether this call was the first to record it (or a lower
	// level): of concurrent callers exactly one gets true. ErrInvalid for another
	// level or a bad month; ErrNotFound for a missing namespace.
	MarkWarned(ctx context.Context, rootNamespaceID int64, month string, level int) (bool, error)
}
