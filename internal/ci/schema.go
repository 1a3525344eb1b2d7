package ci

import (
	"slices"
	"strings"
)

// ValidateStructure checks the shape of a configuration document the way GitLab's
// JSON schema for .gitlab-ci.yml (app/assets/javascripts/editor/schema/ci.json) does:
// which keywords exist where, their types, enumerations, patterns and bounds. It does
// no semantic checks (at least one job, stage existence, needs) and reads no files.
//
// A !reference value is accepted wherever the schema accepts a list, since it is
// resolved later. Where GitLab's own parser is more permissive than the schema and no
// schema test says otherwise, this follows GitLab (see the deviations listed in the
// package documentation).
func ValidateStructure(doc *Value) Diagnostics {
	var d diags
	c := checker{d: &d}
	c.root(doc)
	return d.list
}

// reservedGlobal are the top-level keywords that are not jobs.
var reservedGlobal = []string{"$schema", "spec", "image", "services", "before_script", "after_script",
	"variables", "cache", "!reference", "default", "stages", "include", "workflow"}

// IsHiddenJob reports whether a top-level key names a hidden job (template).
func IsHiddenJob(name string) bool { return strings.HasPrefix(name, ".") }

func (c checker) root(doc *Value) {
	if !doc.IsMap() {
		c.errorf(doc, "Invalid configuration format: the top level must be a hash of keywords and jobs, not %s", describe(doc))
		return
	}
	for _, p := range doc.Pairs {
		v := p.Value
		switch p.Key {
		case "$schema":
			c.typeIs(v, "$schema", "a string", KindString)
		case "spec":
			c.spec(v)
		case "image":
			c.image(v, "image")
		case "services":
			c.services(v, "services")
		case "before_script", "after_script":
			c.optionalScript(v, p.Key)
		case "variables":
			c.variables(v, "variables", true)
		case "cache":
			c.cache(v, "cache")
		case "!reference":
			c.strList(v, "!reference", 0)
		case "default":
			c.defaults(v)
		case "stages":
			c.stages(v)
		case "include":
			c.includes(v, "include")
		case "workflow":
			c.workflow(v)
		default:
			if IsHiddenJob(p.Key) {
				continue // a template may be anything
			}
			c.job(v, p.Key)
		}
	}
}

func (c checker) stages(v *Value) {
	if v.IsReference() {
		return
	}
	if !c.typeIs(v, "stages", "an array of strings", KindSeq) {
		return
	}
	if len(v.Items) == 0 {
		c.errorf(v, "stages config should contain at least one stage")
		return
	}
	for _, it := range v.Items {
		switch {
		case it.IsString(), it.IsReference():
		case it.IsSeq():
			c.strList(it, "stages", 0)
		default:
			c.errorf(it, "stages config should be an array of strings or a nested array of strings, not %s", describe(it))
			return
		}
	}
	c.unique(v, "stages")
}

// defaultKeys are what default: may hold: the keywords jobs inherit, and !reference.
var defaultKeys = append(slices.Clone(inheritableKeys), "!reference")

func (c checker) defaults(v *Value) {
	if !c.typeIs(v, "default", "a hash", KindMap) {
		return
	}
	c.onlyKeys(v, "default", defaultKeys...)
	for _, p := range v.Pairs {
		c.inheritable(p.Value, "default", p.Key)
	}
}

// inheritable checks a keyword that default: and jobs share.
func (c checker) inheritable(v *Value, parent, key string) {
	where := parent + ":" + key
	switch key {
	case "after_script", "before_script":
		c.optionalScript(v, where)
	case "artifacts":
		c.artifacts(v, where)
	case "hooks":
		c.hooks(v, where)
	case "cache":
		c.cache(v, where)
	case "image":
		c.image(v, where)
	case "interruptible":
		c.boolean(v, where)
	case "id_tokens":
		c.idTokens(v, where)
	case "identity":
		c.enum(v, where, "google_cloud")
	case "retry":
		c.retry(v, where)
	case "services":
		c.services(v, where)
	case "tags":
		c.tags(v, where)
	case "timeout":
		c.str(v, where, 1)
	case "!reference":
		c.strList(v, where, 0)
	}
}

