package ci

import (
	"regexp"
	"slices"
	"strings"
)

// jobKeys are the keywords a job may use (GitLab's job_template).
var jobKeys = []string{"image", "services", "before_script", "after_script", "hooks", "rules", "variables",
	"cache", "id_tokens", "identity", "dast_configuration", "inputs", "secrets", "script", "run", "stage",
	"only", "extends", "needs", "except", "tags", "allow_failure", "timeout", "when", "start_in",
	"manual_confirmation", "dependencies", "artifacts", "environment", "release", "coverage", "retry",
	"parallel", "interruptible", "resource_group", "trigger", "inherit", "publish", "pages"}

// ruleWhen are the values of rules:when; jobWhen those of a job's own when (GitLab's
// Job::ALLOWED_WHEN: never only in rules, which the decoder explains).
var (
	ruleWhen = []string{"on_success", "on_failure", "always", "never", "manual", "delayed"}
	jobWhen  = []string{"on_success", "on_failure", "always", "manual", "delayed"}
)

// projectPathRE is the schema's pattern for a project path or a variable.
var projectPathRE = regexp.MustCompile(`(?:\S/\S|\$\S+)`)

func (c checker) job(v *Value, name string) {
	where := "jobs:" + name
	if !v.IsMap() {
		c.errorf(v, "%s config should be a hash", where)
		return
	}
	c.onlyKeys(v, where, jobKeys...)
	for _, p := range v.Pairs {
		val := p.Value
		w := where + ":" + p.Key
		switch p.Key {
		case "image", "services", "before_script", "after_script", "hooks", "cache", "id_tokens", "identity",
			"tags", "retry", "interruptible", "artifacts":
			c.inheritable(val, where, p.Key)
		case "timeout":
			c.str(val, where+" timeout", 1)
		case "rules":
			c.rules(val, w)
		case "variables":
			c.variables(val, w, false)
		case "dast_configuration":
			if c.typeIs(val, w, "a hash", KindMap) {
				c.onlyKeys(val, w, "site_profile", "scanner_profile")
				for _, q := range val.Pairs {
					c.typeIs(q.Value, w+" "+q.Key, "a string", KindString)
				}
			}
		case "inputs":
			c.jobInputs(val, w)
		case "secrets":
			c.secrets(val, w)
		case "script":
			c.script(val, where+" script")
		case "run":
			c.steps(val, w)
		case "stage":
			switch {
			case val.IsReference():
			case val.IsSeq():
				c.strList(val, where+" stage", 1)
			default:
				c.str(val, where+" stage", 1)
			}
		case "only", "except":
			c.filter(val, w)
		case "extends":
			if val.IsSeq() {
				c.strList(val, where+" extends", 1)
			} else {
				c.typeIs(val, where+" extends", "a string or an array of strings", KindString)
			}
		case "needs":
			c.needs(val, w)
		case "allow_failure":
			c.allowFailure(val, where+" allow_failure")
		case "when":
			if !val.IsString() || val.Str != "never" {
				c.enum(val, where+" when", jobWhen...)
			}
		case "start_in":
			c.str(val, where+" start_in", 1)
		case "manual_confirmation", "resource_group", "publish":
			c.typeIs(val, where+" "+p.Key, "a string", KindString)
		case "dependencies":
			c.strList(val, where+" dependencies", 0)
		case "environment":
			c.environment(val, w)
		case "release":
			c.release(val, w)
		case "coverage":
			c.coverage(val, where+" coverage")
		case "parallel":
			c.parallel(val, w)
		case "trigger":
			c.trigger(val, w)
		case "inherit":
			c.inherit(val, w)
		case "pages":
			if !val.IsMap() {
				c.typeIs(val, w, "a hash or a boolean value", KindBool)
			} else {
				c.onlyKeys(val, w, "path_prefix", "expire_in", "publish")
				for _, q := range val.Pairs {
					c.typeIs(q.Value, w+" "+q.Key, "a string", KindString)
				}
			}
		}
	}
	if w := v.Get("when"); w.IsString() && w.Str == "delayed" && !v.Has("start_in") {
		c.errorf(w, "%s start in should be a duration (when: delayed needs start_in)", where)
	}
}

