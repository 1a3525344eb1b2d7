package gpu

import (
	"errors"
	"fmt"
	"strings"

	"github.com/kiln-ci/kiln/internal/gpu/cuda"
	"github.com/kiln-ci/kiln/internal/protocol"
)

// ErrUnavailable is matched (errors.Is) by every *UnavailableError.
var ErrUnavailable = errors.New("no GPU available")

// UnavailableError says why a job's GPU request cannot be met on this host. Busy
// is true when GPUs that fit exist but are all leased or quarantined now (the job may
// run here later); false when no GPU of this host could ever fit.
type UnavailableError struct {
	Wanted int
	Busy   bool
	Reason string
}

func (e *UnavailableError) Error() string {
	if e.Busy {
		return fmt.Sprintf("no GPU of the machine type is free here now: %s", e.Reason)
	}
	return fmt.Sprintf("no GPU of the machine type is available here: %s", e.Reason)
}

// Is makes errors.Is(err, ErrUnavailable) true.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

// ErrFault is matched (errors.Is) by every *FaultError.
var ErrFault = errors.New("GPU fault")

// FaultError is a leased GPU that failed its health gate: it was quarantined and the
// lease released. The job must go back to the queue (Requeue), uncharged, and never be
// reported as a script failure.
type FaultError struct {
	UUIDs   []string
	Reason  string
	Requeue bool
}

func (e *FaultError) Error() string {
	return fmt.Sprintf("GPU %s failed its health check and was quarantined: %s; the job goes back to the queue",
		strings.Join(e.UUIDs, ", "), e.Reason)
}

// Is makes errors.Is(err, ErrFault) true.
func (e *FaultError) Is(target error) bool { return target == ErrFault }

// Outcome maps an error from this package to the failure reason the runner reports
// (protocol.Failure*) and whether the job goes back to the queue. ok is false for an
// error that is none of this package's outcomes (a system failure).
func Outcome(err error) (reason string, requeue bool, ok bool) {
	var fault *FaultError
	var unavailable *UnavailableError
	switch {
	case errors.As(err, &fault):
		return protocol.FailureGPUFault, fault.Requeue, true
	case errors.As(err, &unavailable):
		return protocol.FailureGPUUnavailable, unavailable.Busy, true
	case errors.Is(err, cuda.ErrMismatch):
		return protocol.FailureCUDAIncompatible, false, true
	}
	return "", false, false
}
