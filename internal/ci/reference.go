package ci

import (
	"strconv"
	"strings"
)

// resolveReferences replaces every !reference [key, key, ...] in doc by a copy of the
// value at that path, as GitLab's Config::Yaml::Tags::Resolver does after extends. A
// referenced value that itself holds references is resolved first; a chain that
// comes back to itself is an error, and so is a path that does not exist. budget
// bounds the nodes that references may copy, so that references cannot be used to
// build an exponentially large document.
func resolveReferences(doc *Value, budget int, d *diags) {
	r := referencer{doc: doc, d: d, budget: budget, done: map[string]*Value{}}
	for i := range doc.Pairs {
		doc.Pairs[i].Value = r.walk(doc.Pairs[i].Value, nil)
		if r.exhausted {
			return
		}
	}
}

type referencer struct {
	doc       *Value
	d         *diags
	budget    int
	exhausted bool
	done      map[string]*Value // resolved targets by path
}

func (r *referencer) walk(v *Value, chain []string) *Value {
	if v == nil || r.exhausted {
		return v
	}
	if v.IsReference() {
		return r.resolve(v, chain)
	}
	for i, it := range v.Items {
		v.Items[i] = r.walk(it, chain)
	}
	for i := range v.Pairs {
		v.Pairs[i].Value = r.walk(v.Pairs[i].Value, chain)
	}
	return v
}

func (r *referencer) resolve(ref *Value, chain []string) *Value {
	path, ok := ref.Strings()
	if !ok || len(path) == 0 {
		r.d.errorf(ref.Pos, "!reference should be a non-empty list of keys, e.g. !reference [.setup, script]")
		return &Value{Kind: KindNull, Pos: ref.Pos}
	}
	key := referenceText(path)
	for _, c := range chain {
		if c == key {
			r.d.errorf(ref.Pos, "%s is part of a circular chain", key)
			return &Value{Kind: KindNull, Pos: ref.Pos}
		}
	}
	resolved, ok := r.done[key]
	if !ok {
		target := r.doc
		for _, k := range path {
			if !target.IsMap() || !target.Has(k) {
				r.d.errorf(ref.Pos, "%s could not be found", key)
				return &Value{Kind: KindNull, Pos: ref.Pos}
			}
			target = target.Get(k)
		}
		resolved = r.walk(target.Clone(), append(chain, key))
		r.done[key] = resolved
	}
	if n := countNodes(resolved); n > r.budget {
		r.exhausted = true
		r.d.errorf(ref.Pos, "!reference expands the configuration beyond %d nodes; refusing to expand it further", r.budget)
		return &Value{Kind: KindNull, Pos: ref.Pos}
	} else {
		r.budget -= n
	}
	return resolved.Clone()
}

// referenceText writes a reference as GitLab's messages do: !reference ["a", "b"].
func referenceText(path []string) string {
	q := make([]string, len(path))
	for i, p := range path {
		q[i] = strconv.Quote(p)
	}
	return "!reference [" + strings.Join(q, ", ") + "]"
}

func countNodes(v *Value) int {
	if v == nil {
		return 0
	}
	n := 1
	for _, it := range v.Items {
		n += countNodes(it)
	}
	for _, p := range v.Pairs {
		n += countNodes(p.Value)
	}
	return n
}
