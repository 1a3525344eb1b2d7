package expr

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/kiln-ci/kiln/internal/testenv"
)

// gclCase is one expectation of gitlab-ci-local's unit tests about rules:if: either an
// expression's value (want "true", "false" or "error") or, for a rules list, the
// resulting when.
type gclCase struct {
	where string // file and test name
	expr  string // a single expression, or "" for a rules list
	vars  map[string]string
	want  string

	rules   []map[string]any
	jobWhen string
}

// gclDeviations are cases where gitlab-ci-local disagrees with GitLab: the key is the
// file and the expression, the value what GitLab does and why.
var gclDeviations = map[string]struct{ gitlab, reason string }{
	`rules-regex.test.ts: "23" =~ "1234"`: {"true", "GitLab accepts a plain string on the right of =~ and " +
		"searches it for the left value (String#scan), so this is true; gitlab-ci-local refuses it"},
	`rules-regex.test.ts: "23" =~ '1234'`: {"true", "as above, with single quotes"},
}

func TestConformanceGitLabCILocalRules(t *testing.T) {
	dir := testenv.ConformanceDir(t, "gitlab-ci-local-unit-tests")
	var cases []gclCase
	for _, f := range []struct {
		name    string
		extract func(t *testing.T, file, src string) []gclCase
	}{{"rules.test.ts", extractRulesTests}, {"rules-regex.test.ts", extractRegexTests}} {
		src, err := os.ReadFile(filepath.Join(dir, f.name))
		if err != nil {
			t.Fatal(err)
		}
		got := f.extract(t, f.name, string(src))
		if len(got) < 10 {
			t.Fatalf("%s: extracted only %d cases; has the file's shape changed?", f.name, len(got))
		}
		cases = append(cases, got...)
	}

	agree, deviate := 0, 0
	for _, c := range cases {
		key := c.where[:strings.Index(c.where, ".ts")+3] + ": " + c.expr
		got := c.outcome(t)
		dev, known := gclDeviations[key]
		switch {
		case known && c.expr != "":
			if got != dev.gitlab {
				t.Errorf("%s: %q gives %s, want GitLab's %s (%s)", c.where, c.expr, got, dev.gitlab, dev.reason)
			}
			if c.want == dev.gitlab {
				t.Errorf("%s: listed as a deviation but gitlab-ci-local now agrees with GitLab; remove it", key)
			}
			deviate++
			t.Logf("deviation: %s: gitlab-ci-local expects %s, GitLab gives %s: %s", key, c.want, dev.gitlab, dev.reason)
		case got != c.want:
			t.Errorf("%s: %s: got %s, gitlab-ci-local expects %s", c.where, c.describe(), got, c.want)
		default:
			agree++
		}
	}
	t.Logf("gitlab-ci-local rules cases: %d agree, %d documented deviations, %d in all", agree, deviate, len(cases))
}

func (c gclCase) describe() string {
	if c.expr != "" {
		return "if: " + c.expr
	}
	var ifs []string
	for _, r := range c.rules {
		ifs = append(ifs, strings.TrimSpace(toString(r["if"])+" when:"+toString(r["when"])))
	}
	return "rules [" + strings.Join(ifs, "; ") + "]"
}

func toString(v any) string {
	s, _ := v.(string)
	return s
}

// outcome evaluates the case: an expression's "true", "false" or "error"; for a rules
// list the when of the first matching rule (the job's when by default), or "never".
func (c gclCase) outcome(t *testing.T) string {
	if c.expr != "" {
		return evalOutcome(c.expr, c.vars)
	}
	for _, r := range c.rules {
		if cond, ok := r["if"]; ok {
			switch evalOutcome(cond.(string), c.vars) {
			case "false":
				continue
			case "error":
				return "error"
			}
		}
		if w := toString(r["when"]); w != "" {
			return w
		}
		if c.jobWhen != "" {
			return c.jobWhen
		}
		return "on_success"
	}
	return "never"
}

func evalOutcome(src string, m map[string]string) string {
	e, err := Parse(src)
	if err != nil {
		var se *SyntaxError
		if !errors.As(err, &se) {
			return "bad error type"
		}
		return "error"
	}
	ok, err := e.Eval(vars(m))
	if err != nil {
		return "error"
	}
	if ok {
		return "true"
	}
	return "false"
}

var markerRE = regexp.MustCompile(`(?:const |let )?rules = |variables = |const jobWhen = |const ruleIf = |` +
	`Utils\.evaluateRuleIf\(|expect\(val\)\.toBe\(|\.toThrow\(|expect\(rulesResult\)\.toEqual\(`)

