package ci

import (
	"fmt"
	"strings"
	"testing"
)

// pipeline500 generates a configuration that compiles to 500 jobs: 440 jobs over four
// stages, each extending one of five templates (themselves extending a base) with
// rules, plus ten parallel:matrix jobs of six instances each, with needs between them.
func pipeline500() string {
	var b strings.Builder
	b.WriteString(`stages: [build, test, package, deploy]
variables:
  GLOBAL: "1"
  REGISTRY: registry.example.com/$CI_PROJECT_PATH
default:
  image: golang:1.26
  retry: 1
.base:
  before_script: [go version]
  variables: {GOFLAGS: -mod=readonly}
  cache: {key: {files: [go.sum], prefix: go}, paths: [.cache/go]}
`)
	stages := []string{"build", "test", "package", "deploy"}
	for t := range 5 {
		fmt.Fprintf(&b, `.tmpl%d:
  extends: .base
  stage: %s
  tags: [saas-linux-medium-amd64]
  artifacts: {paths: [out/%d], reports: {junit: report.xml}}
  rules:
    - if: $CI_COMMIT_TAG
      when: never
    - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH
      variables: {DEPLOY: "true"}
    - changes: [src/%d/**/*]
    - when: manual
      allow_failure: true
`, t, stages[t%4], t, t)
	}
	for m := range 10 {
		fmt.Fprintf(&b, `matrix%d:
  extends: .tmpl0
  stage: build
  parallel:
    matrix:
      - OS: [linux, windows, mac]
        ARCH: [amd64, arm64]
  script: [make OS=$OS ARCH=$ARCH]
`, m)
	}
	for i := range 440 {
		stage := stages[i%4]
		fmt.Fprintf(&b, "job%03d:\n  extends: .tmpl%d\n  stage: %s\n  script: [echo %d, make test-%d]\n  variables: {N: \"%d\"}\n", i, i%5, stage, i, i, i)
		if stage != "build" {
			fmt.Fprintf(&b, "  needs: [job%03d, {job: matrix%d, parallel: {matrix: [{OS: linux, ARCH: amd64}]}}]\n", i-1, i%10)
		}
	}
	return b.String()
}

func TestThe500JobBenchmarkPipelineHas500Jobs(t *testing.T) {
	p := pipelineOf(t, pipeline500())
	if len(p.Jobs) != 500 {
		t.Errorf("the benchmark's pipeline has %d jobs", len(p.Jobs))
	}
}

// BenchmarkCompile500Jobs measures a 500-job pipeline from YAML bytes to job payloads:
// Load (YAML, extends, rules parsing, matrix expansion, checks) and Compile (rules,
// variables, needs, payloads).
func BenchmarkCompile500Jobs(b *testing.B) {
	fsys := repo(DefaultFile, pipeline500(), "go.sum", "h1:abc")
	ctx := pushToMain()
	b.ReportAllocs()
	for b.Loop() {
		cfg, diags := Load(fsys, DefaultFile, LoadOptions{})
		if cfg == nil {
			b.Fatal(diags)
		}
		p, err := cfg.Compile(ctx)
		if err != nil || len(p.Jobs) != 500 {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompileOnly500Jobs measures Compile alone on a loaded configuration (what
// a coordinator repeats for each pipeline of the same commit).
func BenchmarkCompileOnly500Jobs(b *testing.B) {
	fsys := repo(DefaultFile, pipeline500(), "go.sum", "h1:abc")
	cfg, diags := Load(fsys, DefaultFile, LoadOptions{})
	if cfg == nil {
		b.Fatal(diags)
	}
	ctx := pushToMain()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cfg.Compile(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
