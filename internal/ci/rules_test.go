package ci

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/kiln-ci/kiln/internal/jobspec"
)

func TestWorkflowRulesDecideWhetherThereIsAPipeline(t *testing.T) {
	cfg := mustLoad(t, `
workflow:
  name: 'Deploy $CI_COMMIT_REF_NAME to $TARGET'
  rules:
    - if: $CI_COMMIT_TAG
      when: never
    - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH
      variables: {TARGET: production}
    - if: $CI_COMMIT_BRANCH
variables: {TARGET: staging}
job: {script: echo $TARGET}
`)
	p := mustCompile(t, cfg, pushToMain())
	if p.Name != "Deploy main to production" {
		t.Errorf("name = %q", p.Name)
	}
	if v, _ := varOf(jobOf(t, p, "job"), "TARGET"); v != "production" {
		t.Errorf("workflow rules:variables override global variables: TARGET = %s", v)
	}
	feature := pushToMain()
	feature.Ref = "feature"
	if v, _ := varOf(jobOf(t, mustCompile(t, cfg, feature), "job"), "TARGET"); v != "staging" {
		t.Errorf("TARGET = %s on a feature branch", v)
	}
	tag := pushToMain()
	tag.Ref, tag.Tag = "v1.0", true
	if _, err := cfg.Compile(tag); !errors.Is(err, ErrFilteredOut) {
		t.Errorf("a tag pipeline should be filtered out, got %v", err)
	}
}

func TestJobRulesTakeTheFirstMatchingRule(t *testing.T) {
	cfg := mustLoad(t, `
job:
  script: x
  allow_failure: true
  rules:
    - if: $CI_PIPELINE_SOURCE == "schedule"
      when: never
    - if: $CI_COMMIT_BRANCH == "main"
      when: manual
      variables: {MODE: release}
    - if: $CI_COMMIT_BRANCH =~ /^feature\//
      when: delayed
      start_in: 10 minutes
      allow_failure: false
`)
	main := mustCompile(t, cfg, pushToMain())
	j := jobOf(t, main, "job")
	if j.When != "manual" || !j.AllowFailure {
		t.Errorf("main: when %s allow_failure %v (the job's allow_failure applies when the rule sets none)", j.When, j.AllowFailure)
	}
	if v, _ := varOf(j, "MODE"); v != "release" {
		t.Errorf("rules:variables: MODE = %q", v)
	}
	feat := pushToMain()
	feat.Ref = "feature/x"
	j = jobOf(t, mustCompile(t, cfg, feat), "job")
	if j.When != "delayed" || j.StartIn != 10*time.Minute || j.AllowFailure {
		t.Errorf("feature: when %s start_in %v allow_failure %v", j.When, j.StartIn, j.AllowFailure)
	}
	sched := pushToMain()
	sched.Source = SourceSchedule
	if _, err := cfg.Compile(sched); !errors.Is(err, ErrNoJobs) {
		t.Errorf("when: never leaves no job: %v", err)
	}
	other := pushToMain()
	other.Ref = "other"
	if _, err := cfg.Compile(other); !errors.Is(err, ErrNoJobs) {
		t.Errorf("no matching rule leaves the job out: %v", err)
	}
}

func TestManualAllowFailureDefaultsDifferForJobsAndRules(t *testing.T) {
	p := pipelineOf(t, `
job-manual: {script: x, when: manual}
rule-manual: {script: x, rules: [{when: manual}]}
`)
	if !jobOf(t, p, "job-manual").AllowFailure {
		t.Errorf("a job that is manual by its own when: may fail")
	}
	if jobOf(t, p, "rule-manual").AllowFailure {
		t.Errorf("a job made manual by rules: must not fail unless it says so")
	}
}

