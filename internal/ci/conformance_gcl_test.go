package ci

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/kiln-ci/kiln/internal/testenv"
)

// gclCheck is one expectation on one file of a gitlab-ci-local case (whose executor
// is "none" in gitlab-ci-local/INDEX.md: nothing runs, the YAML is judged).
type gclCheck struct {
	file  string // relative to the case folder; default .gitlab-ci.yml
	valid bool
	// substance: words every error of Kiln's must name, together, in one message
	// (the job, the offending value, the keyword): gitlab-ci-local's message says
	// the same thing in its own words.
	substance []string
	// merged: compare Kiln's merged view with the case's expected --preview output,
	// read from its integration test.
	merged      bool
	maxIncludes int
	// differs documents an expected disagreement with gitlab-ci-local (a feature Kiln
	// does not have, or where gitlab-ci-local departs from GitLab); the check then
	// asserts Kiln's own behaviour instead.
	differs string
}

type gclCase struct {
	dir    string
	checks []gclCheck
}

// inputs names the .gitlab-ci.yml of an include-inputs template folder.
func inputs(dir string) string { return "input-templates/" + dir + "/.gitlab-ci.yml" }

const (
	noDefaultInterruptible = "gitlab-ci-local's preview leaves default:interruptible out of the job; Kiln's merged view shows every keyword a job inherits (the boolean input itself interpolates as in gitlab-ci-local)"
	unsupportedComponent   = "Kiln does not support include:component (needs GitLab's CI/CD catalog); it is an error"
	unsupportedProject     = "Kiln does not support include:project (another project's files); it is an error"
	gclOnly                = "gitlab-ci-local-only output (--list / comment directives); Kiln checks only that the file is valid"
)

