package ci

import (
	"fmt"
	"regexp"
	"strings"
)

// compileRubyRegexp compiles a GitLab regular expression literal such as
// "/^release-.*$/i" with RE2, as GitLab does for untrusted patterns. The flag i makes
// it case-insensitive and m (Ruby's multi-line) lets . match newlines.
func compileRubyRegexp(lit string) (*regexp.Regexp, error) {
	if len(lit) < 2 || lit[0] != '/' {
		return nil, fmt.Errorf("%q is not a regular expression literal /…/", lit)
	}
	end := strings.LastIndexByte(lit, '/')
	if end == 0 {
		return nil, fmt.Errorf("%q has no closing /", lit)
	}
	pattern, flags := lit[1:end], lit[end+1:]
	var prefix strings.Builder
	for _, f := range flags {
		switch f {
		case 'i':
			prefix.WriteString("(?i)")
		case 'm':
			prefix.WriteString("(?s)")
		default:
			return nil, fmt.Errorf("unknown flag %q in %s (GitLab supports i and m)", f, lit)
		}
	}
	re, err := regexp.Compile(prefix.String() + pattern)
	if err != nil {
		return nil, fmt.Errorf("invalid regular expression %s: %v", lit, err)
	}
	return re, nil
}

// isRegexpLiteral reports whether s is written /…/flags.
func isRegexpLiteral(s string) bool {
	if len(s) < 2 || s[0] != '/' {
		return false
	}
	end := strings.LastIndexByte(s, '/')
	return end > 0 && strings.Trim(s[end+1:], "imx") == ""
}

// compilePathRegexp compiles the regexp of rules:changes or rules:exists: a
// /pattern/flags literal or a bare RE2 pattern.
func compilePathRegexp(s string) (*regexp.Regexp, error) {
	if isRegexpLiteral(s) {
		return compileRubyRegexp(s)
	}
	re, err := regexp.Compile(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a valid regular expression: %v", s, err)
	}
	return re, nil
}
