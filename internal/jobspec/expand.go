package jobspec

import "strings"

// Variable expansion happens in two places, with two syntaxes, and Kiln does both as
// GitLab and gitlab-runner do:
//
// On the server (GitLab's Gitlab::Ci::Variables::Collection and ExpandVariables), when
// a pipeline is created: references are $NAME, ${NAME} and %NAME% (NAME is a letter or
// _ followed by letters, digits and _). In variable values (ExpandAll, ExpandAllWith,
// ForRunner) "$$" and "%%" are left as written for the runner, and each variable is
// expanded once, after the variables it references (a topological sort), which makes
// the expansion recursive; a circular reference is an error. In runner tags,
// environment names and URLs, rules:changes and rules:exists paths (ExpandGitLab,
// ExpandExisting) there is no escape: "$$A" is "$" followed by $A's value. Job names
// are never expanded.
//
// On the runner (gitlab-runner's Variables.ExpandValue, which is Go's os.Expand; Expand,
// Variables.Expand, ExpandValues): $NAME and ${NAME} with NAME any run of letters,
// digits and _ (${...} takes anything up to the closing brace), "$$" is a literal "$",
// the shell's special one-character names ($1, $#, $?, ...) are empty, an unknown
// variable is empty, and each value is expanded once against the unexpanded list.
//
// Neither side supports nested references such as ${URL_${ENV}}: the server replaces
// the inner ${ENV} (giving ${URL_DEV}) and leaves the rest; the runner, expanding the
// value it receives once more, then resolves ${URL_DEV}. So such a job variable works
// end to end in GitLab, by two single passes, while the same text in an environment
// name or a tag stays "${URL_DEV}".
//
// This file is the runner's side; expand_server.go scans GitLab's server-side
// references, and expand_all.go sorts and expands a whole list as GitLab does.

// Expand replaces variable references in s as gitlab-runner does (see above): lookup
// gives a variable's value; an unknown variable expands to "".
func Expand(s string, lookup func(string) (string, bool)) string {
	j := strings.IndexByte(s, '$')
	if j < 0 || j == len(s)-1 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	start := 0
	for ; j < len(s); j++ {
		if s[j] != '$' || j+1 == len(s) {
			continue
		}
		b.WriteString(s[start:j])
		name, w := shellName(s[j+1:])
		switch {
		case name == "" && w > 0: // invalid syntax such as "${" or "${}": eaten
		case name == "":
			b.WriteByte('$') // a $ not followed by a name stays
		default:
			b.WriteString(runnerValue(name, lookup))
		}
		j += w
		start = j + 1
	}
	b.WriteString(s[start:])
	return b.String()
}

// shellName is os.Expand's name scanner: the name after a "$" and how many bytes it
// takes (0 with a 0 width: no name).
func shellName(s string) (string, int) {
	if s[0] == '{' {
		if len(s) > 2 && isShellSpecial(s[1]) && s[2] == '}' {
			return s[1:2], 3
		}
		for i := 1; i < len(s); i++ {
			if s[i] == '}' {
				if i == 1 {
					return "", 2 // "${}"
				}
				return s[1:i], i + 1
			}
		}
		return "", 1 // "${" never closed
	}
	if isShellSpecial(s[0]) {
		return s[:1], 1
	}
	i := 0
	for i < len(s) && isNameByte(s[i]) {
		i++
	}
	return s[:i], i
}

func isShellSpecial(c byte) bool {
	switch c {
	case '*', '#', '$', '@', '!', '?', '-':
		return true
	}
	return c >= '0' && c <= '9'
}

func isNameByte(c byte) bool {
	return c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

// runnerValue is gitlab-runner's lookup: "$$" is "$", the shell's special parameters
// other than "-" are empty, anything else is the variable's value or "".
func runnerValue(name string, lookup func(string) (string, bool)) string {
	if len(name) == 1 && name != "-" && isShellSpecial(name[0]) {
		if name == "$" {
			return "$"
		}
		return ""
	}
	v, _ := lookup(name)
	return v
}

// Expand replaces variable references in s with the values of vs (the last entry of a
// key wins), as gitlab-runner does. A file variable expands to its Value, so a runner
// that stores file variables in files substitutes the paths into vs first.
func (vs Variables) Expand(s string) string { return Expand(s, vs.Lookup) }

// ExpandValues returns a copy of vs where every variable that is not Raw has its value
// expanded once against the unexpanded vs: what gitlab-runner does with the variables
// it receives before running a job.
func (vs Variables) ExpandValues() Variables {
	out := make(Variables, len(vs))
	for i, v := range vs {
		if !v.Raw {
			v.Value = vs.Expand(v.Value)
		}
		out[i] = v
	}
	return out
}