// extractRulesTests reads rules.test.ts: in each test.concurrent block, the
// assignments to rules, variables, jobWhen and ruleIf in order, and the expectations
// on evaluateRuleIf and getRulesResult.
func extractRulesTests(t *testing.T, file, src string) []gclCase {
	var out []gclCase
	blocks := strings.Split(src, "test.concurrent(")
	for _, block := range blocks[1:] {
		nameV, _, err := valueAt(block, 0)
		if err != nil {
			t.Fatalf("%s: test name: %v", file, err)
		}
		where := file + " " + strings.TrimSpace(toString(nameV))
		var (
			rules   []map[string]any
			vars    map[string]string
			jobWhen string
			ruleIf  string
			last    *gclCase // the last evaluateRuleIf call
			skip    bool     // the rules hold non-string ifs: a compiler matter
		)
		for _, m := range markerRE.FindAllStringIndex(block, -1) {
			marker, at := block[m[0]:m[1]], m[1]
			switch {
			case strings.HasSuffix(marker, "rules = "):
				v, _, err := valueAt(block, at)
				if err != nil {
					t.Fatalf("%s: rules: %v", where, err)
				}
				rules, skip = nil, false
				for _, r := range v.([]any) {
					rm := r.(map[string]any)
					if cond, ok := rm["if"]; ok {
						if _, isStr := cond.(string); !isStr {
							skip = true
						}
					}
					rules = append(rules, rm)
				}
			case marker == "variables = ":
				v, _, err := valueAt(block, at)
				if err != nil {
					t.Fatalf("%s: variables: %v", where, err)
				}
				vars = stringMap(v)
			case marker == "const jobWhen = ":
				v, _, _ := valueAt(block, at)
				jobWhen = toString(v)
			case marker == "const ruleIf = ":
				v, _, err := valueAt(block, at)
				if err != nil {
					t.Fatalf("%s: ruleIf: %v", where, err)
				}
				ruleIf = toString(v)
			case marker == "Utils.evaluateRuleIf(":
				p := &jsParser{s: block, i: at}
				arg, err := p.value()
				if err != nil {
					t.Fatalf("%s: evaluateRuleIf: %v", where, err)
				}
				expr := ruleIf
				if s, ok := arg.(string); ok {
					expr = s
				}
				if err := p.expect(','); err != nil {
					t.Fatalf("%s: evaluateRuleIf: %v", where, err)
				}
				v, err := p.value()
				if err != nil {
					t.Fatalf("%s: evaluateRuleIf variables: %v", where, err)
				}
				last = &gclCase{where: where, expr: expr, vars: stringMap(v)}
			case marker == "expect(val).toBe(":
				v, _, _ := valueAt(block, at)
				if last == nil {
					t.Fatalf("%s: expectation without a call", where)
				}
				last.want = "false"
				if v == true {
					last.want = "true"
				}
				out = append(out, *last)
			case marker == ".toThrow(":
				if last != nil && strings.Contains(block, "evaluateRuleIf") {
					last.want = "error"
					out = append(out, *last)
				}
			case marker == "expect(rulesResult).toEqual(":
				v, _, err := valueAt(block, at)
				if err != nil {
					t.Fatalf("%s: toEqual: %v", where, err)
				}
				if skip {
					continue
				}
				out = append(out, gclCase{where: where, rules: rules, vars: vars, jobWhen: jobWhen,
					want: toString(v.(map[string]any)["when"])})
			}
		}
	}
	return out
}

// extractRegexTests reads rules-regex.test.ts: the tests array of rule, evalResult and
// expectedErrSubStr, all evaluated without variables.
func extractRegexTests(t *testing.T, file, src string) []gclCase {
	i := strings.Index(src, "const tests = ")
	if i < 0 {
		t.Fatalf("%s: no tests array", file)
	}
	v, _, err := valueAt(src, i+len("const tests = "))
	if err != nil {
		t.Fatalf("%s: tests array: %v", file, err)
	}
	var out []gclCase
	for _, e := range v.([]any) {
		m := e.(map[string]any)
		c := gclCase{where: file, expr: toString(m["rule"]), vars: map[string]string{}}
		switch r := m["evalResult"].(type) {
		case bool:
			c.want = "false"
			if r {
				c.want = "true"
			}
		default:
			c.want = "error"
		}
		out = append(out, c)
	}
	return out
}

func stringMap(v any) map[string]string {
	out := map[string]string{}
	m, _ := v.(map[string]any)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if s, ok := m[k].(string); ok {
			out[k] = s
		}
	}
	return out
}

var yamlIfRE = regexp.MustCompile(`(?m)^\s*(?:-\s+)?if:\s+(.+?)\s*$`)

// TestConformanceGitLabCILocalCaseExpressions parses every one-line rules:if of
// gitlab-ci-local's case files: all are valid GitLab but the one the case
// rules-curly-bracket-if expects to be rejected ("rules:rule if invalid expression
// syntax").
func TestConformanceGitLabCILocalCaseExpressions(t *testing.T) {
	dir := testenv.ConformanceDir(t, "gitlab-ci-local")
	files, err := filepath.Glob(filepath.Join(dir, "*", "*.yml"))
	if err != nil {
		t.Fatal(err)
	}
	hidden, _ := filepath.Glob(filepath.Join(dir, "*", ".*.yml"))
	files = append(files, hidden...)
	n := 0
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range yamlIfRE.FindAllStringSubmatch(string(src), -1) {
			expr := yamlScalar(m[1])
			_, err := Parse(expr)
			wantErr := filepath.Base(filepath.Dir(f)) == "rules-curly-bracket-if"
			if (err != nil) != wantErr {
				t.Errorf("%s: if: %s: error %v, want error: %v", f, expr, err, wantErr)
			}
			n++
		}
	}
	if n < 10 {
		t.Fatalf("found only %d rules:if expressions", n)
	}
	t.Logf("gitlab-ci-local case files: %d rules:if expressions, all as GitLab judges them", n)
}

// yamlScalar unquotes a one-line YAML scalar.
func yamlScalar(s string) string {
	switch {
	case len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'':
		return strings.ReplaceAll(s[1:len(s)-1], "''", "'")
	case len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"':
		return strings.NewReplacer(`\"`, `"`, `\\`, `\`).Replace(s[1 : len(s)-1])
	}
	return s
}
