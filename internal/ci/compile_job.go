package ci

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/machine"
)

// maxNeeds is GitLab's default limit on a job's needs.
const maxNeeds = 50

// jobPredefined are the predefined variables that describe the job itself. As on
// GitLab (Ci::Variables::Builder), CI_NODE_INDEX is set only for an instance of a
// parallel job, and CI_NODE_TOTAL for every job: 1 when the job is not parallel.
func jobPredefined(jc *JobConfig) jobspec.Variables {
	pub := func(k, v string) jobspec.Variable { return jobspec.Variable{Key: k, Value: v, Public: true} }
	vs := jobspec.Variables{pub("CI_JOB_NAME", jc.Name), pub("CI_JOB_NAME_SLUG", Slug(jc.Name)), pub("CI_JOB_STAGE", jc.Stage)}
	total := 1
	if jc.NodeTotal > 0 {
		vs = append(vs, pub("CI_NODE_INDEX", strconv.Itoa(jc.NodeIndex)))
		total = jc.NodeTotal
	}
	return append(vs, pub("CI_NODE_TOTAL", strconv.Itoa(total)))
}

// inheritedGlobals are the global YAML variables the job takes (inherit:variables).
func (cp *compiler) inheritedGlobals(jc *JobConfig) jobspec.Variables {
	switch {
	case jc.Inherit.Variables == nil:
		return cp.global
	case len(jc.Inherit.Variables) == 0:
		return nil
	}
	var out jobspec.Variables
	for _, v := range cp.global {
		if slices.Contains(jc.Inherit.Variables, v.Key) {
			out = append(out, v)
		}
	}
	return out
}

// jobVariables are the job's variables lowest to highest precedence: predefined (the
// commit's, the server's, the job's own and extra), global YAML (as inherited),
// workflow rules:variables, job YAML, parallel:matrix values, rules:variables, then
// instance, group, project and pipeline variables.
func (cp *compiler) jobVariables(jc *JobConfig, rule *Rule, extra jobspec.Variables) jobspec.Variables {
	predef := append(jobPredefined(jc), extra...)
	job := yamlVariables(jc.Variables)
	job = append(job, yamlVariables(jc.MatrixVariables)...)
	if rule != nil {
		job = append(job, yamlVariables(rule.Variables)...)
	}
	return cp.layers(predef, cp.inheritedGlobals(jc), cp.workflow, job)
}

// evaluate decides whether a job runs in this pipeline (rules, or only/except) and
// returns it with what the matching rule decided.
func (cp *compiler) evaluate(jc *JobConfig) (*Job, *Rule, bool) {
	env := &ruleEnv{vars: cp.jobVariables(jc, nil, nil).ExpandAll(), changed: cp.ctx.ChangedFiles, files: cp.files.fsys}
	cp.expanded[jc.Name] = env.vars
	var rule *Rule
	if jc.HasRules {
		r, err := env.firstMatch(jc.Rules)
		if err != nil {
			cp.d.errorf(jc.Pos, "jobs:%s rules: %v", jc.Name, err)
			return nil, nil, false
		}
		if r == nil || r.When == "never" {
			return nil, nil, false
		}
		rule = r
	} else if !cp.policyAllows(jc, env) {
		return nil, nil, false
	}
	j := &Job{
		Name:               jc.Name,
		Stage:              jc.Stage,
		When:               jc.When,
		StartIn:            jc.StartIn,
		Retry:              jc.Retry,
		Coverage:           jc.Coverage,
		ManualConfirmation: jc.ManualConfirmation,
		Unsupported:        jc.Unsupported,
	}
	if jc.Interruptible != nil {
		j.Interruptible = *jc.Interruptible
	}
	// allow_failure: as written, or true for a job that is manual by its own when.
	j.AllowFailure = jc.When == "manual"
	if jc.AllowFailure.Set {
		j.AllowFailure = jc.AllowFailure.Value
		if len(jc.AllowFailure.ExitCodes) > 0 {
			j.AllowFailure, j.AllowFailureExitCodes = false, jc.AllowFailure.ExitCodes
		}
	}
	if rule != nil {
		if rule.When != "" {
			j.When = rule.When
		}
		if rule.StartIn > 0 {
			j.StartIn = rule.StartIn
		}
		if rule.AllowFailure != nil {
			j.AllowFailure, j.AllowFailureExitCodes = *rule.AllowFailure, nil
		}
		if rule.Interruptible != nil {
			j.Interruptible = *rule.Interruptible
		}
	}
	if j.When == "delayed" && j.StartIn == 0 {
		cp.d.errorf(jc.Pos, "jobs:%s start in should be a duration (when: delayed needs start_in)", jc.Name)
	}
	return j, rule, true
}

