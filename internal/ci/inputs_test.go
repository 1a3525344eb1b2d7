package ci

import (
	"strings"
	"testing"

	"github.com/kiln-ci/kiln/internal/jobspec"
)

const inputTemplate = `spec:
  inputs:
    stage: {default: test}
    name:
    tags: {type: array, default: [docker]}
    retries: {type: number, default: 1}
    manual: {type: boolean, default: false}
---
lint-$[[ inputs.name ]]:
  stage: $[[ inputs.stage ]]
  tags: $[[ inputs.tags ]]
  retry: $[[ inputs.retries ]]
  interruptible: $[[ inputs.manual ]]
  script:
    - echo "$[[ inputs.name ]] on $[[ inputs.tags ]]"
    - echo $[[ inputs.name | truncate(0,3) ]] $[[ inputs.name | posix_escape ]]
    - echo $[[ inputs.name | expand_vars ]]
`

func TestIncludeInputsInterpolateKeysAndTypedValues(t *testing.T) {
	fsys := repo(DefaultFile, `
stages: [test, lint]
include:
  - local: lint.yml
    inputs: {name: go, tags: [gpu, docker], retries: 2}
  - local: lint.yml
    inputs: {name: "it's $CI_COMMIT_REF_NAME", stage: lint, manual: true}
`, "lint.yml", inputTemplate)
	cfg, diags := Load(fsys, DefaultFile, LoadOptions{Context: &Context{Ref: "main"}})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	goJob := cfg.Job("lint-go")
	if goJob == nil || goJob.Stage != "test" || strings.Join(goJob.Tags, ",") != "gpu,docker" || goJob.Retry.Max != 2 || goJob.Interruptible == nil || *goJob.Interruptible {
		t.Fatalf("lint-go = %+v", goJob)
	}
	if got := strings.Join(goJob.Script, "\n"); got != "echo \"go on [\"gpu\",\"docker\"]\"\necho go go\necho go" {
		t.Errorf("script:\n%s", got)
	}
	other := cfg.Job("lint-it's $CI_COMMIT_REF_NAME")
	if other == nil || other.Stage != "lint" || !*other.Interruptible || other.Retry.Max != 1 {
		t.Fatalf("second include = %+v (jobs %v)", other, cfg.Jobs)
	}
	if got := other.Script[1]; got != `echo it' it\'s\ \$CI_COMMIT_REF_NAME` {
		t.Errorf("truncate and posix_escape: %s", got)
	}
	if got := other.Script[2]; got != "echo it's main" {
		t.Errorf("expand_vars: %s", got)
	}
}

func TestInputsAreCheckedAgainstTheirDeclaration(t *testing.T) {
	for name, tc := range map[string]struct{ inputs, want string }{
		"missing":       {"{}", "`name` input: required value has not been provided"},
		"unknown":       {"{name: x, colour: red}", "unknown input name provided: `colour`"},
		"wrong type":    {"{name: x, retries: many}", "`retries` input: provided value is not a number."},
		"array options": {"{name: x, tags: [gpu, nope]}", "`tags` input: `nope` cannot be used because it is not in the list of allowed options."},
		"regex":         {"{name: x, version: latest}", "`version` input: `latest` does not match required regex: ^v[0-9]+$."},
	} {
		t.Run(name, func(t *testing.T) {
			tmpl := strings.Replace(inputTemplate, "    tags: {type: array, default: [docker]}", "    tags: {type: array, default: [docker], options: [docker, gpu]}\n    version: {default: v1, regex: '^v[0-9]+$'}", 1)
			fsys := repo(DefaultFile, "include: [{local: lint.yml, inputs: "+tc.inputs+"}]\n", "lint.yml", tmpl)
			_, diags := Load(fsys, DefaultFile, LoadOptions{})
			wantError(t, messages(diags.Errors()), tc.want)
		})
	}
}

func TestInputsNeedASpecHeaderAndKnownKeys(t *testing.T) {
	fsys := repo(DefaultFile, "include: [{local: plain.yml, inputs: {a: b}}]\n", "plain.yml", "j: {script: x}\n")
	_, diags := Load(fsys, DefaultFile, LoadOptions{})
	wantError(t, messages(diags.Errors()), "Given inputs not defined in the `spec` section of the included configuration file `plain.yml`")
	_, diags = Load(repo("spec: {inputs: {a: {default: x}}}\n---\nj:\n  script: echo $[[ inputs.b ]]\n"), DefaultFile, LoadOptions{})
	wantError(t, messages(diags.Errors()), "unknown interpolation key: `b`.")
}

func TestTheMainFileUsesInputDefaultsAndInputRules(t *testing.T) {
	src := `spec:
  inputs:
    env:
      rules:
        - if: $CI_COMMIT_BRANCH == "main"
          default: production
        - default: staging
---
deploy:
  script: deploy $[[ inputs.env ]]
  needs: []
  parallel: {matrix: [{OS: [a]}]}
`
	for ref, want := range map[string]string{"main": "deploy production", "dev": "deploy staging"} {
		ctx := &Context{Ref: ref, Project: jobspec.Variables{{Key: "X", Value: "y"}}}
		cfg, diags := Load(repo(src), DefaultFile, LoadOptions{Context: ctx})
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		if got := cfg.Jobs[0].Script[0]; got != want {
			t.Errorf("ref %s: %s", ref, got)
		}
	}
}
