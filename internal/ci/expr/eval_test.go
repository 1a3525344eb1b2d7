package expr

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// vars is a lookup over a map; a key absent from the map is an undefined variable.
func vars(m map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

var specVars = map[string]string{
	"PRESENT_VARIABLE":   "my variable",
	"PATH_VARIABLE":      "a/path/variable/value",
	"FULL_PATH_VARIABLE": "/a/full/path/variable/value",
	"EMPTY_VARIABLE":     "",
	"SPACES":             " \t\u00a0",
	"PATTERN":            "/^my/",
	"PATTERN_ESCAPED":    `/^a\/path/`,
	"PATTERN_I":          "/MY VAR/i",
	"NOT_A_PATTERN":      "variable",
	"BAD_PATTERN":        "/my (/",
	"TWO_LINES":          "junk\n/^my/i",
}

func TestEvalFollowsGitLabStatementSemantics(t *testing.T) {
	cases := []struct {
		expr string
		want bool
	}{
		// Comparison with strings, null and the empty string.
		{`$PRESENT_VARIABLE == "my variable"`, true},
		{`$PRESENT_VARIABLE == 'my variable'`, true},
		{`"my variable" == $PRESENT_VARIABLE`, true},
		{`$PRESENT_VARIABLE == 'no match'`, false},
		{`$PRESENT_VARIABLE == null`, false},
		{`$EMPTY_VARIABLE == null`, false},
		{`$EMPTY_VARIABLE == ""`, true},
		{`"" == $EMPTY_VARIABLE`, true},
		{`$UNDEFINED_VARIABLE == null`, true},
		{`null == $UNDEFINED_VARIABLE`, true},
		{`$UNDEFINED_VARIABLE == ""`, false},
		{`$PRESENT_VARIABLE != "my variable"`, false},
		{`$PRESENT_VARIABLE != null`, true},
		{`$EMPTY_VARIABLE != null`, true},
		{`"" != $EMPTY_VARIABLE`, false},
		{`$UNDEFINED_VARIABLE != null`, false},
		{`null != $UNDEFINED_VARIABLE`, false},
		{`$UNDEFINED_VARIABLE == $OTHER_UNDEFINED`, true},
		// Bare values: present? semantics.
		{`$PRESENT_VARIABLE`, true},
		{`$EMPTY_VARIABLE`, false},
		{`$UNDEFINED_VARIABLE`, false},
		{`$SPACES`, false},
		{`"x"`, true},
		{`""`, false},
		{`null`, false},
		{`true`, true},
		{`false`, false},
		{`/xy/ && /yz/`, true},
		// Regexp matching.
		{`$PRESENT_VARIABLE =~ /var.*e$/`, true},
		{`$PRESENT_VARIABLE =~ /va\r.*e$/`, false},
		{`$PRESENT_VARIABLE =~ /va\/r.*e$/`, false},
		{`$PRESENT_VARIABLE =~ /^var.*/`, false},
		{`$EMPTY_VARIABLE =~ /var.*/`, false},
		{`$UNDEFINED_VARIABLE =~ /var.*/`, false},
		{`$UNDEFINED_VARIABLE =~ /^$/`, true},
		{`$PRESENT_VARIABLE =~ /VAR.*/i`, true},
		{`$PRESENT_VARIABLE =~ /VAR.*/`, false},
		{`$PATH_VARIABLE =~ /path\/variable/`, true},
		{`$FULL_PATH_VARIABLE =~ /^\/a\/full\/path\/variable\/value$/`, true},
		{`$FULL_PATH_VARIABLE =~ /\\/path\\/variable\\/value$/`, true},
		{`$PRESENT_VARIABLE !~ /var.*e$/`, false},
		{`$PRESENT_VARIABLE !~ /^var.*/`, true},
		{`$PRESENT_VARIABLE !~ /^v\ar.*/`, true},
		{`$EMPTY_VARIABLE !~ /var.*/`, true},
		{`$UNDEFINED_VARIABLE !~ /var.*/`, true},
		{`$PRESENT_VARIABLE !~ /VAR.*/i`, false},
		{`"Hello World" =~ /Hello (?i)WORLD/`, true},
		{`"line1\nline2" =~ /^line2/`, false},
		{`"x" =~ /[[:alpha:]]+/`, true},
		// A pattern held by a variable or a string.
		{`$PRESENT_VARIABLE =~ $PATTERN`, true},
		{`$PATH_VARIABLE =~ $PATTERN_ESCAPED`, true},
		{`$PRESENT_VARIABLE =~ $PATTERN_I`, true},
		{`$PRESENT_VARIABLE !~ $PATTERN`, false},
		{`$PRESENT_VARIABLE =~ "/^MY/i"`, true},
		{`"test/url" =~ "/test/ur/"`, true},
		{`"test/url" =~ "/test\/ur/"`, true},
		{`"x" =~ "/x/"`, true}, // one character between slashes is fine in a string
		{`$PRESENT_VARIABLE =~ $TWO_LINES`, true},
		// A right side that is not a pattern: plain substring search, as GitLab does.
		{`"23" =~ "1234"`, true},
		{`"1234" =~ "23"`, false},
		{`$NOT_A_PATTERN =~ $PRESENT_VARIABLE`, true},
		{`$PRESENT_VARIABLE =~ $BAD_PATTERN`, false},
		{`"my (" =~ $BAD_PATTERN`, true},
		{`$UNDEFINED_VARIABLE =~ "anything"`, true},
		{`$PRESENT_VARIABLE !~ $NOT_A_PATTERN`, true},
		// A right side that is null or false never matches.
		{`$PRESENT_VARIABLE =~ $UNDEFINED_VARIABLE`, false},
		{`$PRESENT_VARIABLE !~ $UNDEFINED_VARIABLE`, true},
		{`$PRESENT_VARIABLE =~ null`, false},
		{`$PRESENT_VARIABLE =~ false`, false},
		{`$PRESENT_VARIABLE !~ false`, true},
		{`$PRESENT_VARIABLE =~ $EMPTY_VARIABLE`, false}, // "" is truthy: "" does not contain the text
		{`$EMPTY_VARIABLE =~ $PRESENT_VARIABLE`, true},  // the text "" is in any string
		// && and || return an operand, as Ruby does.
		{`$PRESENT_VARIABLE && "string"`, true},
		{`$PRESENT_VARIABLE && $EMPTY_VARIABLE`, false},
		{`$PRESENT_VARIABLE && null`, false},
		{`$EMPTY_VARIABLE && $PRESENT_VARIABLE`, true}, // GitLab issue 321371: "" is truthy here
		{`$EMPTY_VARIABLE && "string"`, true},
		{`null && $PRESENT_VARIABLE`, false},
		{`$EMPTY_VARIABLE || $PRESENT_VARIABLE`, false}, // GitLab issue 358775: "" wins
		{`$UNDEFINED_VARIABLE || $PRESENT_VARIABLE`, true},
		{`false || $PRESENT_VARIABLE`, true},
		{`$PRESENT_VARIABLE =~ /my var/ && $EMPTY_VARIABLE =~ /nope/`, false},
		{`$EMPTY_VARIABLE == "" && $PRESENT_VARIABLE != "nope"`, true},
		{`$PRESENT_VARIABLE && $UNDEFINED_VARIABLE`, false},
		{`$FULL_PATH_VARIABLE =~ /^\/a\/bad\/path\/variable\/value$/ || $PATH_VARIABLE =~ /path\/variable/`, true},
		{`$FULL_PATH_VARIABLE =~ /^\/a\/bad\/path\/variable\/value$/ || $PATH_VARIABLE =~ /bad\/path\/variable/`, false},
		{`$EMPTY_VARIABLE == "" || $PRESENT_VARIABLE`, true},
		{`$PRESENT_VARIABLE && null || $EMPTY_VARIABLE == ""`, true},
		{`$UNDEFINED_VARIABLE == null || $PRESENT_VARIABLE`, true},
		// Precedence and parentheses.
		{`$UNDEFINED_VARIABLE || $PRESENT_VARIABLE && null`, false},
		{`($UNDEFINED_VARIABLE || $PRESENT_VARIABLE) && null`, false},
		{`null && $X || $PRESENT_VARIABLE`, true},
		{`null && ($X || $PRESENT_VARIABLE)`, false},
		{`$PRESENT_VARIABLE && ($EMPTY_VARIABLE || $UNDEFINED_VARIABLE)`, false}, // "" || nil is "", blank
		{`((($PRESENT_VARIABLE)))`, true},
		// Comparisons chain left to right on booleans.
		{`$PRESENT_VARIABLE == "my variable" == true`, true},
		{`$A == $B == $C`, false},
		{`true == true`, true},
		{`$PRESENT_VARIABLE == true`, false},
		{`$PRESENT_VARIABLE == "my variable" =~ /true/`, true},
		// Patterns compare by source.
		{`/ab/ == /ab/`, true},
		{`/ab/ == /ab/i`, false},
		{`$PRESENT_VARIABLE == /my variable/`, false},
		// Inputs are null in job rules.
		{`$[[ inputs.x ]] == null`, true},
		// Orders GitLab's shunting-yard parser accepts.
		{`$PRESENT_VARIABLE "my variable" ==`, true},
		{`== $PRESENT_VARIABLE "my variable"`, true},
		{`$PRESENT_VARIABLE == () "my variable"`, true},
	}
	for _, c := range cases {
		e, err := Parse(c.expr)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.expr, err)
			continue
		}
		got, err := e.Eval(vars(specVars))
		if err != nil {
			t.Errorf("Eval(%q): %v", c.expr, err)
			continue
		}
		if got != c.want {
			t.Errorf("Eval(%q) = %v, want %v", c.expr, got, c.want)
		}
	}
}

