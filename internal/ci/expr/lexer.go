package expr

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// maxTokens is GitLab's Lexer::MAX_TOKENS. GitLab's lexer stops after that many scans
// and fails even when nothing follows, so an expression holds at most maxTokens-1.
const maxTokens = 100

type tokenKind uint8

const (
	tokVariable tokenKind = iota + 1
	tokString
	tokPattern
	tokNull
	tokBool
	tokInput
	tokEquals
	tokNotEquals
	tokMatches
	tokNotMatches
	tokAnd
	tokOr
	tokOpen
	tokClose
)

type token struct {
	kind tokenKind
	pos  int
	text string // the token as written
}

func (k tokenKind) isValue() bool { return k >= tokVariable && k <= tokInput }

func (k tokenKind) isOperator() bool { return k >= tokEquals && k <= tokOr }

// precedence is GitLab's: lower binds tighter.
func (k tokenKind) precedence() int {
	switch k {
	case tokEquals, tokNotEquals, tokMatches, tokNotMatches:
		return 10
	case tokAnd:
		return 11
	case tokOr:
		return 12
	}
	return 0
}

// lex splits src into tokens the way GitLab's Lexer does: at each position, after
// ASCII whitespace, the first lexeme in GitLab's order that matches there wins.
func lex(src string, limit int) ([]token, *SyntaxError) {
	toks := make([]token, 0, 8)
	i := 0
	for {
		for i < len(src) && isSpace(src[i]) {
			i++
		}
		if i == len(src) {
			return toks, nil
		}
		if limit > 0 && len(toks) == limit-1 {
			return nil, &SyntaxError{Expr: src, Pos: i,
				Msg: fmt.Sprintf("too many tokens: GitLab accepts at most %d", limit-1)}
		}
		n, kind := scanToken(src[i:])
		if n == 0 {
			return nil, &SyntaxError{Expr: src, Pos: i, Msg: unknownTokenMessage(src[i:])}
		}
		toks = append(toks, token{kind: kind, pos: i, text: src[i : i+n]})
		i += n
	}
}

// scanToken returns the length and kind of the token at the start of s, or 0.
func scanToken(s string) (int, tokenKind) {
	switch c := s[0]; {
	case c == '(':
		return 1, tokOpen
	case c == ')':
		return 1, tokClose
	case c == '$':
		if n := scanInput(s); n > 0 {
			return n, tokInput
		}
		n := 1
		for n < len(s) && isWord(s[n]) {
			n++
		}
		if n > 1 {
			return n, tokVariable
		}
	case c == '"' || c == '\'':
		// ("(?<string>.*?)")|('(?<string>.*?)'): the first closing quote on the line.
		for n := 1; n < len(s) && s[n] != '\n'; n++ {
			if s[n] == c {
				return n + 1, tokString
			}
		}
	case c == '/':
		if n := scanPattern(s); n > 0 {
			return n, tokPattern
		}
	case strings.HasPrefix(s, "null"):
		return 4, tokNull
	case strings.HasPrefix(s, "true") && !(len(s) > 4 && isWord(s[4])):
		return 4, tokBool
	case strings.HasPrefix(s, "false") && !(len(s) > 5 && isWord(s[5])):
		return 5, tokBool
	}
	if len(s) >= 2 {
		switch s[:2] {
		case "==":
			return 2, tokEquals
		case "=~":
			return 2, tokMatches
		case "!=":
			return 2, tokNotEquals
		case "!~":
			return 2, tokNotMatches
		case "&&":
			return 2, tokAnd
		case "||":
			return 2, tokOr
		}
	}
	return 0, 0
}

// scanInput matches GitLab's Lexeme::Input, /\$\[\[\s*inputs\.(?<name>\w+)\s*\]\]/.
func scanInput(s string) int {
	if !strings.HasPrefix(s, "$[[") {
		return 0
	}
	i := 3
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	if !strings.HasPrefix(s[i:], "inputs.") {
		return 0
	}
	i += len("inputs.")
	start := i
	for i < len(s) && isWord(s[i]) {
		i++
	}
	if i == start {
		return 0
	}
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	if !strings.HasPrefix(s[i:], "]]") {
		return 0
	}
	return i + 2
}

// inputName returns the name in a $[[ inputs.name ]] token.
func inputName(tok string) string {
	i := strings.Index(tok, "inputs.") + len("inputs.")
	j := i
	for j < len(tok) && isWord(tok[j]) {
		j++
	}
	return tok[i:j]
}

// isSpace is Ruby's \s: ASCII space, \t, \n, \v, \f, \r.
func isSpace(c byte) bool { return c == ' ' || (c >= '\t' && c <= '\r') }

// isWord is Ruby's \w: ASCII letters, digits and underscore.
func isWord(c byte) bool {
	return c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

// unknownTokenMessage explains why nothing lexes at the start of s.
func unknownTokenMessage(s string) string {
	switch {
	case strings.HasPrefix(s, "${"):
		return "${VARIABLE} is not allowed in expressions; write $VARIABLE"
	case s[0] == '$':
		return "a $ must be followed by a variable name (letters, digits, _)"
	case s[0] == '"' || s[0] == '\'':
		return "unterminated string: a string ends with its opening quote on the same line"
	case s[0] == '/':
		if scanPatternEnd(s) {
			return "a /pattern/ needs at least two characters between its slashes, and its last one may not be a backslash"
		}
		return "unterminated /pattern/"
	case s[0] == '=' || s[0] == '!':
		return fmt.Sprintf("unknown operator %q: use ==, !=, =~ or !~", s[:1])
	case s[0] == '&' || s[0] == '|':
		return fmt.Sprintf("unknown operator %q: use && or ||", s[:1])
	}
	_, size := utf8.DecodeRuneInString(s) // an invalid byte has size 1
	word := s[:size]
	if isWord(s[0]) {
		n := 0
		for n < len(s) && isWord(s[n]) {
			n++
		}
		word = s[:n]
	}
	return fmt.Sprintf("unexpected %q: a value is a $VARIABLE, a \"string\", a /pattern/, null, true or false", word)
}

// scanPatternEnd reports whether s (starting with '/') has a closing slash at all.
func scanPatternEnd(s string) bool {
	for j := 1; j < len(s); j++ {
		if s[j] == '/' && s[j-1] != '\\' {
			return true
		}
	}
	return false
}
