package runner_test

import (
	"slices"
	"testing"

	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/runner"
)

func TestArtifactPathsUnderCIProjectDirAreRelativeToTheProject(t *testing.T) {
	h := newHarness(t, nil)
	job := h.job([]string{"mkdir -p path && touch path/file1 path/file2"})
	job.Artifacts = []jobspec.Artifact{{Name: "out", Paths: []string{"$CI_PROJECT_DIR/path/", "/etc/hostname"},
		Exclude: []string{"${CI_PROJECT_DIR}/path/file2"}, When: "on_success", ArtifactType: "archive"}}
	o, log := h.run(job)
	if o.Kind != runner.Success {
		t.Fatalf("%+v\n%s", o, log)
	}
	if len(o.Artifacts) != 1 || !slices.Contains(o.Artifacts[0].Files, "path/file1") || slices.Contains(o.Artifacts[0].Files, "path/file2") {
		t.Errorf("artifacts = %+v, want path/file1 without path/file2", o.Artifacts)
	}
	inOrder(t, log, "/etc/hostname: path is outside the project directory and is ignored")
}
