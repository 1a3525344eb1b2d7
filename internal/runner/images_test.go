package runner_test

import (
	"testing"

	"github.com/kiln-ci/kiln/internal/executor"
	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/runner"
)

// specRecorder is the real shell executor, recording the specs it is given.
type specRecorder struct {
	executor.Executor
	specs *[]executor.Spec
}

func (r specRecorder) NewEnvironment(spec executor.Spec) (executor.Environment, error) {
	*r.specs = append(*r.specs, spec)
	return r.Executor.NewEnvironment(spec)
}

func TestImageAndServiceNamesExpandTheJobsVariables(t *testing.T) {
	var specs []executor.Spec
	h := newHarness(t, func(c *runner.Config) { c.Executor = specRecorder{Executor: c.Executor, specs: &specs} })
	job := h.job([]string{"true"})
	job.Variables = append(job.Variables,
		jobspec.Variable{Key: "BUILD_IMAGE_REF", Value: "alpine:3"},
		jobspec.Variable{Key: "REGISTRY", Value: "registry.example"},
		jobspec.Variable{Key: "SERVICE", Value: "$REGISTRY/redis"})
	job.Image = jobspec.Image{Name: "${BUILD_IMAGE_REF}", Entrypoint: []string{"sh", "-c", "echo $FOO"}}
	job.Services = []jobspec.Image{{Name: "$SERVICE", Alias: "cache-$BUILD_IMAGE_REF"}, {Name: "postgres:15"}}
	if o, log := h.run(job); o.Kind != runner.Success {
		t.Fatalf("%+v\n%s", o, log)
	}
	if len(specs) != 1 {
		t.Fatalf("%d environments, want 1", len(specs))
	}
	s := specs[0]
	if s.Image.Name != "alpine:3" || s.Image.Entrypoint[2] != "echo $FOO" {
		t.Errorf("image = %+v, want the name expanded and the entrypoint as written", s.Image)
	}
	if s.Services[0].Name != "registry.example/redis" || s.Services[0].Alias != "cache-alpine:3" || s.Services[1].Name != "postgres:15" {
		t.Errorf("services = %+v", s.Services)
	}
}