func (c checker) workflow(v *Value) {
	if !c.typeIs(v, "workflow", "a hash", KindMap) {
		return
	}
	c.onlyKeys(v, "workflow", "name", "auto_cancel", "rules")
	if n := v.Get("name"); v.Has("name") {
		c.strMax(n, "workflow:name", 1, 255)
	}
	if a := v.Get("auto_cancel"); v.Has("auto_cancel") {
		c.autoCancel(a, "workflow:auto_cancel")
	}
	rules := v.Get("rules")
	if !v.Has("rules") || rules.IsReference() {
		return
	}
	if !c.typeIs(rules, "workflow:rules", "an array", KindSeq) {
		return
	}
	for _, r := range ruleItems(rules) {
		where := "workflow:rules:rule"
		switch {
		case r.IsReference():
		case r.IsSeq():
			c.strList(r, where, 1)
		case r.IsMap():
			c.onlyKeys(r, where, "if", "changes", "exists", "variables", "when", "auto_cancel")
			c.ruleClauses(r, where)
			if w := r.Get("when"); r.Has("when") {
				c.enum(w, where+" when", "always", "never")
			}
			if a := r.Get("auto_cancel"); r.Has("auto_cancel") {
				c.autoCancel(a, where+":auto_cancel")
			}
			if vars := r.Get("variables"); r.Has("variables") {
				c.rulesVariables(vars, where+":variables")
			}
		default:
			c.errorf(r, "%s config should be a hash", where)
		}
	}
}

func (c checker) autoCancel(v *Value, where string) {
	if !c.typeIs(v, where, "a hash", KindMap) {
		return
	}
	c.onlyKeys(v, where, "on_job_failure", "on_new_commit")
	if x := v.Get("on_job_failure"); v.Has("on_job_failure") {
		c.enum(x, where+" on_job_failure", "none", "all")
	}
	if x := v.Get("on_new_commit"); v.Has("on_new_commit") {
		c.enum(x, where+" on_new_commit", "conservative", "interruptible", "none")
	}
}

// variables checks top-level (global) or job variables.
func (c checker) variables(v *Value, where string, global bool) {
	if v.IsReference() {
		return
	}
	if !c.typeIs(v, where, "a hash of key value pairs", KindMap) {
		return
	}
	for _, p := range v.Pairs {
		val := p.Value
		w := where + ":" + p.Key
		switch {
		case val.IsScalar(), val.IsReference(), val.IsNull():
			// A null value is an empty variable (GitLab's parser accepts it; the JSON
			// schema does not, and no schema test covers it).
		case val.IsMap():
			if global {
				c.onlyKeys(val, w, "value", "options", "description", "expand")
			} else {
				c.onlyKeys(val, w, "value", "expand")
			}
			if x := val.Get("value"); val.Has("value") {
				c.typeIs(x, w+" value", "a string", KindString)
			}
			if x := val.Get("expand"); val.Has("expand") {
				c.boolean(x, w+" expand")
			}
			if x := val.Get("description"); global && val.Has("description") {
				c.typeIs(x, w+" description", "a string", KindString)
			}
			if x := val.Get("options"); global && val.Has("options") {
				if c.strList(x, w+" options", 1) && x.IsSeq() {
					c.unique(x, w+" options")
				}
			}
		default:
			c.errorf(val, "%s config should be a hash of key value pairs, value can be a hash", where)
		}
	}
}

func (c checker) rulesVariables(v *Value, where string) {
	if v.IsReference() {
		return
	}
	if !c.typeIs(v, where, "a hash of key value pairs", KindMap) {
		return
	}
	for _, p := range v.Pairs {
		if !p.Value.IsScalar() && !p.Value.IsReference() {
			c.errorf(p.Value, "%s config should be a hash of key value pairs", where)
		}
	}
}

