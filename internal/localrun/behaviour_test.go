package localrun_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/gpu/nvmlhost"
	"github.com/kiln-ci/kiln/internal/gpu/nvmltest"
	"github.com/kiln-ci/kiln/internal/gpu/provider"
	"github.com/kiln-ci/kiln/internal/gpu/scrub"
	"github.com/kiln-ci/kiln/internal/localrun"
	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/testenv"
)

func TestRetryRunsAFailedJobAgainAsGitLabsRetrySays(t *testing.T) {
	mark := filepath.Join(t.TempDir(), "tried")
	dir := gitRepo(t, map[string]string{".gitlab-ci.yml": `
flaky:
  retry: 2
  script:
    - test -f "$MARK" || { touch "$MARK"; exit 7; }
    - echo second attempt
wrong-code:
  retry: {max: 2, exit_codes: [1]}
  script: [exit 7]
reason-suffices:
  retry: {max: 1, when: [script_failure], exit_codes: [137]}
  script: [exit 5]
code-suffices:
  retry: {max: 1, when: [runner_system_failure], exit_codes: [6]}
  script: [exit 6]
`})
	res, out := run(t, dir, func(o *localrun.Options) { o.Variables = []string{"MARK=" + mark} })
	flaky, _ := res.Job("flaky")
	if flaky.Status != localrun.StatusSuccess || flaky.Retries != 1 || !slices.Contains(jobLines(out, "flaky"), "second attempt") {
		t.Errorf("flaky = %+v\n%s", flaky, out)
	}
	if !strings.Contains(out, "==> flaky: failed (exit code 7), retrying") || !strings.Contains(out, "==> flaky: started (stage test, attempt 2 of 3)") {
		t.Errorf("the retry is not shown:\n%s", out)
	}
	wrong, _ := res.Job("wrong-code")
	if wrong.Status != localrun.StatusFailed || wrong.Retries != 0 || wrong.ExitCode != 7 {
		t.Errorf("wrong-code was retried though exit code 7 is not in retry:exit_codes: %+v", wrong)
	}
	// retry:when and retry:exit_codes each suffice on GitLab.
	for _, name := range []string{"reason-suffices", "code-suffices"} {
		if j, _ := res.Job(name); j.Status != localrun.StatusFailed || j.Retries != 1 {
			t.Errorf("%s was not retried once: %+v", name, j)
		}
	}
}

func TestDelayedJobStartsAfterStartIn(t *testing.T) {
	dir := gitRepo(t, map[string]string{".gitlab-ci.yml": `
first:
  stage: build
  script: [echo first]
later:
  stage: test
  when: delayed
  start_in: 1 second
  script: [echo later]
`})
	res, out := run(t, dir, nil)
	if res.Status != localrun.StatusSuccess {
		t.Fatalf("pipeline %s\n%s", res.Status, out)
	}
	if !strings.Contains(out, "==> later: delayed, starts in 1s") {
		t.Errorf("the delay is not shown:\n%s", out)
	}
	first, _ := res.Job("first")
	later, _ := res.Job("later")
	if later.Outcome == nil || first.Outcome == nil {
		t.Fatalf("jobs did not run:\n%s", out)
	}
}

func TestJobsOfOneResourceGroupNeverRunAtOnce(t *testing.T) {
	dir := gitRepo(t, map[string]string{".gitlab-ci.yml": `
deploy-a:
  resource_group: production
  script: [sleep 0.3]
deploy-b:
  resource_group: production
  script: [sleep 0.3]
other:
  script: [sleep 0.3]
`})
	res, out := run(t, dir, nil)
	if res.Status != localrun.StatusSuccess {
		t.Fatalf("pipeline %s\n%s", res.Status, out)
	}
	if !strings.Contains(out, "==> deploy-b: waiting for resource group production") {
		t.Errorf("deploy-b did not wait:\n%s", out)
	}
	if strings.Index(out, "==> deploy-a: success") > strings.Index(out, "==> deploy-b: started") {
		t.Errorf("deploy-b started before deploy-a ended:\n%s", out)
	}
	if strings.Index(out, "==> other: started") > strings.Index(out, "==> deploy-a: success") {
		t.Errorf("a job outside the group waited for it:\n%s", out)
	}
}

func TestCancelStopsRunningJobsRunsTheirAfterScriptAndCancelsTheRest(t *testing.T) {
	dir := gitRepo(t, map[string]string{".gitlab-ci.yml": `
long:
  stage: build
  script: [echo started, sleep 60]
  after_script: ['echo "after: $CI_JOB_STATUS"']
next:
  stage: test
  script: [echo never]
`})
	out := &testenv.Buffer{}
	p, err := localrun.New(context.Background(), localrun.Options{Dir: dir, Executor: shellExecutor(t), BaseEnvironment: hostEnv(),
		StateDir: t.TempDir(), Output: out})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	go func() {
		for !strings.Contains(out.String(), "long | started") {
			time.Sleep(10 * time.Millisecond)
		}
		p.Cancel()
	}()
	start := time.Now()
	res, err := p.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 30*time.Second {
		t.Errorf("canceling took %v", time.Since(start))
	}
	long, _ := res.Job("long")
	next, _ := res.Job("next")
	if res.Status != localrun.StatusCanceled || long.Status != localrun.StatusCanceled || next.Status != localrun.StatusCanceled || next.Outcome != nil {
		t.Errorf("status %s, long %+v, next %+v", res.Status, long, next)
	}
	if !slices.Contains(jobLines(out.String(), "long"), "after: canceled") {
		t.Errorf("after_script did not run with CI_JOB_STATUS=canceled:\n%s", out)
	}
}

