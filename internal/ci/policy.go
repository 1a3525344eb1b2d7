package ci

import "strings"

// defaultOnly is GitLab's only: for jobs without rules or only (except: does not
// change it), when the configuration has no workflow:rules.
var defaultOnly = &Filter{Refs: []string{"branches", "tags"}}

// policyAllows evaluates only/except as GitLab's Seed::Build does: every part of only
// (refs, variables, changes, kubernetes) must be satisfied, and no part of except.
func (cp *compiler) policyAllows(jc *JobConfig, env *ruleEnv) bool {
	only := jc.Only
	if only == nil && !cp.cfg.Workflow.HasRules {
		only = defaultOnly
	}
	if only != nil {
		for _, part := range cp.filterParts(only) {
			if !part(env) {
				return false
			}
		}
	}
	if jc.Except != nil {
		for _, part := range cp.filterParts(jc.Except) {
			if part(env) {
				return false
			}
		}
	}
	return true
}

// filterParts returns a test for each part a filter sets.
func (cp *compiler) filterParts(f *Filter) []func(*ruleEnv) bool {
	var parts []func(*ruleEnv) bool
	if len(f.Refs) > 0 {
		parts = append(parts, func(*ruleEnv) bool { return cp.refsMatch(f) })
	}
	if len(f.Variables) > 0 {
		parts = append(parts, func(env *ruleEnv) bool {
			for _, e := range f.Variables {
				if ok, err := e.Eval(env.lookup); err == nil && ok {
					return true
				}
			}
			return false
		})
	}
	if len(f.Changes) > 0 {
		parts = append(parts, func(env *ruleEnv) bool { return env.anyChanged(f.Changes) })
	}
	if f.Kubernetes != "" {
		parts = append(parts, func(*ruleEnv) bool { return false }) // no Kubernetes integration
	}
	return parts
}

// refsMatch is GitLab's only:refs / except:refs: keywords (branches, tags, and the
// pipeline sources such as pushes, schedules, merge_requests), /regexps/ and exact
// ref names, optionally @project/path.
func (cp *compiler) refsMatch(f *Filter) bool {
	source := strings.TrimSuffix(cp.ctx.source(), "_event")
	tag := cp.ctx.Tag
	branch := !tag && cp.ctx.source() != SourceMergeRequestEvent
	for _, p := range f.Refs {
		pattern, project, hasProject := strings.Cut(p, "@")
		if hasProject {
			full, _ := cp.predefined.Lookup("CI_PROJECT_PATH")
			if full != project {
				continue
			}
		}
		switch {
		case pattern == "tags" && tag, pattern == "branches" && branch:
			return true
		case pattern == source || pattern == pluralize(source):
			return true
		case !branch && !tag:
			continue // names and patterns do not apply to merge request pipelines
		case isRegexpLiteral(pattern):
			if re := f.refRegexps[pattern]; re != nil && re.MatchString(cp.ctx.Ref) {
				return true
			}
		case pattern == cp.ctx.Ref:
			return true
		}
	}
	return false
}

// pluralize makes the plural of a pipeline source as ActiveSupport does for these
// words: push → pushes, schedule → schedules, merge_request → merge_requests.
func pluralize(s string) string {
	switch {
	case s == "":
		return ""
	case strings.HasSuffix(s, "sh"), strings.HasSuffix(s, "ch"), strings.HasSuffix(s, "s"), strings.HasSuffix(s, "x"):
		return s + "es"
	}
	return s + "s"
}
