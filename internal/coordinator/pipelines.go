package coordinator

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"strings"

	"github.com/kiln-ci/kiln/internal/ci"
	"github.com/kiln-ci/kiln/internal/coordinator/predefined"
	"github.com/kiln-ci/kiln/internal/git"
	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/store"
)

// CreatePipelineRequest asks for a pipeline of a project at a ref.
type CreatePipelineRequest struct {
	ProjectID int64
	// Ref is a branch or tag name; "refs/heads/..." and "refs/tags/..." are accepted.
	// A bare name that is both a branch and a tag means the branch.
	Ref string
	// SHA is the commit; empty means the ref's tip. BeforeSHA is the previous tip of
	// the branch (a push), empty when unknown.
	SHA, BeforeSHA string
	// Source is CI_PIPELINE_SOURCE: store.SourcePush, SourceAPI, SourceWeb, ...
	Source string
	// UserID is who triggered it (0 for none).
	UserID int64
	// Variables given with the request (API, web form); they have the highest
	// precedence.
	Variables []store.PipelineVariable
	// ChangedFiles are the files the push changed (rules:changes); nil means unknown,
	// and then changes clauses are true, as in GitLab.
	ChangedFiles []string
	// SaveOnErrors keeps a pipeline whose configuration is invalid, failed with the
	// errors visible (pushes, as GitLab does); otherwise an invalid configuration is a
	// KindInvalid error and nothing is created (the API, as GitLab does).
	SaveOnErrors bool
}

// ErrNoPipeline is wrapped by CreatePipeline's KindInvalid error when the
// configuration creates no pipeline for this context: workflow:rules filtered it
// out, rules left no job, or the project has no CI configuration file. The message
// says which, in GitLab's words.
var ErrNoPipeline = errors.New("no pipeline")

// CreatePipeline compiles the project's CI configuration at the ref's commit and
// stores the pipeline with its jobs, creates refs/pipelines/<id> in the repository for
// runners' refspecs, and starts it (jobs that may run become pending). The variables
// are GitLab's layers: predefined, YAML, then instance, group and project variables
// (protected ones only for a protected ref: the default branch and tags), then the
// request's. An invalid configuration gives a failed pipeline with the errors in
// YAMLErrors when SaveOnErrors is set, else a KindInvalid error.
func (s *Service) CreatePipeline(ctx context.Context, req CreatePipelineRequest) (*store.Pipeline, error) {
	in, err := s.pipelineInput(ctx, req)
	if err != nil {
		return nil, err
	}
	defer in.tree.Close()
	log := s.log.With("project", in.project.FullPath, "ref", in.ref, "sha", in.sha, "source", req.Source)

	if _, err := fs.Stat(in.tree, in.project.CIConfigPath); errors.Is(err, fs.ErrNotExist) {
		return nil, newError(KindInvalid, ErrNoPipeline, "Missing CI config file: %s not found at %s", in.project.CIConfigPath, shortSHA(in.sha))
	}
	cfg, diags := ci.Load(in.tree, in.project.CIConfigPath, ci.LoadOptions{Context: &in.ctx})
	if diags.HasErrors() {
		return s.invalidPipeline(ctx, req, in, diags.Errors(), log)
	}
	compiled, err := cfg.Compile(in.ctx)
	switch {
	case errors.Is(err, ci.ErrFilteredOut), errors.Is(err, ci.ErrNoJobs):
		reason := ci.ErrFilteredOut.Error()
		if errors.Is(err, ci.ErrNoJobs) {
			reason = ci.ErrNoJobs.Error()
		}
		log.Info("no pipeline created", "reason", reason)
		return nil, newError(KindInvalid, fmt.Errorf("%w: %w", ErrNoPipeline, err), "%s", reason)
	case err != nil:
		return s.invalidPipeline(ctx, req, in, ci.AsDiagnostics(err), log)
	}
	jobs, problems := s.storeJobs(compiled, in)
	if len(problems) > 0 {
		return s.invalidPipeline(ctx, req, in, problems, log)
	}
	pl := in.pipeline(store.StatusCreated, compiled.Name, "")
	if err := s.st.Pipelines.CreatePipeline(ctx, pl, jobs); err != nil {
		return nil, fmt.Errorf("storing the pipeline of %s at %s: %w", in.project.FullPath, in.ref, err)
	}
	log = log.With("pipeline", pl.ID)
	ref := fmt.Sprintf("refs/pipelines/%d", pl.ID)
	if err := in.repo.UpdateRef(ctx, ref, in.sha, ""); err != nil {
		// Without the persistent ref the runners' fetch fails: fail the pipeline now.
		log.Error("creating the pipeline's persistent ref", "ref", ref, "error", err)
		s.failCreatedPipeline(ctx, pl.ID, "creating "+ref+" failed")
		return nil, fmt.Errorf("creating %s in %s: %w", ref, in.project.FullPath, err)
	}
	log.Info("pipeline created", "jobs", len(jobs), "iid", pl.IID)
	if err := s.processPipeline(ctx, pl.ID); err != nil {
		return nil, err
	}
	out, err := s.st.Pipelines.Pipeline(ctx, pl.ID)
	if err != nil {
		return nil, fmt.Errorf("reading pipeline %d: %w", pl.ID, err)
	}
	return out, nil
}

