package ci

import (
	"regexp"
	"slices"
)

// jobKeys are the keywords a job may use (GitLab's job_template).
var jobKeys = []string{"image", "services", "before_script", "after_script", "hooks", "rules", "variables",
	"cache", "id_tokens", "identity", "dast_configuration", "inputs", "secrets", "script", "run", "stage",
	"only", "extends", "needs", "except", "tags", "allow_failure", "timeout", "when", "start_in",
	"manual_confirmation", "dependencies", "artifacts", "environment", "release", "coverage", "retry",
	"parallel", "interruptible", "resource_group", "trigger", "inherit", "publish", "pages"}

var jobWhen = []string{"on_success", "on_failure", "always", "never", "manual", "delayed"}

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
			c.enum(val, where+" when", jobWhen...)
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
		c.errorf(w, "%s start_in should be a duration when using when: delayed", where)
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
		if x.IsSeq() {
			for _, it := range x.Items {
				c.enum(it, where+" when", retryWhen...)
			}
		} else {
			c.enum(x, where+" when", retryWhen...)
		}
	}
	if x := v.Get("exit_codes"); v.Has("exit_codes") {
		c.exitCodes(x, where+" exit_codes")
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

var releasedAtRE = regexp.MustCompile(`^(?:[1-9]\d{3}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1\d|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)|(?:[1-9]\d(?:0[48]|[2468][048]|[13579][26])|(?:[2468][048]|[13579][26])00)-02-29)T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:Z|[+-][01]\d:[0-5]\d)$`)

func (c checker) release(v *Value, where string) {
	if !c.typeIs(v, where, "a hash", KindMap) {
		return
	}
	c.onlyKeys(v, where, "tag_name", "tag_message", "description", "name", "ref", "milestones", "released_at", "assets")
	if !c.required(v, where, "tag_name", "description") {
		return
	}
	c.str(v.Get("tag_name"), where+" tag_name", 1)
	c.str(v.Get("description"), where+" description", 1)
	for _, k := range []string{"tag_message", "name", "ref"} {
		if x := v.Get(k); v.Has(k) {
			c.typeIs(x, where+" "+k, "a string", KindString)
		}
	}
	if x := v.Get("milestones"); v.Has("milestones") {
		c.strList(x, where+" milestones", 0)
	}
	if x := v.Get("released_at"); v.Has("released_at") {
		c.pattern(x, where+" released_at", releasedAtRE, "should be a date and time in ISO 8601 format, e.g. 2020-07-15T08:00:00Z")
	}
	if a := v.Get("assets"); v.Has("assets") {
		w := where + ":assets"
		if !c.typeIs(a, w, "a hash", KindMap) {
			return
		}
		c.onlyKeys(a, w, "links")
		if !c.required(a, w, "links") {
			return
		}
		links := a.Get("links")
		if !c.typeIs(links, w+":links", "an array of hashes", KindSeq) {
			return
		}
		if len(links.Items) == 0 {
			c.errorf(links, "%s:links config should contain at least one link", w)
		}
		for _, l := range links.Items {
			lw := w + ":links:link"
			if !c.typeIs(l, lw, "a hash", KindMap) {
				continue
			}
			c.onlyKeys(l, lw, "name", "url", "filepath", "link_type")
			if c.required(l, lw, "name", "url") {
				c.str(l.Get("name"), lw+" name", 1)
				c.str(l.Get("url"), lw+" url", 1)
			}
			if x := l.Get("filepath"); l.Has("filepath") {
				c.typeIs(x, lw+" filepath", "a string", KindString)
			}
			if x := l.Get("link_type"); l.Has("link_type") {
				c.enum(x, lw+" link_type", "runbook", "package", "image", "other")
			}
		}
	}
}

var includeFileRE = regexp.MustCompile(`\.ya?ml$`)

func (c checker) trigger(v *Value, where string) {
	switch {
	case v.IsString():
		c.pattern(v, where, projectPathRE, "should be a project path such as group/project or a variable")
		return
	case !v.IsMap():
		c.errorf(v, "%s config should be a hash or a string", where)
		return
	}
	if v.Has("project") {
		c.onlyKeys(v, where, "project", "branch", "strategy", "inputs", "forward")
		c.pattern(v.Get("project"), where+" project", projectPathRE, "should be a project path such as group/project or a variable")
		if x := v.Get("branch"); v.Has("branch") {
			c.typeIs(x, where+" branch", "a string", KindString)
		}
		if x := v.Get("inputs"); v.Has("inputs") {
			c.includeInputs(x, where+":inputs")
		}
	} else {
		c.onlyKeys(v, where, "include", "strategy", "forward")
		if x := v.Get("include"); v.Has("include") {
			c.triggerInclude(x, where+":include")
		}
	}
	if x := v.Get("strategy"); v.Has("strategy") {
		c.enum(x, where+" strategy", "depend", "mirror")
	}
	if f := v.Get("forward"); v.Has("forward") {
		w := where + ":forward"
		if c.typeIs(f, w, "a hash", KindMap) {
			c.onlyKeys(f, w, "yaml_variables", "pipeline_variables")
			for _, p := range f.Pairs {
				c.boolean(p.Value, w+" "+p.Key)
			}
		}
	}
}

func (c checker) triggerInclude(v *Value, where string) {
	if v.IsString() {
		c.pattern(v, where, includeFileRE, "should be the path of a .yml or .yaml file")
		return
	}
	if !c.typeIs(v, where, "a string or an array", KindSeq) {
		return
	}
	if len(v.Items) > 3 {
		c.errorf(v, "%s config is too long (maximum is 3 files)", where)
	}
	for _, it := range v.Items {
		if !c.typeIs(it, where, "an array of hashes", KindMap) {
			continue
		}
		var keys []string
		switch {
		case it.Has("local"):
			keys = []string{"local", "inputs"}
			c.pattern(it.Get("local"), where+" local", includeFileRE, "should be the path of a .yml or .yaml file")
		case it.Has("template"):
			keys = []string{"template", "inputs"}
			c.pattern(it.Get("template"), where+" template", includeFileRE, "should be the name of a .yml or .yaml template")
		case it.Has("artifact"):
			keys = []string{"artifact", "job", "inputs"}
			c.pattern(it.Get("artifact"), where+" artifact", includeFileRE, "should be the path of a .yml or .yaml file")
			if c.required(it, where, "job") {
				c.typeIs(it.Get("job"), where+" job", "a string", KindString)
			}
		case it.Has("project"):
			keys = []string{"project", "ref", "file", "inputs"}
			c.pattern(it.Get("project"), where+" project", projectPathRE, "should be a project path such as group/project or a variable")
			if x := it.Get("ref"); it.Has("ref") {
				c.str(x, where+" ref", 1)
			}
			if c.required(it, where, "file") {
				c.pattern(it.Get("file"), where+" file", includeFileRE, "should be the path of a .yml or .yaml file")
			}
		case it.Has("component"):
			keys = []string{"component", "inputs"}
			c.typeIs(it.Get("component"), where+" component", "a string", KindString)
		case it.Has("remote"):
			keys = []string{"remote", "inputs"}
			c.pattern(it.Get("remote"), where+" remote", remoteRE, "should be an http(s) URL of a .yml or .yaml file")
		default:
			c.errorf(it, "%s config should specify one of local, template, artifact, project, component or remote", where)
			continue
		}
		c.onlyKeys(it, where, keys...)
		if x := it.Get("inputs"); it.Has("inputs") {
			c.includeInputs(x, where+":inputs")
		}
	}
}

var stepNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// steps checks run: a list of GitLab step-runner steps.
func (c checker) steps(v *Value, where string) {
	if !c.typeIs(v, where, "an array of steps", KindSeq) {
		return
	}
	for _, st := range v.Items {
		w := where + ":step"
		if !c.typeIs(st, w, "a hash", KindMap) {
			continue
		}
		if !c.required(st, w, "name") {
			continue
		}
		c.pattern(st.Get("name"), w+" name", stepNameRE, "should be a name made of letters, digits and underscores")
		if e := st.Get("env"); st.Has("env") && c.typeIs(e, w+":env", "a hash", KindMap) {
			for _, p := range e.Pairs {
				if !stepNameRE.MatchString(p.Key) {
					c.d.errorf(p.KeyPos, "%s:env key %q should be made of letters, digits and underscores", w, p.Key)
				}
				c.typeIs(p.Value, w+":env "+p.Key, "a string", KindString)
			}
		}
		switch {
		case st.Has("script"):
			c.onlyKeys(st, w, "name", "env", "script")
			c.str(st.Get("script"), w+" script", 1)
		case st.Has("step") && st.Has("func"):
			c.errorf(st, "%s config should use step or func, not both", w)
		case st.Has("step") || st.Has("func"):
			c.onlyKeys(st, w, "name", "env", "inputs", "step", "func")
			for _, k := range []string{"step", "func"} {
				if x := st.Get(k); st.Has(k) {
					c.stepReference(x, w+":"+k)
				}
			}
			if in := st.Get("inputs"); st.Has("inputs") && c.typeIs(in, w+":inputs", "a hash", KindMap) {
				for _, p := range in.Pairs {
					if !stepNameRE.MatchString(p.Key) {
						c.d.errorf(p.KeyPos, "%s:inputs key %q should be made of letters, digits and underscores", w, p.Key)
					}
				}
			}
		default:
			c.errorf(st, "%s config should have a script, a step or a func", w)
		}
	}
}

func (c checker) stepReference(v *Value, where string) {
	switch {
	case v.IsString():
	case v.IsMap() && v.Has("git"):
		c.onlyKeys(v, where, "git")
		g := v.Get("git")
		if c.typeIs(g, where+":git", "a hash", KindMap) {
			c.onlyKeys(g, where+":git", "url", "dir", "rev", "file")
			c.required(g, where+":git", "url", "rev")
			for _, p := range g.Pairs {
				c.typeIs(p.Value, where+":git "+p.Key, "a string", KindString)
			}
		}
	case v.IsMap() && v.Has("oci"):
		c.onlyKeys(v, where, "oci")
		o := v.Get("oci")
		if c.typeIs(o, where+":oci", "a hash", KindMap) {
			c.onlyKeys(o, where+":oci", "registry", "repository", "tag", "dir", "file")
			c.required(o, where+":oci", "registry", "repository", "tag")
			for _, p := range o.Pairs {
				c.typeIs(p.Value, where+":oci "+p.Key, "a string", KindString)
			}
		}
	default:
		c.errorf(v, "%s should be a string, or a hash with git or oci", where)
	}
}

// secretProviders are the keys of which a secret needs one.
var secretProviders = []string{"vault", "azure_key_vault", "gcp_secret_manager", "aws_secrets_manager", "gitlab_secrets_manager"}

var gitlabSecretNameRE = regexp.MustCompile(`^[a-zA-Z0-9_]+$`)

func (c checker) secrets(v *Value, where string) {
	if !c.typeIs(v, where, "a hash", KindMap) {
		return
	}
	for _, p := range v.Pairs {
		w := where + ":" + p.Key
		s := p.Value
		if !c.typeIs(s, w, "a hash", KindMap) {
			continue
		}
		c.onlyKeys(s, w, append(slices.Clone(secretProviders), "file", "token")...)
		if !slices.ContainsFunc(secretProviders, s.Has) {
			c.errorf(s, "%s config should use one of: %s", w, quoteList(secretProviders))
		}
		if s.Has("gcp_secret_manager") && !s.Has("token") {
			c.errorf(s, "%s config missing required keys: token (gcp_secret_manager needs one)", w)
		}
		if x := s.Get("file"); s.Has("file") {
			c.boolean(x, w+" file")
		}
		if x := s.Get("token"); s.Has("token") {
			c.typeIs(x, w+" token", "a string", KindString)
		}
		if x := s.Get("vault"); s.Has("vault") && !x.IsString() {
			vw := w + ":vault"
			if c.typeIs(x, vw, "a string or a hash", KindMap) {
				c.onlyKeys(x, vw, "engine", "path", "field")
				if c.required(x, vw, "engine", "path", "field") {
					e := x.Get("engine")
					if c.typeIs(e, vw+":engine", "a hash", KindMap) && c.required(e, vw+":engine", "name", "path") {
						c.typeIs(e.Get("name"), vw+":engine name", "a string", KindString)
						c.typeIs(e.Get("path"), vw+":engine path", "a string", KindString)
					}
					c.typeIs(x.Get("path"), vw+" path", "a string", KindString)
					c.typeIs(x.Get("field"), vw+" field", "a string", KindString)
				}
			}
		}
		c.secretProvider(s, w, "gcp_secret_manager", []string{"name"}, map[string][]Kind{"name": {KindString}, "version": {KindString, KindInt}})
		c.secretProvider(s, w, "azure_key_vault", []string{"name"}, map[string][]Kind{"name": {KindString}, "version": {KindString}})
		if x := s.Get("aws_secrets_manager"); s.Has("aws_secrets_manager") && !x.IsString() {
			fields := map[string][]Kind{}
			for _, k := range []string{"secret_id", "version_id", "version_stage", "region", "role_arn", "role_session_name", "field"} {
				fields[k] = []Kind{KindString}
			}
			c.secretProvider(s, w, "aws_secrets_manager", []string{"secret_id"}, fields)
		}
		if c.secretProvider(s, w, "gitlab_secrets_manager", []string{"name"}, map[string][]Kind{"name": {KindString}, "source": {KindString}}) {
			if n := s.Get("gitlab_secrets_manager").Get("name"); n.IsString() && !gitlabSecretNameRE.MatchString(n.Str) {
				c.errorf(n, "%s:gitlab_secrets_manager name should be made of letters, digits and underscores", w)
			}
		}
	}
}

// secretProvider checks one provider's hash; it reports whether it was present and
// well formed.
func (c checker) secretProvider(s *Value, where, key string, required []string, fields map[string][]Kind) bool {
	if !s.Has(key) {
		return false
	}
	x := s.Get(key)
	w := where + ":" + key
	if !c.typeIs(x, w, "a hash", KindMap) {
		return false
	}
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	slices.Sort(names)
	c.onlyKeys(x, w, names...)
	ok := c.required(x, w, required...)
	for _, p := range x.Pairs {
		if kinds, known := fields[p.Key]; known && !slices.Contains(kinds, kindOf(p.Value)) {
			c.errorf(p.Value, "%s %s should be a %s", w, p.Key, kinds[0])
			ok = false
		}
	}
	return ok
}

func kindOf(v *Value) Kind {
	if v == nil {
		return KindNull
	}
	return v.Kind
}
