package ci

import (
	"slices"
	"strconv"
)

// job decodes one visible job (defaults already folded in) and checks what GitLab's
// job entry checks beyond the schema.
func (dc decoder) job(name string, pos Pos, v *Value) *JobConfig {
	where := "jobs:" + name
	j := &JobConfig{Name: name, BaseName: name, Pos: pos, Stage: "test", StagePos: pos, When: "on_success"}
	if len(name) > 255 {
		dc.d.errorf(pos, "%s name is too long (maximum is 255 characters)", where)
	}
	if !v.Has("script") && !v.Has("trigger") && !v.Has("run") {
		dc.d.errorf(pos, "jobs %s config should implement the script:, run:, or trigger: keyword", name)
	}
	if s := v.Get("stage"); v.Has("stage") {
		if s.IsString() {
			j.Stage, j.StagePos = s.Str, s.Pos
		} else {
			dc.d.errorf(s.Pos, "%s stage config should be a string", where)
		}
	}
	j.BeforeScript = flattenStrings(v.Get("before_script"), scriptDepth)
	j.Script = flattenStrings(v.Get("script"), scriptDepth)
	j.AfterScript = flattenStrings(v.Get("after_script"), scriptDepth)
	if x := v.Get("image"); !x.IsNull() {
		img := dc.image(x)
		j.Image = &img
	}
	if x := v.Get("services"); x.IsSeq() {
		for _, s := range x.Items {
			j.Services = append(j.Services, dc.image(s))
		}
	}
	j.Tags = flattenStrings(v.Get("tags"), 10)
	j.Variables = dc.variables(v.Get("variables"))

	if r := v.Get("rules"); v.Has("rules") && !r.IsNull() {
		j.HasRules = true
		if r.IsSeq() && len(r.Items) == 0 {
			dc.d.errorf(r.Pos, "%s rules config can't be blank", where)
		}
		j.Rules = dc.rules(r, where+":rules")
		if n := len(j.Rules); n > 0 && !dc.workflowRules {
			if last := j.Rules[n-1]; last.If == nil && last.Changes == nil && last.Exists == nil && last.When != "" && last.When != "never" {
				dc.d.warnf(last.Pos, "%s may allow multiple pipelines to run for a single action due to `rules:when` clause with no `workflow:rules` - read more: https://docs.gitlab.com/ee/ci/troubleshooting.html#pipeline-warnings", where)
			}
		}
		for _, k := range []string{"only", "except", "start_in"} {
			if x := v.Get(k); v.Has(k) && !x.IsNull() {
				dc.d.errorf(v.keyPos(k), "%s config key may not be used with `rules`: %s", where, k)
			}
		}
	}
	j.Only = dc.filter(v.Get("only"), where+":only")
	j.Except = dc.filter(v.Get("except"), where+":except")

	if w := v.Get("when"); w.IsString() {
		j.When = w.Str
		if w.Str == "never" {
			dc.d.errorf(w.Pos, "%s when should be one of: on_success, on_failure, always, manual, delayed (when:never can only be used in a rules section or workflow:rules)", where)
		}
	}
	if x := v.Get("start_in"); x.IsString() {
		if j.When != "delayed" && !j.HasRules {
			dc.d.errorf(x.Pos, "%s start in must be blank (start_in is only for when: delayed)", where)
		} else {
			j.StartIn = dc.duration(x, where+" start in", maxStartIn)
		}
	}
	j.AllowFailure = allowFailure(v.Get("allow_failure"))
	if v.Has("needs") {
		j.HasNeeds = true
		j.Needs = dc.needs(v.Get("needs"), where+" needs")
	}
	if x := v.Get("dependencies"); v.Has("dependencies") {
		j.HasDeps = true
		j.Dependencies, _ = x.Strings()
		for _, d := range x.Items {
			j.dependencyPos = append(j.dependencyPos, d.Pos)
		}
	}
	if x := v.Get("artifacts"); x.IsMap() {
		a := dc.artifacts(x, where+":artifacts")
		j.Artifacts = &a
	}
	j.Cache = dc.caches(v.Get("cache"), where+":cache")
	j.Retry = retry(v.Get("retry"))
	if x := v.Get("timeout"); x.IsString() {
		j.Timeout = dc.duration(x, where+" timeout", maxJobTimeout)
	}
	if x := v.Get("interruptible"); x != nil && x.Kind == KindBool {
		b := x.Bool()
		j.Interruptible = &b
	}
	j.ResourceGroup = v.Get("resource_group").Text()
	j.Environment = environment(v.Get("environment"))
	j.Coverage = v.Get("coverage").Text()
	j.Inherit = inherit(v.Get("inherit"))
	j.PreGetSourcesScript = flattenStrings(v.Get("hooks").Get("pre_get_sources_script"), scriptDepth)
	j.ManualConfirmation = v.Get("manual_confirmation").Text()
	for _, k := range unsupportedKeywords {
		if x := v.Get(k); v.Has(k) && !x.IsNull() && !(k == "pages" && x.Kind == KindBool && !x.Bool()) {
			j.Unsupported = append(j.Unsupported, k)
			dc.d.warnf(v.keyPos(k), "%s %s is not supported by Kiln and is ignored", where, k)
		}
	}
	if name == "pages" && !slices.Contains(j.Unsupported, "pages") {
		j.Unsupported = append(j.Unsupported, "pages")
		dc.d.warnf(pos, "jobs:pages runs as an ordinary job; Kiln does not publish GitLab Pages")
	}
	return j
}