func (c checker) allowFailure(v *Value, where string) {
	if v.IsNull() || v.Kind == KindBool {
		if v.IsNull() {
			c.errorf(v, "%s should be a hash or a boolean value", where)
		}
		return
	}
	if !v.IsMap() {
		c.errorf(v, "%s should be a hash or a boolean value", where)
		return
	}
	c.onlyKeys(v, where, "exit_codes")
	if !c.required(v, where, "exit_codes") {
		return
	}
	c.exitCodes(v.Get("exit_codes"), where+" exit_codes")
}

// exitCodes checks an integer or a non-empty list of distinct integers.
func (c checker) exitCodes(v *Value, where string) {
	if v != nil && v.Kind == KindInt {
		return
	}
	if !v.IsSeq() || len(v.Items) == 0 {
		c.errorf(v, "%s should be an integer or an array of integers", where)
		return
	}
	for _, it := range v.Items {
		if it.Kind != KindInt {
			c.errorf(it, "%s should be an integer or an array of integers", where)
			return
		}
	}
	c.unique(v, where)
}

var retryWhen = []string{"always", "unknown_failure", "script_failure", "api_failure", "stuck_or_timeout_failure",
	"stuck_pending_with_matching_runners", "stuck_pending_no_matching_runners", "no_updates_running",
	"no_updates_canceling", "runner_system_failure", "runner_configuration_error",
	"runner_external_dependency_failure", "runner_interrupted", "runner_unsupported", "stale_schedule",
	"job_execution_timeout", "server_timeout_running", "server_timeout_canceling", "archived_failure",
	"unmet_prerequisites", "scheduler_failure", "data_integrity_failure"}

func (c checker) retry(v *Value, where string) {
	if v != nil && v.Kind == KindInt {
		c.retryMax(v, where)
		return
	}
	if !v.IsMap() {
		c.errorf(v, "%s config should be a hash or an integer", where)
		return
	}
	c.onlyKeys(v, where, "max", "when", "exit_codes")
	if x := v.Get("max"); v.Has("max") {
		c.retryMax(x, where+" max")
	}
	if x := v.Get("when"); v.Has("when") {
		c.retryWhen(x, where+" when")
	}
	if x := v.Get("exit_codes"); v.Has("exit_codes") {
		c.exitCodes(x, where+" exit_codes")
	}
}

// retryWhen checks retry:when, a failure reason or a list of them, in the words of
// GitLab's FullRetry entry.
func (c checker) retryWhen(v *Value, where string) {
	switch {
	case v.IsString():
		if !slices.Contains(retryWhen, v.Str) {
			c.errorf(v, "%s is not included in the list (%q)", where, v.Str)
		}
	case v.IsSeq():
		var unknown []string
		for _, it := range v.Items {
			if !it.IsString() {
				c.errorf(it, "%s should be an array of strings or a string", where)
				return
			}
			if !slices.Contains(retryWhen, it.Str) {
				unknown = append(unknown, it.Str)
			}
		}
		if len(unknown) > 0 {
			c.errorf(v, "%s contains unknown values: %s", where, strings.Join(unknown, ", "))
		}
	default:
		c.errorf(v, "%s should be an array of strings or a string", where)
	}
}

func (c checker) retryMax(v *Value, where string) {
	n, ok := v.Int()
	if !ok || n < 0 || n > 2 {
		c.errorf(v, "%s should be an integer between 0 and 2", where)
	}
}

func (c checker) parallel(v *Value, where string) {
	if v != nil && v.Kind == KindInt {
		if n, _ := v.Int(); n < 1 || n > 200 {
			c.errorf(v, "%s should be an integer between 1 and 200", where)
		}
		return
	}
	if !v.IsMap() {
		c.errorf(v, "%s config should be an integer or a hash", where)
		return
	}
	c.matrixConfig(v, where)
}

// matrixConfig checks {matrix: [ {VAR: value or list}, ... ]}.
func (c checker) matrixConfig(v *Value, where string) {
	if !v.IsMap() {
		c.errorf(v, "%s config should be a hash with matrix", where)
		return
	}
	c.onlyKeys(v, where, "matrix")
	if !c.required(v, where, "matrix") {
		return
	}
	m := v.Get("matrix")
	where += ":matrix"
	if m.IsReference() {
		return
	}
	if !c.typeIs(m, where, "an array of hashes", KindSeq) {
		return
	}
	if len(m.Items) > 200 {
		c.errorf(m, "%s config generates too many jobs (maximum is 200)", where)
	}
	for _, it := range m.Items {
		if !it.IsMap() {
			c.errorf(it, "%s config should be an array of hashes", where)
			continue
		}
		for _, p := range it.Pairs {
			x := p.Value
			if !(x.IsString() || x.Kind == KindInt || x.Kind == KindFloat || x.IsSeq()) {
				c.errorf(x, "%s %s should be a string, a number or an array", where, p.Key)
			}
		}
	}
}