func TestAbortingTheContextStopsJobsWithoutAfterScript(t *testing.T) {
	dir := gitRepo(t, map[string]string{".gitlab-ci.yml": `
long:
  script: [echo started, sleep 60]
  after_script: [echo after]
`})
	out := &testenv.Buffer{}
	p, err := localrun.New(context.Background(), localrun.Options{Dir: dir, Executor: shellExecutor(t), BaseEnvironment: hostEnv(),
		StateDir: t.TempDir(), Output: out})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, abort := context.WithCancel(context.Background())
	go func() {
		for !strings.Contains(out.String(), "long | started") {
			time.Sleep(10 * time.Millisecond)
		}
		abort()
	}()
	res, err := p.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != localrun.StatusCanceled || slices.Contains(jobLines(out.String(), "long"), "after") {
		t.Errorf("status %s; after_script must not run on an abort:\n%s", res.Status, out)
	}
}

func TestVariablePrecedencePipelineOverDotenvOverYAML(t *testing.T) {
	dir := gitRepo(t, map[string]string{".gitlab-ci.yml": `
variables:
  A: yaml
  B: yaml
  C: yaml
build:
  stage: build
  script: [printf 'A=dotenv\nB=dotenv\n' > vars.env]
  artifacts: {reports: {dotenv: vars.env}}
test:
  stage: test
  script: ['echo "A=$A B=$B C=$C"']
`})
	_, out := run(t, dir, func(o *localrun.Options) { o.Variables = []string{"A=pipeline"} })
	if !slices.Contains(jobLines(out, "test"), "A=pipeline B=dotenv C=yaml") {
		t.Errorf("precedence is wrong:\n%s", strings.Join(jobLines(out, "test"), "\n"))
	}
}

func TestMachineTypeComesFromTagsOrTheFlag(t *testing.T) {
	dir := gitRepo(t, map[string]string{".gitlab-ci.yml": `
untagged:
  script: [echo]
large:
  tags: [saas-linux-large-amd64]
  script: [echo]
self-managed:
  tags: [docker]
  script: [echo]
`})
	_, out := run(t, dir, nil)
	for job, mt := range map[string]string{"untagged": machine.TagSmall, "large": machine.TagLarge, "self-managed": machine.TagSmall} {
		if !slices.ContainsFunc(jobLines(out, job), func(l string) bool { return strings.HasPrefix(l, "  machine type "+mt+" ") }) {
			t.Errorf("%s did not get machine type %s:\n%s", job, mt, strings.Join(jobLines(out, job), "\n"))
		}
	}
	_, out = run(t, dir, func(o *localrun.Options) { o.MachineType = machine.TagMedium; o.Jobs = []string{"large"} })
	if !slices.ContainsFunc(jobLines(out, "large"), func(l string) bool { return strings.HasPrefix(l, "  machine type "+machine.TagMedium+" ") }) {
		t.Errorf("--machine-type did not apply:\n%s", out)
	}
}

// TestGPUJobsWaitForAFreeGPU runs two jobs that each need all 8 GPUs of a fake DGX
// A100 (go-nvml's mock, through the real GPU provider and the shell executor): they
// run one after the other, each seeing its leased GPUs in CUDA_VISIBLE_DEVICES.
func TestGPUJobsWaitForAFreeGPU(t *testing.T) {
	srv := nvmltest.NewDGXA100()
	host, err := nvmlhost.Open(srv, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	all := machine.Type{Tag: "a100-x8", VCPU: 2, GPU: machine.GPU{Count: 8, Model: "A100"}}
	small := machine.Type{Tag: "small", VCPU: 1, Untagged: true}
	catalog, err := machine.NewCatalog([]machine.Type{small, all})
	if err != nil {
		t.Fatal(err)
	}
	devices, err := provider.Open(context.Background(), host, provider.Config{Executor: provider.ExecutorShell, StateDir: t.TempDir(),
		RunnerID: "localrun-test", SampleInterval: 5 * time.Millisecond, ScrubTimeout: 2 * time.Second, Killer: scrub.KillerFunc(srv.Kill)})
	if err != nil {
		t.Fatal(err)
	}
	dir := gitRepo(t, map[string]string{".gitlab-ci.yml": `
train-1:
  tags: [a100-x8]
  script: ['echo "gpus=$CUDA_VISIBLE_DEVICES"', sleep 0.5]
train-2:
  tags: [a100-x8]
  script: ['echo "gpus=$CUDA_VISIBLE_DEVICES"', sleep 0.5]
`})
	res, out := run(t, dir, func(o *localrun.Options) { o.Catalog = catalog; o.Devices = devices })
	if res.Status != localrun.StatusSuccess {
		t.Fatalf("pipeline %s\n%s", res.Status, out)
	}
	if !strings.Contains(out, ": waiting for a free GPU") {
		t.Errorf("no job waited for the GPUs:\n%s", out)
	}
	for _, job := range []string{"train-1", "train-2"} {
		ok := slices.ContainsFunc(jobLines(out, job), func(l string) bool {
			return strings.HasPrefix(l, "gpus=") && strings.Count(l, "GPU-") == 8
		})
		if !ok {
			t.Errorf("%s did not see its 8 leased GPUs:\n%s", job, strings.Join(jobLines(out, job), "\n"))
		}
	}
}
