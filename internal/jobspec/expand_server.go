package jobspec

import "strings"

// ExpandGitLab replaces $NAME, ${NAME} and %NAME% in s as GitLab's ExpandVariables.expand
// does on the server: an unknown variable expands to "", and "$$" is not an escape.
// GitLab uses it for environment names and URLs, resource_group and
// environment:auto_stop_in, looking the names up in the job's variables after
// ExpandAll.
func ExpandGitLab(s string, lookup func(string) (string, bool)) string {
	return expandServer(s, false, stringLookup(lookup), ExpandOptions{})
}

// ExpandExisting is ExpandGitLab leaving references to unknown variables as written:
// GitLab's ExpandVariables.expand_existing, which it uses for runner tags and for
// rules:changes and rules:exists paths, looking the names up in the job's variables
// as written (not expanded).
func ExpandExisting(s string, lookup func(string) (string, bool)) string {
	return expandServer(s, false, stringLookup(lookup), ExpandOptions{KeepUndefined: true})
}

func stringLookup(lookup func(string) (string, bool)) func(string) (Variable, bool) {
	return func(name string) (Variable, bool) {
		v, ok := lookup(name)
		return Variable{Key: name, Value: v}, ok
	}
}

// ExpandOptions are the switches of GitLab's Collection#sort_and_expand_all.
type ExpandOptions struct {
	KeepUndefined bool // leave references to unknown variables as written
	KeepFileRefs  bool // leave references to file variables as written
	KeepRawRefs   bool // leave references to raw (expand: false) variables as written
}

// expandServer scans s for GitLab's server-side references. With escapes (the
// variables collection's regexp, /\$\$|%%|\$(?<key>NAME)|\${\g<key>?}|%\g<key>%/),
// "$$", "%%" and "${}" match and stay as written; without (ExpandVariables' regexp,
// /\$(NAME)|\${\g<1>}|%\g<1>%/) they do not match at all.
func expandServer(s string, escapes bool, lookup func(string) (Variable, bool), opts ExpandOptions) string {
	if !strings.ContainsAny(s, "$%") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	start := 0
	for i := 0; i < len(s); {
		k := strings.IndexAny(s[i:], "$%")
		if k < 0 {
			break
		}
		i += k
		n, name := serverRef(s[i:], escapes)
		if n == 0 {
			i++
			continue
		}
		b.WriteString(s[start:i])
		ref := s[i : i+n]
		if name == "" {
			b.WriteString(ref)
		} else if v, ok := lookup(name); !ok {
			if opts.KeepUndefined {
				b.WriteString(ref)
			}
		} else if (v.File && opts.KeepFileRefs) || (v.Raw && !v.File && opts.KeepRawRefs) {
			b.WriteString(ref)
		} else {
			b.WriteString(v.Value)
		}
		i += n
		start = i
	}
	b.WriteString(s[start:])
	return b.String()
}

// serverRef returns the length of the reference at the start of s and the variable it
// names ("" for an escape), or 0 when none starts there.
func serverRef(s string, escapes bool) (int, string) {
	switch s[0] {
	case '$':
		if len(s) < 2 {
			return 0, ""
		}
		if s[1] == '$' {
			if escapes {
				return 2, ""
			}
			return 0, ""
		}
		if n := serverName(s[1:]); n > 0 {
			return 1 + n, s[1 : 1+n]
		}
		if s[1] == '{' {
			n := serverName(s[2:])
			if 2+n < len(s) && s[2+n] == '}' && (n > 0 || escapes) {
				return 3 + n, s[2 : 2+n]
			}
		}
	case '%':
		if escapes && len(s) >= 2 && s[1] == '%' {
			return 2, ""
		}
		if n := serverName(s[1:]); n > 0 && 1+n < len(s) && s[1+n] == '%' {
			return 2 + n, s[1 : 1+n]
		}
	}
	return 0, ""
}

// serverName is the length of the name [a-zA-Z_][a-zA-Z0-9_]* at the start of s.
func serverName(s string) int {
	if len(s) == 0 || !(s[0] == '_' || (s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')) {
		return 0
	}
	n := 1
	for n < len(s) && isNameByte(s[n]) {
		n++
	}
	return n
}
