package expr

import (
	"errors"
	"testing"
)

// FuzzParse checks that Parse never panics and fails only with a *SyntaxError inside
// the expression; that String() of a parsed expression parses again to the same tree
// and the same String(); and that Eval never panics and gives both the same result.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`$CI_COMMIT_BRANCH == "main" && $CI_PIPELINE_SOURCE =~ /^(push|web)$/`,
		`$A || $B && ($C != null || $D !~ /x\/y/i)`,
		`$A $B ==`, `== $A $B`, `$A == () $B`, `(($A)`, `$A)`,
		`"a" =~ "/b/"`, `'x' == 'y'`, `true && false || null`,
		`$[[ inputs.x ]] == "y"`, `/ab/ == /ab/`, `$A =~ /a//i`, `${A}`, `$A =~ /a/`,
		"$A\n==\t'b'", `$A =~ $B`,
	} {
		f.Add(s, "/^x.*/i")
	}
	f.Fuzz(func(t *testing.T, src, val string) {
		e, err := Parse(src)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) error %T: %v", src, err, err)
			}
			if se.Pos < 0 || se.Pos > len(src) || se.Expr != src {
				t.Fatalf("Parse(%q): error outside the expression: %+v", src, se)
			}
			if se.Msg == GitLabMessage {
				t.Fatalf("Parse(%q): GitLab's parser rejected what the conventional reading accepts", src)
			}
			return
		}
		s := e.String()
		e2, serr := parse(s, 0) // String() may need parentheses the oddly ordered input had not
		if serr != nil {
			t.Fatalf("Parse(%q).String() = %q, which does not parse: %v", src, s, serr)
		}
		if !sameTree(e.root, e2.root) {
			t.Fatalf("Parse(%q).String() = %q parses to a different tree", src, s)
		}
		if s2 := e2.String(); s2 != s {
			t.Fatalf("String() is not stable: %q then %q", s, s2)
		}
		lookups := []func(string) (string, bool){
			func(string) (string, bool) { return "", false },
			func(string) (string, bool) { return val, true },
			func(name string) (string, bool) { return name + val, len(name)%2 == 0 },
		}
		for _, lookup := range lookups {
			r1, err1 := e.Eval(lookup)
			r2, err2 := e2.Eval(lookup)
			if r1 != r2 || (err1 == nil) != (err2 == nil) {
				t.Fatalf("%q and its String() %q evaluate differently: %v,%v and %v,%v", src, s, r1, err1, r2, err2)
			}
			if err1 != nil {
				var ee *EvalError
				if !errors.As(err1, &ee) {
					t.Fatalf("Eval(%q) error %T: %v", src, err1, err1)
				}
			}
		}
	})
}

func sameTree(a, b *node) bool {
	if a.kind != b.kind || a.text != b.text || a.name != b.name || a.b != b.b || a.op != b.op {
		return false
	}
	if (a.pat == nil) != (b.pat == nil) || (a.pat != nil && a.pat.source != b.pat.source) {
		return false
	}
	if a.kind != nodeBinary {
		return true
	}
	return sameTree(a.left, b.left) && sameTree(a.right, b.right)
}
