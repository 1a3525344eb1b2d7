package ci

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/kiln-ci/kiln/internal/machine"
)

// TestEveryExampleIsCleanAndCompiles keeps examples/ honest: each loads without a
// diagnostic, its GPU requests fit the default machine types, and it compiles for a
// push to main.
func TestEveryExampleIsCleanAndCompiles(t *testing.T) {
	dirs, err := filepath.Glob("../../examples/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	for _, dir := range dirs {
		if _, err := os.Stat(filepath.Join(dir, DefaultFile)); err != nil {
			continue
		}
		t.Run(filepath.Base(dir), func(t *testing.T) {
			cfg, diags := Load(os.DirFS(dir), DefaultFile, LoadOptions{Catalog: machine.DefaultCatalog()})
			if cfg == nil || len(diags) > 0 {
				t.Fatalf("diagnostics: %v", diags)
			}
			p, err := cfg.Compile(pushToMain())
			if err != nil || len(p.Jobs) == 0 {
				t.Fatalf("Compile: %v", err)
			}
		})
	}
}

func TestTheTrainingExampleRequestsGPUsPerJob(t *testing.T) {
	cfg, _ := Load(osDir(t, "../../examples/gpu-training"), DefaultFile, LoadOptions{})
	p := mustCompile(t, cfg, pushToMain())
	train := jobOf(t, p, "train: [vit-b16, bf16]")
	if g := train.GPU; g.Count == nil || *g.Count != 1 || g.MemoryMinBytes != 15<<30 || g.CUDAMin.String() != "12.1" {
		t.Errorf("train GPU = %+v", g)
	}
	// unit inherits the pipeline-wide KILN_CUDA_MIN; on its CPU machine type that
	// narrows nothing and the job gets no GPU.
	small, _ := machine.DefaultCatalog().Get(machine.TagSmall)
	if g, err := small.Resolve(jobOf(t, p, "unit").GPU); err != nil || g.Wanted() != 0 {
		t.Errorf("unit on %s resolves to %+v, %v; want no GPU", machine.TagSmall, g, err)
	}
	var needs []string
	for _, n := range jobOf(t, p, "report").Needs {
		needs = append(needs, n.Job)
	}
	if len(needs) != 2 || needs[0] != "train: [resnet50, bf16]" {
		t.Errorf("report needs %v", needs)
	}
}
