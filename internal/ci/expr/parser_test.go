package expr

import (
	"errors"
	"strings"
	"testing"
)

func TestParseRejectsWhatGitLabRejectsNamingThePosition(t *testing.T) {
	cases := []struct {
		expr string
		pos  int
		msg  string
	}{
		{``, 0, "empty expression"},
		{"  \t", 0, "empty expression"},
		{`$A == `, 6, "expected a value"},
		{`$VAR ==`, 7, "expected a value"},
		{`== "123"`, 0, "expected a value, found =="},
		{`$VAR "text"`, 5, `expected an operator (==, !=, =~, !~, &&, ||) before "text"`},
		{`$A $B`, 3, "expected an operator"},
		{`12345`, 0, `unexpected "12345"`},
		{`${VAR} == "true"`, 0, "${VARIABLE} is not allowed"},
		{`$A == ${B}`, 6, "${VARIABLE} is not allowed"},
		{`$ == "x"`, 0, "a $ must be followed by a variable name"},
		{`$A = "x"`, 3, `unknown operator "=": use ==, !=, =~ or !~`},
		{`!$A`, 0, `unknown operator "!"`},
		{`$A & $B`, 3, `unknown operator "&": use && or ||`},
		{`$A == "x`, 6, "unterminated string"},
		{"$A == \"x\ny\"", 6, "unterminated string"},
		{`$A =~ /x/`, 6, "at least two characters between its slashes"},
		{`$A =~ /x\/`, 6, "unterminated /pattern/"},
		{`$A =~ /[/]x/`, 6, "at least two characters"}, // a slash must be escaped, even in a class
		{`$A =~ /xy`, 6, "unterminated /pattern/"},
		{`"test/url" =~ /test/ur/`, 20, `unexpected "ur"`},
		{`$A =~ /x(/`, 6, "invalid regular expression /x(/: error parsing regexp: missing closing )"},
		{`$A =~ /ab/x`, 10, `unexpected "x"`},
		{`$A == "x")`, 9, "unmatched )"},
		{`($A == "x"`, 10, "expected ) to close the ( at 0"},
		{`($A == "x" $B)`, 11, "expected ) to close the ( at 0"},
		{`()`, 1, "expected a value, found )"},
		{`nullx`, 4, `unexpected "x"`},
		{`trueish`, 0, `unexpected "trueish"`},
		{`$A == TRUE`, 6, `unexpected "TRUE"`},
		{`/ab/ == "x"`, 0, "a /pattern/ cannot be compared with \"x\""},
		{`/ab/ =~ /cd/`, 0, "a /pattern/ cannot be the left operand of =~"},
		{`$A =~ true`, 6, "not true"},
		{`$[[ inputs.x ]`, 0, "a $ must be followed"},
		{strings.Repeat(`$A && `, 49) + `$A && $A`, 297, "too many tokens: GitLab accepts at most 99"},
	}
	for _, c := range cases {
		_, err := Parse(c.expr)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q) = %v, want a *SyntaxError", c.expr, err)
			continue
		}
		if se.Pos != c.pos || !strings.Contains(se.Msg, c.msg) || se.Expr != c.expr {
			t.Errorf("Parse(%q) = %+v, want pos %d and a message containing %q", c.expr, se, c.pos, c.msg)
		}
	}
}

func TestSyntaxErrorShowsTheExpressionAndPosition(t *testing.T) {
	_, err := Parse(`$A == `)
	if got, want := err.Error(), `rules:if "$A == " at 6: expected a value`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	se := err.(*SyntaxError)
	se.Keyword = "only:variables"
	if got := se.Error(); !strings.HasPrefix(got, `only:variables "$A == " at 6`) {
		t.Errorf("Error() with a keyword = %q", got)
	}
}

func TestParseAcceptsAtMost99Tokens(t *testing.T) {
	ok := strings.Repeat(`$A && `, 49) + `$A` // 99 tokens
	if _, err := Parse(ok); err != nil {
		t.Errorf("99 tokens: %v", err)
	}
	if _, err := Parse(ok + "  "); err != nil {
		t.Errorf("99 tokens and trailing blanks: %v", err)
	}
	if _, err := Parse(ok + " )"); err == nil || !strings.Contains(err.Error(), "too many tokens") {
		t.Errorf("100 tokens: %v, want too many tokens", err)
	}
}

func TestParseAcceptsGitLabsLexicalForms(t *testing.T) {
	for _, src := range []string{
		`$CI_COMMIT_BRANCH == "main"`,
		`$_1 == '1'`,
		`$1abc`,
		`"foo"=~/foo/`,
		"\t$A\n==\r\n'x'\v",
		`$A == ""`,
		`$A == ''`,
		`$A == "it's"`,
		`$A == 'say "hi"'`,
		`$A =~ /a\/b/`,
		`$A =~ /\//`,
		`$A =~ /a//`,
		`$A =~ /a//i`,
		`$A =~ /ab/ismU`,
		`null==$A`,
		`$A&&$B||$C`,
		`(true)&&(false)`,
		`$[[ inputs.name ]] == "x"`,
		`$[[inputs.name]]`,
		`$A == null`,
	} {
		if _, err := Parse(src); err != nil {
			t.Errorf("Parse(%q): %v", src, err)
		}
	}
}

func TestParsedTreeFollowsGitLabPrecedence(t *testing.T) {
	cases := map[string]string{
		`$A || $B && $C`:           `$A || $B && $C`,
		`($A || $B) && $C`:         `($A || $B) && $C`,
		`$A && $B || $C`:           `$A && $B || $C`,
		`$A && ($B || $C)`:         `$A && ($B || $C)`,
		`$A == "x" && $B =~ /yz/i`: `$A == "x" && $B =~ /yz/i`,
		`$A == $B == $C`:           `$A == $B == $C`,
		`$A == ($B == $C)`:         `$A == ($B == $C)`,
		`((($A)))`:                 `$A`,
		`$A   ==   'x'`:            `$A == 'x'`,
		`$A $B ==`:                 `$A == $B`,
		`$A $B $C && ||`:           `$A || $B && $C`,
		`$A $B || $C &&`:           `$A || $B && $C`,
		`($A || $B) $C &&`:         `($A || $B) && $C`,
		`$A == () $B`:              `$A == $B`,
		`$A =~ /a\/b/`:             `$A =~ /a\/b/`,
		`$[[inputs.x]] == "y"`:     `$[[inputs.x]] == "y"`,
	}
	for src, want := range cases {
		e, err := Parse(src)
		if err != nil {
			t.Errorf("Parse(%q): %v", src, err)
			continue
		}
		if got := e.String(); got != want {
			t.Errorf("Parse(%q).String() = %q, want %q", src, got, want)
		}
		if e.Source() != src {
			t.Errorf("Source() = %q, want %q", e.Source(), src)
		}
	}
}

func TestVariablesListsReferencedNamesOnce(t *testing.T) {
	e, err := Parse(`$B == $A || $B =~ /x$A/ && $C`)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(e.Variables(), ","); got != "B,A,C" {
		t.Errorf("Variables() = %s, want B,A,C", got)
	}
}
