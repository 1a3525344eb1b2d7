package ci

import (
	"strconv"
	"strings"
	"testing"
)

func TestExtendsDeepMergesHashesAndReplacesEverythingElse(t *testing.T) {
	cfg := mustLoad(t, `
.base:
  stage: build
  script: [base]
  tags: [a, b]
  variables: {A: base, B: base}
  artifacts: {paths: [out], when: always}
job:
  extends: .base
  tags: [c]
  variables: {B: job}
  artifacts: {paths: [dist]}
`)
	j := cfg.Job("job")
	if j.Stage != "build" || strings.Join(j.Script, ",") != "base" {
		t.Errorf("inherited keys: stage %q script %v", j.Stage, j.Script)
	}
	if strings.Join(j.Tags, ",") != "c" {
		t.Errorf("lists are replaced, not merged: tags %v", j.Tags)
	}
	if got := varsText(j.Variables); got != "A=base B=job" {
		t.Errorf("hashes merge key by key, the job winning: %s", got)
	}
	if strings.Join(j.Artifacts.Paths, ",") != "dist" || j.Artifacts.When != "always" {
		t.Errorf("nested hashes merge too: %+v", j.Artifacts)
	}
}

func varsText(vs []Variable) string {
	var parts []string
	for _, v := range vs {
		parts = append(parts, v.Key+"="+v.Value)
	}
	return strings.Join(parts, " ")
}

func TestExtendsWithSeveralParentsLetsTheLastWin(t *testing.T) {
	cfg := mustLoad(t, `
.one: {script: [one], variables: {V: one, ONE: "1"}}
.two: {variables: {V: two}}
job: {extends: [.one, .two]}
`)
	if got := varsText(cfg.Job("job").Variables); got != "V=two ONE=1" {
		t.Errorf("variables = %s", got)
	}
}

func TestExtendsResolvesChainsOfTemplates(t *testing.T) {
	cfg := mustLoad(t, `
.a: {script: [a], stage: deploy}
.b: {extends: .a, stage: build}
.c: {extends: .b}
job: {extends: .c}
`)
	if j := cfg.Job("job"); j.Stage != "build" || j.Script[0] != "a" {
		t.Errorf("job = %+v", j)
	}
}

func TestExtendsErrorsUseGitLabsWording(t *testing.T) {
	for name, tc := range map[string]struct{ yaml, want string }{
		"unknown":  {"job: {extends: .nope, script: x}\n", "job: unknown keys in `extends` (.nope)"},
		"circular": {".a: {extends: .b}\n.b: {extends: .a}\njob: {extends: .a, script: x}\n", "circular dependency detected in `extends`"},
		"not hash": {".a: [x]\njob: {extends: .a, script: x}\n", "job: invalid base hashes in `extends` (.a)"},
		"too deep": {deepExtends(12), "nesting too deep in `extends`"},
	} {
		t.Run(name, func(t *testing.T) { wantError(t, loadErrors(t, tc.yaml), tc.want) })
	}
	mustLoad(t, deepExtends(10))
}

// deepExtends chains n templates below a job.
func deepExtends(n int) string {
	var b strings.Builder
	b.WriteString(".t0: {script: [x]}\n")
	for i := 1; i < n; i++ {
		b.WriteString(".t" + itoa(i) + ": {extends: .t" + itoa(i-1) + "}\n")
	}
	b.WriteString("job: {extends: .t" + itoa(n-1) + "}\n")
	return b.String()
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestReferencePullsValuesFromAnywhere(t *testing.T) {
	cfg := mustLoad(t, `
.setup:
  script: [echo setup]
  variables: {DB: postgres}
.lines: [echo one, echo two]
job:
  script:
    - !reference [.setup, script]
    - !reference [.lines]
    - echo job
  variables:
    DB: !reference [.setup, variables, DB]
`)
	j := cfg.Job("job")
	if got := strings.Join(j.Script, "|"); got != "echo setup|echo one|echo two|echo job" {
		t.Errorf("script = %s", got)
	}
	if got := varsText(j.Variables); got != "DB=postgres" {
		t.Errorf("variables = %s", got)
	}
}

func TestReferenceIsResolvedAfterExtendsAsGitLabDoes(t *testing.T) {
	// The template's variables are a !reference when extends merges them, so the job's
	// own variables replace them instead of merging with them.
	cfg := mustLoad(t, `
.vars: {variables: {FROM_REF: x}}
.tmpl: {variables: !reference [.vars, variables]}
job: {extends: .tmpl, variables: {OWN: y}, script: s}
`)
	if got := varsText(cfg.Job("job").Variables); got != "OWN=y" {
		t.Errorf("variables = %s", got)
	}
	// And a reference sees the extended template.
	cfg = mustLoad(t, `
.a: {script: [a]}
.b: {extends: .a}
job: {script: !reference [.b, script]}
`)
	if got := strings.Join(cfg.Job("job").Script, ","); got != "a" {
		t.Errorf("script = %s", got)
	}
}

func TestReferenceErrors(t *testing.T) {
	wantError(t, loadErrors(t, "job:\n  script: !reference [.missing, script]\n"), `!reference [".missing", "script"] could not be found`)
	wantError(t, loadErrors(t, "job:\n  script:\n    - !reference [job, script]\n"), `!reference ["job", "script"] is part of a circular chain`)
}

func TestReferencesCannotBuildAnExponentialDocument(t *testing.T) {
	var b strings.Builder
	b.WriteString(".r0: [x, x, x, x]\n")
	for i := 1; i <= 30; i++ {
		b.WriteString(".r" + itoa(i) + ": [!reference [.r" + itoa(i-1) + "], !reference [.r" + itoa(i-1) + "]]\n")
	}
	b.WriteString("job: {script: !reference [.r30]}\n")
	wantError(t, loadErrors(t, b.String()), "!reference expands the configuration beyond")
}