var gclCases = []gclCase{
	{"basic-inputs", []gclCheck{{file: "input-templates/default-no-inputs/.gitlab-ci.yml", valid: true, merged: true}}},
	{"cache-key-invalid-files", []gclCheck{
		{file: ".gitlab-ci-empty.yml", substance: []string{"issue-910-empty", "cache", "files"}},
		{file: ".gitlab-ci-three.yml", valid: true, differs: "GitLab allows up to 10 cache:key:files (its newest schema and schema tests); gitlab-ci-local keeps the old limit of 2"},
	}},
	{"cache-paths-not-array", []gclCheck{{substance: []string{"test-job", "cache", "paths", "array"}}}},
	{"comment-directive-anchor", []gclCheck{{valid: true, differs: gclOnly}}},
	{"component-inputs-cli", []gclCheck{{substance: []string{"include:component", "not supported"}, differs: unsupportedComponent}}},
	{"component-inputs-edge-cases", []gclCheck{{substance: []string{"include:component", "not supported"}, differs: unsupportedComponent}}},
	{"component-inputs-multiple", []gclCheck{{substance: []string{"include:component", "not supported"}, differs: unsupportedComponent}}},
	{"dependencies-not-found", []gclCheck{{substance: []string{"test-job", "dependency", "invalid"}}}},
	{"include-component", []gclCheck{{file: "component-local/.gitlab-ci.yml", substance: []string{"include:component", "not supported"}, differs: unsupportedComponent}}},
	{"include-inputs", []gclCheck{
		{file: inputs("basic-example"), valid: true, merged: true},
		{file: inputs("default"), valid: true, merged: true},
		{file: inputs("interpolation-key-hyphen"), valid: true, merged: true},
		{file: inputs("interpolation-repeat"), valid: true, merged: true},
		{file: inputs("interpolation-value-escapes"), valid: true, merged: true},
		{file: inputs("types/array"), valid: true, merged: true},
		{file: "input-templates/types/boolean/.gitlab-ci-1.yml", valid: true, merged: true, differs: noDefaultInterruptible},
		{file: "input-templates/types/boolean/.gitlab-ci-2.yml", valid: true, merged: true, differs: noDefaultInterruptible},
		{file: inputs("options-array1-validation"), valid: true, merged: true},
		{file: inputs("regex-validation-pass"), valid: true, merged: true},
		{file: inputs("required-inputs"), substance: []string{"`required_inputs` input: required value has not been provided"}},
		{file: inputs("unknown-interpolation-key-1"), substance: []string{"unknown interpolation key: `foo`."}},
		{file: inputs("unknown-interpolation-key-2"), substance: []string{"unknown interpolation key: `foo`."}},
		{file: inputs("type-validation/array"), substance: []string{"`array_input` input: provided value is not a array."}},
		{file: inputs("type-validation/string"), substance: []string{"`string_input` input: provided value is not a string."}},
		{file: inputs("type-validation/number"), substance: []string{"`number_input` input: provided value is not a number."}},
		{file: inputs("type-validation/boolean"), substance: []string{"`boolean_input` input: provided value is not a boolean."}},
		{file: inputs("type-validation/unsupported"), substance: []string{"unsupported_type_input", "type", "foo"}},
		{file: inputs("options-validation"), substance: []string{"`options_input` input: `fizz` cannot be used because it is not in the list of allowed options."}},
		{file: inputs("options-array2-validation"), substance: []string{"`options_input` input: `fizz` cannot be used because it is not in the list of allowed options."}},
		{file: inputs("too-many-functions-in-interpolation-block"), substance: []string{"too many functions in interpolation block."}},
		{file: inputs("regex-validation"), substance: []string{"`version` input: `invalid-version` does not match required regex: ^v\\d+\\.\\d+\\.\\d+$."}},
		{file: inputs("regex-validation-invalid-pattern"), substance: []string{"`version` input: regex `^[unclosed` is not a valid regular expression."}},
	}},
	{"include-invalid-local", []gclCheck{{substance: []string{".gitlab-ci-invalid.yml", "does not exist"}}}},
	{"include-invalid-project-file-ref", []gclCheck{{substance: []string{"include:project", "not supported"}, differs: "both refuse it, for different reasons: " + unsupportedProject}}},
	{"include-invalid-remote", []gclCheck{{substance: []string{"include:remote", "not available offline"}, differs: "both refuse it, for different reasons: Kiln works offline and refuses include:remote"}}},
	{"include-nested", []gclCheck{
		{file: ".150-nested-include-gitlab-ci.yml", valid: true},
		{file: ".151-nested-include-gitlab-ci.yml", substance: []string{"Maximum of 150 nested includes"}},
		{file: ".150-complex-nested-include-gitlab-ci.yml", valid: true},
		{file: ".151-complex-nested-include-gitlab-ci.yml", substance: []string{"Maximum of 150 nested includes"}},
		{file: ".151-complex-nested-include-gitlab-ci.yml", maxIncludes: 3, substance: []string{"Maximum of 3 nested includes"}},
	}},
	{"include-project-file", []gclCheck{{file: ".gitlab-ci-1.yml", substance: []string{"include:project", "not supported"}, differs: unsupportedProject}}},
	{"include-project-file-wildcard", []gclCheck{{substance: []string{"include:project", "not supported"}, differs: unsupportedProject}}},
	{"invalid-stages", []gclCheck{{substance: []string{"stages", "array"}}}},
	{"list-case", []gclCheck{{valid: true, differs: gclOnly}}},
	{"list-csv-case", []gclCheck{{valid: true, differs: gclOnly}}},
	{"list-environment", []gclCheck{{valid: true, differs: gclOnly}}},
	{"needs-contains-dependencies", []gclCheck{{substance: []string{"test-job", "dependencies", "two", "needs"}}}},
	{"needs-empty-entry", []gclCheck{{substance: []string{"dev-job", "needs", "empty"}}}},
	{"needs-not-array", []gclCheck{{substance: []string{"dev-job", "needs", "array"}}}},
	{"needs-parallel-matrix-error", []gclCheck{{substance: []string{"needs:parallel:matrix"}}}},
	{"needs-parallel-matrix-expressions-non-parallel-consumer", []gclCheck{{substance: []string{"linux:test", "$[[ matrix", "not parallelized"}}}},
	{"needs-parallel-matrix-expressions-unknown-identifier", []gclCheck{{substance: []string{"'NOPE' does not exist in matrix configuration"}}}},
	{"needs-unspecified-job", []gclCheck{{substance: []string{"test-job", "need", "invalid"}}}},
	{"no-script", []gclCheck{{substance: []string{"test-job", "script"}}}},
	{"preview", []gclCheck{{valid: true, merged: true}}},
	{"reference", []gclCheck{
		{valid: true, merged: true},
		{file: ".gitlab-ci-complex.yml", valid: true, merged: true},
		{file: ".gitlab-ci-issue-899.yml", valid: true, merged: true},
		{file: ".gitlab-ci-issue-954.yml", valid: true, merged: true},
		{file: ".gitlab-ci-10-level-deep.yml", valid: true, merged: true},
		{file: ".gitlab-ci-11-level-deep.yml", substance: []string{"test", "script", "nested array", "10 levels"}},
		{file: ".gitlab-ci-1.yml", valid: true, merged: true, differs: "GitLab resolves !reference after extends (Config#build_config), so test-job's own variables replace the referenced hash; gitlab-ci-local merges them"},
		{file: ".gitlab-ci-2.yml", valid: true, merged: true},
		{file: ".gitlab-ci-3.yml", valid: true, merged: true},
	}},
	{"reference-circular-chain", []gclCheck{{substance: []string{"!reference", "test-job", "script", "circular"}}}},
	{"rules-blank", []gclCheck{{substance: []string{"job", "rules", "can't be blank"}}}},
	{"rules-curly-bracket-if", []gclCheck{{substance: []string{"rules:rule if invalid expression syntax"}}}},
	{"schema-validation", []gclCheck{{substance: []string{"test"}}}},
	{"schema-validation-ignore", []gclCheck{{file: ".gitlab-ci-1.yml", substance: []string{"tags"}, differs: "--ignore-schema-paths is a gitlab-ci-local option; Kiln reports the error it hides"}}},
	{"script-blank", []gclCheck{{substance: []string{"test-job", "script", "blank"}}}},
	{"script-multidimension", []gclCheck{
		{file: ".gitlab-ci-10-level-deep.yml", valid: true, merged: true},
		{file: ".gitlab-ci-11-level-deep.yml", substance: []string{"test-job", "script", "nested array", "10 levels"}},
	}},
	{"self-dependency", []gclCheck{{substance: []string{"circular dependencies", "job"}}}},
	{"stage-not-found", []gclCheck{{substance: []string{"test-job", "stage", "invalid"}}}},
	{"when", []gclCheck{{substance: []string{"test-job", "when", "never"}}}},
}

