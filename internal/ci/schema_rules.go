package ci

import "slices"

// rules checks a job's rules (null is allowed).
func (c checker) rules(v *Value, where string) {
	c.ruleList(v, where, ruleItems, func(r *Value, w string) {
		c.onlyKeys(r, w, "if", "changes", "exists", "variables", "when", "start_in", "allow_failure", "needs", "interruptible")
		c.ruleClauses(r, w)
		if x := r.Get("variables"); r.Has("variables") {
			c.rulesVariables(x, w+":variables")
		}
		if x := r.Get("when"); r.Has("when") {
			c.enum(x, w+" when", ruleWhen...)
		}
		if x := r.Get("start_in"); r.Has("start_in") {
			c.str(x, w+" start_in", 1)
		}
		if x := r.Get("allow_failure"); r.Has("allow_failure") {
			c.boolean(x, w+" allow_failure")
		}
		if x := r.Get("interruptible"); r.Has("interruptible") {
			c.boolean(x, w+" interruptible")
		}
		if x := r.Get("needs"); r.Has("needs") {
			c.rulesNeeds(x, w+":needs")
		}
	})
}

// ruleList checks a list of rules (null and !reference allowed): the blank strings,
// nested lists and other values GitLab refuses in it, and each hash, which items picks
// out of the list, with rule.
func (c checker) ruleList(v *Value, where string, items func(*Value) []*Value, rule func(r *Value, where string)) {
	if v.IsNull() || v.IsReference() {
		return
	}
	if !c.typeIs(v, where, "an array of hashes", KindSeq) {
		return
	}
	for _, r := range items(v) {
		w := where + ":rule"
		switch {
		case r.IsReference():
		case r.IsString():
			if r.Str == "" {
				c.errorf(r, "%s config can't be blank", w)
			}
		case r.IsSeq():
			c.strList(r, w, 1)
		case r.IsMap():
			rule(r, w)
		default:
			c.errorf(r, "%s config should be a hash", w)
		}
	}
}

// ruleClauses checks the if/changes/exists clauses of any rule.
func (c checker) ruleClauses(r *Value, where string) {
	if x := r.Get("if"); r.Has("if") {
		c.typeIs(x, where+" if", "a string", KindString)
	}
	if x := r.Get("changes"); r.Has("changes") {
		c.changes(x, where+":changes")
	}
	if x := r.Get("exists"); r.Has("exists") {
		c.exists(x, where+":exists")
	}
}

func (c checker) changes(v *Value, where string) {
	switch {
	case v.IsSeq(), v.IsReference():
		c.strList(v, where, 0)
	case v.IsMap():
		c.onlyKeys(v, where, "paths", "compare_to", "regexp")
		c.pathsOrRegexp(v, where)
		if x := v.Get("compare_to"); v.Has("compare_to") {
			c.typeIs(x, where+" compare_to", "a string", KindString)
		}
	default:
		c.errorf(v, "%s config should be an array of strings or a hash", where)
	}
}

func (c checker) exists(v *Value, where string) {
	switch {
	case v.IsSeq(), v.IsReference():
		c.strList(v, where, 0)
	case v.IsMap():
		c.onlyKeys(v, where, "paths", "project", "ref", "regexp")
		c.pathsOrRegexp(v, where)
		if x := v.Get("project"); v.Has("project") {
			c.typeIs(x, where+" project", "a string", KindString)
		}
		if x := v.Get("ref"); v.Has("ref") {
			if !v.Has("project") {
				c.errorf(x, "%s ref needs a project", where)
			}
			c.typeIs(x, where+" ref", "a string", KindString)
		}
	default:
		c.errorf(v, "%s config should be an array of strings or a hash", where)
	}
}

// pathsOrRegexp checks that exactly one of paths and regexp is given.
func (c checker) pathsOrRegexp(v *Value, where string) {
	hasPaths, hasRE := v.Has("paths"), v.Has("regexp")
	switch {
	case hasPaths && hasRE:
		c.errorf(v, "%s config should use either paths or regexp, not both", where)
	case !hasPaths && !hasRE:
		c.errorf(v, "%s config missing required keys: paths", where)
	case hasPaths:
		c.strList(v.Get("paths"), where+" paths", 0)
	default:
		c.strMax(v.Get("regexp"), where+" regexp", 0, 255)
	}
}

