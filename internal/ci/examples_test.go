package ci

import (
	"os"
	"path/filepath"
	"testing"
)

// TestEveryExampleIsCleanAndCompiles keeps examples/ honest: each loads without a
// diagnostic and compiles for a push to main.
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
			cfg, diags := Load(os.DirFS(dir), DefaultFile, LoadOptions{})
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
	if g := jobOf(t, p, "unit").GPU; !g.IsZero() {
		t.Errorf("unit asks for no GPU: %+v", g)
	}
	var needs []string
	for _, n := range jobOf(t, p, "report").Needs {
		needs = append(needs, n.Job)
	}
	if len(needs) != 2 || needs[0] != "train: [resnet50, bf16]" {
		t.Errorf("report needs %v", needs)
	}
}
