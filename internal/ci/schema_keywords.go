package ci

import (
	"regexp"
	"slices"
)

var pullPolicies = []string{"always", "never", "if-not-present"}

// image checks image: a name, or a hash with name and options.
func (c checker) image(v *Value, where string) {
	if v.IsString() {
		if v.Str == "" {
			c.errorf(v, "%s config can't be blank", where)
		}
		return
	}
	if v.IsReference() {
		return
	}
	if !v.IsMap() {
		c.errorf(v, "%s config should be a hash or a string", where)
		return
	}
	c.onlyKeys(v, where, "name", "entrypoint", "docker", "kubernetes", "pull_policy")
	c.imageCommon(v, where)
	if x := v.Get("entrypoint"); v.Has("entrypoint") {
		if !x.IsReference() && (!x.IsSeq() || len(x.Items) == 0) {
			c.errorf(x, "%s entrypoint config should be an array of strings", where)
		}
	}
}

// imageCommon checks what images and services share: name, docker, kubernetes,
// pull_policy.
func (c checker) imageCommon(v *Value, where string) {
	if c.required(v, where, "name") {
		c.str(v.Get("name"), where+" name", 1)
	}
	if x := v.Get("docker"); v.Has("docker") {
		w := where + ":docker"
		if c.typeIs(x, w, "a hash", KindMap) {
			c.onlyKeys(x, w, "platform", "user")
			if p := x.Get("platform"); x.Has("platform") {
				c.str(p, w+" platform", 1)
			}
			if u := x.Get("user"); x.Has("user") {
				c.strMax(u, w+" user", 1, 255)
			}
		}
	}
	if x := v.Get("kubernetes"); v.Has("kubernetes") {
		w := where + ":kubernetes"
		if c.typeIs(x, w, "a hash", KindMap) {
			c.onlyKeys(x, w, "user")
			if u := x.Get("user"); x.Has("user") && (u == nil || u.Kind != KindInt) {
				c.strMax(u, w+" user", 1, 255)
			}
		}
	}
	if x := v.Get("pull_policy"); v.Has("pull_policy") {
		w := where + " pull_policy"
		switch {
		case x.IsString():
			c.enum(x, w, pullPolicies...)
		case x.IsSeq():
			if len(x.Items) == 0 {
				c.errorf(x, "%s should be an array of pull policies", w)
			}
			for _, it := range x.Items {
				c.enum(it, w, pullPolicies...)
			}
			c.unique(x, w)
		default:
			c.errorf(x, "%s should be a string or an array of strings", w)
		}
	}
}

func (c checker) services(v *Value, where string) {
	if v.IsReference() {
		return
	}
	if !c.typeIs(v, where, "an array of strings or hashes", KindSeq) {
		return
	}
	for _, s := range v.Items {
		w := where + ":service"
		switch {
		case s.IsReference():
		case s.IsString():
			if s.Str == "" {
				c.errorf(s, "%s config can't be blank", w)
			}
		case s.IsMap():
			c.onlyKeys(s, w, "name", "entrypoint", "docker", "kubernetes", "pull_policy", "command", "alias", "variables")
			c.imageCommon(s, w)
			if x := s.Get("entrypoint"); s.Has("entrypoint") {
				c.strList(x, w+" entrypoint", 1)
			}
			if x := s.Get("command"); s.Has("command") {
				c.script(x, w+" command")
			}
			if x := s.Get("alias"); s.Has("alias") {
				c.str(x, w+" alias", 1)
			}
			if x := s.Get("variables"); s.Has("variables") {
				c.variables(x, w+":variables", false)
			}
		default:
			c.errorf(s, "%s config should be a hash or a string", w)
		}
	}
}

var cacheKeyRE = regexp.MustCompile(`^[^/]*[^./][^/]*$`)

var cachePolicyRE = regexp.MustCompile(`pull-push|pull|push|\$\w{1,255}`)

func (c checker) cache(v *Value, where string) {
	if v.IsReference() {
		return
	}
	if v.IsSeq() {
		for _, it := range v.Items {
			c.cacheItem(it, where)
		}
		return
	}
	c.cacheItem(v, where)
}

