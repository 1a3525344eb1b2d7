package jobspec

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/kiln-ci/kiln/internal/testenv"
)

var (
	expandTextRE = regexp.MustCompile(`Utils\.expandText\(("(?:[^"\\]|\\.)*"|null), \{([^}]*)\}\);\s*` +
		`expect\(expanded\)\.toBe\(("(?:[^"\\]|\\.)*"|null)\)`)
	jsPairRE = regexp.MustCompile(`(\w+): ("(?:[^"\\]|\\.)*")`)
)

// TestConformanceGitLabCILocalExpand replays gitlab-ci-local's expand.test.ts cases
// (Utils.expandText) against Expand, the runner's expansion they describe. The case
// expanding null has no Go counterpart and is counted as not applicable.
func TestConformanceGitLabCILocalExpand(t *testing.T) {
	dir := testenv.ConformanceDir(t, "gitlab-ci-local-unit-tests")
	src, err := os.ReadFile(filepath.Join(dir, "expand.test.ts"))
	if err != nil {
		t.Fatal(err)
	}
	matches := expandTextRE.FindAllStringSubmatch(string(src), -1)
	if len(matches) < 5 {
		t.Fatalf("found %d expandText cases; has expand.test.ts changed shape?", len(matches))
	}
	agree, na := 0, 0
	for _, m := range matches {
		if m[1] == "null" {
			na++
			continue
		}
		in, err1 := strconv.Unquote(m[1])
		want, err2 := strconv.Unquote(m[3])
		if err1 != nil || err2 != nil {
			t.Fatalf("unquoting %s / %s: %v %v", m[1], m[3], err1, err2)
		}
		vars := map[string]string{}
		for _, p := range jsPairRE.FindAllStringSubmatch(m[2], -1) {
			v, err := strconv.Unquote(p[2])
			if err != nil {
				t.Fatal(err)
			}
			vars[p[1]] = v
		}
		if got := Expand(in, lookupMap(vars)); got != want {
			t.Errorf("Expand(%q, %v) = %q, gitlab-ci-local expects %q", in, vars, got, want)
			continue
		}
		agree++
	}
	t.Logf("gitlab-ci-local expandText cases: %d agree, %d not applicable (null), %d in all", agree, na, len(matches))
}
