package ci

import (
	"slices"
)

// inheritableKeys are the keywords a job takes from default: when it does not set
// them (GitLab's `inherit: true` entries of Entry::Job).
var inheritableKeys = []string{"after_script", "artifacts", "before_script", "cache", "hooks", "id_tokens",
	"identity", "image", "interruptible", "retry", "services", "tags", "timeout"}

// legacyGlobals are top-level keywords that act as defaults (deprecated by GitLab in
// favour of default:, still honoured).
var legacyGlobals = []string{"image", "services", "before_script", "after_script", "cache"}

// defaultStages are GitLab's stages when a configuration declares none.
var defaultStages = []string{"build", "test", "deploy"}

// Edge stages that every pipeline has.
const (
	StagePre  = ".pre"
	StagePost = ".post"
)

// isJobKey reports whether a top-level key of a resolved document is a visible job.
func isJobKey(key string) bool {
	return !IsHiddenJob(key) && !slices.Contains(reservedGlobal, key) && key != "types"
}

// defaultsOf returns the default: hash with the legacy top-level keywords added where
// default: does not set them.
func defaultsOf(doc *Value) *Value {
	def := newMap(doc.Pos)
	if d := doc.Get("default"); d.IsMap() {
		def = d.Clone()
	}
	for _, k := range legacyGlobals {
		if v := doc.Get(k); doc.Has(k) && !def.Has(k) {
			def.Set(k, v.Clone(), doc.keyPos(k))
		}
	}
	return def
}

// inheritsDefault reports whether a job takes key from default:, by its inherit:default.
func inheritsDefault(job *Value, key string) bool {
	inh := job.Get("inherit").Get("default")
	switch {
	case inh == nil:
		return true
	case inh.Kind == KindBool:
		return inh.Bool()
	case inh.IsSeq():
		list, _ := inh.Strings()
		return slices.Contains(list, key)
	}
	return true
}

// foldDefaults returns job with the default keywords it inherits added after its own
// keys. A key the job sets to null is inherited too, as GitLab treats null as unset.
func foldDefaults(job, def *Value) *Value {
	out := job.shallow()
	for _, k := range inheritableKeys {
		dv := def.Get(k)
		if !def.Has(k) || dv.IsNull() || !inheritsDefault(job, k) {
			continue
		}
		if cur := out.Get(k); cur.IsNull() {
			if out.Has(k) {
				out.Set(k, dv, out.keyPos(k))
			} else {
				out.Set(k, dv, def.keyPos(k))
			}
		}
	}
	return out
}

// stagesOf returns the declared stages (nested lists flattened, GitLab's deprecated
// types: honoured) wrapped in .pre and .post.
func stagesOf(doc *Value) []string {
	decl := doc.Get("stages")
	if !doc.Has("stages") {
		decl = doc.Get("types")
	}
	var names []string
	if decl.IsSeq() && len(decl.Items) > 0 {
		names = flattenStrings(decl, 10)
	} else {
		names = slices.Clone(defaultStages)
	}
	out := []string{StagePre}
	for _, n := range names {
		if n != StagePre && n != StagePost && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return append(out, StagePost)
}

// flattenStrings flattens nested lists of scalars up to depth levels, in order.
func flattenStrings(v *Value, depth int) []string {
	var out []string
	var walk func(*Value, int)
	walk = func(v *Value, d int) {
		switch {
		case v.IsSeq():
			if d > depth {
				return
			}
			for _, it := range v.Items {
				walk(it, d+1)
			}
		case v.IsScalar():
			out = append(out, v.Str)
		}
	}
	walk(v, 0)
	return out
}

// flattenItems returns the items of a sequence with nested sequences (what a
// !reference inside a list leaves) spliced in, up to depth levels.
func flattenItems(v *Value, depth int) []*Value {
	if !v.IsSeq() {
		return nil
	}
	out := make([]*Value, 0, len(v.Items))
	for _, it := range v.Items {
		if it.IsSeq() && depth > 0 {
			out = append(out, flattenItems(it, depth-1)...)
			continue
		}
		out = append(out, it)
	}
	return out
}

// flattenSeq returns v with nested sequences spliced in (v itself when it has none).
func flattenSeq(v *Value, depth int) *Value {
	if !v.IsSeq() || !slices.ContainsFunc(v.Items, (*Value).IsSeq) {
		return v
	}
	return &Value{Kind: KindSeq, Pos: v.Pos, Items: flattenItems(v, depth)}
}

// mergedView builds the configuration each job runs with (gitlab-ci-local's
// preview; GitLab's own merged YAML stops before folding defaults): stages (with .pre and .post), global variables, workflow,
// and every visible job with its defaults folded in and scripts flattened. Hidden
// jobs, default:, include: and the legacy global keywords are gone.
func mergedView(doc *Value) *Value {
	out := newMap(doc.Pos)
	stages := &Value{Kind: KindSeq, Pos: doc.keyPos("stages")}
	for _, s := range stagesOf(doc) {
		stages.Items = append(stages.Items, newString(s, stages.Pos))
	}
	out.Set("stages", stages, stages.Pos)
	for _, k := range []string{"variables", "workflow"} {
		if v := doc.Get(k); doc.Has(k) && !v.IsNull() {
			out.Set(k, v.Clone(), doc.keyPos(k))
		}
	}
	def := defaultsOf(doc)
	for _, p := range doc.Pairs {
		if !isJobKey(p.Key) || !p.Value.IsMap() {
			continue
		}
		job := foldDefaults(p.Value, def).Clone()
		for _, k := range []string{"script", "before_script", "after_script"} {
			if s := job.Get(k); s.IsSeq() {
				flat := &Value{Kind: KindSeq, Pos: s.Pos}
				for _, line := range flattenStrings(s, scriptDepth) {
					flat.Items = append(flat.Items, newString(line, s.Pos))
				}
				job.Set(k, flat, job.keyPos(k))
			}
		}
		for _, k := range []string{"rules", "needs", "tags"} {
			if s := job.Get(k); s.IsSeq() {
				job.Set(k, flattenSeq(s, scriptDepth), job.keyPos(k))
			}
		}
		out.Set(p.Key, job, p.KeyPos)
	}
	return out
}
