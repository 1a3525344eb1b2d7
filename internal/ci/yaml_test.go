package ci

import (
	"fmt"
	"strings"
	"testing"
)

func parse(t *testing.T, src string) (*Value, Diagnostics) {
	t.Helper()
	doc, diags := parseYAML("f.yml", []byte(src), Limits{})
	return doc.Body, diags
}

func TestYAMLReadsRubyBooleansButKeepsQuotedStrings(t *testing.T) {
	doc, _ := parse(t, "a: yes\nb: off\nc: 'yes'\nd: true\ne: y\n")
	for key, want := range map[string]Kind{"a": KindBool, "b": KindBool, "c": KindString, "d": KindBool, "e": KindString} {
		if got := doc.Get(key).Kind; got != want {
			t.Errorf("%s: kind %v, want %v", key, got, want)
		}
	}
	if doc.Get("b").Bool() {
		t.Errorf("off should read as false")
	}
}

func TestYAMLNumbersHaveTheirCanonicalText(t *testing.T) {
	doc, _ := parse(t, "a: 0x1F\nb: 1_000\nc: 1.50\nd: 2.0\ne: '010'\n")
	want := map[string]string{"a": "31", "b": "1000", "c": "1.5", "d": "2.0", "e": "010"}
	for k, w := range want {
		if got := doc.Get(k).Str; got != w {
			t.Errorf("%s = %q, want %q", k, got, w)
		}
	}
}

func TestYAMLDuplicateKeysKeepTheLastValueWithAWarning(t *testing.T) {
	doc, diags := parse(t, "job:\n  script: a\n  script: b\n")
	if got := doc.Get("job").Get("script").Str; got != "b" {
		t.Errorf("script = %q, want the last one, b", got)
	}
	if len(diags) != 1 || diags[0].Severity != SeverityWarning || !strings.Contains(diags[0].Message, `duplicate key "script"`) || diags[0].Line != 3 {
		t.Errorf("want one warning about the duplicate at line 3, got %v", diags)
	}
}

func TestYAMLMergeKeysFollowRubyOrder(t *testing.T) {
	src := `
.a: &a {x: 1, y: 1}
.b: &b {y: 2, z: 2}
before:
  x: 0
  <<: *a
after:
  <<: *a
  x: 0
list:
  <<: [*a, *b]
`
	doc, diags := parse(t, src)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if got := doc.Get("before").Get("x").Str; got != "1" {
		t.Errorf("a key written before << is overridden by the merge in Ruby: x = %s, want 1", got)
	}
	if got := doc.Get("after").Get("x").Str; got != "0" {
		t.Errorf("a key written after << wins: x = %s, want 0", got)
	}
	if got := doc.Get("list").Get("y").Str; got != "1" {
		t.Errorf("in a merged list the first mapping wins: y = %s, want 1", got)
	}
	if got := doc.Get("list").Get("z").Str; got != "2" {
		t.Errorf("z = %s, want 2", got)
	}
}

func TestYAMLAliasesAreExpandedIntoIndependentCopies(t *testing.T) {
	doc, _ := parse(t, ".t: &t {script: [a]}\nj1: *t\nj2: *t\n")
	doc.Get("j1").Get("script").Items[0].Str = "changed"
	if doc.Get("j2").Get("script").Items[0].Str != "a" {
		t.Errorf("changing one alias copy changed the other")
	}
}

func TestYAMLRefusesABillionLaughsBeforeExpandingIt(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [", i, i)
		for k := 0; k < 10; k++ {
			if k > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*a%d", i-1)
		}
		b.WriteString("]\n")
	}
	var diags Diagnostics
	// Expanding it would make 10^10 nodes; refusing it costs what reading 110 does.
	// Counted in allocations, not time, so that a loaded machine cannot fail it.
	allocs := testing.AllocsPerRun(1, func() { _, diags = Load(repo(b.String()), DefaultFile, LoadOptions{}) })
	if !diags.HasErrors() || !strings.Contains(diags.Errors()[0].Message, "aliases") {
		t.Fatalf("want the file refused for its alias expansion, got %v", diags)
	}
	if allocs > 20_000 {
		t.Errorf("refusing it took %.0f allocations; it must be refused before anything is expanded", allocs)
	}
}

