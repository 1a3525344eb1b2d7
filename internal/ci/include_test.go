package ci

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/kiln-ci/kiln/internal/jobspec"
)

func TestIncludeLocalDeepMergesTheIncludingFileOnTop(t *testing.T) {
	fsys := repo(
		DefaultFile, `
include: /ci/base.yml
variables: {B: main}
build:
  script: [make]
  variables: {X: main}
`,
		"ci/base.yml", `
variables: {A: base, B: base}
build:
  stage: build
  script: [base]
  variables: {X: base, Y: base}
`)
	cfg, diags := Load(fsys, DefaultFile, LoadOptions{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if got := fmt.Sprint(cfg.Variables); !strings.Contains(got, "A base") || !strings.Contains(got, "B main") {
		t.Errorf("global variables should merge, the including file winning: %v", got)
	}
	j := cfg.Job("build")
	if j.Stage != "build" || strings.Join(j.Script, ",") != "make" {
		t.Errorf("job keys merge, lists are replaced: stage %q script %v", j.Stage, j.Script)
	}
	if len(j.Variables) != 2 {
		t.Errorf("job variables should merge key by key: %v", j.Variables)
	}
	if strings.Join(cfg.Files, ",") != ".gitlab-ci.yml,ci/base.yml" {
		t.Errorf("Files = %v", cfg.Files)
	}
}

func TestIncludeRulesDecideWithTheContextVariables(t *testing.T) {
	fsys := repo(
		DefaultFile, `
include:
  - local: deploy.yml
    rules:
      - if: $CI_COMMIT_BRANCH == "main"
  - local: never.yml
    rules:
      - if: $CI_COMMIT_BRANCH == "main"
        when: never
      - when: always
build:
  script: make
`,
		"deploy.yml", "deploy:\n  script: deploy\n",
		"never.yml", "never:\n  script: never\n")
	for _, tc := range []struct {
		ref        string
		deploy, nv bool
	}{{"main", true, false}, {"feature", false, true}} {
		cfg, diags := Load(fsys, DefaultFile, LoadOptions{Context: &Context{Ref: tc.ref}})
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		if (cfg.Job("deploy") != nil) != tc.deploy || (cfg.Job("never") != nil) != tc.nv {
			t.Errorf("ref %s: deploy included %v (want %v), never included %v (want %v)", tc.ref,
				cfg.Job("deploy") != nil, tc.deploy, cfg.Job("never") != nil, tc.nv)
		}
	}
}

func TestIncludePathsUseVariables(t *testing.T) {
	fsys := repo(
		DefaultFile, "variables: {DIR: ci}\ninclude: [$DIR/$TARGET.yml, {local: $EXTRA}]\n",
		"ci/prod.yml", "prod:\n  script: x\n",
		"extra.yml", "extra:\n  script: x\n")
	ctx := &Context{Project: jobspec.Variables{{Key: "TARGET", Value: "prod"}, {Key: "EXTRA", Value: "extra.yml"}}}
	cfg, diags := Load(fsys, DefaultFile, LoadOptions{Context: ctx})
	if diags.HasErrors() || cfg.Job("prod") == nil || cfg.Job("extra") == nil {
		t.Fatalf("want ci/prod.yml and extra.yml included: %v", diags)
	}
	ctx.Project = ctx.Project[:1]
	_, diags = Load(fsys, DefaultFile, LoadOptions{Context: ctx})
	wantError(t, messages(diags.Errors()), "Included file `$EXTRA` does not have YAML extension!")
}

func TestIncludeKindsThatNeedTheNetworkAreClearErrors(t *testing.T) {
	for kind, want := range map[string]string{
		"remote: https://example.com/ci.yml":  "include:remote \"https://example.com/ci.yml\" is not available offline",
		"project: group/p\n    file: ci.yml":  "include:project \"group/p\" is not supported",
		"template: Auto-DevOps.gitlab-ci.yml": "include:template \"Auto-DevOps.gitlab-ci.yml\" is not available offline",
		"component: gitlab.com/g/c/comp@1.0":  "include:component \"gitlab.com/g/c/comp@1.0\" is not supported",
		"local: missing.yml":                  "Local file `missing.yml` does not exist!",
	} {
		msgs := loadErrors(t, "include:\n  - "+kind+"\njob:\n  script: x\n")
		wantError(t, msgs, want)
	}
}

func TestIncludeIsLimitedTo150Files(t *testing.T) {
	var b strings.Builder
	b.WriteString("include:\n")
	for range 151 {
		b.WriteString("  - local: t.yml\n")
	}
	fsys := repo(DefaultFile, b.String(), "t.yml", "job:\n  script: x\n")
	_, diags := Load(fsys, DefaultFile, LoadOptions{})
	if !diags.HasErrors() || !strings.Contains(diags.Errors()[0].Message, "Maximum of 150 nested includes are allowed!") {
		t.Errorf("want GitLab's include limit error, got %v", diags)
	}
}

func TestIncludeCyclesEndAtTheLimit(t *testing.T) {
	fsys := repo(DefaultFile, "include: a.yml\n", "a.yml", "include: b.yml\n", "b.yml", "include: a.yml\njob:\n  script: x\n")
	_, diags := Load(fsys, DefaultFile, LoadOptions{Limits: Limits{MaxIncludes: 10}})
	if !diags.HasErrors() || !strings.Contains(fmt.Sprint(diags), "Maximum of 10 nested includes") {
		t.Errorf("want the include limit to stop a cycle, got %v", diags)
	}
}

func TestIncludedFileWithBadYAMLNamesTheFile(t *testing.T) {
	fsys := repo(DefaultFile, "include: bad.yml\n", "bad.yml", "a: [\n")
	_, diags := Load(fsys, DefaultFile, LoadOptions{})
	if !strings.Contains(fmt.Sprint(diags), "Included file `bad.yml` does not have valid YAML syntax!") {
		t.Errorf("got %v", diags)
	}
	if !slices.ContainsFunc(diags.Errors(), func(d Diagnostic) bool { return d.File == "bad.yml" && d.Line > 0 }) {
		t.Errorf("the YAML error should point into bad.yml: %v", diags)
	}
}

func TestIncludePathsCannotLeaveTheRepository(t *testing.T) {
	msgs := loadErrors(t, "include: ../../etc/passwd.yml\njob:\n  script: x\n")
	wantError(t, msgs, "does not exist")
}
