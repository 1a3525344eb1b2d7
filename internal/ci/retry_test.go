package ci

import "testing"

// The cases follow GitLab's spec of Gitlab::Ci::Build::AutoRetry: retry:when and
// retry:exit_codes each suffice, and when defaults to always only without exit_codes.
func TestRetryAllowsAsGitLabsAutoRetry(t *testing.T) {
	code := func(c int) *int { return &c }
	cases := []struct {
		name     string
		retry    Retry
		retries  int
		reason   string
		exitCode *int
		want     bool
	}{
		{"retries are disabled", Retry{Max: 0}, 0, "script_failure", code(1), false},
		{"max equals the retries so far", Retry{Max: 2}, 2, "script_failure", code(1), false},
		{"max is higher than the retries so far", Retry{Max: 2}, 1, "script_failure", code(1), true},
		{"a matching failure reason", Retry{Max: 2, When: []string{"api_failure"}}, 0, "api_failure", nil, true},
		{"a failure reason not listed", Retry{Max: 2, When: []string{"api_failure"}}, 0, "script_failure", code(1), false},
		{"when: always", Retry{Max: 2, When: []string{"always"}}, 0, "runner_system_failure", nil, true},
		{"a matching exit code", Retry{Max: 2, ExitCodes: []int{137}}, 0, "script_failure", code(137), true},
		{"exit codes alone do not default when to always", Retry{Max: 2, ExitCodes: []int{137}}, 0, "script_failure", code(1), false},
		{"exit codes without an exit code", Retry{Max: 2, ExitCodes: []int{137}}, 0, "runner_system_failure", nil, false},
		{"the reason suffices though the exit code is not listed",
			Retry{Max: 2, When: []string{"script_failure"}, ExitCodes: []int{137}}, 0, "script_failure", code(1), true},
		{"the exit code suffices though the reason is not listed",
			Retry{Max: 2, When: []string{"runner_system_failure"}, ExitCodes: []int{1}}, 0, "script_failure", code(1), true},
		{"neither the reason nor the exit code",
			Retry{Max: 2, When: []string{"runner_system_failure"}, ExitCodes: []int{137}}, 0, "script_failure", code(1), false},
	}
	for _, c := range cases {
		if got := c.retry.Allows(c.retries, c.reason, c.exitCode); got != c.want {
			t.Errorf("%s: %+v.Allows(%d, %q, %v) = %v, want %v", c.name, c.retry, c.retries, c.reason, c.exitCode, got, c.want)
		}
	}
}
