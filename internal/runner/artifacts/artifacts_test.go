package artifacts

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/kiln-ci/kiln/internal/jobspec"
)

func TestRuns(t *testing.T) {
	for _, c := range []struct {
		when string
		ok   bool
		want bool
	}{{"", true, true}, {"", false, false}, {"on_failure", false, true}, {"on_failure", true, false}, {"always", false, true}} {
		if got, _ := Runs(c.when, c.ok); got != c.want {
			t.Errorf("Runs(%q, %v) = %v", c.when, c.ok, got)
		}
	}
	if _, err := Runs("sometimes", true); err == nil {
		t.Error("unknown when accepted")
	}
}

func TestBuildFormats(t *testing.T) {
	proj := t.TempDir()
	os.MkdirAll(filepath.Join(proj, "out"), 0o755)
	os.WriteFile(filepath.Join(proj, "out/a.txt"), []byte("a"), 0o644)
	os.WriteFile(filepath.Join(proj, "report.xml"), []byte("<testsuites/>"), 0o644)
	tmp := t.TempDir()
	arc, _, err := Build(context.Background(), proj, tmp, jobspec.Artifact{Paths: []string{"out/"}})
	if err != nil || arc == nil || arc.Format != "zip" {
		t.Fatalf("zip: %+v, %v", arc, err)
	}
	b, _ := os.ReadFile(arc.Path)
	if !bytes.HasPrefix(b, []byte("PK")) {
		t.Error("zip archive does not start with PK")
	}
	arc, _, err = Build(context.Background(), proj, tmp, jobspec.Artifact{Paths: []string{"report.xml"}, ArtifactFormat: "raw"})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(arc.Path); string(b) != "<testsuites/>" {
		t.Errorf("raw archive = %q", b)
	}
	arc, sel, err := Build(context.Background(), proj, tmp, jobspec.Artifact{Paths: []string{"nothing/"}})
	if err != nil || arc != nil || len(sel.Messages) == 0 {
		t.Errorf("empty selection: %+v %+v %v", arc, sel, err)
	}
	if _, _, err := Build(context.Background(), proj, tmp, jobspec.Artifact{Paths: []string{"out"}, ArtifactFormat: "tarzstd"}); err == nil {
		t.Error("unsupported format accepted")
	}
}
