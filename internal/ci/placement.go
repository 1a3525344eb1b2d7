package ci

import (
	"errors"

	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/machine"
)

// checkPlacement reports, at each job, what a coordinator with catalog refuses when
// it creates a pipeline (machine.Catalog.Place): tags that name two machine types, a
// malformed KILN_GPU_* or KILN_CUDA_MIN value, and a GPU request the job's machine
// type cannot give. It is static: it reads the variables the configuration sets
// (global ones as inherited, the job's, its parallel:matrix values, and each rule's
// rules:variables in turn) with the context's, not those a project or a pipeline
// adds later, so a request that only such variables make impossible is found when
// the pipeline is created; a job whose tags name such a variable is not placed.
func checkPlacement(cfg *Config, ctx *Context, catalog *machine.Catalog, d *diags) {
	cp := compiler{cfg: cfg, ctx: ctx, d: d, global: yamlVariables(cfg.Variables)}
	cp.predefined, cp.settings = ctx.outerVariables()
	for _, jc := range cfg.Jobs {
		cp.placeJob(jc, nil, catalog)
		for _, r := range jc.Rules {
			if len(r.Variables) > 0 {
				cp.placeJob(jc, r, catalog)
			}
		}
	}
}

// placeJob checks one job with the variables of rule (nil: none) as Compile would
// see them.
func (cp *compiler) placeJob(jc *JobConfig, rule *Rule, catalog *machine.Catalog) {
	vars := cp.jobVariables(jc, rule, nil)
	expanded := vars.ExpandAll()
	req, err := machine.ParseGPURequest(expanded.Lookup)
	if err != nil {
		cp.gpuErrors(jc, rule, jc.Name, err, vars)
		return
	}
	tags := make([]string, len(jc.Tags))
	for i, t := range jc.Tags {
		tags[i] = jobspec.ExpandExisting(t, expanded.Lookup)
		if tags[i] != jobspec.ExpandGitLab(t, expanded.Lookup) {
			return // a tag names a variable only a project or pipeline sets
		}
	}
	if _, err := catalog.Place(tags, req); err != nil {
		pos := jc.Pos
		var re *machine.RequestError
		if errors.As(err, &re) {
			pos = cp.variablePos(jc, rule, re.Var)
		}
		cp.d.errorf(pos, "jobs:%s %s", jc.Name, redactMasked(err.Error(), vars))
	}
}
