package userapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path"
	"time"

	"github.com/kiln-ci/kiln/internal/api/auth"
	"github.com/kiln-ci/kiln/internal/api/entity"
	"github.com/kiln-ci/kiln/internal/api/reply"
	"github.com/kiln-ci/kiln/internal/ci"
	"github.com/kiln-ci/kiln/internal/git"
	"github.com/kiln-ci/kiln/internal/store"
)

// lint is POST /ci/lint: content (required) checked as GitLab checks a
// .gitlab-ci.yml before it creates a pipeline, without a project (include:local
// finds nothing); include_jobs lists the jobs. 200 with GitLab's Ci::Lint::Result.
func (h *Handler) lint(w http.ResponseWriter, r *http.Request) {
	req, ok := h.lintRequest(w, r, true)
	if !ok {
		return
	}
	file := overlay{name: ci.DefaultFile, content: []byte(req.content)}
	reply.JSON(w, http.StatusOK, h.lintResult(file, ci.DefaultFile, req.jobs))
}

// lintProjectContent is POST /projects/:id/ci/lint: content checked in the
// project's context, include:local reading the project's files at ref (its default
// branch by default). Kiln does static checks: dry_run=true is refused.
func (h *Handler) lintProjectContent(w http.ResponseWriter, r *http.Request) {
	proj, ok := h.project(w, r, auth.ReadAccess)
	if !ok {
		return
	}
	req, ok := h.lintRequest(w, r, true, "ref")
	if !ok {
		return
	}
	tree, err := h.projectTree(r.Context(), proj, req.ref)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var base fs.FS
	if tree != nil {
		defer tree.Close()
		base = tree
	}
	file := proj.CIConfigPath
	reply.JSON(w, http.StatusOK, h.lintResult(overlay{base: base, name: file, content: []byte(req.content)}, file, req.jobs))
}

// lintProject is GET /projects/:id/ci/lint: the project's own CI configuration at
// content_ref (or sha; the default branch by default).
func (h *Handler) lintProject(w http.ResponseWriter, r *http.Request) {
	proj, ok := h.project(w, r, auth.ReadAccess)
	if !ok {
		return
	}
	req, ok := h.lintRequest(w, r, false, "content_ref", "sha")
	if !ok {
		return
	}
	tree, err := h.projectTree(r.Context(), proj, req.ref)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if tree != nil {
		defer tree.Close()
	}
	if tree == nil || !exists(tree, proj.CIConfigPath) {
		reply.JSON(w, http.StatusOK, entity.Lint{Errors: []string{"Please provide content of " + proj.CIConfigPath},
			Warnings: []string{}, Includes: []entity.LintInclude{}})
		return
	}
	reply.JSON(w, http.StatusOK, h.lintResult(tree, proj.CIConfigPath, req.jobs))
}

func exists(fsys fs.FS, name string) bool {
	_, err := fs.Stat(fsys, name)
	return err == nil
}

// lintParams are the parameters of the lint endpoints.
type lintParams struct {
	content string // the configuration to check
	ref     string // where include:local reads, "" for the default branch
	jobs    bool   // include_jobs
}

// lintRequest reads a lint endpoint's parameters: content when withContent (then
// required), dry_run (refused when true: Kiln lints statically), include_jobs, and
// the ref from the first of refKeys given. A bad parameter is answered and ok is
// false.
func (h *Handler) lintRequest(w http.ResponseWriter, r *http.Request, withContent bool, refKeys ...string) (lintParams, bool) {
	p, ok := h.params(w, r)
	if !ok {
		return lintParams{}, false
	}
	req, err := readLintParams(p, withContent, refKeys)
	if err != nil {
		h.fail(w, r, err)
		return lintParams{}, false
	}
	return req, true
}

func readLintParams(p params, withContent bool, refKeys []string) (lintParams, error) {
	var req lintParams
	var err error
	if withContent {
		if req.content, err = p.required("content"); err != nil {
			return req, err
		}
	}
	if err := notDryRun(p); err != nil {
		return req, err
	}
	if req.jobs, err = p.boolean("include_jobs", false); err != nil {
		return req, err
	}
	for _, k := range refKeys {
		if req.ref, err = p.str(k); err != nil || req.ref != "" {
			return req, err
		}
	}
	return req, nil
}