// resolveNeeds settles a job's needs against the jobs this pipeline has: an optional
// need of a missing job is dropped; a required one is GitLab's seeding error.
func (cp *compiler) resolveNeeds(j *Job, jc *JobConfig, rule *Rule, present map[string]*Job) {
	needs, has := jc.Needs, jc.HasNeeds
	if rule != nil && rule.HasNeeds {
		needs, has = rule.Needs, true
	}
	if !has {
		return
	}
	j.Needs = make([]JobNeed, 0, len(needs))
	for _, n := range needs {
		if present[n.Job] == nil {
			if !n.Optional {
				cp.d.errorf(n.Pos, "'%s' job needs '%s' job, but '%s' does not exist in the pipeline. "+
					"This might be because of the only, except, or rules keywords. "+
					"To need a job that sometimes does not exist in the pipeline, use needs:optional.", j.Name, n.Job, n.Job)
			}
			continue
		}
		j.Needs = append(j.Needs, JobNeed{Job: n.Job, Artifacts: n.Artifacts, Optional: n.Optional})
	}
	if len(j.Needs) > maxNeeds {
		cp.d.errorf(jc.Pos, "%s: one job can only need %d others, but you have listed %d. See needs keyword documentation for more details",
			j.Name, maxNeeds, len(j.Needs))
	}
}

// checkNeedsCycles refuses a pipeline whose jobs' final needs, rules:needs included,
// form a cycle: those jobs could never start. (Load checks the jobs' own needs; a
// rule's needs replace them only here.)
func (cp *compiler) checkNeedsCycles(jobs []*Job, configs map[string]*JobConfig) {
	names := make([]string, len(jobs))
	edges := make(map[string][]string, len(jobs))
	for i, j := range jobs {
		names[i] = j.Name
		for _, n := range j.Needs {
			edges[j.Name] = append(edges[j.Name], n.Job)
		}
	}
	cycle := findCycle(names, edges)
	if cycle == nil {
		return
	}
	what := formatCycle(cycle)
	if len(cycle) == 2 {
		what = "self-dependency: " + cycle[0]
	}
	cp.d.errorf(configs[cycle[0]].Pos, "The pipeline has circular dependencies: %s", what)
}

// resolveDependencies lists whose artifacts the job downloads.
func (cp *compiler) resolveDependencies(j *Job, jc *JobConfig, selected []*Job) {
	j.Dependencies = []string{}
	switch {
	case jc.HasDeps:
		for _, d := range jc.Dependencies {
			if !slices.ContainsFunc(selected, func(s *Job) bool { return s.Name == d }) {
				cp.d.warnf(jc.Pos, "jobs:%s dependencies: %s is not in this pipeline, so its artifacts cannot be downloaded", j.Name, d)
				continue
			}
			j.Dependencies = append(j.Dependencies, d)
		}
	case j.Needs != nil:
		for _, n := range j.Needs {
			if n.Artifacts {
				j.Dependencies = append(j.Dependencies, n.Job)
			}
		}
	default:
		mine := slices.Index(cp.cfg.Stages, j.Stage)
		for _, s := range selected {
			if slices.Index(cp.cfg.Stages, s.Stage) < mine {
				j.Dependencies = append(j.Dependencies, s.Name)
			}
		}
	}
}

