package ci

import (
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/kiln-ci/kiln/internal/ci/expr"
)

// Limits on job keywords (GitLab's).
const (
	maxJobTimeout = 30 * 24 * time.Hour // one month
	maxStartIn    = 7 * 24 * time.Hour  // one week
)

// unsupportedKeywords are parsed and validated but not carried out by Kiln. They are
// warnings: the job still runs, without them.
var unsupportedKeywords = []string{"id_tokens", "identity", "secrets", "trigger", "pages", "release", "run",
	"dast_configuration", "inputs", "publish"}

// decoder turns a structurally valid, resolved document into typed configuration.
type decoder struct {
	d *diags
	// workflowRules says the configuration has workflow:rules (GitLab then does not
	// warn about rules that end in a bare when:).
	workflowRules bool
}

func (dc decoder) variables(v *Value) []Variable {
	if !v.IsMap() {
		return nil
	}
	out := make([]Variable, 0, len(v.Pairs))
	for _, p := range v.Pairs {
		vr := Variable{Key: p.Key, Pos: p.KeyPos}
		switch x := p.Value; {
		case x.IsMap():
			vr.Value = x.Get("value").Text()
			vr.Description = x.Get("description").Text()
			vr.Options, _ = x.Get("options").Strings()
			if e := x.Get("expand"); e != nil && e.Kind == KindBool {
				vr.Raw = !e.Bool()
			}
			if len(vr.Options) > 0 && x.Has("value") && !slices.Contains(vr.Options, vr.Value) {
				dc.d.errorf(x.Pos, "variables:%s config value must be present in options", p.Key)
			}
		default:
			vr.Value = x.Text()
		}
		out = append(out, vr)
	}
	return out
}

func (dc decoder) workflow(v *Value) Workflow {
	var w Workflow
	if !v.IsMap() {
		return w
	}
	if n := v.Get("name"); n.IsString() {
		w.Name, w.NamePos = n.Str, n.Pos
	}
	w.AutoCancel = autoCancel(v.Get("auto_cancel"))
	if r := v.Get("rules"); v.Has("rules") {
		w.HasRules = true
		w.Rules = dc.rules(r, "workflow:rules")
	}
	return w
}

func autoCancel(v *Value) AutoCancel {
	return AutoCancel{OnNewCommit: v.Get("on_new_commit").Text(), OnJobFailure: v.Get("on_job_failure").Text()}
}

func (dc decoder) rules(v *Value, where string) []*Rule {
	if !v.IsSeq() {
		return nil
	}
	items := flattenItems(v, scriptDepth)
	out := make([]*Rule, 0, len(items))
	for _, r := range items {
		if !r.IsMap() {
			dc.d.errorf(r.Pos, "%s:rule config should be a hash", where)
			continue
		}
		out = append(out, dc.rule(r, where+":rule"))
	}
	return out
}

func (dc decoder) rule(r *Value, where string) *Rule {
	rule := &Rule{Pos: r.Pos, When: r.Get("when").Text()}
	if x := r.Get("if"); x.IsString() {
		rule.If = dc.expression(x, where+" if")
	}
	rule.Changes = dc.pathsClause(r.Get("changes"), where+":changes")
	rule.Exists = dc.pathsClause(r.Get("exists"), where+":exists")
	if x := r.Get("start_in"); x.IsString() {
		rule.StartIn = dc.duration(x, where+" start in", maxStartIn)
	}
	if x := r.Get("allow_failure"); x != nil && x.Kind == KindBool {
		b := x.Bool()
		rule.AllowFailure = &b
	}
	if x := r.Get("interruptible"); x != nil && x.Kind == KindBool {
		b := x.Bool()
		rule.Interruptible = &b
	}
	if r.Has("needs") {
		rule.HasNeeds = true
		rule.Needs = dc.needs(r.Get("needs"), where+":needs")
	}
	rule.Variables = dc.variables(r.Get("variables"))
	if x := r.Get("auto_cancel"); x.IsMap() {
		ac := autoCancel(x)
		rule.AutoCancel = &ac
	}
	return rule
}

// expression parses a rules:if (or only:variables) expression.
func (dc decoder) expression(v *Value, where string) *expr.Expr {
	e, err := expr.Parse(v.Str)
	if err != nil {
		dc.d.errorf(v.Pos, "%s invalid expression syntax: %v", where, err)
		return nil
	}
	return e
}

