package jobspec

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

func lookupMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func TestExpandFollowsGitLabRunner(t *testing.T) {
	vars := lookupMap(map[string]string{"VAR": "success", "A": "a", "A_B": "ab", "-": "dash", "EMPTY": ""})
	cases := map[string]string{
		"":                     "",
		"plain":                "plain",
		"$VAR":                 "success",
		"${VAR}":               "success",
		"x$VAR.y":              "xsuccess.y",
		"$UNSET":               "",
		"${UNSET}":             "",
		"$$VAR $$$VAR $$$$VAR": "$VAR $success $$VAR",
		"$A_B $A-B ${A}_B":     "ab a-B a_B",
		"$":                    "$",
		"a$":                   "a$",
		"$ x":                  "$ x",
		"$1 $# $? $* $@ $!":    "     ",
		"$1A":                  "A",
		"${1}":                 "",
		"$-":                   "dash",
		"${}x":                 "x",
		"${VAR":                "VAR",
		"${A B}":               "",
		"${VAR}${EMPTY}$VAR":   "successsuccess",
		"100%VAR%":             "100%VAR%",
		"${URL_${VAR}}":        "}",
	}
	for in, want := range cases {
		if got := Expand(in, vars); got != want {
			t.Errorf("Expand(%q) = %q, want %q", in, got, want)
		}
	}
}

// runnerMapping is gitlab-runner's Variables.Get as os.Expand calls it.
func runnerMapping(lookup func(string) (string, bool)) func(string) string {
	return func(name string) string {
		switch name {
		case "$":
			return "$"
		case "*", "#", "@", "!", "?", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9":
			return ""
		}
		v, _ := lookup(name)
		return v
	}
}

func TestExpandAgreesWithOSExpand(t *testing.T) {
	vars := lookupMap(map[string]string{"A": "1", "B_2": "two", "": "empty-name"})
	for _, in := range []string{"$A$B_2$", "${A}${}${B_2", "$$$$", "${$}${#}${-}", "${A}}}", "${ {A} }", "é$Aé"} {
		if got, want := Expand(in, vars), os.Expand(in, runnerMapping(vars)); got != want {
			t.Errorf("Expand(%q) = %q, os.Expand gives %q", in, got, want)
		}
	}
}

func FuzzExpand(f *testing.F) {
	for _, s := range []string{"$A", "${A}", "$$A", "${", "${}", "$1", "%A%", "${A${B}}"} {
		f.Add(s)
	}
	vars := lookupMap(map[string]string{"A": "$B", "B": "b", "AB": "x"})
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := Expand(s, vars), os.Expand(s, runnerMapping(vars)); got != want {
			t.Errorf("Expand(%q) = %q, os.Expand gives %q", s, got, want)
		}
		_ = ExpandGitLab(s, vars)
		_ = ExpandExisting(s, vars)
		vs := Variables{{Key: "A", Value: s}, {Key: "B", Value: s + "$A"}, {Key: "C", Value: "%" + s + "%"}}
		if _, err := vs.ExpandAllWith(ExpandOptions{}); err != nil {
			var ce *CircularReferenceError
			if !errors.As(err, &ce) {
				t.Errorf("ExpandAllWith: unexpected error %v", err)
			}
		}
	})
}

func TestVariablesExpandUsesTheLastEntry(t *testing.T) {
	vs := Variables{{Key: "A", Value: "old"}, {Key: "A", Value: "new"}, {Key: "B", Value: "$A"}}
	if got := vs.Expand("$A/$B"); got != "new/$A" {
		t.Errorf("Expand = %q, want new/$A (one pass)", got)
	}
}

func TestExpandValuesIsOnePassLikeTheRunner(t *testing.T) {
	vs := Variables{
		{Key: "C", Value: "c"},
		{Key: "B", Value: "b$C"},
		{Key: "A", Value: "a$B"},
		{Key: "R", Value: "r$C", Raw: true},
		{Key: "URL_DEV", Value: "url-dev"},
		{Key: "U", Value: "${URL_DEV}"},
	}
	got := vs.ExpandValues()
	want := []string{"c", "bc", "ab$C", "r$C", "url-dev", "url-dev"}
	for i, w := range want {
		if got[i].Value != w || got[i].Key != vs[i].Key {
			t.Errorf("ExpandValues()[%d] = %s=%q, want %s=%q", i, got[i].Key, got[i].Value, vs[i].Key, w)
		}
	}
	if vs[1].Value != "b$C" {
		t.Errorf("ExpandValues changed its receiver")
	}
}