func allowFailure(v *Value) AllowFailure {
	switch {
	case v == nil || v.Kind == KindNull:
		return AllowFailure{}
	case v.Kind == KindBool:
		return AllowFailure{Set: true, Value: v.Bool()}
	case v.IsMap():
		return AllowFailure{Set: true, ExitCodes: ints(v.Get("exit_codes"))}
	}
	return AllowFailure{}
}

// ints reads an integer or a list of integers.
func ints(v *Value) []int {
	var out []int
	add := func(x *Value) {
		if n, ok := x.Int(); ok {
			out = append(out, int(n))
		}
	}
	if v.IsSeq() {
		for _, it := range v.Items {
			add(it)
		}
	} else if v != nil {
		add(v)
	}
	return out
}

func retry(v *Value) Retry {
	switch {
	case v == nil:
		return Retry{}
	case v.Kind == KindInt:
		n, _ := v.Int()
		return Retry{Max: int(n)}
	case v.IsMap():
		r := Retry{ExitCodes: ints(v.Get("exit_codes"))}
		if n, ok := v.Get("max").Int(); ok {
			r.Max = int(n)
		}
		r.When = flattenStrings(v.Get("when"), 1)
		return r
	}
	return Retry{}
}

func environment(v *Value) *Environment {
	switch {
	case v.IsString():
		return &Environment{Name: v.Str, Action: "start"}
	case v.IsMap():
		e := &Environment{
			Name:                v.Get("name").Text(),
			URL:                 v.Get("url").Text(),
			Action:              v.Get("action").Text(),
			Tier:                v.Get("deployment_tier").Text(),
			OnStop:              v.Get("on_stop").Text(),
			AutoStopIn:          v.Get("auto_stop_in").Text(),
			KubernetesNamespace: v.Get("kubernetes").Get("namespace").Text(),
		}
		if e.Action == "" {
			e.Action = "start"
		}
		return e
	}
	return nil
}

func inherit(v *Value) Inherit {
	var in Inherit
	list := func(x *Value) []string {
		switch {
		case x == nil:
			return nil
		case x.Kind == KindBool:
			if x.Bool() {
				return nil
			}
			return []string{}
		case x.IsSeq():
			s, _ := x.Strings()
			if s == nil {
				s = []string{}
			}
			return s
		}
		return nil
	}
	in.Default = list(v.Get("default"))
	in.Variables = list(v.Get("variables"))
	return in
}

