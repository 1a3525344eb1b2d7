package ci

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/machine"
)

// ErrFilteredOut is returned (wrapped) by Compile when workflow:rules create no
// pipeline; GitLab's wording.
var ErrFilteredOut = errors.New("Pipeline filtered out by workflow rules.")

// ErrNoJobs is returned (wrapped) by Compile when rules leave no job to run.
var ErrNoJobs = errors.New("Pipeline will not run for the selected trigger. The rules configuration prevented any jobs from being added to the pipeline.")

// Pipeline is a compiled pipeline: which jobs run, in which stages, with what.
type Pipeline struct {
	// Name is workflow:name, expanded.
	Name string
	// Stages are the stages that have jobs, in order.
	Stages []string
	// Jobs in stage order, then in the order written.
	Jobs       []*Job
	AutoCancel AutoCancel
	// Warnings are findings that do not stop the pipeline (Load's warnings are not
	// repeated here).
	Warnings Diagnostics
}

// JobNeed is one entry of a job's needs.
type JobNeed struct {
	Job       string `json:"job"`
	Artifacts bool   `json:"artifacts"`
	Optional  bool   `json:"optional,omitempty"`
}

// Job is one job of a pipeline with everything decided.
type Job struct {
	Name  string `json:"name"`
	Stage string `json:"stage"`
	// When is on_success, on_failure, always, manual or delayed.
	When string `json:"when"`
	// StartIn is a delayed job's delay; JSON writes it in seconds ("start_in").
	StartIn time.Duration `json:"-"`
	// AllowFailure says the pipeline passes when the job fails; with
	// AllowFailureExitCodes, only for those exit codes.
	AllowFailure          bool  `json:"allow_failure"`
	AllowFailureExitCodes []int `json:"allow_failure_exit_codes,omitempty"`
	// Needs is nil when the job follows stage order, and empty for `needs: []`.
	Needs []JobNeed `json:"needs"`
	// Dependencies are the jobs whose artifacts the job downloads, by GitLab's rules:
	// dependencies: when given, else its needs with artifacts, else every job of the
	// earlier stages.
	Dependencies []string `json:"dependencies"`
	Retry        Retry    `json:"retry"`
	// Timeout is the job's timeout; JSON writes it in seconds ("timeout"), as
	// runner_info.timeout does.
	Timeout       time.Duration `json:"-"`
	Interruptible bool          `json:"interruptible,omitempty"`
	ResourceGroup string        `json:"resource_group,omitempty"`
	Environment   *Environment  `json:"environment,omitempty"`
	// EnvironmentSlug is CI_ENVIRONMENT_SLUG when the job has an environment.
	EnvironmentSlug string `json:"environment_slug,omitempty"`
	Coverage        string `json:"coverage,omitempty"`
	// Tags are the runner tags, variables expanded.
	Tags []string `json:"tags"`
	// GPU is the job's GPU request, from its KILN_GPU_* and KILN_CUDA_MIN variables.
	GPU                machine.GPURequest `json:"gpu,omitzero"`
	ManualConfirmation string             `json:"manual_confirmation,omitempty"`
	// Unsupported lists keywords the job uses that Kiln does not carry out; a job with
	// no script (a trigger or run job) cannot run and should be failed with this
	// reason by the coordinator.
	Unsupported []string `json:"unsupported,omitempty"`
	// Spec is the runner-facing payload, without what only a server knows (id,
	// tokens, URLs, job_info ids, dependency ids).
	Spec jobspec.Job `json:"spec"`
}

// Compile decides the pipeline the configuration gives in ctx: workflow rules, each
// job's rules (or only/except), variables in GitLab's precedence, needs, and each job's
// runner payload. It returns ErrFilteredOut or ErrNoJobs (wrapped) when there is no
// pipeline, and a *DiagnosticsError for errors in the configuration that only this
// context reveals (a need of a job the rules left out, a malformed GPU request, a
// circular variable reference). Compile does not modify c and is safe to call
// concurrently.
func (c *Config) Compile(ctx Context) (*Pipeline, error) {
	cp := compiler{cfg: c, ctx: &ctx, d: &diags{}, expanded: make(map[string]jobspec.Variables, len(c.Jobs))}
	return cp.run()
}

type compiler struct {
	cfg *Config
	ctx *Context
	d   *diags

	predefined, settings jobspec.Variables
	global               jobspec.Variables
	workflow             jobspec.Variables
	files                fileSource
	// expanded holds each selected job's variables, expanded, as its rules saw them.
	expanded map[string]jobspec.Variables
}