func TestExpandGitLabFollowsExpandVariables(t *testing.T) {
	vars := lookupMap(map[string]string{"variable": "value", "variable2": "result", "E": ""})
	cases := []struct{ in, expand, existing string }{
		{"key", "key", "key"},
		{"key$variable", "keyvalue", "keyvalue"},
		{"key${variable}", "keyvalue", "keyvalue"},
		{"key%variable%", "keyvalue", "keyvalue"},
		{"key$variable$variable2", "keyvalueresult", "keyvalueresult"},
		{"key$variable$missing", "keyvalue", "keyvalue$missing"},
		{"key${variable}${missing}", "keyvalue", "keyvalue${missing}"},
		{"key%variable%%missing%", "keyvalue", "keyvalue%missing%"},
		{"$$variable", "$value", "$value"},
		{"%%variable%", "%value", "%value"},
		{"${}", "${}", "${}"},
		{"$1variable", "$1variable", "$1variable"},
		{"${variable", "${variable", "${variable"},
		{"review/$E/x", "review//x", "review//x"},
		{"${URL_${variable}}", "${URL_value}", "${URL_value}"},
		{"100%", "100%", "100%"},
	}
	for _, c := range cases {
		if got := ExpandGitLab(c.in, vars); got != c.expand {
			t.Errorf("ExpandGitLab(%q) = %q, want %q", c.in, got, c.expand)
		}
		if got := ExpandExisting(c.in, vars); got != c.existing {
			t.Errorf("ExpandExisting(%q) = %q, want %q", c.in, got, c.existing)
		}
	}
}

func keysValues(vs Variables) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = v.Key + "=" + v.Value
	}
	return strings.Join(parts, " ")
}

func TestExpandAllFollowsGitLabsCollection(t *testing.T) {
	cases := []struct {
		name   string
		vs     Variables
		all    string // ExpandAll
		runner string // ForRunner
	}{
		{"no references", Variables{{Key: "A", Value: "1"}, {Key: "B", Value: "2"}}, "A=1 B=2", "A=1 B=2"},
		{"a chain is expanded recursively, dependencies first",
			Variables{{Key: "A", Value: "a$B"}, {Key: "B", Value: "b${C}"}, {Key: "C", Value: "c%D%"}, {Key: "D", Value: "d"}},
			"D=d C=cd B=bcd A=abcd", "D=d C=cd B=bcd A=abcd"},
		{"unknown references are removed, or kept for the runner",
			Variables{{Key: "A", Value: "x$NOPE-${NOPE}-%NOPE%"}}, "A=x--", "A=x$NOPE-${NOPE}-%NOPE%"},
		{"escapes are left for the runner",
			Variables{{Key: "B", Value: "b"}, {Key: "A", Value: "$$B %%B% ${}"}}, "B=b A=$$B %%B% ${}", "B=b A=$$B %%B% ${}"},
		{"a raw value stays; a reference to it takes it as written, or is kept",
			Variables{{Key: "A", Value: "normal"}, {Key: "B", Value: "raw-$A", Raw: true}, {Key: "C", Value: "$B"}},
			"A=normal B=raw-$A C=raw-$A", "A=normal B=raw-$A C=$B"},
		{"a reference to a file variable takes its content, or is kept",
			Variables{{Key: "F", Value: "content", File: true}, {Key: "G", Value: "<$F>"}},
			"F=content G=<content>", "F=content G=<$F>"},
		{"a variable sees earlier entries of its own key",
			Variables{{Key: "PATH", Value: "/bin"}, {Key: "PATH", Value: "$PATH:/x"}},
			"PATH=/bin PATH=/bin:/x", "PATH=/bin PATH=/bin:/x"},
		{"a lone self-reference is unknown",
			Variables{{Key: "A", Value: "[$A]"}}, "A=[]", "A=[$A]"},
		{"a reference sees the last entry of a key",
			Variables{{Key: "A", Value: "$B"}, {Key: "B", Value: "1"}, {Key: "B", Value: "2"}},
			"B=1 B=2 A=2", "B=1 B=2 A=2"},
		{"nested references expand the inner one only",
			Variables{{Key: "URL_DEV", Value: "url-dev"}, {Key: "ENV", Value: "DEV"}, {Key: "URL", Value: "${URL_${ENV}}"}, {Key: "URL2", Value: "${${ENV}_URL}"}},
			"URL_DEV=url-dev ENV=DEV URL=${URL_DEV} URL2=${DEV_URL}", "URL_DEV=url-dev ENV=DEV URL=${URL_DEV} URL2=${DEV_URL}"},
		{"a percent sign pair is a Windows reference",
			Variables{{Key: "A", Value: "50%off%"}}, "A=50", "A=50%off%"},
	}
	for _, c := range cases {
		if got := keysValues(c.vs.ExpandAll()); got != c.all {
			t.Errorf("%s: ExpandAll = %s, want %s", c.name, got, c.all)
		}
		got, err := c.vs.ForRunner()
		if err != nil {
			t.Errorf("%s: ForRunner: %v", c.name, err)
		}
		if keysValues(got) != c.runner {
			t.Errorf("%s: ForRunner = %s, want %s", c.name, keysValues(got), c.runner)
		}
	}
}

