package ci

import "regexp"

var (
	includeStringRE  = regexp.MustCompile(`[\w*]\.ya?ml$`) // the schema has \w; GitLab also takes wildcards such as ci/*.yml
	urlSchemeRE      = regexp.MustCompile(`^\w+://`)
	httpRE           = regexp.MustCompile(`^https?://`)
	remoteRE         = regexp.MustCompile(`^https?://.+\.ya?ml$`)
	integrityRE      = regexp.MustCompile(`^sha256-[A-Za-z0-9+/]{43}=$`)
	includeInputKey  = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)
	includeKindsText = "local, project, template, component or remote"
)

// includes checks include: one entry or a list of entries.
func (c checker) includes(v *Value, where string) {
	if v.IsSeq() {
		for _, it := range v.Items {
			c.includeItem(it, where, false)
		}
		return
	}
	c.includeItem(v, where, false)
}

// includeItem checks one include entry. In a spec: header (spec is true) only local,
// project and remote are allowed, without rules or inputs.
func (c checker) includeItem(v *Value, where string, spec bool) {
	if v.IsString() && !spec {
		switch {
		case !includeStringRE.MatchString(v.Str) && !isIncludeWildcard(v.Str):
			c.errorf(v, "%s config should be the path or URL of a .yml or .yaml file, not %q", where, v.Str)
		case urlSchemeRE.MatchString(v.Str) && !httpRE.MatchString(v.Str):
			c.errorf(v, "%s config should be a local path or an http(s) URL, not %q", where, v.Str)
		}
		return
	}
	if !v.IsMap() {
		c.errorf(v, "%s config should be a hash or a string", where)
		return
	}
	extra := []string{"rules", "inputs"}
	if spec {
		extra = nil
	}
	switch {
	case v.Has("local"):
		c.onlyKeys(v, where, append([]string{"local"}, extra...)...)
		// GitLab expands variables and wildcards before it checks the extension (of
		// each file a wildcard lists); so does Kiln.
		if l := v.Get("local"); !(l.IsString() && (containsVariable(l.Str) || isIncludeWildcard(l.Str))) {
			c.pattern(l, where+" local", includeFileRE, "should be the path of a .yml or .yaml file")
		}
	case v.Has("project"):
		c.onlyKeys(v, where, append([]string{"project", "ref", "file"}, extra...)...)
		c.pattern(v.Get("project"), where+" project", projectPathRE, "should be a project path such as group/project or a variable")
		if x := v.Get("ref"); v.Has("ref") {
			c.typeIs(x, where+" ref", "a string", KindString)
		}
		if !c.required(v, where, "file") {
			break
		}
		f := v.Get("file")
		if f.IsSeq() {
			for _, it := range f.Items {
				c.pattern(it, where+" file", includeFileRE, "should be the path of a .yml or .yaml file")
			}
		} else {
			c.pattern(f, where+" file", includeFileRE, "should be the path of a .yml or .yaml file")
		}
	case v.Has("template") && !spec:
		c.onlyKeys(v, where, append([]string{"template"}, extra...)...)
		c.pattern(v.Get("template"), where+" template", includeFileRE, "should be the name of a .yml or .yaml template")
	case v.Has("component") && !spec:
		c.onlyKeys(v, where, append([]string{"component"}, extra...)...)
		c.typeIs(v.Get("component"), where+" component", "a string", KindString)
	case v.Has("remote"):
		c.onlyKeys(v, where, append([]string{"remote", "integrity", "cache"}, extra...)...)
		c.pattern(v.Get("remote"), where+" remote", remoteRE, "should be an http(s) URL of a .yml or .yaml file")
		if x := v.Get("integrity"); v.Has("integrity") {
			c.pattern(x, where+" integrity", integrityRE, "should be sha256- followed by a base64 SHA-256 digest")
		}
		if x := v.Get("cache"); v.Has("cache") {
			if !(x != nil && x.Kind == KindBool) {
				c.str(x, where+" cache", 1)
			}
		}
	default:
		if spec {
			c.errorf(v, "%s config should specify one of local, project or remote", where)
		} else {
			c.errorf(v, "%s config should specify one of %s", where, includeKindsText)
		}
		return
	}
	if x := v.Get("rules"); v.Has("rules") && !spec {
		c.includeRules(x, where+":rules")
	}
	if x := v.Get("inputs"); v.Has("inputs") && !spec {
		c.includeInputs(x, where+":inputs")
	}
}

func (c checker) includeRules(v *Value, where string) {
	c.ruleList(v, where, func(v *Value) []*Value { return v.Items }, func(r *Value, w string) {
		c.onlyKeys(r, w, "if", "changes", "exists", "when")
		c.ruleClauses(r, w)
		if x := r.Get("when"); r.Has("when") && !x.IsNull() {
			c.enum(x, w+" when", "never", "always")
		}
	})
}

