package fileset

import (
	"path"
	"strings"
)

// Match reports whether the slash-separated relative path name matches pattern,
// segment by segment with path.Match, where a "**" segment matches any number of
// segments, none included ("a/**/b" matches "a/b" and "a/x/y/b"; "**/*.o" matches
// "x.o" and "d/x.o"). A malformed pattern matches nothing.
func Match(pattern, name string) bool {
	return matchSegments(strings.Split(pattern, "/"), strings.Split(name, "/"))
}

func matchSegments(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for len(pat) > 1 && pat[1] == "**" {
				pat = pat[1:]
			}
			if len(pat) == 1 {
				return true
			}
			for i := 0; i <= len(name); i++ {
				if matchSegments(pat[1:], name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		ok, err := path.Match(pat[0], name[0])
		if err != nil || !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}

func hasMeta(p string) bool { return strings.ContainsAny(p, "*?[\\") }

// literalPrefix returns the directory part of pattern before its first glob segment.
func literalPrefix(pattern string) string {
	segs := strings.Split(pattern, "/")
	var lit []string
	for _, s := range segs {
		if hasMeta(s) {
			break
		}
		lit = append(lit, s)
	}
	if len(lit) == len(segs) {
		lit = lit[:len(lit)-1]
	}
	if len(lit) == 0 {
		return "."
	}
	return strings.Join(lit, "/")
}