func TestYAMLRefusesAnAnchorThatContainsItself(t *testing.T) {
	_, diags := parse(t, "a: &a [1, *a]\n")
	if !diags.HasErrors() || !strings.Contains(diags[0].Message, "itself") {
		t.Errorf("want an error naming the self-referencing anchor, got %v", diags)
	}
}

func TestYAMLRefusesNestingDeeperThanTheLimit(t *testing.T) {
	deep := strings.Repeat("[", 151) + strings.Repeat("]", 151)
	_, diags := parse(t, "a: "+deep+"\n")
	if !diags.HasErrors() || !strings.Contains(diags[0].Message, "deeper than 150") {
		t.Errorf("want a nesting error, got %v", diags)
	}
	ok := strings.Repeat("[", 100) + strings.Repeat("]", 100)
	if _, diags := parse(t, "a: "+ok+"\n"); diags.HasErrors() {
		t.Errorf("100 levels should be fine: %v", diags)
	}
}

func TestYAMLRefusesFilesOverTheSizeLimit(t *testing.T) {
	big := "a: " + strings.Repeat("x", 2<<20) + "\n"
	_, diags := parseYAML("big.yml", []byte(big), Limits{})
	if !diags.HasErrors() || !strings.Contains(diags[0].Message, "too large") {
		t.Errorf("want a size error, got %v", diags)
	}
}

func TestYAMLSyntaxErrorsNameTheLine(t *testing.T) {
	_, diags := parse(t, "a: b\n  c: d\n")
	if !diags.HasErrors() || diags[0].Line != 2 || !strings.HasPrefix(diags[0].Message, "invalid YAML") {
		t.Errorf("want a YAML error at line 2, got %v", diags)
	}
	if diags[0].Column != 3 {
		t.Errorf("a YAML error's column is its line's first character (3), got %v", diags[0])
	}
	_, diags = parseYAML("f.yml", []byte("a:\n\t\tb: c\n"), Limits{})
	if !diags.HasErrors() || diags[0].Pos.String() != "f.yml:2:3" {
		t.Errorf("a tab-indented line: want f.yml:2:3, got %v", diags)
	}
}

func TestYAMLKnowsOnlyTheReferenceTag(t *testing.T) {
	_, diags := parse(t, "a: !secret [x]\n")
	if !diags.HasErrors() || !strings.Contains(diags[0].Message, "!secret") {
		t.Errorf("want an unknown-tag error, got %v", diags)
	}
	doc, diags := parse(t, "a: !reference [.x, script]\n")
	if diags.HasErrors() || !doc.Get("a").IsReference() {
		t.Errorf("!reference should parse as a reference: %v", diags)
	}
}

func TestYAMLSpecHeaderIsASeparateDocument(t *testing.T) {
	doc, diags := parseYAML("f.yml", []byte("spec:\n  inputs:\n    a:\n---\njob:\n  script: x\n"), Limits{})
	if diags.HasErrors() || doc.Header == nil || !doc.Body.Has("job") {
		t.Errorf("want a header and a body, got %+v %v", doc, diags)
	}
}

func TestDiagnosticsPrintAsFileLineColumn(t *testing.T) {
	d := Diagnostic{Severity: SeverityError, Pos: Pos{File: ".gitlab-ci.yml", Line: 3, Column: 5}, Message: "jobs:build script can't be blank"}
	if got := d.String(); got != ".gitlab-ci.yml:3:5: error: jobs:build script can't be blank" {
		t.Errorf("got %q", got)
	}
	for pos, want := range map[Pos]string{
		{File: "f.yml", Line: 3}: "f.yml:3: error: x",
		{File: "f.yml"}:          "f.yml: error: x",
	} {
		if got := (Diagnostic{Severity: SeverityError, Pos: pos, Message: "x"}).String(); got != want {
			t.Errorf("an unknown column or line is left out, not printed as 0: got %q, want %q", got, want)
		}
	}
}