func TestExpandAllKeepsFlags(t *testing.T) {
	vs := Variables{{Key: "S", Value: "s3cret", Masked: true}, {Key: "A", Value: "$S", Public: true, Masked: true}}
	out := vs.ExpandAll()
	if out[1] != (Variable{Key: "A", Value: "s3cret", Public: true, Masked: true}) {
		t.Errorf("ExpandAll()[1] = %+v", out[1])
	}
}

func TestNestedReferencesResolveAcrossServerAndRunner(t *testing.T) {
	// gitlab-ci-local's variable-expansion case: URL: ${URL_${ENV}} echoes url-dev in
	// GitLab, because the runner expands what the server sent once more.
	vs := Variables{{Key: "DEV_URL", Value: "dev-url"}, {Key: "URL_DEV", Value: "url-dev"}, {Key: "ENV", Value: "DEV"},
		{Key: "URL", Value: "${URL_${ENV}}"}, {Key: "URL2", Value: "${${ENV}_URL}"}}
	sent, err := vs.ForRunner()
	if err != nil {
		t.Fatal(err)
	}
	job := sent.ExpandValues()
	if got := job.Get("URL") + " " + job.Get("URL2"); got != "url-dev dev-url" {
		t.Errorf("URL URL2 = %q, want url-dev dev-url", got)
	}
}

func TestExpandAllReportsCircularReferencesWithoutExpanding(t *testing.T) {
	vs := Variables{
		{Key: "OK", Value: "$X"},
		{Key: "A", Value: "$B"}, {Key: "B", Value: "${A}"},
		{Key: "X", Value: "x"},
		{Key: "C", Value: "%D%"}, {Key: "D", Value: "$E"}, {Key: "E", Value: "$C$X"},
	}
	out, err := vs.ExpandAllWith(ExpandOptions{})
	var ce *CircularReferenceError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a *CircularReferenceError", err)
	}
	if want := `circular variable reference detected: ["A", "B"], ["C", "D", "E"]`; err.Error() != want {
		t.Errorf("Error() = %s, want %s", err, want)
	}
	if keysValues(out) != keysValues(vs) {
		t.Errorf("with a loop the variables come back unexpanded: %s", keysValues(out))
	}
	if keysValues(vs.ExpandAll()) != keysValues(vs) {
		t.Errorf("ExpandAll with a loop changed values")
	}
	out[0].Value = "changed"
	if vs[0].Value != "$X" {
		t.Errorf("the returned copy shares storage with the receiver")
	}
}

func TestExpandAllStopsOnLargeLoops(t *testing.T) {
	const n = 5000
	vs := make(Variables, n)
	for i := range vs {
		vs[i] = Variable{Key: fmt.Sprintf("V%d", i), Value: fmt.Sprintf("$V%d", (i+1)%n)}
	}
	_, err := vs.ExpandAllWith(ExpandOptions{})
	var ce *CircularReferenceError
	if !errors.As(err, &ce) || len(ce.Cycles) != 1 || len(ce.Cycles[0]) != n {
		t.Fatalf("err = %v", err)
	}
	vs[n-1].Value = "end" // break the loop: a chain of n references
	out, err := vs.ExpandAllWith(ExpandOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := out.Lookup("V0"); v != "end" {
		t.Errorf("V0 = %q, want end", v)
	}
}

// hundredVariables is a job's variables as the compiler sees them: predefined values,
// then variables that reference them and each other, a few raw and file ones.
func hundredVariables() Variables {
	vs := make(Variables, 0, 100)
	for i := range 60 {
		vs = append(vs, Variable{Key: fmt.Sprintf("CI_PREDEFINED_%d", i), Value: fmt.Sprintf("value-%d", i), Public: true})
	}
	for i := range 30 {
		vs = append(vs, Variable{Key: fmt.Sprintf("JOB_%d", i),
			Value: fmt.Sprintf("$CI_PREDEFINED_%d/${CI_PREDEFINED_%d}-%%CI_PREDEFINED_%d%%:$JOB_%d", i, i+1, i+2, max(i-1, 0))})
	}
	for i := range 10 {
		vs = append(vs, Variable{Key: fmt.Sprintf("RAW_%d", i), Value: "$NOT_EXPANDED", Raw: i%2 == 0, File: i%2 == 1})
	}
	return vs
}

func BenchmarkExpandAll(b *testing.B) {
	vs := hundredVariables()
	if _, err := vs.ExpandAllWith(ExpandOptions{}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = vs.ExpandAll()
	}
}

func BenchmarkForRunner(b *testing.B) {
	vs := hundredVariables()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := vs.ForRunner(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkExpand(b *testing.B) {
	vs := hundredVariables()
	b.ReportAllocs()
	for b.Loop() {
		_ = vs.Expand("$CI_PREDEFINED_1/${CI_PREDEFINED_59}/$$/$UNKNOWN")
	}
}
