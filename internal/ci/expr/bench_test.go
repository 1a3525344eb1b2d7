package expr

import "testing"

const typicalRule = `$CI_COMMIT_BRANCH == "main" && $CI_PIPELINE_SOURCE =~ /^(push|web)$/`

func BenchmarkEval(b *testing.B) {
	e, err := Parse(typicalRule)
	if err != nil {
		b.Fatal(err)
	}
	m := map[string]string{"CI_COMMIT_BRANCH": "main", "CI_PIPELINE_SOURCE": "push", "CI_COMMIT_SHA": "0123abcd"}
	lookup := func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
	b.ReportAllocs()
	for b.Loop() {
		ok, err := e.Eval(lookup)
		if !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

func BenchmarkEvalPatternFromVariable(b *testing.B) {
	e, err := Parse(`$CI_COMMIT_REF_NAME =~ $RELEASE_REF`)
	if err != nil {
		b.Fatal(err)
	}
	m := map[string]string{"CI_COMMIT_REF_NAME": "release/1.2", "RELEASE_REF": `/^release\/\d+\.\d+$/`}
	lookup := func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := e.Eval(lookup); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(typicalRule); err != nil {
			b.Fatal(err)
		}
	}
}
