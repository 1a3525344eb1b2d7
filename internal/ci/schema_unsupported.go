package ci

// Structural checks of the keywords Kiln parses but does not carry out (release,
// trigger, run, secrets, id_tokens): a GitLab configuration using them must still be
// well formed.

import (
	"regexp"
	"slices"
)

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

func (c checker) idTokens(v *Value, where string) {
	if !c.typeIs(v, where, "a hash", KindMap) {
		return
	}
	for _, p := range v.Pairs {
		w := where + ":" + p.Key
		t := p.Value
		if !c.typeIs(t, w, "a hash", KindMap) {
			continue
		}
		c.onlyKeys(t, w, "aud")
		if !c.required(t, w, "aud") {
			continue
		}
		aud := t.Get("aud")
		if aud.IsSeq() {
			if c.strList(aud, w+" aud", 1) {
				c.unique(aud, w+" aud")
			}
		} else if !aud.IsString() {
			c.errorf(aud, "%s aud should be a string or an array of strings", w)
		}
	}
}
