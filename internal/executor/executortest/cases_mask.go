package executortest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/runner/trace"
)

// testMasking runs the executor's output through the runner's job log, as the
// lifecycle does, with a secret the script writes whole, split across two writes
// (on stdout and on stderr, a pause between the halves), and across the 64 KiB
// boundary of a pipe read or a stream frame: whatever pieces the executor delivers the
// output in, the log shows [MASKED] and never the secret or a part of it that ends a
// line.
func testMasking(t *testing.T, s *suite) {
	j := s.newJob(t)
	j.prepare()
	const secret = "kiln-conformance-S3cr3t-value"
	var sink output
	log := trace.NewLog(&sink, trace.LogConfig{MaskValues: []string{secret}, Limit: -1})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := j.env.Run(ctx, commandTo(log, `printf 'whole: %s\n' "$SECRET"
printf 'stdout: %s' "${SECRET%%S3cr3t-value}"; sleep 0.3; printf '%s\n' "S3cr3t-value"
printf 'stderr: %s' "${SECRET%%-value}" >&2; sleep 0.3; printf '%s\n' "-value" >&2
head -c 65530 /dev/zero | tr '\0' x; printf '%s\n' "$SECRET"
`, "SECRET="+secret))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := log.Finish(""); err != nil {
		t.Fatalf("Finish: %v", err)
	}
	if res.ExitCode != 0 {
		t.Fatalf("Result.ExitCode = %d; output:\n%.500s", res.ExitCode, sink.Bytes())
	}
	got := string(sink.Bytes())
	want := "whole: [MASKED]\nstdout: [MASKED]\nstderr: [MASKED]\n" + strings.Repeat("x", 65530) + "[MASKED]\n"
	if got != want {
		t.Errorf("masked output:\n got %.200q … %q\nwant %.200q … %q", got, got[max(0, len(got)-40):], want, want[len(want)-40:])
	}
}
