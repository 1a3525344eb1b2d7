package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-ci/kiln/internal/ci"
)

// lint runs `kiln lint` with args and returns stdout, stderr and the exit status.
func lint(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRootCmd()
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append([]string{"lint"}, args...))
	err := root.ExecuteContext(context.Background())
	code := 0
	var ee exitError
	switch {
	case errors.As(err, &ee):
		code = ee.code
	case err != nil:
		code = 2 // what main does with any other error (usage errors)
	}
	return out.String(), errOut.String(), code
}

func writeRepo(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLintAcceptsTheSeedExample(t *testing.T) {
	out, _, code := lint(t, "-C", "../../examples/gpu-seed")
	if code != 0 || !strings.Contains(out, ".gitlab-ci.yml is valid: 1 job") {
		t.Errorf("exit %d, output:\n%s", code, out)
	}
}

func TestLintReportsErrorsWithFileLineColumnAndExits1(t *testing.T) {
	dir := writeRepo(t, map[string]string{
		".gitlab-ci.yml": "include: ci/jobs.yml\n",
		"ci/jobs.yml":    "build:\n  script: make\ntest:\n  stage: nope\n  script: x\n",
	})
	out, _, code := lint(t, "-C", dir)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	want := "ci/jobs.yml:4:10: error: test job: chosen stage nope does not exist; available stages are .pre, build, test, deploy, .post"
	if !strings.Contains(out, want) || !strings.Contains(out, "is invalid: 1 error") {
		t.Errorf("output:\n%s\nwant a line %q", out, want)
	}
	if strings.Contains(out, "\x1b[") {
		t.Errorf("no colour when not writing to a terminal")
	}
}

func TestLintWarningsKeepTheFileValid(t *testing.T) {
	dir := writeRepo(t, map[string]string{".gitlab-ci.yml": "release:\n  script: x\n  release: {tag_name: v1, description: d}\n"})
	out, _, code := lint(t, "-C", dir)
	if code != 0 || !strings.Contains(out, "warning: jobs:release release is not supported by Kiln") {
		t.Errorf("exit %d, output:\n%s", code, out)
	}
}

func TestLintJSONReport(t *testing.T) {
	dir := writeRepo(t, map[string]string{"ci.yml": "a:\n  script: ''\n"})
	out, _, code := lint(t, "-C", dir, "--file", "ci.yml", "--json")
	if code != 1 {
		t.Errorf("exit %d", code)
	}
	var rep lintReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if rep.Valid || rep.File != "ci.yml" || len(rep.Diagnostics) != 1 {
		t.Fatalf("report = %+v", rep)
	}
	d := rep.Diagnostics[0]
	if d.Severity != ci.SeverityError || d.File != "ci.yml" || d.Line != 2 || d.Message != "jobs:a script can't be blank" {
		t.Errorf("diagnostic = %+v", d)
	}
}

func TestLintMergedPrintsTheResolvedConfiguration(t *testing.T) {
	dir := writeRepo(t, map[string]string{".gitlab-ci.yml": `
default: {before_script: [setup]}
.base: {script: [make], variables: {A: "1"}}
build: {extends: .base}
`})
	out, errOut, code := lint(t, "-C", dir, "--merged")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	for _, want := range []string{"build:\n  script:\n    - make\n  variables:\n    A: \"1\"\n  before_script:\n    - setup\n", "  - .pre\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("merged output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, ".base") || strings.Contains(out, "extends") || strings.Contains(out, "default:") {
		t.Errorf("hidden jobs, extends and default: should be resolved away:\n%s", out)
	}
	out, _, _ = lint(t, "-C", dir, "--merged", "--json")
	if !strings.Contains(out, `"merged": {`) || !strings.Contains(out, `"before_script": [`) {
		t.Errorf("JSON report lacks the merged configuration:\n%s", out)
	}
}

func TestLintUsageErrorsExit2(t *testing.T) {
	if _, errOut, code := lint(t, "-C", t.TempDir()); code != 2 || !strings.Contains(errOut, ".gitlab-ci.yml: no such file or directory") {
		t.Errorf("missing file: exit %d, stderr %q", code, errOut)
	}
	dir := writeRepo(t, map[string]string{".gitlab-ci.yml": "a: {script: x}\n", "ci/x.yml": "a: {script: x}\n"})
	for what, tc := range map[string]struct {
		args []string
		want string
	}{
		"a file outside the repository": {[]string{"-C", dir, "-f", "../x.yml"}, "--file ../x.yml is not a file inside the repository directory"},
		"an absolute path outside it":   {[]string{"-C", dir, "-f", "/etc/hostname"}, "--file /etc/hostname is not a file inside"},
		"a directory":                   {[]string{"-C", dir, "-f", "ci"}, filepath.Join(dir, "ci") + ": is a directory"},
	} {
		if _, errOut, code := lint(t, tc.args...); code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit 2 and %q", what, code, errOut, tc.want)
		}
	}
	if out, errOut, code := lint(t, "-C", dir, "-f", filepath.Join(dir, "ci/x.yml")); code != 0 || !strings.Contains(out, "ci/x.yml is valid") {
		t.Errorf("an absolute --file inside the repository: exit %d, %s%s", code, out, errOut)
	}
	if _, _, code := lint(t, "--no-such-flag"); code != 2 {
		t.Errorf("bad flag: exit %d", code)
	}
	if _, _, code := lint(t, "extra-argument"); code != 2 {
		t.Errorf("extra argument: exit %d", code)
	}
}

