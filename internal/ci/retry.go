package ci

import "slices"

// Allows is GitLab's automatic retry decision (Gitlab::Ci::Build::AutoRetry) for a
// job that failed with reason (GitLab's failure_reason) and exitCode (nil when the
// job has none), after retries earlier automatic retries. While retries is below Max,
// the job is retried when reason is in When or When holds "always", or when its exit
// code is in ExitCodes: either suffices. When defaults to ["always"] only when
// ExitCodes is empty, so `exit_codes: [137]` alone retries exit code 137 and nothing
// else. Failures GitLab never retries (a quota, no runner) are the caller's to refuse.
func (r Retry) Allows(retries int, reason string, exitCode *int) bool {
	if r.Max <= 0 || retries >= r.Max {
		return false
	}
	when := r.When
	if len(when) == 0 && len(r.ExitCodes) == 0 {
		when = []string{"always"}
	}
	if slices.Contains(when, "always") || slices.Contains(when, reason) {
		return true
	}
	return exitCode != nil && slices.Contains(r.ExitCodes, *exitCode)
}
