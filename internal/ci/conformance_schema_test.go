package ci

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/kiln-ci/kiln/internal/testenv"
)

// schemaExceptions are the schema test cases where Kiln deliberately disagrees with
// GitLab's JSON schema, each with its reason. Keys are "file :: case".
var schemaExceptions = map[string]string{
	// The newest ci.json dropped `action:` steps; the newest run.yml in the corpus still
	// lists this case as positive (the corpus README records the same mismatch).
	"yaml_tests/positive_tests/run.yml :: step_using_action": "the schema itself no longer allows action: steps",
}

// schemaSpec is how ci_schema_spec.js uses each imported file.
type schemaMode int

const (
	modePositive schemaMode = iota
	modeNegative
	modeGlobalPositive
	modeGlobalNegative
)

// readSchemaSpec classifies the files that GitLab's ci_schema_spec.js imports, from
// the spec's own text: which describe() block lists each import name.
func readSchemaSpec(t *testing.T, dir string) map[string]schemaMode {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(dir, "ci_schema_spec.js"))
	if err != nil {
		t.Fatal(err)
	}
	spec := string(src)
	imports := map[string]string{}
	for _, m := range regexp.MustCompile(`import (\w+) from '\./([^']+)';`).FindAllStringSubmatch(spec, -1) {
		imports[m[1]] = m[2]
	}
	modes := map[string]schemaMode{}
	blocks := []struct {
		title string
		mode  schemaMode
	}{
		{"positive tests", modePositive}, {"negative tests", modeNegative},
		{"global positive tests", modeGlobalPositive}, {"global negative tests", modeGlobalNegative},
	}
	for _, b := range blocks {
		re := regexp.MustCompile(`(?s)describe\('` + regexp.QuoteMeta(b.title) + `'.*?\n\}\);`)
		block := re.FindString(spec)
		if block == "" {
			t.Fatalf("ci_schema_spec.js has no describe('%s') block", b.title)
		}
		for _, name := range regexp.MustCompile(`\b(\w+)\b`).FindAllString(block, -1) {
			if file, ok := imports[name]; ok {
				modes[file] = b.mode
			}
		}
	}
	return modes
}

type schemaCase struct {
	file, name string
	inSpec     bool
	valid      bool // expected
	doc        *Value
}

func loadSchemaCases(t *testing.T, dir string) []schemaCase {
	t.Helper()
	modes := readSchemaSpec(t, dir)
	var cases []schemaCase
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(path, ".yml") || strings.HasSuffix(path, ".json")) {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		rel = filepath.ToSlash(rel)
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		parsed, diags := parseYAML(rel, data, Limits{})
		if diags.HasErrors() {
			t.Fatalf("%s: %v", rel, diags)
		}
		mode, inSpec := modes[rel]
		if !inSpec {
			// Older files the newest spec no longer imports: judged by their folder.
			mode = modeNegative
			if strings.Contains("/"+rel, "/positive_tests/") {
				mode = modePositive
			}
		}
		for _, p := range parsed.Body.Pairs {
			doc := p.Value
			if mode == modePositive || mode == modeNegative {
				doc = &Value{Kind: KindMap, Pos: parsed.Body.Pos, Pairs: []Pair{p}}
			}
			cases = append(cases, schemaCase{
				file: rel, name: p.Key, inSpec: inSpec, doc: doc,
				valid: mode == modePositive || mode == modeGlobalPositive,
			})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return cases
}

// TestGitLabSchemaConformance replays GitLab's CI schema tests
// (spec/frontend/editor/schema/ci/) as ci_schema_spec.js does — every top-level key K
// of a positive (negative) file makes the document {K: value} that must (not)
// validate; "global" files hold whole documents — through ValidateStructure.
func TestGitLabSchemaConformance(t *testing.T) {
	dir := testenv.ConformanceDir(t, "gitlab-schema-tests")
	cases := loadSchemaCases(t, dir)
	var agree, agreeSpec, totalSpec, excepted int
	for _, sc := range cases {
		key := sc.file + " :: " + sc.name
		diags := ValidateStructure(sc.doc)
		got := !diags.HasErrors()
		if sc.inSpec {
			totalSpec++
		}
		if got == sc.valid {
			agree++
			if sc.inSpec {
				agreeSpec++
			}
			if _, ok := schemaExceptions[key]; ok {
				t.Errorf("%s: listed as an exception but now agrees; remove it from schemaExceptions", key)
			}
			continue
		}
		if reason, ok := schemaExceptions[key]; ok {
			excepted++
			t.Logf("exception %s: %s", key, reason)
			continue
		}
		if sc.valid {
			t.Errorf("%s: GitLab's schema accepts it, Kiln refuses: %v", key, diags)
		} else {
			t.Errorf("%s: GitLab's schema refuses it, Kiln accepts it", key)
		}
	}
	t.Logf("schema cases: %d of %d agree (%d of %d imported by the newest ci_schema_spec.js; %d of %d older files); %d documented exception(s)",
		agree, len(cases), agreeSpec, totalSpec, agree-agreeSpec, len(cases)-totalSpec, excepted)
	if len(cases) < 500 {
		t.Errorf("only %d cases found; the corpus has about 515", len(cases))
	}
	if !slices.ContainsFunc(cases, func(c schemaCase) bool { return !c.inSpec }) {
		t.Errorf("no older (not imported) files found; the classification is broken")
	}
}
