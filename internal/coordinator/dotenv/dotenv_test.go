package dotenv

import (
	"bytes"
	"compress/gzip"
	"errors"
	"strings"
	"testing"
)

func TestLinesAreKeyEqualsValueTrimmedAndLaterKeysWin(t *testing.T) {
	vars, err := Parse([]byte("\xef\xbb\xbfBUILD_ID = 42\nURL=https://x.example/a=b\nBUILD_ID=43\r\nEMPTY=\n"), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Variable{{"BUILD_ID", "43"}, {"URL", "https://x.example/a=b"}, {"EMPTY", ""}}
	if len(vars) != len(want) {
		t.Fatalf("got %v, want %v", vars, want)
	}
	for i := range want {
		if vars[i] != want[i] {
			t.Errorf("variable %d = %v, want %v", i, vars[i], want[i])
		}
	}
}

func TestQuotesAreKeptAsWritten(t *testing.T) {
	vars, err := Parse([]byte(`A="quoted value"`+"\n"), Limits{})
	if err != nil || vars[0].Value != `"quoted value"` {
		t.Fatalf("Parse = %v, %v; GitLab keeps quotes", vars, err)
	}
}

func TestBadReportsAreRefusedNamingTheLine(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"A=1\n\nB=2\n", "line 2 is not KEY=VALUE"},
		{"# comment\n", "line 1 is not KEY=VALUE"},
		{"A=1\nBAD-KEY=2\n", `line 2: key "BAD-KEY"`},
		{"=x\n", `line 1: key ""`},
		{strings.Repeat("A", 6000) + "=1", "too big"},
	} {
		_, err := Parse([]byte(tc.in), Limits{})
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%.30q) = %v, want an error containing %q", tc.in, err, tc.want)
		}
	}
}

func TestNoMoreThanTheVariableLimit(t *testing.T) {
	var b strings.Builder
	for i := range 21 {
		b.WriteString("K" + strings.Repeat("X", i) + "=v\n")
	}
	if _, err := Parse([]byte(b.String()), Limits{}); err == nil || !strings.Contains(err.Error(), "more than 20 variables") {
		t.Errorf("21 variables: %v", err)
	}
	if _, err := Parse([]byte(b.String()), Limits{MaxVariables: 50}); err != nil {
		t.Errorf("21 variables with a limit of 50: %v", err)
	}
}

func TestErrorsNeverShowValues(t *testing.T) {
	_, err := Parse([]byte("OK=s3cr3t-value\nnot a line with the secret s3cr3t-value\n"), Limits{})
	if err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("error %v shows a value", err)
	}
}

func TestGzipReportsAsTheRunnerUploadsThem(t *testing.T) {
	var buf bytes.Buffer
	for _, part := range []string{"A=1\n", "B=2\n"} { // two members, as appended reports are
		zw := gzip.NewWriter(&buf)
		zw.Write([]byte(part))
		zw.Close()
	}
	vars, err := ParseGzip(&buf, Limits{})
	if err != nil || len(vars) != 2 || vars[1] != (Variable{"B", "2"}) {
		t.Fatalf("ParseGzip = %v, %v", vars, err)
	}
	if _, err := ParseGzip(strings.NewReader("plain"), Limits{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("not gzip: %v", err)
	}
}