func TestLintChecksGPURequestsAgainstTheMachineTypes(t *testing.T) {
	dir := writeRepo(t, map[string]string{".gitlab-ci.yml": `
train:
  tags: [saas-linux-medium-amd64-gpu-standard]
  variables: {KILN_GPU_COUNT: "2"}
  script: python3 train.py
`})
	out, _, code := lint(t, "-C", dir)
	want := ".gitlab-ci.yml:4:15: error: jobs:train KILN_GPU_COUNT=2 exceeds machine type saas-linux-medium-amd64-gpu-standard, which gives 1 GPU(s)"
	if code != 1 || !strings.Contains(out, want) {
		t.Errorf("default catalog: exit %d, output:\n%s\nwant exit 1 and %q", code, out, want)
	}

	// The same file is valid against a catalog whose GPU type gives two GPUs, as
	// kiln server --machine-types would have it.
	types := filepath.Join(t.TempDir(), "machine-types.toml")
	if err := os.WriteFile(types, []byte(`
[[machine_types]]
  tag = "saas-linux-medium-amd64-gpu-standard"
  vcpu = 8
  cost_factor = 14
  [machine_types.gpu]
    count = 2
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, _, code := lint(t, "-C", dir, "--machine-types", types); code != 0 || !strings.Contains(out, "is valid: 1 job") {
		t.Errorf("--machine-types with two GPUs: exit %d, output:\n%s", code, out)
	}

	bad := filepath.Join(t.TempDir(), "bad.toml")
	if err := os.WriteFile(bad, []byte("[[machine_types]]\n  tag = \"x\"\n  colour = \"red\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := lint(t, "-C", dir, "--machine-types", bad); code != 2 || !strings.Contains(errOut, "unknown key machine_types.colour") {
		t.Errorf("a bad --machine-types file is a usage error: exit %d, stderr %q", code, errOut)
	}
}

func TestLintColoursOnlyWhenAsked(t *testing.T) {
	d := ci.Diagnostic{Severity: ci.SeverityWarning, Pos: ci.Pos{File: "f.yml", Line: 1, Column: 2}, Message: "m"}
	if got := formatDiagnostic(d, true); !strings.Contains(got, "\x1b[1;33mwarning\x1b[0m") {
		t.Errorf("coloured = %q", got)
	}
	if got := formatDiagnostic(d, false); got != "f.yml:1:2: warning: m" {
		t.Errorf("plain = %q", got)
	}
	t.Setenv("NO_COLOR", "1")
	if useColor(os.Stdout) {
		t.Errorf("NO_COLOR must turn colour off")
	}
}

func TestColourGoesToTerminalsUnlessNOCOLORIsSetAndNotEmpty(t *testing.T) {
	tty, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0) // a character device, as a terminal is
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	file, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	for _, c := range []struct {
		noColor string
		w       *os.File
		want    bool
	}{{"", tty, true}, {"1", tty, false}, {"", file, false}} {
		t.Setenv("NO_COLOR", c.noColor)
		if got := useColor(c.w); got != c.want {
			t.Errorf("NO_COLOR=%q, %s: colour %v, want %v (no-color.org: only a non-empty value turns it off)", c.noColor, c.w.Name(), got, c.want)
		}
	}
}
