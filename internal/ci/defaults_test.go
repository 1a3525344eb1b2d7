package ci

import (
	"strings"
	"testing"
)

func TestDefaultsFillWhatAJobDoesNotSet(t *testing.T) {
	cfg := mustLoad(t, `
default:
  image: ruby:3
  before_script: [bundle]
  tags: [docker]
  retry: 2
  timeout: 30m
  artifacts: {paths: [out]}
own:
  image: alpine
  script: x
plain:
  script: x
null-artifacts:
  artifacts:
  script: x
`)
	if got := cfg.Job("own").Image.Name; got != "alpine" {
		t.Errorf("a job's own keyword wins: %s", got)
	}
	p := cfg.Job("plain")
	if p.Image.Name != "ruby:3" || strings.Join(p.BeforeScript, ",") != "bundle" || p.Retry.Max != 2 || p.Timeout.Minutes() != 30 {
		t.Errorf("plain job should inherit: %+v", p)
	}
	if got := cfg.Job("null-artifacts").Artifacts; got == nil || got.Paths[0] != "out" {
		t.Errorf("a null keyword counts as unset, as in GitLab: %+v", got)
	}
}

func TestInheritDefaultChoosesWhatToTake(t *testing.T) {
	cfg := mustLoad(t, `
default:
  image: ruby:3
  before_script: [bundle]
none:
  inherit: {default: false}
  script: x
some:
  inherit: {default: [image]}
  script: x
`)
	if j := cfg.Job("none"); j.Image != nil || j.BeforeScript != nil {
		t.Errorf("inherit:default false takes nothing: %+v", j)
	}
	if j := cfg.Job("some"); j.Image == nil || j.BeforeScript != nil {
		t.Errorf("inherit:default [image] takes only the image: %+v", j)
	}
}

func TestLegacyGlobalKeywordsActAsDefaults(t *testing.T) {
	cfg := mustLoad(t, "image: old\nbefore_script: [legacy]\ndefault: {image: new}\njob: {script: x}\n")
	j := cfg.Job("job")
	if j.Image.Name != "new" || strings.Join(j.BeforeScript, ",") != "legacy" {
		t.Errorf("default: wins over the legacy keyword, which still applies otherwise: %+v", j)
	}
}

func TestStagesAreWrappedInPreAndPost(t *testing.T) {
	if got := strings.Join(mustLoad(t, "j: {script: x}\n").Stages, ","); got != ".pre,build,test,deploy,.post" {
		t.Errorf("default stages = %s", got)
	}
	cfg := mustLoad(t, "stages: [lint, [unit, e2e], ship]\nj: {stage: e2e, script: x}\n")
	if got := strings.Join(cfg.Stages, ","); got != ".pre,lint,unit,e2e,ship,.post" {
		t.Errorf("nested stage lists are flattened: %s", got)
	}
}

func TestMergedViewDropsHiddenJobsAndFoldsDefaults(t *testing.T) {
	cfg := mustLoad(t, `
include: []
default: {before_script: [setup]}
.tmpl: {script: [a, [b, c]]}
job: {extends: .tmpl}
`)
	out, err := MarshalYAML(cfg.Merged())
	if err != nil {
		t.Fatal(err)
	}
	want := `stages:
  - .pre
  - build
  - test
  - deploy
  - .post
job:
  script:
    - a
    - b
    - c
  before_script:
    - setup
`
	if string(out) != want {
		t.Errorf("merged view:\n%s\nwant:\n%s", out, want)
	}
}

func TestParallelNumberNamesInstancesAndSetsNodeVariables(t *testing.T) {
	p := pipelineOf(t, "test:\n  parallel: 3\n  script: x\n")
	if got := strings.Join(jobNames(p), ","); got != "test 1/3,test 2/3,test 3/3" {
		t.Fatalf("jobs = %s", got)
	}
	j := jobOf(t, p, "test 2/3")
	if i, _ := varOf(j, "CI_NODE_INDEX"); i != "2" {
		t.Errorf("CI_NODE_INDEX = %s", i)
	}
	if n, _ := varOf(j, "CI_NODE_TOTAL"); n != "3" {
		t.Errorf("CI_NODE_TOTAL = %s", n)
	}
}