// includeInputs checks the inputs given to an included file or a downstream pipeline.
func (c checker) includeInputs(v *Value, where string) {
	if !c.typeIs(v, where, "a hash", KindMap) {
		return
	}
	for _, p := range v.Pairs {
		if !includeInputKey.MatchString(p.Key) {
			c.d.errorf(p.KeyPos, "%s input name %q may contain only letters, digits, _ and -", where, p.Key)
			continue
		}
		x := p.Value
		switch {
		case x.IsString():
			if n := len([]rune(x.Str)); n > 1024 {
				c.errorf(x, "%s:%s is too long (maximum is 1024 characters)", where, p.Key)
			}
		case x.IsNull(), x.IsScalar(), x.IsMap():
		case x.IsSeq():
			for _, it := range x.Items {
				if it.IsNull() {
					c.errorf(it, "%s:%s should not contain null entries", where, p.Key)
				}
			}
		}
	}
}

var inputTypes = []string{"array", "boolean", "number", "string"}

// baseInput checks an input definition's common keys; it reports the declared type.
func (c checker) baseInput(v *Value, where string) (string, bool) {
	if !c.typeIs(v, where, "a hash", KindMap) {
		return "", false
	}
	typ := "string"
	if t := v.Get("type"); v.Has("type") {
		if !c.enum(t, where+" type", inputTypes...) {
			return "", false
		}
		typ = t.Str
	}
	if x := v.Get("description"); v.Has("description") {
		c.strMax(x, where+" description", 0, 1024)
	}
	if x := v.Get("options"); v.Has("options") {
		c.inputOptions(x, where+" options", 0)
	}
	if x := v.Get("regex"); v.Has("regex") {
		c.typeIs(x, where+" regex", "a string", KindString)
	}
	return typ, true
}

func (c checker) inputOptions(v *Value, where string, maxItems int) {
	if !c.typeIs(v, where, "an array", KindSeq) {
		return
	}
	if maxItems > 0 && len(v.Items) > maxItems {
		c.errorf(v, "%s has too many entries (maximum %d)", where, maxItems)
	}
	for _, it := range v.Items {
		if !it.IsScalar() {
			c.errorf(it, "%s entries should be strings, numbers or booleans", where)
		}
	}
}

// inputDefaultFits reports whether def suits an input of type typ.
func inputDefaultFits(typ string, def *Value, nullOK bool) bool {
	if def.IsNull() {
		return nullOK
	}
	switch typ {
	case "number":
		return def.Kind == KindInt || def.Kind == KindFloat
	case "boolean":
		return def.Kind == KindBool
	case "array":
		return def.IsSeq()
	}
	return def.IsString()
}

// specInputs checks spec:inputs of a header document.
func (c checker) specInputs(v *Value, where string) {
	if !c.typeIs(v, where, "a hash", KindMap) {
		return
	}
	for _, p := range v.Pairs {
		w := where + ":" + p.Key
		in := p.Value
		if in.IsNull() {
			continue
		}
		typ, ok := c.baseInput(in, w)
		if !ok {
			continue
		}
		if d := in.Get("default"); in.Has("default") && !inputDefaultFits(typ, d, true) {
			c.errorf(d, "%s default should be a %s", w, typ)
		}
		rules := in.Get("rules")
		if !in.Has("rules") {
			continue
		}
		if in.Has("options") || in.Has("default") {
			c.errorf(rules, "%s config can't combine rules with options or default", w)
		}
		if !c.typeIs(rules, w+":rules", "an array of hashes", KindSeq) {
			continue
		}
		for _, r := range rules.Items {
			rw := w + ":rules:rule"
			if !c.typeIs(r, rw, "a hash", KindMap) {
				continue
			}
			c.onlyKeys(r, rw, "if", "options", "default")
			c.required(r, rw, "default")
			if x := r.Get("if"); r.Has("if") {
				c.typeIs(x, rw+" if", "a string", KindString)
			}
			if x := r.Get("options"); r.Has("options") {
				c.inputOptions(x, rw+" options", 50)
			}
		}
	}
}

// jobInputs checks a job's inputs: at most 50, each with a default of its type.
func (c checker) jobInputs(v *Value, where string) {
	if !c.typeIs(v, where, "a hash", KindMap) {
		return
	}
	if len(v.Pairs) > 50 {
		c.errorf(v, "%s config has too many inputs (maximum 50)", where)
	}
	for _, p := range v.Pairs {
		w := where + ":" + p.Key
		typ, ok := c.baseInput(p.Value, w)
		if !ok || !c.required(p.Value, w, "default") {
			continue
		}
		if d := p.Value.Get("default"); !inputDefaultFits(typ, d, false) {
			c.errorf(d, "%s default should be a %s", w, typ)
		}
	}
}

var includeFileRE = regexp.MustCompile(`\.ya?ml$`)