// finish computes what depends on the job's final variables: environment, tags,
// resource group, GPU request, timeout and the runner payload.
func (cp *compiler) finish(j *Job, jc *JobConfig, rule *Rule) {
	vars := cp.jobVariables(jc, rule, nil)
	expanded := cp.expanded[jc.Name] // as the rules saw them: the same unless the rule adds variables
	if rule != nil && len(rule.Variables) > 0 {
		expanded = vars.ExpandAll()
	}
	var envVars jobspec.Variables
	if jc.Environment != nil {
		env := *jc.Environment
		env.Name = jobspec.ExpandGitLab(env.Name, expanded.Lookup)
		env.URL = jobspec.ExpandGitLab(env.URL, expanded.Lookup)
		if env.Tier == "" {
			env.Tier = guessTier(env.Name)
		}
		j.Environment = &env
		j.EnvironmentSlug = EnvironmentSlug(env.Name)
		pub := func(k, v string) jobspec.Variable { return jobspec.Variable{Key: k, Value: v, Public: true} }
		envVars = jobspec.Variables{pub("CI_ENVIRONMENT_NAME", env.Name), pub("CI_ENVIRONMENT_SLUG", j.EnvironmentSlug),
			pub("CI_ENVIRONMENT_ACTION", env.Action), pub("CI_ENVIRONMENT_TIER", env.Tier)}
		if env.URL != "" {
			envVars = append(envVars, pub("CI_ENVIRONMENT_URL", env.URL))
		}
		vars = cp.jobVariables(jc, rule, envVars)
		expanded = vars.ExpandAll()
	}
	j.Tags = make([]string, 0, len(jc.Tags))
	for _, t := range jc.Tags {
		j.Tags = append(j.Tags, jobspec.ExpandExisting(t, expanded.Lookup))
	}
	j.ResourceGroup = jobspec.ExpandGitLab(jc.ResourceGroup, expanded.Lookup)
	gpu, err := machine.ParseGPURequest(expanded.Lookup)
	if err != nil {
		cp.gpuErrors(jc, rule, j.Name, err, vars)
	}
	j.GPU = gpu
	j.Timeout = jc.Timeout
	if j.Timeout == 0 {
		j.Timeout = cp.ctx.ProjectTimeout
	}
	if j.Timeout == 0 {
		j.Timeout = DefaultProjectTimeout
	}
	runnerVars, err := vars.ForRunner()
	if err != nil {
		cp.d.errorf(jc.Pos, "%s: %v", j.Name, err)
	}
	j.Spec = cp.spec(j, jc, runnerVars, expanded)
}

// gpuPos is where a job's GPU variables were written, or the job.
// gpuErrors reports each malformed GPU request variable (machine.VariableError) where
// the variable that set it is written.
func (cp *compiler) gpuErrors(jc *JobConfig, rule *Rule, name string, err error, vars jobspec.Variables) {
	errs := []error{err}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		errs = joined.Unwrap()
	}
	for _, e := range errs {
		pos := jc.Pos
		var ve *machine.VariableError
		if errors.As(e, &ve) {
			pos = cp.variablePos(jc, rule, ve.Var)
		}
		cp.d.errorf(pos, "jobs:%s %s", name, redactMasked(e.Error(), vars))
	}
}

// variablePos is where the YAML variable key that a job sees is written: in the
// rule's variables, the job's matrix values, the job's or the global variables, in that
// order of precedence; the job's position when none of them sets it.
func (cp *compiler) variablePos(jc *JobConfig, rule *Rule, key string) Pos {
	layers := make([][]Variable, 0, 4)
	if rule != nil {
		layers = append(layers, rule.Variables)
	}
	layers = append(layers, jc.MatrixVariables, jc.Variables, cp.cfg.Variables)
	for _, l := range layers {
		for i := len(l) - 1; i >= 0; i-- {
			if l[i].Key == key && l[i].Pos.Line > 0 {
				return l[i].Pos
			}
		}
	}
	return jc.Pos
}

func (c *Config) String() string {
	return fmt.Sprintf("ci.Config{%d jobs, stages %v}", len(c.Jobs), c.Stages)
}

// redactMasked hides the values of masked variables in a message: no secret may reach
// an error.
func redactMasked(msg string, vars jobspec.Variables) string {
	for _, v := range vars.MaskedValues() {
		msg = strings.ReplaceAll(msg, v, "[MASKED]")
	}
	return msg
}
