package ci

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/kiln-ci/kiln/internal/jobspec"
)

func TestVariablePrecedence(t *testing.T) {
	cfg := mustLoad(t, `
variables: {V: global, G: global, W: global}
workflow:
  rules:
    - variables: {V: workflow, W: workflow, JW: workflow}
job:
  script: x
  variables: {V: job, J: job, JW: job}
  rules:
    - variables: {V: rule, R: rule}
`)
	ctx := pushToMain()
	ctx.Predefined = jobspec.Variables{{Key: "V", Value: "predefined"}, {Key: "P", Value: "predefined"}}
	ctx.Instance = jobspec.Variables{{Key: "V", Value: "instance"}}
	ctx.Group = jobspec.Variables{{Key: "V", Value: "group"}, {Key: "GR", Value: "group"}}
	ctx.Project = jobspec.Variables{{Key: "GR", Value: "project"}}
	j := jobOf(t, mustCompile(t, cfg, ctx), "job")
	for key, want := range map[string]string{"V": "group", "GR": "project", "P": "predefined", "G": "global", "W": "workflow", "J": "job", "JW": "job", "R": "rule"} {
		if got, _ := varOf(j, key); got != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
	ctx.Pipeline = jobspec.Variables{{Key: "V", Value: "pipeline"}}
	if got, _ := varOf(jobOf(t, mustCompile(t, cfg, ctx), "job"), "V"); got != "pipeline" {
		t.Errorf("pipeline variables win over everything: %s", got)
	}
	ctx.Pipeline = nil
	ctx.Instance, ctx.Group, ctx.Project = nil, nil, nil
	if got, _ := varOf(jobOf(t, mustCompile(t, cfg, ctx), "job"), "V"); got != "rule" {
		t.Errorf("rules:variables win over job variables: %s", got)
	}
}

func TestVariablesExpandAsOnTheServer(t *testing.T) {
	j := jobOf(t, pipelineOf(t, `
variables:
  BASE: /opt
  RAW: {value: "$BASE/raw", expand: false}
job:
  script: x
  variables:
    DIR: ${BASE}/app
    ESC: "cost: $$5"
    REF: $CI_COMMIT_REF_NAME-$DIR
    ONLY_RUNNER: $UNKNOWN_TO_SERVER
`), "job")
	for key, want := range map[string]string{"DIR": "/opt/app", "REF": "main-/opt/app", "RAW": "$BASE/raw", "ESC": "cost: $$5", "ONLY_RUNNER": "$UNKNOWN_TO_SERVER"} {
		if got, _ := varOf(j, key); got != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
	if v, _ := j.Spec.Variables.Find("RAW"); !v.Raw {
		t.Errorf("expand: false marks the variable raw for the runner")
	}
}

func TestInheritVariablesLimitsGlobalVariables(t *testing.T) {
	p := pipelineOf(t, `
variables: {A: a, B: b}
none: {script: x, inherit: {variables: false}}
some: {script: x, inherit: {variables: [B]}}
`)
	if _, ok := varOf(jobOf(t, p, "none"), "A"); ok {
		t.Errorf("inherit:variables false takes no global variable")
	}
	j := jobOf(t, p, "some")
	if _, ok := varOf(j, "A"); ok {
		t.Errorf("A is not inherited")
	}
	if v, _ := varOf(j, "B"); v != "b" {
		t.Errorf("B = %q", v)
	}
}

func TestEnvironmentVariables(t *testing.T) {
	j := jobOf(t, pipelineOf(t, `
deploy:
  script: x
  variables: {APP: shop}
  environment:
    name: review/$CI_COMMIT_REF_NAME
    url: https://$APP.example.com
`), "deploy")
	want := map[string]string{
		"CI_ENVIRONMENT_NAME":   "review/main",
		"CI_ENVIRONMENT_URL":    "https://shop.example.com",
		"CI_ENVIRONMENT_ACTION": "start",
		"CI_ENVIRONMENT_TIER":   "development",
	}
	for k, w := range want {
		if got, _ := varOf(j, k); got != w {
			t.Errorf("%s = %q, want %q", k, got, w)
		}
	}
	slug, _ := varOf(j, "CI_ENVIRONMENT_SLUG")
	if !strings.HasPrefix(slug, "review-main-") || len(slug) != len("review-main-")+6 {
		t.Errorf("CI_ENVIRONMENT_SLUG = %q: a changed name gets a 6-character suffix", slug)
	}
}

func TestEnvironmentSlugAndTier(t *testing.T) {
	for name, want := range map[string]string{"production": "production", "Production": "production-", "123": "env-123-"} {
		if got := EnvironmentSlug(name); !strings.HasPrefix(got, want) {
			t.Errorf("EnvironmentSlug(%q) = %q, want prefix %q", name, got, want)
		}
	}
	if EnvironmentSlug("production") != "production" {
		t.Errorf("an already valid name keeps its slug")
	}
	if len(EnvironmentSlug(strings.Repeat("x", 40))) != 24 {
		t.Errorf("slugs are at most 24 characters")
	}
	for name, tier := range map[string]string{"prod": "production", "staging": "staging", "qa-test": "testing", "review/x": "development", "sandbox": "other"} {
		if got := guessTier(name); got != tier {
			t.Errorf("guessTier(%q) = %s, want %s", name, got, tier)
		}
	}
}

func TestGPURequestsComeFromTheJobsVariables(t *testing.T) {
	p := pipelineOf(t, `
variables: {KILN_GPU_MODEL: A100}
train:
  script: x
  tags: [saas-linux-medium-amd64-gpu-standard]
  variables: {KILN_GPU_COUNT: "2", KILN_GPU_MEMORY_MIN: 40GiB, KILN_CUDA_MIN: "12.2"}
cpu: {script: x}
plain: {script: x, inherit: {variables: false}}
`)
	g := jobOf(t, p, "train").GPU
	if g.Count == nil || *g.Count != 2 || g.Model != "A100" || g.MemoryMinBytes != 40<<30 || g.CUDAMin.String() != "12.2" {
		t.Errorf("GPU = %+v", g)
	}
	if g := jobOf(t, p, "cpu").GPU; g.Count != nil || g.Model != "A100" {
		t.Errorf("global GPU variables apply to every job; the count is left to the machine type: %+v", g)
	}
	if !jobOf(t, p, "plain").GPU.IsZero() {
		t.Errorf("a job without GPU variables asks for nothing")
	}
	_, err := mustLoad(t, "train:\n  script: x\n  variables: {KILN_GPU_COUNT: two}\n").Compile(pushToMain())
	if err == nil || !strings.Contains(err.Error(), "jobs:train KILN_GPU_COUNT=\"two\"") || AsDiagnostics(err)[0].Line != 3 {
		t.Errorf("a malformed request is an error on that job, at its variable: %v", err)
	}
}

func TestNeedsOfAJobTheRulesLeftOut(t *testing.T) {
	cfg := mustLoad(t, `
build: {stage: build, script: x, rules: [{if: $CI_COMMIT_TAG}]}
lint: {stage: build, script: x, rules: [{if: $CI_COMMIT_TAG}]}
test: {stage: test, script: x, needs: [build, {job: lint, optional: true}]}
`)
	_, err := cfg.Compile(pushToMain())
	if err == nil || !strings.Contains(err.Error(), "'test' job needs 'build' job, but 'build' does not exist in the pipeline. "+
		"This might be because of the only, except, or rules keywords. To need a job that sometimes does not exist in the pipeline, use needs:optional.") {
		t.Errorf("got %v", err)
	}
	if strings.Contains(err.Error(), "'lint'") {
		t.Errorf("an optional need of a missing job is dropped: %v", err)
	}
}

func TestDependenciesFollowGitLabsRules(t *testing.T) {
	p := pipelineOf(t, `
stages: [build, test, deploy]
a: {stage: build, script: x}
b: {stage: build, script: x}
c: {stage: test, script: x}
d: {stage: deploy, script: x, dependencies: [a]}
e: {stage: deploy, script: x, needs: [{job: a, artifacts: false}, b]}
f: {stage: deploy, script: x, needs: []}
`)
	for name, want := range map[string]string{"c": "a,b", "d": "a", "e": "b", "f": ""} {
		if got := strings.Join(jobOf(t, p, name).Dependencies, ","); got != want {
			t.Errorf("%s downloads from %q, want %q", name, got, want)
		}
	}
	if jobOf(t, p, "c").Needs != nil || jobOf(t, p, "f").Needs == nil {
		t.Errorf("needs: nil means stage order, empty means needs: []")
	}
}

func TestRunnerPayloadShape(t *testing.T) {
	j := jobOf(t, pipelineOf(t, `
default:
  image: {name: python:3.12, pull_policy: if-not-present, docker: {platform: linux/amd64}}
  before_script: [pip install -r requirements.txt]
test:
  script: [pytest]
  after_script: [echo done]
  timeout: 1h 30m
  hooks: {pre_get_sources_script: [echo hook]}
  services: [postgres:16, {name: redis:7, alias: cache, command: [redis-server]}]
  artifacts:
    paths: [dist/]
    expire_in: 1 week
    reports: {junit: report.xml, dotenv: build.env}
`), "test")
	s := j.Spec
	if len(s.Steps) != 2 || strings.Join(s.Steps[0].Script, ";") != "pip install -r requirements.txt;pytest" || s.Steps[1].When != "always" {
		t.Errorf("steps = %+v", s.Steps)
	}
	if s.RunnerInfo.Timeout != 5400 || s.Steps[0].Timeout != 5400 {
		t.Errorf("timeout = %d", s.RunnerInfo.Timeout)
	}
	if s.Image.Name != "python:3.12" || strings.Join(s.Image.PullPolicy, ",") != "if-not-present" || s.Image.ExecutorOpts.Docker.Platform != "linux/amd64" {
		t.Errorf("image = %+v", s.Image)
	}
	if len(s.Services) != 2 || s.Services[1].Alias != "cache" || s.Services[1].Command[0] != "redis-server" {
		t.Errorf("services = %+v", s.Services)
	}
	if len(s.Artifacts) != 3 {
		t.Fatalf("artifacts = %+v", s.Artifacts)
	}
	if a := s.Artifacts[0]; a.ArtifactType != "archive" || a.ArtifactFormat != "zip" || a.When != "on_success" || a.ExpireIn != "1 week" {
		t.Errorf("archive = %+v", a)
	}
	if a := s.Artifacts[1]; a.ArtifactType != "junit" || a.ArtifactFormat != "gzip" || a.Name != "junit.xml" || a.When != "always" {
		t.Errorf("junit = %+v", a)
	}
	if a := s.Artifacts[2]; a.ArtifactType != "dotenv" || a.Paths[0] != "build.env" {
		t.Errorf("dotenv = %+v", a)
	}
	if len(s.Hooks) != 1 || s.Hooks[0].Name != "pre_get_sources_script" {
		t.Errorf("hooks = %+v", s.Hooks)
	}
	if s.GitInfo.Ref != "main" || s.GitInfo.RefType != "branch" || s.JobInfo.Name != "test" {
		t.Errorf("git_info %+v job_info %+v", s.GitInfo, s.JobInfo)
	}
}

func TestCacheKeys(t *testing.T) {
	fsys := repo(DefaultFile, `
job:
  script: x
  cache:
    - {paths: [a]}
    - {key: $CI_COMMIT_REF_SLUG, paths: [b], policy: $POLICY, unprotect: true}
    - {key: {files: [go.sum], prefix: deps}, paths: [c], fallback_keys: [deps-main]}
  variables: {POLICY: pull}
`, "go.sum", "v1")
	cfg, _ := Load(fsys, DefaultFile, LoadOptions{})
	ctx := pushToMain()
	ctx.Protected = true
	c := jobOf(t, mustCompile(t, cfg, ctx), "job").Spec.Cache
	if c[0].Key != "default-protected" || c[0].Policy != "pull-push" || c[0].When != "on_success" {
		t.Errorf("cache[0] = %+v", c[0])
	}
	if c[1].Key != "$CI_COMMIT_REF_SLUG-non_protected" || c[1].Policy != "pull" {
		t.Errorf("cache[1] = %+v (the runner expands the key; unprotect shares it)", c[1])
	}
	if !strings.HasPrefix(c[2].Key, "deps-") || !strings.HasSuffix(c[2].Key, "-protected") || c[2].FallbackKeys[0] != "deps-main-protected" {
		t.Errorf("cache[2] = %+v", c[2])
	}
	fsys["go.sum"] = &fstest.MapFile{Data: []byte("v2")}
	c2 := jobOf(t, mustCompile(t, cfg, ctx), "job").Spec.Cache
	if c2[2].Key == c[2].Key {
		t.Errorf("key:files changes when the files change")
	}
}

func TestTagsAndResourceGroupExpandVariables(t *testing.T) {
	j := jobOf(t, pipelineOf(t, `
job:
  script: x
  variables: {SIZE: medium}
  tags: [saas-linux-$SIZE-amd64, $UNKNOWN]
  resource_group: deploy-$CI_COMMIT_REF_SLUG
`), "job")
	if got := strings.Join(j.Tags, ","); got != "saas-linux-medium-amd64,$UNKNOWN" {
		t.Errorf("tags = %s (unknown variables stay as written)", got)
	}
	if j.ResourceGroup != "deploy-main" {
		t.Errorf("resource_group = %s", j.ResourceGroup)
	}
}

func TestPipelineOfOnlyEdgeStagesIsNotCreated(t *testing.T) {
	if _, err := mustLoad(t, "pre: {stage: .pre, script: x}\n").Compile(pushToMain()); !errors.Is(err, ErrNoJobs) {
		t.Errorf("got %v", err)
	}
}

func TestJobsComeInStageOrderAndStagesListOnlyUsedOnes(t *testing.T) {
	p := pipelineOf(t, "d: {stage: deploy, script: x}\nb: {stage: build, script: x}\np: {stage: .pre, script: x}\n")
	if got := strings.Join(jobNames(p), ","); got != "p,b,d" {
		t.Errorf("jobs = %s", got)
	}
	if got := strings.Join(p.Stages, ","); got != ".pre,build,deploy" {
		t.Errorf("stages = %s", got)
	}
}

func TestCompileLeavesTheConfigUnchanged(t *testing.T) {
	cfg := mustLoad(t, "a: {script: x, parallel: 2, rules: [{needs: []}]}\nb: {script: x, needs: [a]}\n")
	first, _ := MarshalYAML(cfg.Merged())
	p1 := mustCompile(t, cfg, pushToMain())
	p2 := mustCompile(t, cfg, pushToMain())
	second, _ := MarshalYAML(cfg.Merged())
	if string(first) != string(second) || len(p1.Jobs) != len(p2.Jobs) || len(jobOf(t, p2, "b").Needs) != 2 {
		t.Errorf("compiling twice should give the same pipeline")
	}
}

func TestTheSeedExampleCompilesToAGPUJob(t *testing.T) {
	cfg, diags := Load(osDir(t, "../../examples/gpu-seed"), DefaultFile, LoadOptions{})
	if diags.HasErrors() || len(diags) != 0 {
		t.Fatalf("the seed's example should load cleanly: %v", diags)
	}
	j := jobOf(t, mustCompile(t, cfg, pushToMain()), "gpu-job")
	if j.Stage != "build" || j.Tags[0] != "saas-linux-medium-amd64-gpu-standard" || j.Spec.Image.Name != "nvcr.io/nvidia/cuda:12.1.1-base-ubuntu22.04" {
		t.Errorf("job = %+v", j)
	}
	if got := strings.Join(j.Spec.Steps[0].Script, "; "); got != "apt-get update; apt-get install -y python3.10; python3.10 --version" {
		t.Errorf("script = %s", got)
	}
}

func TestATriggerJobReachesThePipelineWithNothingToRun(t *testing.T) {
	p := pipelineOf(t, "build: {script: make}\ndownstream: {trigger: group/project}\n")
	j := jobOf(t, p, "downstream")
	if len(j.Spec.Steps) != 0 || len(j.Unsupported) != 1 || j.Unsupported[0] != "trigger" {
		t.Errorf("steps %+v, unsupported %v: the coordinator fails such a job with the reason", j.Spec.Steps, j.Unsupported)
	}
}

func TestErrorsNeverShowMaskedValues(t *testing.T) {
	cfg := mustLoad(t, "train:\n  script: x\n")
	ctx := pushToMain()
	ctx.Project = jobspec.Variables{{Key: "KILN_GPU_COUNT", Value: "s3cr3t-value-123", Masked: true}}
	_, err := cfg.Compile(ctx)
	if err == nil || strings.Contains(err.Error(), "s3cr3t") || !strings.Contains(err.Error(), "[MASKED]") {
		t.Errorf("error = %v", err)
	}
}

func TestCompileIsSafeToCallConcurrently(t *testing.T) {
	cfg := mustLoad(t, pipeline500())
	done := make(chan int, 4)
	for range 4 {
		go func() {
			p, err := cfg.Compile(pushToMain())
			if err != nil {
				t.Error(err)
				done <- 0
				return
			}
			done <- len(p.Jobs)
		}()
	}
	for range 4 {
		if n := <-done; n != 500 {
			t.Errorf("got %d jobs", n)
		}
	}
}

func TestNeedsThatRulesMakeCircularAreRefused(t *testing.T) {
	for name, tc := range map[string]struct{ yaml, want string }{
		"a rule's needs close a cycle": {
			"a:\n  script: x\n  rules:\n    - needs: [b]\nb:\n  script: x\n  needs: [a]\n",
			`The pipeline has circular dependencies: needs form a cycle "a" → "b" → "a"`},
		"a rule's needs name the job itself": {
			"a:\n  script: x\n  rules:\n    - needs: [a]\n",
			"The pipeline has circular dependencies: self-dependency: a"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := mustLoad(t, tc.yaml).Compile(pushToMain())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