// TestGitLabCILocalConformance judges gitlab-ci-local's YAML-only cases (executor
// "none" in its INDEX.md): Kiln must agree on valid/invalid, name the same substance
// in its error, and produce the same merged configuration as --preview.
func TestGitLabCILocalConformance(t *testing.T) {
	root := testenv.ConformanceDir(t, "gitlab-ci-local")
	index, err := os.ReadFile(filepath.Join(root, "INDEX.md"))
	if err != nil {
		t.Fatal(err)
	}
	noneCases := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\|[^|]*\\| `([^`]+)` \\|[^|]*\\| none \\|").FindAllStringSubmatch(string(index), -1) {
		noneCases[m[1]] = true
	}
	listed := map[string]bool{}
	var agree, total, differ int
	for _, c := range gclCases {
		listed[c.dir] = true
		if !noneCases[c.dir] {
			t.Errorf("%s is not an executor-none case of INDEX.md", c.dir)
		}
		dir := filepath.Join(root, c.dir)
		previews := readPreviews(t, dir)
		for _, chk := range c.checks {
			file := chk.file
			if file == "" {
				file = DefaultFile
			}
			total++
			name := c.dir + "/" + file
			t.Run(name, func(t *testing.T) {
				fsys := os.DirFS(dir)
				if sub := filepath.Dir(file); sub != "." {
					fsys = os.DirFS(filepath.Join(dir, sub))
				}
				cfg, diags := Load(fsys, filepath.Base(file), LoadOptions{Limits: Limits{MaxIncludes: chk.maxIncludes}})
				if problem := judgeGCL(chk, cfg, diags, previews[file]); problem != "" {
					t.Error(problem)
					return
				}
				if chk.differs != "" {
					differ++
					t.Logf("differs from gitlab-ci-local by design: %s", chk.differs)
					return
				}
				agree++
			})
		}
	}
	for name := range noneCases {
		if !listed[name] {
			t.Errorf("executor-none case %s has no expectation here", name)
		}
	}
	t.Logf("gitlab-ci-local executor-none cases: %d checks over %d cases; %d agree with gitlab-ci-local, %d differ by design (documented)",
		total, len(gclCases), agree, differ)
}

// judgeGCL returns what is wrong with Kiln's result, or "".
func judgeGCL(chk gclCheck, cfg *Config, diags Diagnostics, preview string) string {
	if !chk.valid {
		if cfg != nil {
			return fmt.Sprintf("Kiln accepts it; expected an error naming %q", chk.substance)
		}
		for _, d := range diags.Errors() {
			if containsAll(d.Message, chk.substance) {
				return ""
			}
		}
		return fmt.Sprintf("no error names all of %q; got:\n%v", chk.substance, diags.Errors())
	}
	if cfg == nil {
		return fmt.Sprintf("Kiln refuses it:\n%v", diags)
	}
	if chk.merged {
		if preview == "" {
			return "no --preview expectation found in the case's integration test"
		}
		want, d := parseYAML("expected", []byte(preview), Limits{})
		if d.HasErrors() {
			return fmt.Sprintf("expected preview does not parse: %v", d)
		}
		same := reflect.DeepEqual(canonical(want.Body), canonical(cfg.Merged()))
		if chk.differs != "" && same {
			return "agrees with gitlab-ci-local although documented as differing; update the case"
		}
		if chk.differs == "" && !same {
			got, _ := MarshalYAML(cfg.Merged())
			return fmt.Sprintf("merged configuration differs from gitlab-ci-local's --preview.\nwant:\n%s\ngot:\n%s", preview, got)
		}
	}
	return ""
}

func containsAll(s string, words []string) bool {
	for _, w := range words {
		if !strings.Contains(strings.ToLower(s), strings.ToLower(w)) {
			return false
		}
	}
	return true
}

// canonical turns a value into plain Go data for comparison, writing `image: x` as
// `image: {name: x}` and `script: x` as `script: [x]`, as gitlab-ci-local's preview
// does.
func canonical(v *Value) any {
	switch {
	case v == nil:
		return nil
	case v.IsMap():
		m := map[string]any{}
		for _, p := range v.Pairs {
			if p.Key == "image" && p.Value.IsString() {
				m[p.Key] = map[string]any{"name": p.Value.Str}
				continue
			}
			if (p.Key == "script" || p.Key == "before_script" || p.Key == "after_script") && p.Value.IsString() {
				m[p.Key] = []any{p.Value.Str}
				continue
			}
			m[p.Key] = canonical(p.Value)
		}
		return m
	case v.IsSeq():
		s := make([]any, len(v.Items))
		for i, it := range v.Items {
			s[i] = canonical(it)
		}
		return s
	case v.Kind == KindNull:
		return nil
	}
	return v.Str
}

var (
	testBlockRE = regexp.MustCompile(`(?m)^(?:test|it)(?:\.concurrent)?\(`)
	fileOptRE   = regexp.MustCompile(`\bfile: "([^"]+)"`)
	cwdOptRE    = regexp.MustCompile(`\bcwd: "tests/test-cases/[^/"]+/?([^"]*)"`)
	expectedRE  = regexp.MustCompile("(?s)const expected = `(.*?)`;")
)

// readPreviews returns, by file (relative to the case folder), the expected --preview
// output that the case's integration tests assert.
func readPreviews(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	tests, _ := filepath.Glob(filepath.Join(dir, "integration*.test.ts"))
	for _, f := range tests {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		starts := testBlockRE.FindAllIndex(src, -1)
		for i, s := range starts {
			end := len(src)
			if i+1 < len(starts) {
				end = starts[i+1][0]
			}
			block := string(src[s[0]:end])
			if !strings.Contains(block, "preview: true") {
				continue
			}
			m := expectedRE.FindStringSubmatch(block)
			if m == nil {
				continue
			}
			file := DefaultFile
			if fm := fileOptRE.FindStringSubmatch(block); fm != nil {
				file = fm[1]
			}
			if cm := cwdOptRE.FindStringSubmatch(block); cm != nil && cm[1] != "" {
				file = cm[1] + "/" + file
			}
			if _, dup := out[file]; !dup {
				out[file] = unescapeTemplate(m[1])
			}
		}
	}
	return out
}

// unescapeTemplate reads a JavaScript template literal's escapes.
func unescapeTemplate(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
