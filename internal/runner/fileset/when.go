package fileset

import (
	"fmt"

	"github.com/kiln-ci/kiln/internal/jobspec"
)

// Kept reports whether what an artifact or a cache selects is kept after a job that
// succeeded or not, by its when condition: "" or on_success, on_failure, always.
// keyword names the condition in the error for an unknown one, e.g. "artifacts:when".
func Kept(keyword, when string, succeeded bool) (bool, error) {
	switch when {
	case "", jobspec.WhenOnSuccess:
		return succeeded, nil
	case jobspec.WhenOnFailure:
		return !succeeded, nil
	case jobspec.WhenAlways:
		return true, nil
	}
	return false, fmt.Errorf("unknown %s %q (want on_success, on_failure or always)", keyword, when)
}