func (c checker) coverage(v *Value, where string) {
	if !c.typeIs(v, where, "a regular expression", KindString) {
		return
	}
	if len(v.Str) < 3 || v.Str[0] != '/' || v.Str[len(v.Str)-1] != '/' {
		c.errorf(v, "%s config must be a regular expression enclosed in slashes, e.g. /Coverage: (\\d+)%%/", where)
		return
	}
	if _, err := compileRubyRegexp(v.Str); err != nil {
		c.errorf(v, "%s config should be a regular expression: %v", where, err)
	}
}

func (c checker) inherit(v *Value, where string) {
	if !c.typeIs(v, where, "a hash", KindMap) {
		return
	}
	c.onlyKeys(v, where, "default", "variables")
	if x := v.Get("default"); v.Has("default") {
		switch {
		case x != nil && x.Kind == KindBool:
		case x.IsSeq():
			allowed := []string{"after_script", "artifacts", "before_script", "cache", "image", "interruptible",
				"retry", "services", "tags", "timeout"}
			for _, it := range x.Items {
				c.enum(it, where+":default", allowed...)
			}
		default:
			c.errorf(x, "%s:default config should be a boolean value or an array of strings", where)
		}
	}
	if x := v.Get("variables"); v.Has("variables") {
		if x == nil || x.Kind != KindBool {
			if !x.IsSeq() {
				c.errorf(x, "%s:variables config should be a boolean value or an array of strings", where)
			} else {
				c.strList(x, where+":variables", 0)
			}
		}
	}
}

var envURLRE = regexp.MustCompile(`^(https?://.+|\$[A-Za-z]+)`)

func (c checker) environment(v *Value, where string) {
	if v.IsString() {
		return
	}
	if !v.IsMap() {
		c.errorf(v, "%s config should be a hash or a string", where)
		return
	}
	c.onlyKeys(v, where, "name", "url", "on_stop", "action", "auto_stop_in", "kubernetes", "deployment_tier")
	if c.required(v, where, "name") {
		c.str(v.Get("name"), where+" name", 1)
	}
	if x := v.Get("url"); v.Has("url") {
		c.pattern(x, where+" url", envURLRE, "should be a valid URL (http:// or https://) or a variable")
	}
	for _, k := range []string{"on_stop", "auto_stop_in", "deployment_tier"} {
		if x := v.Get(k); v.Has(k) {
			c.typeIs(x, where+" "+k, "a string", KindString)
		}
	}
	if x := v.Get("action"); v.Has("action") {
		c.enum(x, where+" action", "start", "prepare", "stop", "verify", "access")
	}
	if k := v.Get("kubernetes"); v.Has("kubernetes") {
		w := where + ":kubernetes"
		if c.typeIs(k, w, "a hash", KindMap) {
			for _, key := range []string{"agent", "flux_resource_path"} {
				if x := k.Get(key); k.Has(key) {
					c.typeIs(x, w+" "+key, "a string", KindString)
				}
			}
			if x := k.Get("namespace"); k.Has("namespace") {
				c.str(x, w+" namespace", 1)
			}
			if x := k.Get("managed_resources"); k.Has("managed_resources") && c.typeIs(x, w+":managed_resources", "a hash", KindMap) {
				if e := x.Get("enabled"); x.Has("enabled") {
					c.boolean(e, w+":managed_resources enabled")
				}
			}
			if x := k.Get("dashboard"); k.Has("dashboard") && c.typeIs(x, w+":dashboard", "a hash", KindMap) {
				if n := x.Get("namespace"); x.Has("namespace") {
					c.str(n, w+":dashboard namespace", 1)
				}
				if n := x.Get("flux_resource_path"); x.Has("flux_resource_path") {
					c.typeIs(n, w+":dashboard flux_resource_path", "a string", KindString)
				}
			}
		}
	}
}