func TestEveryJobGetsCINodeTotalAndOnlyParallelJobsCINodeIndex(t *testing.T) {
	// GitLab's Ci::Variables::Builder sends CI_NODE_TOTAL to every job (1 when the
	// job has no parallel:) and CI_NODE_INDEX only to an instance of a parallel job.
	p := pipelineOf(t, "single:\n  script: x\nmatrix:\n  parallel:\n    matrix:\n      - OS: [linux]\n  script: x\n")
	single := jobOf(t, p, "single")
	if n, ok := varOf(single, "CI_NODE_TOTAL"); !ok || n != "1" {
		t.Errorf("CI_NODE_TOTAL of a job without parallel = %q (set %v), want 1", n, ok)
	}
	if i, ok := varOf(single, "CI_NODE_INDEX"); ok {
		t.Errorf("a job without parallel has CI_NODE_INDEX=%q; GitLab sets it only for parallel jobs", i)
	}
	one := jobOf(t, p, "matrix: [linux]")
	i, _ := varOf(one, "CI_NODE_INDEX")
	n, _ := varOf(one, "CI_NODE_TOTAL")
	if i != "1" || n != "1" {
		t.Errorf("a one-instance matrix job: CI_NODE_INDEX=%q CI_NODE_TOTAL=%q, want 1 and 1", i, n)
	}
}

func TestParallelMatrixNamesEveryCombination(t *testing.T) {
	p := pipelineOf(t, `
build:
  parallel:
    matrix:
      - OS: [linux, windows]
        ARCH: [amd64, arm64]
      - OS: mac
        ARCH: 1
  script: x
`)
	want := "build: [linux, amd64],build: [linux, arm64],build: [windows, amd64],build: [windows, arm64],build: [mac, 1]"
	if got := strings.Join(jobNames(p), ","); got != want {
		t.Fatalf("jobs = %s\nwant  %s", got, want)
	}
	j := jobOf(t, p, "build: [windows, arm64]")
	os, _ := varOf(j, "OS")
	arch, _ := varOf(j, "ARCH")
	idx, _ := varOf(j, "CI_NODE_INDEX")
	if os != "windows" || arch != "arm64" || idx != "4" {
		t.Errorf("OS=%s ARCH=%s CI_NODE_INDEX=%s", os, arch, idx)
	}
}

func TestNeedsOnAParallelJobNeedAllOrTheSelectedInstances(t *testing.T) {
	p := pipelineOf(t, `
stages: [build, test]
build:
  stage: build
  parallel:
    matrix:
      - OS: [linux, mac]
  script: x
all:
  stage: test
  needs: [build]
  script: x
linux-only:
  stage: test
  needs:
    - job: build
      parallel:
        matrix:
          - OS: linux
  script: x
same-os:
  stage: test
  parallel:
    matrix:
      - OS: [linux, mac]
  needs:
    - job: build
      parallel:
        matrix:
          - OS: $[[ matrix.OS ]]
  script: x
`)
	needs := func(name string) string {
		var out []string
		for _, n := range jobOf(t, p, name).Needs {
			out = append(out, n.Job)
		}
		return strings.Join(out, ",")
	}
	if got := needs("all"); got != "build: [linux],build: [mac]" {
		t.Errorf("all needs %s", got)
	}
	if got := needs("linux-only"); got != "build: [linux]" {
		t.Errorf("linux-only needs %s", got)
	}
	if got := needs("same-os: [mac]"); got != "build: [mac]" {
		t.Errorf("same-os: [mac] needs %s", got)
	}
}
