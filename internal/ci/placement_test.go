package ci

import (
	"strings"
	"testing"

	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/machine"
)

// loadWithCatalog loads yaml with LoadOptions.Catalog set to the default catalog.
func loadWithCatalog(t *testing.T, yaml string) (*Config, Diagnostics) {
	t.Helper()
	return Load(repo(yaml), DefaultFile, LoadOptions{Catalog: machine.DefaultCatalog()})
}

func TestLoadWithACatalogRefusesGPURequestsTheMachineTypeCannotGive(t *testing.T) {
	for name, tc := range map[string]struct {
		yaml string
		want string
		line int
	}{
		"more GPUs than the type, at the variable": {`
train:
  tags: [saas-linux-medium-amd64-gpu-standard]
  variables: {KILN_GPU_COUNT: "2"}
  script: x
`, "jobs:train KILN_GPU_COUNT=2 exceeds machine type saas-linux-medium-amd64-gpu-standard, which gives 1 GPU(s)", 4},
		"GPUs on a CPU type": {`
variables: {N: "1"}
build:
  script: x
  variables: {KILN_GPU_COUNT: $N}
`, "jobs:build KILN_GPU_COUNT=1 but machine type saas-linux-small-amd64 has no GPUs", 5},
		"a malformed request, at its variable": {`
train:
  script: x
  tags: [saas-linux-medium-amd64-gpu-standard]
  variables: {KILN_GPU_MEMORY_MIN: lots}
`, `jobs:train KILN_GPU_MEMORY_MIN="lots": want a size such as 40GiB or 16GB`, 5},
		"tags naming two machine types, expanded": {`
variables: {SIZE: medium}
build:
  script: x
  tags: [saas-linux-small-amd64, saas-linux-$SIZE-amd64]
`, `jobs:build tags: tags name two machine types, "saas-linux-small-amd64" and "saas-linux-medium-amd64"`, 3},
		"a rule's variables, at the rule's variable": {`
train:
  script: x
  tags: [saas-linux-medium-amd64-gpu-standard]
  rules:
    - if: $CI_COMMIT_TAG
      variables: {KILN_GPU_COUNT: "4"}
    - when: on_success
`, "jobs:train KILN_GPU_COUNT=4 exceeds machine type", 7},
	} {
		t.Run(name, func(t *testing.T) {
			cfg, diags := loadWithCatalog(t, tc.yaml)
			if cfg != nil {
				t.Fatalf("Load accepted it: %v", diags)
			}
			errs := diags.Errors()
			if len(errs) != 1 || !strings.HasPrefix(errs[0].Message, tc.want) || errs[0].Line != tc.line {
				t.Errorf("errors = %v; want one at line %d starting %q", errs, tc.line, tc.want)
			}
			if cfg, diags := Load(repo(tc.yaml), DefaultFile, LoadOptions{}); cfg == nil {
				t.Errorf("without a catalog Load checks no machine types, yet refused it: %v", diags)
			}
		})
	}
}

func TestLoadWithACatalogAcceptsRequestsWithinTheMachineType(t *testing.T) {
	cfg, diags := loadWithCatalog(t, `
variables: {KILN_CUDA_MIN: "12.1"}   # pipeline-wide: CPU jobs ignore it
unit: {script: x}
train:
  tags: [saas-linux-medium-amd64-gpu-standard]
  variables: {KILN_GPU_COUNT: "1", KILN_GPU_MODEL: T4, KILN_GPU_MEMORY_MIN: 15GiB}
  script: x
mine: {script: x, tags: [my-own-runner]}   # its runner's own GPUs honour KILN_CUDA_MIN
own-gpus: {script: x, tags: [my-own-runner], variables: {KILN_GPU_MODEL: A100, KILN_GPU_COUNT: "2"}}
by-project: {script: x, tags: [$GPU_TAG], variables: {KILN_GPU_COUNT: "1"}}  # GPU_TAG: a project's
`)
	if cfg == nil || len(diags) != 0 {
		t.Errorf("Load refused requests every runner of the type can meet: %v", diags)
	}
}

func TestLoadWithACatalogNeverShowsAMaskedValue(t *testing.T) {
	secret := "s3cr3t-Value-1234"
	ctx := &Context{Project: jobspec.Variables{{Key: "GPUS", Value: secret, Masked: true}}}
	yaml := "train:\n  script: x\n  variables: {KILN_GPU_COUNT: $GPUS}\n"
	cfg, diags := Load(repo(yaml), DefaultFile, LoadOptions{Context: ctx, Catalog: machine.DefaultCatalog()})
	if cfg != nil || !diags.HasErrors() {
		t.Fatalf("Load accepted a count that is not a number: %v", diags)
	}
	for _, d := range diags {
		if strings.Contains(d.Message, secret) {
			t.Errorf("a masked value reached a diagnostic: %s", d.Message)
		}
	}
}

func TestLoadReportsEveryMalformedGPUVariableWhereItIsWritten(t *testing.T) {
	_, diags := Load(repo(`
variables:
  KILN_CUDA_MIN: "12.x"
train:
  script: x
  variables:
    KILN_GPU_COUNT: "1"
    KILN_GPU_MEMORY_MIN: lots
`), DefaultFile, LoadOptions{Catalog: machine.DefaultCatalog()})
	var got []string
	for _, d := range diags.Errors() {
		got = append(got, d.Pos.String()+" "+d.Message)
	}
	want := []string{
		`.gitlab-ci.yml:3:3 jobs:train KILN_CUDA_MIN="12.x": want a version MAJOR.MINOR, e.g. 12.2`,
		`.gitlab-ci.yml:8:5 jobs:train KILN_GPU_MEMORY_MIN="lots": want a size such as 40GiB or 16GB`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
