package jobspec

import (
	"strconv"
	"strings"
)

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

// CircularReferenceError reports variables that reference each other in a loop,
// worded as GitLab words it (GitLab then refuses to create the job; the compiler
// prefixes the job name: "build: circular variable reference detected: ...").
type CircularReferenceError struct {
	Cycles [][]string // each cycle's keys, in the order GitLab lists them
}

func (e *CircularReferenceError) Error() string {
	cycles := make([]string, len(e.Cycles))
	for i, c := range e.Cycles {
		keys := make([]string, len(c))
		for j, k := range c {
			keys[j] = strconv.Quote(k)
		}
		cycles[i] = "[" + strings.Join(keys, ", ") + "]"
	}
	return "circular variable reference detected: " + strings.Join(cycles, ", ")
}

// ExpandAll is ExpandAllWith with no options: every reference expanded, unknown ones
// to "". When variables reference each other in a loop it returns a copy of vs
// unexpanded, as GitLab does (ExpandAllWith reports the loop).
func (vs Variables) ExpandAll() Variables {
	out, _ := vs.ExpandAllWith(ExpandOptions{})
	return out
}

// ForRunner expands vs as GitLab does before sending a job to a runner: known
// references expanded, references to unknown, file and raw variables left for the
// runner to expand with its own values.
func (vs Variables) ForRunner() (Variables, error) {
	return vs.ExpandAllWith(ExpandOptions{KeepUndefined: true, KeepFileRefs: true, KeepRawRefs: true})
}

// ExpandAllWith is GitLab's Collection#sort_and_expand_all. Variables are sorted so
// that each comes after every variable (every entry of every key) it references, then
// each value that is not Raw and holds "$" or "%" is expanded against the variables
// already placed (for a key, the last one placed). A Raw value stays as written; a
// reference to a Raw variable takes its value as written. The result is in that sorted
// order, which for most lists is the original order. A variable may reference its own
// key: it then sees the other entries of that key placed before it.
//
// When variables reference each other in a loop, it returns a copy of vs unexpanded and
// a *CircularReferenceError.
func (vs Variables) ExpandAllWith(opts ExpandOptions) (Variables, error) {
	s := newSorter(vs)
	for i := range vs {
		if s.id[i] == unvisited {
			s.visit(i)
		}
	}
	if len(s.cycles) > 0 {
		err := &CircularReferenceError{}
		for _, c := range s.cycles {
			keys := make([]string, len(c))
			for i, n := range c {
				keys[i] = vs[n].Key
			}
			err.Cycles = append(err.Cycles, keys)
		}
		return append(Variables(nil), vs...), err
	}
	out := make(Variables, 0, len(vs))
	last := s.id // reused: for a key's first index, where its last placed entry is in out
	for i := range last {
		last[i] = -1
	}
	lookup := func(name string) (Variable, bool) {
		h, ok := s.head[name]
		if !ok || last[h] < 0 {
			return Variable{}, false
		}
		return out[last[h]], true
	}
	for _, i := range s.order {
		v := vs[i]
		if s.refs[i] {
			v.Value = expandServer(v.Value, true, lookup, opts)
		}
		out = append(out, v)
		last[s.head[v.Key]] = len(out) - 1
	}
	return out, nil
}

const (
	unvisited = -1
	done      = -2
)

// sorter is Ruby's TSort over the variables, which GitLab uses: Tarjan's strongly
// connected components, visiting variables in list order and references in the order
// they appear, so the sorted order and the reported loops are GitLab's.
type sorter struct {
	vs     Variables
	head   map[string]int // a key's first index
	next   []int          // the next index with the same key, or -1
	refs   []bool         // the value is expanded: not Raw, and holds "$" or "%"
	id     []int
	count  int
	stack  []int
	order  []int
	cycles [][]int
}

func newSorter(vs Variables) *sorter {
	n := len(vs)
	ints := make([]int, 3*n)
	s := &sorter{vs: vs, head: make(map[string]int, n), next: ints[:n:n], id: ints[n : 2*n : 2*n],
		refs: make([]bool, n), stack: ints[2*n : 2*n], order: make([]int, 0, n)}
	tail := make(map[string]int, 0)
	for i, v := range vs {
		s.next[i] = -1
		s.id[i] = unvisited
		s.refs[i] = !v.Raw && strings.ContainsAny(v.Value, "$%")
		if h, ok := s.head[v.Key]; !ok {
			s.head[v.Key] = i
		} else {
			// A repeated key: find its tail (rare, so a second map only then).
			t, ok := tail[v.Key]
			if !ok {
				t = h
			}
			s.next[t] = i
			tail[v.Key] = i
		}
	}
	return s
}

// visit is TSort.each_strongly_connected_component_from; it returns the lowest id
// reachable from n.
func (s *sorter) visit(n int) int {
	low := s.count
	s.id[n] = s.count
	s.count++
	base := len(s.stack)
	s.stack = append(s.stack, n)
	if s.refs[n] {
		v := s.vs[n].Value
		for i := 0; i < len(v); {
			k := strings.IndexAny(v[i:], "$%")
			if k < 0 {
				break
			}
			i += k
			w, name := serverRef(v[i:], true)
			if w == 0 {
				i++
				continue
			}
			i += w
			c, ok := s.head[name]
			for ok && c >= 0 {
				switch id := s.id[c]; id {
				case unvisited:
					low = min(low, s.visit(c))
				case done:
				default:
					low = min(low, id)
				}
				c = s.next[c]
			}
		}
	}
	if s.id[n] == low {
		comp := s.stack[base:]
		for _, c := range comp {
			s.id[c] = done
		}
		if len(comp) > 1 {
			s.cycles = append(s.cycles, append([]int(nil), comp...))
		}
		s.order = append(s.order, comp...)
		s.stack = s.stack[:base]
	}
	return low
}