func (c checker) cacheItem(v *Value, where string) {
	if v.IsReference() {
		return
	}
	if !c.typeIs(v, where, "a hash", KindMap) {
		return
	}
	c.onlyKeys(v, where, "key", "paths", "policy", "unprotect", "untracked", "when", "fallback_keys")
	if k := v.Get("key"); v.Has("key") {
		w := where + ":key"
		switch {
		case k.IsString():
			if !cacheKeyRE.MatchString(k.Str) {
				c.errorf(k, "%s config cannot contain the \"/\" character or be \".\" or \"..\" only", w)
			}
		case k.IsMap():
			c.onlyKeys(k, w, "files", "files_commits", "prefix")
			if f := k.Get("files"); k.Has("files") && c.strList(f, w+" files", 1) && len(f.Items) > 10 {
				c.errorf(f, "%s files has too many entries (maximum 10)", w)
			}
			if f := k.Get("files_commits"); k.Has("files_commits") && c.strList(f, w+" files_commits", 1) && len(f.Items) > 2 {
				c.errorf(f, "%s files_commits has too many entries (maximum 2)", w)
			}
			if p := k.Get("prefix"); k.Has("prefix") {
				c.typeIs(p, w+" prefix", "a string", KindString)
			}
		default:
			c.errorf(k, "%s config should be a hash or a string", w)
		}
	}
	if x := v.Get("paths"); v.Has("paths") {
		c.strList(x, where+" paths", 0)
	}
	if x := v.Get("policy"); v.Has("policy") {
		c.pattern(x, where+" policy", cachePolicyRE, "should be a variable or one of: pull-push, push, pull")
	}
	for _, k := range []string{"unprotect", "untracked"} {
		if x := v.Get(k); v.Has(k) {
			c.boolean(x, where+" "+k)
		}
	}
	if x := v.Get("when"); v.Has("when") {
		c.enum(x, where+" when", "on_success", "on_failure", "always")
	}
	if x := v.Get("fallback_keys"); v.Has("fallback_keys") && c.strList(x, where+" fallback_keys", 0) && len(x.Items) > 5 {
		c.errorf(x, "%s fallback_keys has too many entries (maximum 5)", where)
	}
}

// reportTypes are the artifacts:reports keywords; junit is checked on its own.
var fileListReports = []string{"api_fuzzing", "coverage_fuzzing", "codequality", "dotenv", "lsif", "sast",
	"dependency_scanning", "container_scanning", "dast", "license_management", "license_scanning",
	"requirements", "secret_detection", "metrics", "terraform", "cyclonedx", "sarif", "load_performance",
	"repository_xray"}

var stringReports = []string{"accessibility", "annotations", "browser_performance"}

func (c checker) artifacts(v *Value, where string) {
	if v.IsNull() {
		return
	}
	if !c.typeIs(v, where, "a hash", KindMap) {
		return
	}
	c.onlyKeys(v, where, "paths", "exclude", "expose_as", "name", "untracked", "when", "access", "public", "expire_in", "reports")
	for _, k := range []string{"paths", "exclude"} {
		if x := v.Get(k); v.Has(k) {
			c.strList(x, where+" "+k, 1)
		}
	}
	for _, k := range []string{"expose_as", "name", "expire_in"} {
		if x := v.Get(k); v.Has(k) {
			c.typeIs(x, where+" "+k, "a string", KindString)
		}
	}
	for _, k := range []string{"untracked", "public"} {
		if x := v.Get(k); v.Has(k) {
			c.boolean(x, where+" "+k)
		}
	}
	if x := v.Get("when"); v.Has("when") && (!x.IsString() || !slices.Contains([]string{"on_success", "on_failure", "always"}, x.Str)) {
		c.errorf(x, "%s when should be on_success, on_failure or always", where) // GitLab's Artifacts entry
	}
	if x := v.Get("access"); v.Has("access") {
		c.enum(x, where+" access", "none", "developer", "maintainer", "all")
		if v.Has("public") {
			c.errorf(x, "%s config can use either access or public, not both", where)
		}
	}
	r := v.Get("reports")
	if !v.Has("reports") {
		return
	}
	w := where + ":reports"
	if !c.typeIs(r, w, "a hash", KindMap) {
		return
	}
	c.onlyKeys(r, w, append(append([]string{"junit", "coverage_report"}, fileListReports...), stringReports...)...)
	for _, p := range r.Pairs {
		x := p.Value
		switch {
		case p.Key == "junit":
			if !x.IsString() && !(x.IsSeq() && c.strList(x, w+" junit", 1)) {
				if !x.IsSeq() {
					c.errorf(x, "%s junit should be a string or an array of strings", w)
				}
			}
		case p.Key == "coverage_report":
			if x.IsNull() {
				continue
			}
			cw := w + ":coverage_report"
			if c.typeIs(x, cw, "a hash", KindMap) {
				if f := x.Get("coverage_format"); x.Has("coverage_format") {
					c.enum(f, cw+" coverage_format", "cobertura", "jacoco")
				}
				if pth := x.Get("path"); x.Has("path") {
					c.str(pth, cw+" path", 1)
				}
			}
		case slices.Contains(stringReports, p.Key):
			c.typeIs(x, w+" "+p.Key, "a string", KindString)
		case slices.Contains(fileListReports, p.Key):
			if !x.IsString() {
				if x.IsSeq() {
					c.strList(x, w+" "+p.Key, 0)
				} else {
					c.errorf(x, "%s %s should be a string or an array of strings", w, p.Key)
				}
			}
		}
	}
}