func notDryRun(p params) error {
	if dry, err := p.boolean("dry_run", false); err != nil || !dry {
		return err
	}
	return badValueWhy("dry_run", "Kiln lints statically; leave dry_run false")
}

// projectTree opens the project's files at ref (a branch, tag or commit; the
// default branch when empty). nil, nil for a repository without that branch yet
// (an empty project); 400 {"error": ...} for an unknown ref.
func (h *Handler) projectTree(ctx context.Context, p *store.Project, ref string) (*git.TreeFS, error) {
	repo, err := h.repos.Open(p.FullPath)
	if err != nil {
		return nil, fmt.Errorf("opening the repository of %s: %w", p.FullPath, err)
	}
	rev := ref
	if ref == "" {
		rev = "refs/heads/" + p.DefaultBranch
	}
	sha, err := repo.ResolveRef(ctx, rev)
	switch {
	case ref == "" && errors.Is(err, git.ErrUnknownRevision):
		return nil, nil
	case err != nil:
		return nil, badValueWhy("ref", fmt.Sprintf("%q is not a branch, tag or commit of %s", ref, p.FullPath))
	}
	return repo.TreeFS(ctx, sha)
}

// lintResult checks the configuration at file in fsys, and each job's tags and GPU
// request against the server's machine types, as creating a pipeline does.
func (h *Handler) lintResult(fsys fs.FS, file string, withJobs bool) entity.Lint {
	cfg, diags := ci.Load(fsys, file, ci.LoadOptions{Catalog: h.svc.Catalog()})
	out := entity.Lint{Valid: cfg != nil, Errors: []string{}, Warnings: []string{}, Includes: []entity.LintInclude{}}
	for _, d := range diags {
		line := d.Message
		if pos := d.Pos.String(); pos != "" {
			line = pos + ": " + d.Message
		}
		if d.Severity == ci.SeverityWarning {
			out.Warnings = append(out.Warnings, line)
		} else {
			out.Errors = append(out.Errors, line)
		}
	}
	if cfg == nil {
		return out
	}
	if y, err := ci.MarshalYAML(cfg.Merged()); err == nil {
		out.MergedYAML = string(y)
	} else {
		out.Errors = append(out.Errors, "rendering the merged YAML: "+err.Error())
	}
	for _, f := range cfg.Files {
		if f != file {
			out.Includes = append(out.Includes, entity.LintInclude{Type: "local", Location: f})
		}
	}
	if withJobs {
		for _, j := range cfg.Jobs {
			out.Jobs = append(out.Jobs, entity.LintJob{Name: j.Name, Stage: j.Stage})
		}
	}
	return out
}

// overlay is a file system with one file of given content over base (which may be
// nil: then it holds that file only).
type overlay struct {
	base    fs.FS
	name    string
	content []byte
}

func (o overlay) Open(name string) (fs.File, error) {
	if path.Clean(name) == path.Clean(o.name) {
		return &memFile{name: path.Base(o.name), r: bytes.NewReader(o.content), size: int64(len(o.content))}, nil
	}
	if o.base == nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return o.base.Open(name)
}

// memFile is an open in-memory file.
type memFile struct {
	name string
	r    *bytes.Reader
	size int64
}

func (f *memFile) Stat() (fs.FileInfo, error)         { return f, nil }
func (f *memFile) Read(p []byte) (int, error)         { return f.r.Read(p) }
func (f *memFile) Close() error                       { return nil }
func (f *memFile) Name() string                       { return f.name }
func (f *memFile) Size() int64                        { return f.size }
func (f *memFile) Mode() fs.FileMode                  { return 0o444 }
func (f *memFile) ModTime() time.Time                 { return time.Time{} }
func (f *memFile) IsDir() bool                        { return false }
func (f *memFile) Sys() any                           { return nil }
func (f *memFile) Seek(o int64, w int) (int64, error) { return f.r.Seek(o, w) }

var _ io.ReadSeeker = (*memFile)(nil)
