package ci

import (
	"io/fs"
	"slices"

	"github.com/kiln-ci/kiln/internal/machine"
)

// DefaultFile is the configuration file GitLab reads.
const DefaultFile = ".gitlab-ci.yml"

// LoadOptions configure Load.
type LoadOptions struct {
	Limits Limits
	// Context decides include rules and the variables used in include paths. Nil
	// means a push with no variables besides those of the YAML.
	Context *Context
	// Catalog, when set, also checks every job's tags and GPU request against these
	// machine types, as a coordinator with this catalog does when it creates a
	// pipeline: tags naming two machine types, malformed KILN_GPU_* values and
	// requests the machine type cannot give are errors at the job. The check reads
	// the variables the configuration sets, not those a project or pipeline adds.
	Catalog *machine.Catalog
}

// Load reads the configuration at path in fsys (the repository at a commit) the way
// GitLab does before it creates a pipeline: the YAML is read within limits, include
// files merged, extends and !reference resolved, the structure checked (see
// ValidateStructure), defaults applied, parallel jobs expanded, and the jobs checked
// together (stages, needs, dependencies), and with opts.Catalog each job's machine
// type and GPU request. It returns the configuration and every diagnostic; when any
// diagnostic is an error the configuration is nil.
//
// Load only reads fsys. It is safe to call concurrently.
func Load(fsys fs.FS, path string, opts LoadOptions) (*Config, Diagnostics) {
	cfg, files, diags := load(fsys, path, opts)
	return cfg, diags.tidy(files)
}

func load(fsys fs.FS, path string, opts LoadOptions) (*Config, []string, Diagnostics) {
	var d diags
	lim := opts.Limits.withDefaults()
	name := cleanRepoPath(path)
	if name == "" {
		d.errorf(Pos{File: path}, "%q is not a path inside the repository", path)
		return nil, nil, d.list
	}
	ctx := opts.Context
	if ctx == nil {
		ctx = &Context{}
	}
	predefined, settings := ctx.outerVariables()
	env := &ruleEnv{vars: append(predefined, settings...).ExpandAll(), changed: ctx.ChangedFiles, files: fsys}
	in := includer{fsys: fsys, lim: lim, d: &d, env: env}
	doc := in.load(name, Pos{}, nil)
	if doc == nil || d.hasErrors() {
		return nil, in.files, d.list
	}
	resolveExtends(doc, &d)
	if d.hasErrors() {
		return nil, in.files, d.list
	}
	resolveReferences(doc, lim.nodeBudget(countNodes(doc)), &d)
	if d.hasErrors() {
		return nil, in.files, d.list
	}
	d.add(ValidateStructure(doc)...)
	if d.hasErrors() {
		return nil, in.files, d.list
	}
	cfg := decodeConfig(doc, &d)
	if d.hasErrors() {
		return nil, in.files, d.list
	}
	if opts.Catalog != nil {
		checkPlacement(cfg, ctx, opts.Catalog, &d)
		if d.hasErrors() {
			return nil, in.files, d.list
		}
	}
	cfg.Files = in.files
	cfg.files = fsys
	return cfg, in.files, d.list
}

// decodeConfig turns a resolved, structurally valid document into a Config and runs
// GitLab's checks across jobs.
func decodeConfig(doc *Value, d *diags) *Config {
	dc := decoder{d: d, workflowRules: doc.Get("workflow").Has("rules")}
	cfg := &Config{
		Stages:    stagesOf(doc),
		Variables: dc.variables(doc.Get("variables")),
		Workflow:  dc.workflow(doc.Get("workflow")),
		doc:       doc,
	}
	if doc.Has("types") {
		d.warnf(doc.keyPos("types"), "types is deprecated; use stages")
	}
	def := defaultsOf(doc)
	for _, p := range doc.Pairs {
		if !isJobKey(p.Key) {
			continue
		}
		if !p.Value.IsMap() {
			d.errorf(p.KeyPos, "jobs:%s config should be a hash", p.Key)
			continue
		}
		folded := foldDefaults(p.Value, def)
		j := dc.job(p.Key, p.KeyPos, folded)
		cfg.Jobs = append(cfg.Jobs, dc.expandParallel(j, folded)...)
	}
	ix := newJobIndex(cfg.Jobs, cfg.Stages)
	if !d.hasErrors() {
		for _, j := range cfg.Jobs {
			dc.normalizeNeeds(j, ix)
		}
		dc.checkJobs(cfg.Jobs, ix, doc.Pos)
	}
	if cfg.Workflow.HasRules {
		for _, r := range cfg.Workflow.Rules {
			if r.When != "" && !slices.Contains([]string{"always", "never"}, r.When) {
				d.errorf(r.Pos, "workflow:rules:rule when should be one of: always, never")
			}
		}
	}
	return cfg
}

// Job returns the job (instance) named name, or nil.
func (c *Config) Job(name string) *JobConfig {
	for _, j := range c.Jobs {
		if j.Name == name {
			return j
		}
	}
	return nil
}