func (c checker) rulesNeeds(v *Value, where string) {
	if v.IsReference() {
		return
	}
	if !c.typeIs(v, where, "an array", KindSeq) {
		return
	}
	for _, n := range v.Items {
		switch {
		case n.IsString(), n.IsReference():
		case n.IsMap():
			c.onlyKeys(n, where, "job", "artifacts", "optional")
			if c.required(n, where, "job") {
				c.str(n.Get("job"), where+" job", 1)
			}
			c.needFlags(n, where)
		default:
			c.errorf(n, "%s config should be a string or a hash", where)
		}
	}
}

func (c checker) needFlags(n *Value, where string) {
	for _, k := range []string{"artifacts", "optional"} {
		if x := n.Get(k); n.Has(k) {
			c.boolean(x, where+" "+k)
		}
	}
}

// needs checks a job's needs: names, or hashes naming a job (optionally in another
// pipeline or project).
func (c checker) needs(v *Value, where string) {
	if v.IsReference() {
		return
	}
	if !c.typeIs(v, where, "an array", KindSeq) {
		return
	}
	for _, n := range ruleItems(v) {
		switch {
		case n.IsNull():
			c.errorf(n, "%s entries cannot be empty", where)
		case n.IsString(), n.IsReference():
		case n.IsSeq():
			c.strList(n, where, 0)
		case n.IsMap():
			switch {
			case n.Has("project"):
				c.onlyKeys(n, where, "job", "project", "ref", "artifacts", "parallel")
				c.required(n, where, "job", "project", "ref")
			case n.Has("pipeline"):
				c.onlyKeys(n, where, "pipeline", "job", "artifacts", "optional", "parallel")
				c.required(n, where, "job", "pipeline")
			default:
				c.onlyKeys(n, where, "job", "artifacts", "optional", "parallel")
				c.required(n, where, "job")
			}
			for _, k := range []string{"job", "pipeline", "project", "ref"} {
				if x := n.Get(k); n.Has(k) {
					c.typeIs(x, where+" "+k, "a string", KindString)
				}
			}
			c.needFlags(n, where)
			if x := n.Get("parallel"); n.Has("parallel") {
				c.matrixConfig(x, where+":parallel")
			}
		default:
			c.errorf(n, "%s config should be a string or a hash", where)
		}
	}
}

// filter checks only/except: null, a list of refs, or a hash of policies.
func (c checker) filter(v *Value, where string) {
	switch {
	case v.IsNull(), v.IsReference():
	case v.IsSeq():
		c.strList(v, where, 0)
	case v.IsMap():
		c.onlyKeys(v, where, "refs", "kubernetes", "variables", "changes")
		for _, k := range []string{"refs", "variables", "changes"} {
			if x := v.Get(k); v.Has(k) {
				c.strList(x, where+" "+k, 0)
			}
		}
		if x := v.Get("kubernetes"); v.Has("kubernetes") {
			c.enum(x, where+" kubernetes", "active")
		}
	default:
		c.errorf(v, "%s config should be an array of strings or a hash", where)
	}
}

// ruleItems lists the entries of rules or needs. A nested list of strings stands for
// a !reference (the schema's form); a nested list holding hashes is what a resolved
// !reference leaves, and GitLab splices it in (up to 10 levels).
func ruleItems(v *Value) []*Value {
	var out []*Value
	var walk func(*Value, int)
	walk = func(v *Value, depth int) {
		for _, it := range v.Items {
			if it.IsSeq() && !it.IsReference() && depth < scriptDepth && slices.ContainsFunc(it.Items, func(x *Value) bool { return !x.IsString() }) {
				walk(it, depth+1)
				continue
			}
			out = append(out, it)
		}
	}
	walk(v, 0)
	return out
}