func TestEvalReportsWhatGitLabCannotEvaluate(t *testing.T) {
	cases := []struct{ expr, msg string }{
		{`($X || /ab/) == "x"`, "can only be compared with another /pattern/"},
		{`($X || /ab/) =~ /xy/`, "cannot be the left operand of =~"},
		{`$X =~ ($X == $Y)`, "is true, not a /pattern/"},
	}
	for _, c := range cases {
		e, err := Parse(c.expr)
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.expr, err)
		}
		_, err = e.Eval(vars(nil))
		var ee *EvalError
		if !errors.As(err, &ee) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("Eval(%q) error = %v, want an *EvalError saying %q", c.expr, err, c.msg)
		}
	}
}

func TestEvalCachesPatternsFromVariablesPerValue(t *testing.T) {
	e, err := Parse(`$X =~ $P`)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct {
		p    string
		want bool
	}{{"/^a/", true}, {"/^b/", false}, {"/^b/", false}, {"/^a/", true}, {"abcd", true}, {"a", false}, {"/a(/", false}} {
		got, err := e.Eval(vars(map[string]string{"X": "abc", "P": c.p}))
		if err != nil || got != c.want {
			t.Errorf("step %d: $X =~ %q = %v, %v; want %v", i, c.p, got, err, c.want)
		}
	}
}

func TestEvalLooksUpOnlyWhatItNeeds(t *testing.T) {
	e, err := Parse(`$A && $B || $C`)
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	_, _ = e.Eval(func(name string) (string, bool) {
		seen = append(seen, name)
		return "", false
	})
	if strings.Join(seen, ",") != "A,C" {
		t.Errorf("looked up %v, want A then C (&& short-circuits)", seen)
	}
}

func TestEvalIsSafeForConcurrentUse(t *testing.T) {
	e, err := Parse(`$X =~ $P && $X =~ /^a/`)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	for g := range 4 {
		go func() {
			for i := range 200 {
				p, want := "/^ab/", true
				if (g+i)%2 == 1 {
					p, want = "/^b/", false
				}
				got, err := e.Eval(vars(map[string]string{"X": "abc", "P": p}))
				if err != nil || got != want {
					done <- fmt.Errorf("goroutine %d step %d: %v, %v; want %v", g, i, got, err, want)
					return
				}
			}
			done <- nil
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
