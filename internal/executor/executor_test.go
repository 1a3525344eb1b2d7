package executor_test

import (
	"testing"

	"github.com/kiln-ci/kiln/internal/executor"
)

func TestSafeNameKeepsLettersDigitsDashAndUnderscoreOnly(t *testing.T) {
	cases := map[string]string{
		"step_script":             "step_script",
		"after-script":            "after-script",
		"":                        "script",
		"runner 1/ü:x":            "runner_1___x",
		"../../etc/passwd":        "______etc_passwd",
		"postgres__db.local:5432": "postgres__db_local_5432",
	}
	for in, want := range cases {
		if got := executor.SafeName(in); got != want {
			t.Errorf("SafeName(%q) = %q, want %q", in, got, want)
		}
	}
}