func (dc decoder) pathsClause(v *Value, where string) *PathsClause {
	switch {
	case v.IsSeq():
		paths, _ := v.Strings()
		return &PathsClause{Paths: paths}
	case v.IsMap():
		c := &PathsClause{
			Regexp:    v.Get("regexp").Text(),
			CompareTo: v.Get("compare_to").Text(),
			Project:   v.Get("project").Text(),
		}
		c.Paths, _ = v.Get("paths").Strings()
		if c.Regexp != "" {
			var err error
			if c.re, err = compilePathRegexp(c.Regexp); err != nil {
				dc.d.errorf(v.Pos, "%s regexp %v", where, err)
			}
		}
		if c.CompareTo != "" {
			dc.d.warnf(v.keyPos("compare_to"), "%s compare_to needs the repository's history, which Kiln does not read; the changes are treated as unknown (the rule matches)", where)
		}
		if c.Project != "" {
			dc.d.warnf(v.keyPos("project"), "%s project: Kiln sees only this repository's files, so the clause never matches", where)
		}
		return c
	}
	return nil
}

// duration parses a GitLab duration, recording an error naming where.
func (dc decoder) duration(v *Value, where string, limit time.Duration) time.Duration {
	d, err := ParseDuration(v.Str)
	if err != nil {
		dc.d.errorf(v.Pos, "%s should be a duration: %v", where, err)
		return 0
	}
	if limit > 0 && d > limit {
		dc.d.errorf(v.Pos, "%s should not exceed the limit of %s", where, formatDuration(limit))
	}
	return d
}

func (dc decoder) needs(v *Value, where string) []Need {
	if !v.IsSeq() {
		dc.d.errorf(posOf(v), "%s config should be an array", where)
		return nil
	}
	items := flattenItems(v, scriptDepth)
	out := make([]Need, 0, len(items))
	for _, n := range items {
		need := Need{Artifacts: true, Pos: n.Pos}
		switch {
		case n.IsString():
			need.Job = n.Str
		case n.IsMap():
			if n.Has("pipeline") || n.Has("project") {
				dc.d.warnf(n.Pos, "%s: needs from another pipeline or project (%s) are not supported by Kiln; the need is ignored",
					where, n.Get("job").Text())
				continue
			}
			need.Job = n.Get("job").Text()
			if a := n.Get("artifacts"); a != nil && a.Kind == KindBool {
				need.Artifacts = a.Bool()
			}
			need.Optional = n.Get("optional").Bool()
			if p := n.Get("parallel"); p.IsMap() {
				need.Matrix = dc.matrix(p.Get("matrix"), where+":parallel:matrix")
			}
		default:
			dc.d.errorf(posOf(n), "%s entries cannot be empty", where)
			continue
		}
		if need.Job == "" {
			dc.d.errorf(n.Pos, "%s entries cannot be empty", where)
			continue
		}
		out = append(out, need)
	}
	return out
}

// matrix decodes parallel:matrix (or a needs selector).
func (dc decoder) matrix(v *Value, where string) []MatrixEntry {
	if !v.IsSeq() {
		return nil
	}
	out := make([]MatrixEntry, 0, len(v.Items))
	for _, e := range v.Items {
		if !e.IsMap() {
			continue
		}
		entry := make(MatrixEntry, 0, len(e.Pairs))
		for _, p := range e.Pairs {
			mv := MatrixVar{Name: p.Key}
			switch x := p.Value; {
			case x.IsSeq():
				for _, it := range x.Items {
					if !it.IsScalar() {
						dc.d.errorf(it.Pos, "%s %s values should be strings or numbers", where, p.Key)
						continue
					}
					mv.Values = append(mv.Values, it.Str)
				}
			case x.IsScalar():
				mv.Values = []string{x.Str}
			}
			if len(mv.Values) == 0 {
				dc.d.errorf(p.KeyPos, "%s %s should have at least one value", where, p.Key)
				continue
			}
			entry = append(entry, mv)
		}
		if len(entry) > 0 {
			out = append(out, entry)
		}
	}
	return out
}

func (dc decoder) filter(v *Value, where string) *Filter {
	f := &Filter{Pos: posOf(v)}
	switch {
	case v.IsNull():
		return nil
	case v.IsSeq():
		f.Refs, _ = v.Strings()
	case v.IsMap():
		f.Refs, _ = v.Get("refs").Strings()
		f.Changes, _ = v.Get("changes").Strings()
		f.Kubernetes = v.Get("kubernetes").Text()
		if vars := v.Get("variables"); vars.IsSeq() {
			for _, x := range vars.Items {
				if e := dc.expression(x, where+" variables"); e != nil {
					f.Variables = append(f.Variables, e)
				}
			}
		}
	}
	for _, r := range f.Refs {
		pattern, _, _ := strings.Cut(r, "@")
		if !isRegexpLiteral(pattern) || f.refRegexps[pattern] != nil {
			continue
		}
		re, err := compileRubyRegexp(pattern)
		if err != nil {
			dc.d.errorf(f.Pos, "%s refs %v", where, err)
			continue
		}
		if f.refRegexps == nil {
			f.refRegexps = map[string]*regexp.Regexp{}
		}
		f.refRegexps[pattern] = re
	}
	return f
}

func posOf(v *Value) Pos {
	if v == nil {
		return Pos{}
	}
	return v.Pos
}