// invalidPipeline answers a configuration error: a failed pipeline showing it, or
// the error itself.
func (s *Service) invalidPipeline(ctx context.Context, req CreatePipelineRequest, in *pipelineInput, diags ci.Diagnostics, log *slog.Logger) (*store.Pipeline, error) {
	lines := make([]string, len(diags))
	for i, d := range diags {
		lines[i] = d.String()
	}
	msg := strings.Join(lines, "\n")
	if !req.SaveOnErrors {
		return nil, newError(KindInvalid, nil, "%s", msg)
	}
	pl := in.pipeline(store.StatusFailed, "", msg)
	if err := s.st.Pipelines.CreatePipeline(ctx, pl, nil); err != nil {
		return nil, fmt.Errorf("storing the failed pipeline of %s at %s: %w", in.project.FullPath, in.ref, err)
	}
	log.Info("pipeline failed: invalid CI configuration", "pipeline", pl.ID, "errors", len(diags))
	return pl, nil
}

func (s *Service) failCreatedPipeline(ctx context.Context, id int64, why string) {
	jobs, err := s.st.Jobs.ListJobs(ctx, store.JobQuery{PipelineID: id, Page: store.Page{Limit: store.MaxPageLimit}})
	if err == nil {
		for _, j := range jobs {
			_, _ = s.transition(ctx, j.ID, store.JobTransition{From: []store.Status{store.StatusCreated},
				To: store.StatusFailed, FailureReason: protocol.FailureAPI, KilnMessage: why})
		}
	}
	if _, err := s.st.Pipelines.SetPipelineStatus(ctx, id, store.StatusFailed); err != nil {
		s.log.Error("failing a pipeline", "pipeline", id, "error", err)
	}
}

// pipelineInput is what creating one pipeline gathers before compiling.
type pipelineInput struct {
	project    *store.Project
	namespaces []store.Namespace // top-level first
	repo       *git.Repo
	tree       *git.TreeFS
	ref        string
	tag        bool
	sha        string
	before     string
	protected  bool
	req        CreatePipelineRequest
	ctx        ci.Context
}

func (in *pipelineInput) pipeline(status store.Status, name, yamlErrors string) *store.Pipeline {
	return &store.Pipeline{
		ProjectID: in.project.ID, Ref: in.ref, Tag: in.tag, Protected: in.protected, SHA: in.sha,
		BeforeSHA: in.before, Source: in.req.Source, Status: status, Name: name, YAMLErrors: yamlErrors,
		UserID: in.req.UserID, Variables: in.req.Variables,
	}
}

func (s *Service) pipelineInput(ctx context.Context, req CreatePipelineRequest) (*pipelineInput, error) {
	if req.Source == "" {
		req.Source = store.SourceAPI
	}
	if err := checkPipelineVariables(req.Variables); err != nil {
		return nil, err
	}
	p, err := s.st.Projects.Project(ctx, req.ProjectID)
	if err != nil {
		return nil, notFound(err, "project", req.ProjectID)
	}
	nss, err := s.st.Namespaces.Ancestors(ctx, p.NamespaceID)
	if err != nil {
		return nil, fmt.Errorf("reading the namespaces of %s: %w", p.FullPath, err)
	}
	repo, err := s.cfg.Repos.Open(p.FullPath)
	if err != nil {
		return nil, newError(KindInvalid, err, "project %s has no repository", p.FullPath)
	}
	in := &pipelineInput{project: p, namespaces: nss, repo: repo, req: req, before: req.BeforeSHA}
	if err := s.resolveRef(ctx, in, req.Ref, req.SHA); err != nil {
		return nil, err
	}
	commit, err := repo.Commit(ctx, in.sha)
	if err != nil {
		return nil, newError(KindInvalid, err, "commit %s not found in %s", shortSHA(in.sha), p.FullPath)
	}
	in.protected = in.tag || in.ref == p.DefaultBranch
	if in.tree, err = repo.TreeFS(ctx, in.sha); err != nil {
		return nil, fmt.Errorf("reading the tree of %s in %s: %w", shortSHA(in.sha), p.FullPath, err)
	}
	vars, err := s.settingVariables(ctx, p.ID, in.protected)
	if err != nil {
		in.tree.Close()
		return nil, err
	}
	var user *store.User
	if req.UserID != 0 {
		if user, err = s.st.Users.User(ctx, req.UserID); err != nil && !errors.Is(err, store.ErrNotFound) {
			in.tree.Close()
			return nil, fmt.Errorf("reading user %d: %w", req.UserID, err)
		}
	}
	predef := s.server.ServerVariables()
	predef = append(predef, s.server.ProjectVariables(p, nss)...)
	predef = append(predef, predefined.CommitVariables(commit)...)
	predef = append(predef, predefined.UserVariables(user)...)
	if in.before == "" {
		in.before = git.ZeroSHA
	}
	in.ctx = ci.Context{
		Ref: in.ref, Tag: in.tag, SHA: in.sha, BeforeSHA: in.before, Source: req.Source,
		DefaultBranch: p.DefaultBranch, Protected: in.protected, ChangedFiles: req.ChangedFiles, Files: in.tree,
		Predefined: predef, Instance: vars.instance, Group: vars.group, Project: vars.project,
		Pipeline: pipelineVariables(req.Variables),
	}
	return in, nil
}

