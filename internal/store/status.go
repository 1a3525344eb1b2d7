package store

import "slices"

// Status is the state of a job or a pipeline, in GitLab's words.
type Status string

// Statuses. A job moves created → pending → running → success | failed | canceled,
// with manual, scheduled (a delayed job waiting for its time), skipped and canceling
// (cancel requested, the runner still finishing) on the side. Pipelines use the same
// words for the state computed from their jobs.
const (
	StatusCreated            Status = "created"
	StatusWaitingForResource Status = "waiting_for_resource"
	StatusPreparing          Status = "preparing"
	StatusPending            Status = "pending"
	StatusRunning            Status = "running"
	StatusSuccess            Status = "success"
	StatusFailed             Status = "failed"
	StatusCanceling          Status = "canceling"
	StatusCanceled           Status = "canceled"
	StatusSkipped            Status = "skipped"
	StatusManual             Status = "manual"
	StatusScheduled          Status = "scheduled"
)

var allStatuses = []Status{
	StatusCreated, StatusWaitingForResource, StatusPreparing, StatusPending, StatusRunning,
	StatusSuccess, StatusFailed, StatusCanceling, StatusCanceled, StatusSkipped,
	StatusManual, StatusScheduled,
}

// Valid reports whether s is one of the statuses above.
func (s Status) Valid() bool { return slices.Contains(allStatuses, s) }

// Finished reports whether s is final: success, failed, canceled or skipped.
func (s Status) Finished() bool {
	return s == StatusSuccess || s == StatusFailed || s == StatusCanceled || s == StatusSkipped
}

// HoldsToken reports whether a job in status s has a live job token: running, or
// canceling while its runner winds down.
func (s Status) HoldsToken() bool { return s == StatusRunning || s == StatusCanceling }

// When values of a job (the `when:` keyword).
const (
	WhenOnSuccess = "on_success"
	WhenOnFailure = "on_failure"
	WhenAlways    = "always"
	WhenManual    = "manual"
	WhenDelayed   = "delayed"
	WhenNever     = "never"
)