func (c checker) spec(v *Value) {
	if !c.typeIs(v, "spec", "a hash", KindMap) {
		return
	}
	c.onlyKeys(v, "spec", "inputs", "include", "component", "description")
	if x := v.Get("inputs"); v.Has("inputs") {
		c.specInputs(x, "spec:inputs")
	}
	if x := v.Get("include"); v.Has("include") {
		if c.typeIs(x, "spec:include", "an array", KindSeq) {
			for _, it := range x.Items {
				c.includeItem(it, "spec:include", true)
			}
		}
	}
	if x := v.Get("component"); v.Has("component") {
		if c.typeIs(x, "spec:component", "an array", KindSeq) {
			for _, it := range x.Items {
				c.enum(it, "spec:component", "name", "sha", "version", "reference")
			}
			c.unique(x, "spec:component")
		}
	}
	if x := v.Get("description"); v.Has("description") {
		c.strMax(x, "spec:description", 0, 256)
	}
}

func (c checker) hooks(v *Value, where string) {
	if !c.typeIs(v, where, "a hash", KindMap) {
		return
	}
	c.onlyKeys(v, where, "pre_get_sources_script")
	if x := v.Get("pre_get_sources_script"); v.Has("pre_get_sources_script") {
		c.optionalScript(x, where+":pre_get_sources_script")
	}
}

func (c checker) tags(v *Value, where string) {
	if v.IsReference() {
		return
	}
	if !c.typeIs(v, where, "an array of strings", KindSeq) {
		return
	}
	if len(v.Items) == 0 {
		c.errorf(v, "%s config should contain at least one tag", where)
		return
	}
	for _, it := range v.Items {
		switch {
		case it.IsReference():
		case it.IsString():
			if it.Str == "" {
				c.errorf(it, "%s config should not contain an empty tag", where)
			}
		case it.IsSeq():
			c.strList(it, where, 1)
		default:
			c.errorf(it, "%s config should be an array of strings", where)
		}
	}
}

// scriptDepth is how deeply GitLab lets script lines nest in arrays.
const scriptDepth = 10

// script checks script: a non-empty string, or a non-empty array of strings and
// nested arrays of strings (GitLab flattens up to 10 levels).
func (c checker) script(v *Value, where string) {
	if v.IsReference() {
		return
	}
	switch {
	case v.IsString():
		if v.Str == "" {
			c.errorf(v, "%s can't be blank", where)
		}
	case v.IsSeq():
		if len(v.Items) == 0 {
			c.errorf(v, "%s can't be blank", where)
			return
		}
		c.scriptLines(v, where, 1)
	default:
		c.errorf(v, "%s config should be a string or a nested array of strings up to %d levels deep", where, scriptDepth)
	}
}

// optionalScript checks before_script/after_script: like script, but may be empty.
func (c checker) optionalScript(v *Value, where string) {
	if v.IsReference() || v.IsString() {
		return
	}
	if !v.IsSeq() {
		c.errorf(v, "%s config should be a string or a nested array of strings up to %d levels deep", where, scriptDepth)
		return
	}
	c.scriptLines(v, where, 1)
}

func (c checker) scriptLines(v *Value, where string, depth int) bool {
	if depth > scriptDepth {
		c.errorf(v, "%s config should be a string or a nested array of strings up to %d levels deep", where, scriptDepth)
		return false
	}
	for _, it := range v.Items {
		switch {
		case it.IsString(), it.IsReference():
		case it.IsSeq():
			if !c.scriptLines(it, where, depth+1) {
				return false
			}
		default:
			c.errorf(it, "%s config should be a string or a nested array of strings up to %d levels deep", where, scriptDepth)
			return false
		}
	}
	return true
}
