package localrun

import (
	"testing"

	"github.com/kiln-ci/kiln/internal/ci"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/runner"
)

// As on GitLab (and through kiln runner, whose final update carries it), an
// out-of-memory kill has exit code 137 for allow_failure:exit_codes and
// retry:exit_codes; a timeout has no exit code.
func TestAnOutOfMemoryKillCountsAsExitCode137(t *testing.T) {
	oom := runner.Outcome{Kind: runner.OutOfMemory, ExitCode: 137, FailureReason: protocol.FailureOutOfMemory}
	timeout := runner.Outcome{Kind: runner.Timeout, FailureReason: protocol.FailureJobExecutionTimeout}
	job := &ci.Job{AllowFailureExitCodes: []int{137, 0}}
	if !allowedToFail(job, oom) {
		t.Error("allow_failure:exit_codes [137] does not allow an out-of-memory kill")
	}
	if allowedToFail(job, timeout) {
		t.Error("allow_failure:exit_codes [137, 0] allows a timeout, which has no exit code")
	}
	retry := ci.Retry{Max: 1, ExitCodes: []int{137}}
	if !shouldRetry(retry, 1, oom) {
		t.Error("retry:exit_codes [137] does not retry an out-of-memory kill")
	}
	if shouldRetry(retry, 2, oom) {
		t.Error("retry:max 1 retried a second time")
	}
}
