package userapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/kiln-ci/kiln/internal/api/auth"
	"github.com/kiln-ci/kiln/internal/api/entity"
	"github.com/kiln-ci/kiln/internal/api/reply"
	"github.com/kiln-ci/kiln/internal/git"
	"github.com/kiln-ci/kiln/internal/store"
)

var visibilities = []string{store.VisibilityPrivate, store.VisibilityInternal, store.VisibilityPublic}

// slug makes a project path from a name as GitLab does: lower case, runs of other
// characters as one '-', trimmed of special characters at both ends.
func slug(name string) string {
	var b strings.Builder
	dash := false
	for _, c := range strings.ToLower(name) {
		switch {
		case c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.':
			b.WriteRune(c)
			dash = false
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.Trim(b.String(), "-_.")
}

// createProject is POST /projects: name or path (one is derived from the other),
// namespace_id (the caller's own namespace by default), description, visibility
// (private by default), default_branch ("main") and ci_config_path. It creates the
// project's bare repository and then the record; a failure leaves neither. 201 with
// the project; 400 {"message": {"path": ["has already been taken"]}}.
func (h *Handler) createProject(w http.ResponseWriter, r *http.Request) {
	p, ok := h.params(w, r)
	if !ok {
		return
	}
	me := caller(r)
	proj, err := readNewProject(p, me)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ns, err := h.st.Namespaces.Namespace(r.Context(), proj.NamespaceID)
	if errors.Is(err, store.ErrNotFound) {
		notFound(w, "Namespace")
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	owns, err := h.ownsNamespace(r.Context(), me, ns)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if !owns {
		forbidden(w, "you may not create projects in "+ns.FullPath)
		return
	}
	fullPath := ns.FullPath + "/" + proj.Path
	if err := git.ValidatePath(fullPath); err != nil {
		h.fail(w, r, fieldErr("path", pathRule))
		return
	}
	if _, err := h.st.Projects.ProjectByPath(r.Context(), fullPath); err == nil {
		h.fail(w, r, fieldErr("path", "has already been taken"))
		return
	}
	if err := h.makeProject(r.Context(), proj, fullPath); err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.Info("project created", "project", proj.FullPath, "id", proj.ID, "by", me.Username)
	reply.JSON(w, http.StatusCreated, h.projectEntity(proj, ns))
}

func readNewProject(p params, me *store.User) (*store.Project, error) {
	proj := &store.Project{CreatorID: me.ID, NamespaceID: me.NamespaceID}
	var err error
	if proj.Name, err = p.str("name"); err != nil {
		return nil, err
	}
	if proj.Path, err = p.str("path"); err != nil {
		return nil, err
	}
	proj.Name, proj.Path = strings.TrimSpace(proj.Name), strings.TrimSpace(proj.Path)
	switch {
	case proj.Name == "" && proj.Path == "":
		return nil, &paramError{"name, path are missing, at least one parameter must be provided"}
	case proj.Path == "":
		proj.Path = slug(proj.Name)
	case proj.Name == "":
		proj.Name = proj.Path
	}
	if err := checkSegment("path", proj.Path); err != nil {
		return nil, err
	}
	if id, err := p.id("namespace_id"); err != nil {
		return nil, err
	} else if id != 0 {
		proj.NamespaceID = id
	}
	if proj.Description, err = p.str("description"); err != nil {
		return nil, err
	}
	if proj.Visibility, err = p.oneOf("visibility", store.VisibilityPrivate, visibilities...); err != nil {
		return nil, err
	}
	if proj.DefaultBranch, err = p.str("default_branch"); err != nil {
		return nil, err
	}
	if proj.DefaultBranch == "" {
		proj.DefaultBranch = "main"
	}
	if git.ValidateRefName("refs/heads/"+proj.DefaultBranch, false) != nil {
		return nil, fieldErr("default_branch", "is not a valid branch name")
	}
	if proj.CIConfigPath, err = p.str("ci_config_path"); err != nil {
		return nil, err
	}
	return proj, nil
}

// makeProject creates the repository, then the record. A repository already there
// without a record is taken over: it is what an interrupted creation left (no push
// reaches a repository without a project). When the record cannot be stored the
// repository is removed again, unless another request stored the path first.
func (h *Handler) makeProject(ctx context.Context, proj *store.Project, fullPath string) error {
	created := true
	_, err := h.repos.Create(ctx, fullPath, git.CreateOptions{DefaultBranch: proj.DefaultBranch})
	switch {
	case errors.Is(err, git.ErrExists):
		created = false
		h.log.Warn("taking over a repository without a project", "project", fullPath)
	case errors.Is(err, git.ErrInvalidPath):
		return fieldErr("path", pathRule)
	case err != nil:
		return fmt.Errorf("creating the repository of %s: %w", fullPath, err)
	}
	err = h.st.Projects.CreateProject(ctx, proj)
	if errors.Is(err, store.ErrConflict) {
		return fieldErr("path", "has already been taken")
	}
	if err != nil {
		if created {
			if derr := h.repos.Delete(context.WithoutCancel(ctx), fullPath); derr != nil {
				h.log.Error("removing the repository of a project that was not stored", "project", fullPath, "error", derr)
			}
		}
		return err
	}
	return nil
}

// getProject is GET /projects/:id (numeric id or URL-encoded full path).
func (h *Handler) getProject(w http.ResponseWriter, r *http.Request) {
	p, ok := h.project(w, r, auth.ReadAccess)
	if !ok {
		return
	}
	ns, err := h.st.Namespaces.Namespace(r.Context(), p.NamespaceID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	reply.JSON(w, http.StatusOK, h.projectEntity(p, ns))
}

// listProjects is GET /projects (filters: search, visibility, owned, membership):
// the projects the caller may see, newest first. Anonymous callers see public ones.
func (h *Handler) listProjects(w http.ResponseWriter, r *http.Request) {
	p, pg, ok := h.pagedParams(w, r)
	if !ok {
		return
	}
	search, err := p.str("search")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	visibility, err := p.oneOf("visibility", "", visibilities...)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	owned, err := p.boolean("owned", false)
	if err == nil && !owned {
		owned, err = p.boolean("membership", false)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	me := caller(r)
	var projects []store.Project
	total := 0
	if me != nil && me.Admin && search == "" && visibility == "" && !owned {
		projects, total, err = storePage(r.Context(), pg, func(ctx context.Context, page store.Page) ([]store.Project, error) {
			return h.st.Projects.ListProjects(ctx, store.ProjectQuery{Page: page})
		})
	} else {
		nss := auth.CachedAncestors(h.st.Namespaces)
		search = strings.ToLower(search)
		var all []store.Project
		all, err = scanAll(r.Context(), func(ctx context.Context, page store.Page) ([]store.Project, error) {
			return h.st.Projects.ListProjects(ctx, store.ProjectQuery{Page: page})
		}, func(pr *store.Project) (bool, error) {
			if visibility != "" && pr.Visibility != visibility ||
				search != "" && !strings.Contains(strings.ToLower(pr.Name), search) && !strings.Contains(strings.ToLower(pr.FullPath), search) {
				return false, nil
			}
			if owned {
				if me == nil {
					return false, nil
				}
				if pr.CreatorID == me.ID {
					return true, nil
				}
				return auth.OwnsNamespace(r.Context(), nss, me.ID, pr.NamespaceID)
			}
			access, err := auth.ProjectAccess(r.Context(), nss, me, pr)
			return access >= auth.ReadAccess, err
		})
		projects, total = slicePage(all, pg)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]entity.Project, 0, len(projects))
	namespaces := map[int64]*store.Namespace{}
	for i := range projects {
		ns, seen := namespaces[projects[i].NamespaceID]
		if !seen {
			if ns, err = h.st.Namespaces.Namespace(r.Context(), projects[i].NamespaceID); err != nil {
				h.fail(w, r, err)
				return
			}
			namespaces[ns.ID] = ns
		}
		out = append(out, h.projectEntity(&projects[i], ns))
	}
	h.setPageHeaders(w, r, pg, len(out), total)
	reply.JSON(w, http.StatusOK, out)
}
