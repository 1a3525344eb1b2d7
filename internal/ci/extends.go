package ci

import "slices"

// maxExtendsNesting is GitLab's limit on extends chains.
const maxExtendsNesting = 10

// resolveExtends applies extends to every top-level entry of doc, as GitLab's
// Config::Extendable does: the bases (each extended first) are deep-merged in the
// order listed, later bases winning, and the entry's own keys are merged on top.
// Hashes merge key by key; every other value, lists included, is replaced. The
// extends key itself is removed from the result.
func resolveExtends(doc *Value, d *diags) {
	x := extender{doc: doc, d: d, done: map[string]bool{}, height: map[string]int{}}
	for i := range doc.Pairs {
		x.extend(doc.Pairs[i].Key, nil)
	}
	for _, p := range doc.Pairs {
		if p.Value.IsMap() {
			p.Value.Delete("extends")
		}
	}
}

type extender struct {
	doc  *Value
	d    *diags
	done map[string]bool
	// height is how many extends levels lie below a resolved entry, so that the
	// nesting limit does not depend on the order entries are written in.
	height map[string]int
}

// extend resolves the entry named key; ancestors are the entries that extend it, in
// order. It returns the entry's resolved value, or nil when that failed.
func (x *extender) extend(key string, ancestors []string) *Value {
	p := x.doc.pair(key)
	v := p.Value
	if !v.IsMap() || !v.Has("extends") || x.done[key] {
		return v
	}
	where := key
	if !IsHiddenJob(key) && !slices.Contains(reservedGlobal, key) {
		where = "jobs:" + key
	}
	ext := v.Get("extends")
	bases, ok := ext.Strings()
	if !ok || ext.IsReference() {
		x.d.errorf(ext.Pos, "%s extends should be a string or an array of strings", where)
		x.done[key] = true
		return nil
	}
	var unknown, invalid []string
	for _, b := range bases {
		switch bv := x.doc.Get(b); {
		case !x.doc.Has(b):
			unknown = append(unknown, b)
		case !bv.IsMap():
			invalid = append(invalid, b)
		}
	}
	switch {
	case len(unknown) > 0:
		x.d.errorf(ext.Pos, "%s: unknown keys in `extends` (%s)", key, quoteList(unknown))
	case len(invalid) > 0:
		x.d.errorf(ext.Pos, "%s: invalid base hashes in `extends` (%s)", key, quoteList(invalid))
	case len(ancestors) > maxExtendsNesting:
		x.d.errorf(ext.Pos, "%s: nesting too deep in `extends`", key)
	case slices.Contains(ancestors, key):
		x.d.errorf(ext.Pos, "%s: circular dependency detected in `extends`", key)
	default:
		merged := newMap(v.Pos)
		chain := append(slices.Clone(ancestors), key)
		height := 0
		for _, b := range bases {
			base := x.extend(b, chain)
			if base == nil {
				x.done[key] = true
				return nil
			}
			height = max(height, x.height[b]+1)
			deepMerge(merged, base)
		}
		if height > maxExtendsNesting {
			x.d.errorf(ext.Pos, "%s: nesting too deep in `extends`", key)
			x.done[key] = true
			return nil
		}
		x.height[key] = height
		deepMerge(merged, v)
		merged.Delete("extends")
		p.Value = merged
		x.done[key] = true
		return merged
	}
	x.done[key] = true
	return nil
}
