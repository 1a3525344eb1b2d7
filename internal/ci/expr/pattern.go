package expr

import (
	"errors"
	"regexp"
	"strings"
)

// pattern is a compiled /pattern/flags.
type pattern struct {
	re *regexp.Regexp
	// source is what GitLab hands RE2: "(?flags)" + the pattern, or the pattern alone.
	// Two patterns are == in GitLab when their sources are equal.
	source string
}

// scanPattern returns the length of the /pattern/flags token at the start of s
// (s[0] == '/'), or 0 when GitLab's lexer would not see a pattern there.
//
// GitLab's lexeme is %r{^\/([^\/]|\\/)+[^\\]\/[ismU]*}: a slash, one or more
// characters where a slash must follow a backslash, one character that is not a
// backslash, and the closing slash. With u the first slash (after the opening one)
// that does not follow a backslash, a backtracking match closes either at u+1 (when
// s[u+1] is a slash too, the character before the closing slash being the slash at
// u) or at u; in both cases at least two characters lie between the slashes.
func scanPattern(s string) int {
	u := -1
	for j := 1; j < len(s); j++ {
		if s[j] == '/' && s[j-1] != '\\' {
			u = j
			break
		}
	}
	var end int // index of the closing slash
	switch {
	case u < 0:
		return 0
	case u >= 2 && u+1 < len(s) && s[u+1] == '/':
		end = u + 1
	case u >= 3:
		end = u
	default:
		return 0
	}
	n := end + 1
	for n < len(s) && isFlag(s[n]) {
		n++
	}
	return n
}

func isFlag(c byte) bool { return c == 'i' || c == 's' || c == 'm' || c == 'U' }

// rubySyntax splits a "/pattern/flags" string as GitLab's UntrustedRegexp::RubySyntax
// does with %r{^/(?<regexp>.*)/(?<flags>[ismU]*)$}: Ruby's ^ and $ are line anchors and
// . stops at a newline, so the first line that starts with a slash and ends with a
// slash plus flags wins, the pattern running to that line's last such slash.
func rubySyntax(v string) (re, flags string, ok bool) {
	for start := 0; start <= len(v); {
		lineEnd := strings.IndexByte(v[start:], '\n')
		if lineEnd < 0 {
			lineEnd = len(v)
		} else {
			lineEnd += start
		}
		line := v[start:lineEnd]
		if len(line) >= 2 && line[0] == '/' {
			// The greedy .* takes the last slash after which only flags remain.
			for q := len(line) - 1; q >= 1; q-- {
				if line[q] == '/' {
					if allFlags(line[q+1:]) {
						return line[1:q], line[q+1:], true
					}
					break // a later slash failed; an earlier one has more after it
				}
				if !isFlag(line[q]) {
					break
				}
			}
		}
		if lineEnd == len(v) {
			break
		}
		start = lineEnd + 1
	}
	return "", "", false
}

func allFlags(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isFlag(s[i]) {
			return false
		}
	}
	return true
}

var errNotPattern = errors.New("not of the form /pattern/flags")

// compilePattern turns a value already stripped of \/ escapes into a pattern, as
// GitLab's Lexeme::Pattern does.
func compilePattern(v string) (*pattern, error) {
	body, flags, ok := rubySyntax(v)
	if !ok {
		return nil, errNotPattern
	}
	src := body
	if flags != "" {
		src = "(?" + flags + ")" + body
	}
	re, err := regexp.Compile(src)
	if err != nil {
		return nil, err
	}
	return &pattern{re: re, source: src}, nil
}

// buildPattern is GitLab's Pattern.build for a string: "\/" becomes "/", then the
// "/pattern/flags" form is compiled. It fails when the string is not a valid pattern;
// =~ then treats the string as plain text.
func buildPattern(s string) (*pattern, error) {
	return compilePattern(strings.ReplaceAll(s, `\/`, "/"))
}
