package ci

import (
	"strings"
	"testing"
)

// TestLoadRefusesWhatGitLabRefuses lists configurations GitLab refuses, each with the
// message (GitLab's wording) Kiln must give.
func TestLoadRefusesWhatGitLabRefuses(t *testing.T) {
	for name, tc := range map[string]struct{ yaml, want string }{
		"blank script":            {"build:\n  script: ''\n", "jobs:build script can't be blank"},
		"empty script list":       {"build:\n  script: []\n", "jobs:build script can't be blank"},
		"no script":               {"build:\n  stage: test\n", "jobs build config should implement the script:, run:, or trigger: keyword"},
		"unknown keyword":         {"rspec:\n  script: echo\n  something: wrong\n", "jobs:rspec config contains unknown keys: something"},
		"job not a hash":          {"build: make\n", "jobs:build config should be a hash"},
		"unknown stage":           {"build:\n  stage: invalid\n  script: x\n", "build job: chosen stage invalid does not exist; available stages are .pre, build, test, deploy, .post"},
		"when never in a job":     {"build:\n  when: never\n  script: x\n", "when:never can only be used in a rules section or workflow:rules"},
		"bad when":                {"build:\n  when: sometimes\n  script: x\n", `jobs:build when should be one of: on_success, on_failure, always, manual, delayed (not "sometimes")`},
		"bad rule when":           {"build:\n  rules: [{when: sometimes}]\n  script: x\n", `jobs:build:rules:rule when should be one of: on_success, on_failure, always, never, manual, delayed (not "sometimes")`},
		"delayed without start":   {"build:\n  when: delayed\n  script: x\n", "jobs:build start in should be a duration"},
		"start_in not delayed":    {"build:\n  start_in: 1 hour\n  script: x\n", "jobs:build start in must be blank"},
		"start_in over a week":    {"build:\n  when: delayed\n  start_in: 8 days\n  script: x\n", "jobs:build start in should not exceed the limit of 1w"},
		"bad timeout":             {"build:\n  timeout: soon\n  script: x\n", "jobs:build timeout should be a duration"},
		"only with rules":         {"build:\n  only: [main]\n  rules: [{when: always}]\n  script: x\n", "config key may not be used with `rules`: only"},
		"blank rules":             {"build:\n  rules: []\n  script: x\n", "jobs:build rules config can't be blank"},
		"bad rules:if":            {"build:\n  rules: [{if: '${A} == \"x\"'}]\n  script: x\n", "jobs:build:rules:rule if invalid expression syntax"},
		"undefined need":          {"test:\n  needs: [build]\n  script: x\n", "test job: undefined need: build"},
		"need in later stage":     {"build:\n  stage: build\n  needs: [test]\n  script: x\ntest:\n  script: x\n", "build job: need test is not defined in current or prior stages"},
		"duplicate needs":         {"a:\n  script: x\nb:\n  needs: [a, a]\n  script: x\n", "b has the following needs duplicated: a."},
		"needs cycle":             {"a:\n  needs: [b]\n  script: x\nb:\n  needs: [a]\n  script: x\n", "The pipeline has circular dependencies"},
		"self need":               {"a:\n  needs: [a]\n  script: x\n", "The pipeline has circular dependencies: self-dependency: a"},
		"undefined dependency":    {"test:\n  dependencies: [build]\n  script: x\n", "test job: undefined dependency: build"},
		"dependency later stage":  {"a:\n  stage: build\n  dependencies: [b]\n  script: x\nb:\n  stage: deploy\n  script: x\n", "a job: dependency b is not defined in current or prior stages"},
		"deps outside needs":      {"a:\n  script: x\nb:\n  script: x\nc:\n  needs: [a]\n  dependencies: [b]\n  script: x\n", "jobs:c dependencies the b should be part of needs"},
		"needs not a list":        {"a:\n  script: x\nb:\n  needs: a\n  script: x\n", "jobs:b:needs config should be an array"},
		"empty need":              {"a:\n  needs: [~]\n  script: x\n", "jobs:a:needs entries cannot be empty"},
		"no visible job":          {".hidden:\n  script: x\n", "jobs config should contain at least one visible job"},
		"stages not a list":       {"stages: test\nbuild:\n  script: x\n", "stages config should be an array of strings"},
		"duplicate stage":         {"stages: [a, a]\nbuild:\n  stage: a\n  script: x\n", `stages config has duplicate entry "a"`},
		"on_stop undefined":       {"deploy:\n  environment: {name: prod, on_stop: stop}\n  script: x\n", "deploy job: on_stop job stop is not defined"},
		"on_stop without stop":    {"deploy:\n  environment: {name: prod, on_stop: stop}\n  script: x\nstop:\n  environment: {name: prod}\n  script: x\n", "deploy job: on_stop job stop needs to have action stop defined"},
		"parallel over 200":       {"t:\n  parallel: 201\n  script: x\n", "should be an integer between 1 and 200"},
		"matrix over 200":         {"t:\n  parallel:\n    matrix:\n      - A: [" + strings.Repeat("x,", 20) + "x]\n        B: [" + strings.Repeat("y,", 9) + "y]\n  script: x\n", "generates too many jobs (maximum is 200)"},
		"retry over 2":            {"t:\n  retry: 3\n  script: x\n", "should be an integer between 0 and 2"},
		"retry when unknown":      {"t:\n  retry: {max: 1, when: [script_failure, bogus, odd]}\n  script: x\n", "jobs:t:retry when contains unknown values: bogus, odd"},
		"retry when not a reason": {"t:\n  retry: {max: 1, when: bogus}\n  script: x\n", `jobs:t:retry when is not included in the list ("bogus")`},
		"retry when not strings":  {"t:\n  retry: {max: 1, when: [1]}\n  script: x\n", "jobs:t:retry when should be an array of strings or a string"},
		"bad cache policy":        {"t:\n  cache: {policy: none}\n  script: x\n", "jobs:t:cache policy should be a variable or one of: pull-push, push, pull"},
		"bad artifacts when":      {"t:\n  artifacts: {paths: [a], when: sometimes}\n  script: x\n", "jobs:t:artifacts when should be on_success, on_failure or always"},
		"bad artifacts expire_in": {"t:\n  artifacts: {paths: [a], expire_in: 7 elephants}\n  script: x\n", `jobs:t:artifacts expire in should be a duration: "7 elephants"`},
		"five caches":             {"t:\n  cache: [{key: a}, {key: b}, {key: c}, {key: d}, {key: e}]\n  script: x\n", "jobs:t:cache config no more than 4 caches can be created"},
		"cache key with slash":    {"t:\n  cache: {key: a/b}\n  script: x\n", `cannot contain the "/" character`},
		"variable not in opts":    {"variables:\n  ENV: {value: qa, options: [prod, staging]}\nt:\n  script: x\n", "variables:ENV config value must be present in options"},
		"bad coverage regexp":     {"t:\n  coverage: '/(unclosed/'\n  script: x\n", "jobs:t coverage config should be a regular expression"},
		"workflow unknown key":    {"workflow:\n  when: always\nt:\n  script: x\n", "workflow config contains unknown keys: when"},
		"workflow rule manual":    {"workflow:\n  rules: [{when: manual}]\nt:\n  script: x\n", "workflow:rules:rule when should be one of: always, never"},
	} {
		t.Run(name, func(t *testing.T) { wantError(t, loadErrors(t, tc.yaml), tc.want) })
	}
}

