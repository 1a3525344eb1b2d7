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
	p, ok := h.params(w, r)
	if !ok {
		return
	}
	content, err := p.required("content")
	if err == nil {
		err = notDryRun(p)
	}
	jobs, err2 := p.boolean("include_jobs", false)
	if err == nil {
		err = err2
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	reply.JSON(w, http.StatusOK, lintResult(overlay{name: ci.DefaultFile, content: []byte(content)}, ci.DefaultFile, jobs))
}

// lintProjectContent is POST /projects/:id/ci/lint: content checked in the
// project's context, include:local reading the project's files at ref (its default
// branch by default). Kiln does static checks: dry_run=true is refused.
func (h *Handler) lintProjectContent(w http.ResponseWriter, r *http.Request) {
	proj, ok := h.project(w, r, auth.ReadAccess)
	if !ok {
		return
	}
	p, ok := h.params(w, r)
	if !ok {
		return
	}
	content, err := p.required("content")
	if err == nil {
		err = notDryRun(p)
	}
	jobs, err2 := p.boolean("include_jobs", false)
	if err == nil {
		err = err2
	}
	ref, err3 := p.str("ref")
	if err == nil {
		err = err3
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	tree, err := h.projectTree(r.Context(), proj, ref)
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
	reply.JSON(w, http.StatusOK, lintResult(overlay{base: base, name: file, content: []byte(content)}, file, jobs))
}

// lintProject is GET /projects/:id/ci/lint: the project's own CI configuration at
// content_ref (or sha; the default branch by default).
func (h *Handler) lintProject(w http.ResponseWriter, r *http.Request) {
	proj, ok := h.project(w, r, auth.ReadAccess)
	if !ok {
		return
	}
	p, ok := h.params(w, r)
	if !ok {
		return
	}
	err := notDryRun(p)
	jobs, err2 := p.boolean("include_jobs", false)
	if err == nil {
		err = err2
	}
	ref, err3 := p.str("content_ref")
	if err == nil {
		err = err3
	}
	if ref == "" {
		ref, _ = p.str("sha")
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	tree, err := h.projectTree(r.Context(), proj, ref)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if tree == nil {
		reply.JSON(w, http.StatusOK, entity.Lint{Errors: []string{"Please provide content of " + proj.CIConfigPath},
			Warnings: []string{}, Includes: []entity.LintInclude{}})
		return
	}
	defer tree.Close()
	if _, err := fs.Stat(tree, proj.CIConfigPath); err != nil {
		reply.JSON(w, http.StatusOK, entity.Lint{Errors: []string{"Please provide content of " + proj.CIConfigPath},
			Warnings: []string{}, Includes: []entity.LintInclude{}})
		return
	}
	reply.JSON(w, http.StatusOK, lintResult(tree, proj.CIConfigPath, jobs))
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

// lintResult checks the configuration at file in fsys.
func lintResult(fsys fs.FS, file string, withJobs bool) entity.Lint {
	cfg, diags := ci.Load(fsys, file, ci.LoadOptions{})
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
