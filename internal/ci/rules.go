package ci

import (
	"io/fs"
	"strings"

	"github.com/kiln-ci/kiln/internal/jobspec"
)

// ruleEnv is what rules are evaluated against: variables (values already expanded),
// the files a push changed, and the repository's files.
type ruleEnv struct {
	vars    jobspec.Variables
	changed []string // nil: unknown
	files   fs.FS
}

func (e *ruleEnv) lookup(name string) (string, bool) { return e.vars.Lookup(name) }

// withVariables returns an environment that sees more variables (of higher
// precedence) too.
func (e *ruleEnv) withVariables(more jobspec.Variables) *ruleEnv {
	vs := make(jobspec.Variables, 0, len(e.vars)+len(more))
	vs = append(append(vs, e.vars...), more...)
	return &ruleEnv{vars: vs.ExpandAll(), changed: e.changed, files: e.files}
}

// matches reports whether every clause of r holds: if, changes and exists. A rule
// with no clause always matches.
func (e *ruleEnv) matches(r *Rule) (bool, error) {
	if r.If != nil {
		ok, err := r.If.Eval(e.lookup)
		if err != nil || !ok {
			return false, err
		}
	}
	if r.Changes != nil && !e.changesMatch(r.Changes) {
		return false, nil
	}
	if r.Exists != nil && !e.existsMatch(r.Exists) {
		return false, nil
	}
	return true, nil
}

// firstMatch returns the first rule that matches, or nil.
func (e *ruleEnv) firstMatch(rules []*Rule) (*Rule, error) {
	for _, r := range rules {
		ok, err := e.matches(r)
		if err != nil {
			return nil, err
		}
		if ok {
			return r, nil
		}
	}
	return nil, nil
}

// changesMatch is rules:changes: true when any changed file matches a pattern (or the
// regexp), and true when the changed files are unknown, as in GitLab.
func (e *ruleEnv) changesMatch(c *PathsClause) bool {
	if e.changed == nil || c.CompareTo != "" {
		return true
	}
	if c.Regexp != "" {
		if c.re == nil {
			return false
		}
		for _, f := range e.changed {
			if c.re.MatchString(f) {
				return true
			}
		}
		return false
	}
	return e.anyChanged(c.Paths)
}

func (e *ruleEnv) anyChanged(patterns []string) bool {
	if e.changed == nil {
		return true
	}
	for _, p := range patterns {
		p = jobspec.ExpandExisting(p, e.lookup)
		for _, f := range e.changed {
			if globMatch(p, f) {
				return true
			}
		}
	}
	return false
}

// existsMatch is rules:exists: true when any pattern matches a file of the
// repository. Another project's files (exists:project) cannot be seen: false.
func (e *ruleEnv) existsMatch(c *PathsClause) bool {
	if c.Project != "" || e.files == nil {
		return false
	}
	if c.Regexp != "" {
		if c.re == nil {
			return false
		}
		found := false
		_ = walkRepo(e.files, false, func(p string) bool {
			found = c.re.MatchString(p)
			return !found
		})
		return found
	}
	for _, p := range c.Paths {
		if fileExists(e.files, jobspec.ExpandExisting(p, e.lookup)) {
			return true
		}
	}
	return false
}

// includeRulesMatch evaluates an include's rules (a raw value: includes are resolved
// before the configuration is decoded). An include is kept when its first matching
// rule does not say when: never; with no matching rule it is dropped.
func (e *ruleEnv) includeRulesMatch(rules, body *Value) (bool, Diagnostics) {
	var d diags
	dc := decoder{d: &d}
	env := e.withVariables(fileVariables(dc, body))
	for _, rv := range rules.Items {
		if !rv.IsMap() {
			continue
		}
		r := dc.rule(rv, "include:rules:rule")
		if d.hasErrors() {
			return false, d.list
		}
		ok, err := env.matches(r)
		if err != nil {
			d.errorf(rv.Pos, "include:rules:rule if: %v", err)
			return false, d.list
		}
		if ok {
			return r.When != "never", d.list
		}
	}
	return false, d.list
}

// expandPath expands variables in an include path with the context's variables and
// the including file's global variables.
func (e *ruleEnv) expandPath(p string, body *Value) string {
	if !containsVariable(p) {
		return p
	}
	var d diags
	env := e.withVariables(fileVariables(decoder{d: &d}, body))
	return jobspec.ExpandExisting(p, env.lookup)
}

// containsVariable reports whether s may hold a variable reference ($NAME, %NAME%).
func containsVariable(s string) bool { return strings.ContainsAny(s, "$%") }

// fileVariables are a file's global variables as jobspec variables.
func fileVariables(dc decoder, body *Value) jobspec.Variables {
	return yamlVariables(dc.variables(body.Get("variables")))
}
