package jobspec

import (
	"slices"
	"strconv"
	"strings"
	"sync"
)

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
	defer s.release()
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
	ints   []int // backs next, id and stack
	count  int
	stack  []int
	order  []int
	cycles [][]int
}

// sorters keeps sorters for reuse: a pipeline's compilation sorts each job's
// variables (a hundred or so) several times, and their index map and slices were most
// of what compiling allocated.
var sorters = sync.Pool{New: func() any { return &sorter{head: map[string]int{}} }}

func newSorter(vs Variables) *sorter {
	n := len(vs)
	s := sorters.Get().(*sorter)
	clear(s.head)
	if cap(s.ints) < 3*n {
		s.ints = make([]int, 3*n)
	}
	ints := s.ints[:3*n]
	s.vs, s.next, s.id, s.stack = vs, ints[:n:n], ints[n:2*n:2*n], ints[2*n:2*n]
	s.refs = slices.Grow(s.refs[:0], n)[:n]
	s.order = slices.Grow(s.order[:0], n)
	s.count, s.cycles = 0, nil
	var tail map[string]int // a repeated key's last index (rare: made only then)
	for i, v := range vs {
		s.next[i] = -1
		s.id[i] = unvisited
		s.refs[i] = !v.Raw && strings.ContainsAny(v.Value, "$%")
		if h, ok := s.head[v.Key]; !ok {
			s.head[v.Key] = i
		} else {
			t, ok := tail[v.Key]
			if !ok {
				t = h
			}
			s.next[t] = i
			if tail == nil {
				tail = map[string]int{}
			}
			tail[v.Key] = i
		}
	}
	return s
}

// release returns s to sorters; nothing of it may be used afterwards.
func (s *sorter) release() {
	s.vs, s.cycles = nil, nil
	sorters.Put(s)
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