func TestRulesChangesAndExists(t *testing.T) {
	fsys := repo(DefaultFile, `
docs: {script: x, rules: [{changes: ["docs/**/*.md"]}]}
docker: {script: x, rules: [{exists: [Dockerfile]}]}
go: {script: x, rules: [{exists: ["**/*.go"]}]}
`, "Dockerfile", "FROM scratch", "cmd/main.go", "package main")
	cfg, diags := Load(fsys, DefaultFile, LoadOptions{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	ctx := pushToMain()
	ctx.ChangedFiles = []string{"README.md"}
	if got := strings.Join(jobNames(mustCompile(t, cfg, ctx)), ","); got != "docker,go" {
		t.Errorf("README change: %s", got)
	}
	ctx.ChangedFiles = []string{"docs/guide/intro.md"}
	if got := strings.Join(jobNames(mustCompile(t, cfg, ctx)), ","); got != "docs,docker,go" {
		t.Errorf("docs change: %s", got)
	}
	ctx.ChangedFiles = nil
	if got := strings.Join(jobNames(mustCompile(t, cfg, ctx)), ","); got != "docs,docker,go" {
		t.Errorf("unknown changes count as changed: %s", got)
	}
	ctx.Files = fstest.MapFS{"other": {}}
	if got := strings.Join(jobNames(mustCompile(t, cfg, ctx)), ","); got != "docs" {
		t.Errorf("exists looks at the context's files: %s", got)
	}
}

func TestRepositorySearchesLeaveOutGitsOwnFolder(t *testing.T) {
	// kiln exec reads a working tree, .git folder and all; none of its files is a
	// repository file, for exists (paths or regexp), cache:key:files or include:local.
	fsys := repo(DefaultFile, `
include: ["**.yml"]
by-glob: {script: x, rules: [{exists: ["**/HEAD"]}]}
by-regexp: {script: x, rules: [{exists: {regexp: "HEAD$"}}]}
by-folder: {script: x, rules: [{exists: ["**/objects"]}]}
cached: {script: x, cache: {key: {files: [".git/*"]}, paths: [c]}}
control: {script: x, rules: [{exists: ["src/*"]}]}
`, ".git/HEAD", "ref: refs/heads/main", ".git/objects/pack", "", ".git/bad.yml", "not: [valid", "src/main.go", "package main")
	cfg, diags := Load(fsys, DefaultFile, LoadOptions{})
	if cfg == nil {
		t.Fatalf("include:local read a file of .git: %v", diags)
	}
	p := mustCompile(t, cfg, pushToMain())
	if got := strings.Join(jobNames(p), ","); got != "cached,control" {
		t.Errorf("jobs = %s; want only cached and control: exists must not see .git", got)
	}
	if key := jobOf(t, p, "cached").Spec.Cache[0].Key; key != "default-non_protected" {
		t.Errorf("cache key = %s; a key of .git's files digests nothing", key)
	}
}

func TestRegexpClausesMatchRefsAndPaths(t *testing.T) {
	cfg := mustLoad(t, `
docs: {script: x, rules: [{changes: {regexp: '^docs/.*\.md$'}}]}
this-project: {script: x, only: ['/^release-/@root/app']}
other-project: {script: x, only: ['/^release-/@root/other']}
`)
	ctx := pushToMain()
	ctx.Ref = "release-2"
	ctx.Predefined = jobspec.Variables{{Key: "CI_PROJECT_PATH", Value: "root/app"}}
	ctx.ChangedFiles = []string{"docs/guide.md"}
	if got := strings.Join(jobNames(mustCompile(t, cfg, ctx)), ","); got != "docs,this-project" {
		t.Errorf("release-2 of root/app changing docs/guide.md: %s", got)
	}
	ctx.Ref, ctx.ChangedFiles = "main", []string{"docs/guide.txt"}
	if _, err := cfg.Compile(ctx); !errors.Is(err, ErrNoJobs) {
		t.Errorf("main changing docs/guide.txt runs no job; got %v", err)
	}
	wantError(t, loadErrors(t, "a: {script: x, only: ['/^release-[/@root/app']}\n"), "jobs:a:only refs invalid regular expression /^release-[/")
}

func TestOnlyExceptFollowGitLab(t *testing.T) {
	cfg := mustLoad(t, `
plain: {script: x}
releases: {script: x, only: ['/^release-.*$/i']}
not-tags: {script: x, except: [tags]}
nightly: {script: x, only: [schedules]}
with-var: {script: x, only: {variables: [$DEPLOY == "yes"]}}
`)
	ctx := pushToMain()
	ctx.Ref = "Release-1.2"
	if got := strings.Join(jobNames(mustCompile(t, cfg, ctx)), ","); got != "plain,releases,not-tags" {
		t.Errorf("branch Release-1.2: %s", got)
	}
	ctx = pushToMain()
	ctx.Ref, ctx.Tag = "v1", true
	if got := strings.Join(jobNames(mustCompile(t, cfg, ctx)), ","); got != "plain" {
		t.Errorf("tag: %s", got)
	}
	ctx = pushToMain()
	ctx.Source = SourceSchedule
	ctx.Pipeline = jobspec.Variables{{Key: "DEPLOY", Value: "yes"}}
	if got := strings.Join(jobNames(mustCompile(t, cfg, ctx)), ","); got != "plain,not-tags,nightly,with-var" {
		t.Errorf("schedule: %s", got)
	}
	ctx = pushToMain()
	ctx.Source = SourceMergeRequestEvent
	ctx.Ref = "feature"
	if _, err := cfg.Compile(ctx); !errors.Is(err, ErrNoJobs) {
		t.Errorf("jobs without rules do not run in merge request pipelines (default only: branches, tags): %v", err)
	}
}

func TestRulesEndingInABareWhenWarnAsGitLabDoes(t *testing.T) {
	_, diags := Load(repo("job:\n  script: x\n  rules:\n    - if: $A\n    - when: on_success\n"), DefaultFile, LoadOptions{})
	if w := diags.Warnings(); len(w) != 1 || !strings.Contains(w[0].Message, "jobs:job may allow multiple pipelines to run for a single action") {
		t.Errorf("warnings = %v", w)
	}
	_, diags = Load(repo("workflow: {rules: [{when: always}]}\njob:\n  script: x\n  rules: [{when: on_success}]\n"), DefaultFile, LoadOptions{})
	if len(diags) != 0 {
		t.Errorf("with workflow:rules there is nothing to warn about: %v", diags)
	}
}

func TestChangesCompareToCannotBeComputedAndCountsAsChanged(t *testing.T) {
	cfg, diags := Load(repo("job:\n  script: x\n  rules:\n    - changes: {paths: [src/*], compare_to: main}\n"), DefaultFile, LoadOptions{})
	if w := diags.Warnings(); len(w) != 1 || !strings.Contains(w[0].Message, "compare_to needs the repository's history") {
		t.Errorf("warnings = %v", w)
	}
	ctx := pushToMain()
	ctx.ChangedFiles = []string{"README.md"}
	if got := jobNames(mustCompile(t, cfg, ctx)); len(got) != 1 {
		t.Errorf("jobs = %v", got)
	}
}

func TestARuleThatDelaysAJobNeedsAStartIn(t *testing.T) {
	cfg := mustLoad(t, "job:\n  script: x\n  rules:\n    - when: delayed\n")
	_, err := cfg.Compile(pushToMain())
	if err == nil || !strings.Contains(err.Error(), "jobs:job start in should be a duration") {
		t.Errorf("a rule's when: delayed without start_in: got %v", err)
	}
	wantError(t, loadErrors(t, "job:\n  script: x\n  rules:\n    - when: delayed\n      start_in: 10 fortnights\n"),
		`jobs:job:rules:rule start in should be a duration: "10 fortnights"`)
}