func (cp *compiler) run() (*Pipeline, error) {
	cp.predefined, cp.settings = cp.ctx.outerVariables()
	cp.global = yamlVariables(cp.cfg.Variables)
	cp.files = fileSource{fsys: cp.ctx.Files}
	if cp.files.fsys == nil {
		cp.files.fsys = cp.cfg.files
	}
	p := &Pipeline{AutoCancel: cp.cfg.Workflow.AutoCancel}
	if err := cp.workflowRules(p); err != nil {
		return nil, err
	}
	selected := make([]*Job, 0, len(cp.cfg.Jobs))
	configs := make(map[string]*JobConfig, len(cp.cfg.Jobs))
	matched := make(map[string]*Rule, len(cp.cfg.Jobs))
	for _, jc := range cp.cfg.Jobs {
		job, rule, ok := cp.evaluate(jc)
		if !ok {
			continue
		}
		selected = append(selected, job)
		configs[job.Name] = jc
		matched[job.Name] = rule
	}
	if cp.d.hasErrors() {
		return nil, cp.d.list.tidy(cp.cfg.Files).Err()
	}
	stageIndex := func(s string) int { return slices.Index(cp.cfg.Stages, s) }
	slices.SortStableFunc(selected, func(a, b *Job) int { return stageIndex(a.Stage) - stageIndex(b.Stage) })
	if !slices.ContainsFunc(selected, func(j *Job) bool { return j.Stage != StagePre && j.Stage != StagePost }) {
		return nil, fmt.Errorf("compiling %s: %w", cp.cfg.mainFile(), ErrNoJobs)
	}
	present := make(map[string]*Job, len(selected))
	for _, j := range selected {
		present[j.Name] = j
		if !slices.Contains(p.Stages, j.Stage) {
			p.Stages = append(p.Stages, j.Stage)
		}
	}
	for _, j := range selected {
		jc := configs[j.Name]
		cp.resolveNeeds(j, jc, matched[j.Name], present)
		cp.resolveDependencies(j, jc, selected)
		cp.finish(j, jc, matched[j.Name])
	}
	if slices.ContainsFunc(selected, func(j *Job) bool { r := matched[j.Name]; return r != nil && r.HasNeeds }) {
		cp.checkNeedsCycles(selected, configs) // Load found any cycle of the jobs' own needs
	}
	if cp.d.hasErrors() {
		return nil, cp.d.list.tidy(cp.cfg.Files).Err()
	}
	p.Jobs = selected
	p.Warnings = cp.d.list.tidy(cp.cfg.Files)
	return p, nil
}

func (c *Config) mainFile() string {
	if len(c.Files) > 0 {
		return c.Files[0]
	}
	return DefaultFile
}

// workflowRules applies workflow:rules and workflow:name.
func (cp *compiler) workflowRules(p *Pipeline) error {
	wf := cp.cfg.Workflow
	if wf.HasRules {
		env := cp.env(cp.global)
		rule, err := env.firstMatch(wf.Rules)
		if err != nil {
			pos := Pos{File: cp.cfg.mainFile()}
			if len(wf.Rules) > 0 {
				pos = wf.Rules[0].Pos
			}
			cp.d.errorf(pos, "workflow:rules: %v", err)
			return cp.d.list.Err()
		}
		if rule == nil || rule.When == "never" {
			return fmt.Errorf("compiling %s: %w", cp.cfg.mainFile(), ErrFilteredOut)
		}
		cp.workflow = yamlVariables(rule.Variables)
		if rule.AutoCancel != nil {
			if rule.AutoCancel.OnNewCommit != "" {
				p.AutoCancel.OnNewCommit = rule.AutoCancel.OnNewCommit
			}
			if rule.AutoCancel.OnJobFailure != "" {
				p.AutoCancel.OnJobFailure = rule.AutoCancel.OnJobFailure
			}
		}
	}
	if wf.Name != "" {
		vars := cp.layers(cp.global, cp.workflow).ExpandAll()
		p.Name = jobspec.ExpandGitLab(wf.Name, vars.Lookup)
	}
	return nil
}

// layers returns predefined, then the given YAML layers, then the settings layers:
// the variables lowest to highest precedence.
func (cp *compiler) layers(yaml ...jobspec.Variables) jobspec.Variables {
	n := len(cp.predefined) + len(cp.settings)
	for _, l := range yaml {
		n += len(l)
	}
	out := make(jobspec.Variables, 0, n)
	out = append(out, cp.predefined...)
	for _, l := range yaml {
		out = append(out, l...)
	}
	return append(out, cp.settings...)
}

// env is a rule environment over the given YAML layers.
func (cp *compiler) env(yaml ...jobspec.Variables) *ruleEnv {
	return &ruleEnv{vars: cp.layers(yaml...).ExpandAll(), changed: cp.ctx.ChangedFiles, files: cp.files.fsys}
}

// yamlVariables turns YAML variables into job variables.
func yamlVariables(vs []Variable) jobspec.Variables {
	out := make(jobspec.Variables, len(vs))
	for i, v := range vs {
		out[i] = jobspec.Variable{Key: v.Key, Value: v.Value, Public: true, Raw: v.Raw}
	}
	return out
}
