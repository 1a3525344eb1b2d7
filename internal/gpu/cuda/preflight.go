package cuda

import (
	"errors"
	"fmt"
	"strings"

	"github.com/kiln-ci/kiln/internal/machine"
)

// MismatchError says that a job cannot run on this host's driver, and what to do.
type MismatchError struct {
	// Var is what asked: an image variable (NVIDIA_REQUIRE_CUDA, CUDA_VERSION) or
	// KILN_CUDA_MIN.
	Var   string
	Value string
	// Need is the CUDA version asked for, when the requirement names one.
	Need machine.Version
	Host Host
}

func (e *MismatchError) Error() string {
	driver := e.Host.Driver
	if driver == "" {
		driver = "(unknown version)"
	}
	if !e.Need.IsZero() {
		who := "the image needs"
		if e.Var == machine.VarCUDAMin {
			who = "the job asks for (" + machine.VarCUDAMin + ")"
		}
		return fmt.Sprintf("%s CUDA %s (%s=%q) but this host's driver %s supports CUDA %s: use an image built for CUDA ≤ %s or a runner with a newer driver",
			who, e.Need, e.Var, e.Value, driver, e.Host.CUDA, e.Host.CUDA)
	}
	return fmt.Sprintf("the image requires %s=%q, which this host does not meet (driver %s, CUDA %s, brand %s, compute capability %s): use an image whose requirement this host meets or a runner that meets it",
		e.Var, e.Value, driver, e.Host.CUDA, orUnknown(e.Host.Brand), e.Host.Arch)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// ErrMismatch is matched by every *MismatchError (errors.Is).
var ErrMismatch = errors.New("CUDA requirement not met")

// Is makes errors.Is(err, ErrMismatch) true.
func (e *MismatchError) Is(target error) bool { return target == ErrMismatch }

// Check runs the pre-flight: the image's requirements (from its environment) and the
// job's KILN_CUDA_MIN (zero when unset) against h. A malformed requirement is an error
// naming the variable; an unmet one is a *MismatchError.
func Check(h Host, imageEnv []string, cudaMin machine.Version) error {
	if !cudaMin.IsZero() && h.CUDA.Less(cudaMin) {
		return &MismatchError{Var: machine.VarCUDAMin, Value: cudaMin.String(), Need: cudaMin, Host: h}
	}
	reqs, err := Requirements(imageEnv)
	if err != nil {
		return fmt.Errorf("reading the image's CUDA requirements: %w", err)
	}
	for _, r := range reqs {
		if r.Satisfied(h) {
			continue
		}
		e := &MismatchError{Var: r.Var, Value: strings.TrimSpace(r.Value), Host: h}
		if v, ok := r.MinCUDA(); ok && h.CUDA.Less(v) {
			e.Need = v
		}
		return e
	}
	return nil
}