// resolveRef settles the ref name, whether it is a tag, and the commit.
func (s *Service) resolveRef(ctx context.Context, in *pipelineInput, ref, sha string) error {
	name := ref
	var candidates []string
	switch {
	case strings.HasPrefix(ref, "refs/heads/"):
		name = strings.TrimPrefix(ref, "refs/heads/")
		candidates = []string{ref}
	case strings.HasPrefix(ref, "refs/tags/"):
		name = strings.TrimPrefix(ref, "refs/tags/")
		candidates = []string{ref}
	default:
		candidates = []string{"refs/heads/" + ref, "refs/tags/" + ref}
	}
	if name == "" || git.ValidateRefName("refs/heads/"+name, false) != nil {
		return newError(KindInvalid, nil, "ref %q is not a valid branch or tag name", ref)
	}
	for _, full := range candidates {
		tip, err := in.repo.ResolveRef(ctx, full)
		if errors.Is(err, git.ErrUnknownRevision) {
			continue
		}
		if err != nil {
			return fmt.Errorf("resolving %s in %s: %w", full, in.project.FullPath, err)
		}
		in.ref, in.tag = name, strings.HasPrefix(full, "refs/tags/")
		in.sha = tip
		if sha != "" {
			in.sha = sha
		}
		return nil
	}
	return newError(KindInvalid, nil, "Reference not found: %s is not a branch or tag of %s", ref, in.project.FullPath)
}

func shortSHA(sha string) string {
	if len(sha) > 8 {
		return sha[:8]
	}
	return sha
}

func checkPipelineVariables(vs []store.PipelineVariable) error {
	for i, v := range vs {
		if !store.ValidVariableKey(v.Key) {
			return newError(KindInvalid, nil, "variables[%d]: key %q must be 1 to 255 letters, digits or '_'", i, v.Key)
		}
		if v.VariableType != "" && v.VariableType != store.VariableEnv && v.VariableType != store.VariableFile {
			return newError(KindInvalid, nil, "variables[%d] (%s): variable_type %q must be env_var or file", i, v.Key, v.VariableType)
		}
	}
	return nil
}

func pipelineVariables(vs []store.PipelineVariable) jobspec.Variables {
	out := make(jobspec.Variables, 0, len(vs))
	for _, v := range vs {
		out = append(out, jobspec.Variable{Key: v.Key, Value: v.Value, File: v.VariableType == store.VariableFile})
	}
	return out
}

// settings are a project's instance, group and project variables as jobs get them.
type settings struct {
	instance, group, project jobspec.Variables
	keys                     []string
}

// settingVariables returns the variables of the instance, the project's groups and
// the project that apply to every job (environment scope "*"); protected ones only
// for a protected ref.
func (s *Service) settingVariables(ctx context.Context, projectID int64, protected bool) (settings, error) {
	all, err := s.st.Variables.VariablesForProject(ctx, projectID)
	if err != nil {
		return settings{}, fmt.Errorf("reading the CI/CD variables of project %d: %w", projectID, err)
	}
	var out settings
	for _, v := range all {
		if (v.Protected && !protected) || (v.EnvironmentScope != "" && v.EnvironmentScope != "*") {
			continue
		}
		jv := jobspec.Variable{Key: v.Key, Value: v.Value, Masked: v.Masked, File: v.VariableType == store.VariableFile, Raw: v.Raw}
		switch v.Owner.Kind {
		case store.OwnerInstance:
			out.instance = append(out.instance, jv)
		case store.OwnerGroup:
			out.group = append(out.group, jv)
		default:
			out.project = append(out.project, jv)
		}
		if !slices.Contains(out.keys, v.Key) {
			out.keys = append(out.keys, v.Key)
		}
	}
	return out, nil
}