func (dc decoder) image(v *Value) Image {
	if v.IsString() {
		return Image{Name: v.Str, Pos: v.Pos}
	}
	img := Image{
		Name:  v.Get("name").Text(),
		Alias: v.Get("alias").Text(),
		Pos:   v.Pos,
	}
	img.Entrypoint, _ = v.Get("entrypoint").Strings()
	if c := v.Get("command"); c != nil {
		img.Command = flattenStrings(c, scriptDepth)
	}
	switch pp := v.Get("pull_policy"); {
	case pp.IsString():
		img.PullPolicy = []string{pp.Str}
	case pp.IsSeq():
		img.PullPolicy, _ = pp.Strings()
	}
	img.Platform = v.Get("docker").Get("platform").Text()
	img.User = v.Get("docker").Get("user").Text()
	img.KubernetesUser = v.Get("kubernetes").Get("user").Text()
	img.Variables = dc.variables(v.Get("variables"))
	return img
}

func (dc decoder) caches(v *Value, where string) []Cache {
	switch {
	case v.IsMap():
		return []Cache{cache(v)}
	case v.IsSeq():
		out := make([]Cache, 0, len(v.Items))
		for _, it := range v.Items {
			if it.IsMap() {
				out = append(out, cache(it))
			}
		}
		if len(out) > 4 {
			dc.d.errorf(v.Pos, "%s config no more than 4 caches can be created", where) // GitLab's Caches entry
		}
		return out
	}
	return nil
}

func cache(v *Value) Cache {
	c := Cache{
		Policy:    v.Get("policy").Text(),
		Untracked: v.Get("untracked").Bool(),
		Unprotect: v.Get("unprotect").Bool(),
		When:      v.Get("when").Text(),
		Pos:       v.Pos,
	}
	switch k := v.Get("key"); {
	case k.IsMap():
		c.KeyFiles, _ = k.Get("files").Strings()
		if c.KeyFiles == nil {
			c.KeyFiles, _ = k.Get("files_commits").Strings()
		}
		c.KeyPrefix = k.Get("prefix").Text()
	case k.IsScalar():
		c.Key = k.Str
	}
	c.Paths, _ = v.Get("paths").Strings()
	c.FallbackKeys, _ = v.Get("fallback_keys").Strings()
	return c
}

func (dc decoder) artifacts(v *Value, where string) Artifacts {
	a := Artifacts{
		Name:      v.Get("name").Text(),
		Untracked: v.Get("untracked").Bool(),
		When:      v.Get("when").Text(),
		ExpireIn:  v.Get("expire_in").Text(),
		ExposeAs:  v.Get("expose_as").Text(),
		Pos:       v.Pos,
	}
	a.Paths, _ = v.Get("paths").Strings()
	a.Exclude, _ = v.Get("exclude").Strings()
	if x := v.Get("expire_in"); x.IsString() && a.ExpireIn != "" && a.ExpireIn != "never" {
		dc.duration(x, where+" expire in", 0) // GitLab's words: "jobs:x:artifacts expire in should be a duration"
	}
	if r := v.Get("reports"); r.IsMap() {
		for _, p := range r.Pairs {
			rep := Report{Type: p.Key}
			if p.Key == "coverage_report" {
				if p.Value.IsNull() {
					continue
				}
				rep.Format = p.Value.Get("coverage_format").Text()
				if path := p.Value.Get("path").Text(); path != "" {
					rep.Paths = []string{path}
				}
			} else {
				rep.Paths, _ = p.Value.Strings()
			}
			a.Reports = append(a.Reports, rep)
		}
	}
	return a
}

// instanceName is a parallel job's instance name: "test 2/5".
func instanceName(base string, index, total int) string {
	return base + " " + strconv.Itoa(index) + "/" + strconv.Itoa(total)
}