func TestLoadDiagnosticsPointAtTheOffendingLine(t *testing.T) {
	for name, tc := range map[string]struct{ yaml, at, want string }{
		"unknown stage, at the stage": {
			"build:\n  script: make\ntest:\n  stage: nope\n  script: x\n",
			".gitlab-ci.yml:4:10", "chosen stage nope does not exist"},
		"unknown stage from a template, at the template's stage": {
			".t:\n  stage: nope\ntest:\n  extends: .t\n  script: x\n",
			".gitlab-ci.yml:2:10", "test job: chosen stage nope does not exist"},
		"undefined dependency, at the dependency": {
			"a:\n  script: x\nb:\n  script: x\n  dependencies:\n    - a\n    - c\n",
			".gitlab-ci.yml:7:7", "b job: undefined dependency: c"},
		"dependency of a parallel job in a later stage, at the dependency": {
			"a:\n  script: x\n  dependencies: [p]\np:\n  stage: deploy\n  parallel: 2\n  script: x\n",
			".gitlab-ci.yml:3:18", "a job: dependency p 1/2 is not defined in current or prior stages"},
		"dependency outside needs, at the first one missing": {
			"a:\n  script: x\nb:\n  script: x\nc:\n  script: x\n  needs: [a]\n  dependencies: [a, b]\n",
			".gitlab-ci.yml:8:21", "jobs:c dependencies the b should be part of needs"},
	} {
		t.Run(name, func(t *testing.T) {
			_, diags := Load(repo(tc.yaml), DefaultFile, LoadOptions{})
			errs := diags.Errors()
			if len(errs) == 0 || errs[0].Pos.String() != tc.at || !strings.Contains(errs[0].Message, tc.want) {
				t.Errorf("want %q at %s, got %v", tc.want, tc.at, errs)
			}
		})
	}
}

func TestLoadReportsEveryErrorNotJustTheFirst(t *testing.T) {
	_, diags := Load(repo("a:\n  script: ''\nb:\n  when: sometimes\n  script: x\n"), DefaultFile, LoadOptions{})
	if n := len(diags.Errors()); n != 2 {
		t.Errorf("want both errors, got %d: %v", n, diags)
	}
}

func TestUnsupportedKeywordsAreWarningsAndTheJobStays(t *testing.T) {
	cfg, diags := Load(repo(`
release-job:
  script: echo
  release: {tag_name: v1, description: d}
  secrets:
    DB: {vault: prod/db/password}
  id_tokens:
    TOKEN: {aud: https://example.com}
trigger-job:
  trigger: group/project
`), DefaultFile, LoadOptions{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if got := strings.Join(cfg.Job("release-job").Unsupported, ","); got != "id_tokens,secrets,release" {
		t.Errorf("Unsupported = %s", got)
	}
	if got := strings.Join(cfg.Job("trigger-job").Unsupported, ","); got != "trigger" {
		t.Errorf("Unsupported = %s", got)
	}
	if n := len(diags.Warnings()); n != 4 {
		t.Errorf("want 4 warnings, got %v", diags)
	}
	for _, w := range diags.Warnings() {
		if !strings.Contains(w.Message, "is not supported by Kiln and is ignored") {
			t.Errorf("warning %q", w.Message)
		}
	}
}

func TestSameStageNeedsAndNeedsOnOptionalMissingJobsAreAccepted(t *testing.T) {
	cfg := mustLoad(t, `
a: {stage: test, script: x}
b: {stage: test, needs: [a, {job: gone, optional: true}], script: x}
`)
	if got := cfg.Job("b").Needs; len(got) != 2 {
		t.Errorf("needs = %+v", got)
	}
}
