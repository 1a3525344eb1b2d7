package userapi

import (
	"context"
	"errors"
	"net/http"
	"slices"

	"github.com/kiln-ci/kiln/internal/api/auth"
	"github.com/kiln-ci/kiln/internal/api/entity"
	"github.com/kiln-ci/kiln/internal/api/reply"
	"github.com/kiln-ci/kiln/internal/coordinator"
	"github.com/kiln-ci/kiln/internal/store"
)

var (
	runnerTypes   = []string{store.RunnerInstance, store.RunnerGroup, store.RunnerProject}
	accessLevels  = []string{store.AccessNotProtected, store.AccessRefProtected}
	runnerStatues = []string{"online", "offline", "stale", "never_contacted"}
)

// createRunner is POST /user/runners: runner_type (instance_type for
// administrators, group_type with group_id for the group's owners, project_type
// with project_id for those who may write to the project), description, paused,
// locked, run_untagged, tag_list, access_level, maximum_timeout, and Kiln's
// machine_type (a catalog tag: the runner serves that machine type and carries its
// tag). run_untagged defaults to true for the machine type that runs untagged jobs,
// or for a runner without tags or machine type. 201 {id, token: "glrt-…",
// token_expires_at}; the token is shown once.
func (h *Handler) createRunner(w http.ResponseWriter, r *http.Request) {
	p, ok := h.params(w, r)
	if !ok {
		return
	}
	me := caller(r)
	req := coordinator.CreateRunnerRequest{CreatorID: me.ID}
	typ, err := p.required("runner_type")
	if err == nil && !slices.Contains(runnerTypes, typ) {
		err = badValue("runner_type")
	}
	req.Type = typ
	switch {
	case err != nil:
	case typ == store.RunnerGroup:
		if req.NamespaceID, err = p.id("group_id"); err == nil && req.NamespaceID == 0 {
			err = missing("group_id")
		}
	case typ == store.RunnerProject:
		if req.ProjectID, err = p.id("project_id"); err == nil && req.ProjectID == 0 {
			err = missing("project_id")
		}
	}
	if err == nil {
		err = readRunnerSettings(p, &req)
	}
	if err == nil && !p.has("run_untagged") {
		untagged, ok := h.svc.Catalog().Untagged()
		req.RunUntagged = req.MachineType == "" && len(req.Tags) == 0 || ok && req.MachineType == untagged.Tag
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if !h.mayOwnRunner(w, r, me, req.Type, req.NamespaceID, req.ProjectID) {
		return
	}
	runner, token, err := h.svc.CreateRunner(r.Context(), req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.Info("runner created", "runner", runner.ID, "type", runner.Type, "machine_type", runner.MachineType, "by", me.Username)
	reply.JSON(w, http.StatusCreated, entity.RunnerCreated{ID: runner.ID, Token: token, TokenExpiresAt: optTime(runner.TokenExpiresAt)})
}

// readRunnerSettings reads the settings POST /user/runners and PUT /runners/:id share.
func readRunnerSettings(p params, req *coordinator.CreateRunnerRequest) error {
	var err error
	if p.has("description") {
		if req.Description, err = p.str("description"); err != nil {
			return err
		}
	}
	if p.has("active") { // GitLab's deprecated inverse of paused
		active, err := p.boolean("active", true)
		if err != nil {
			return err
		}
		req.Paused = !active
	}
	for _, f := range []boolField{{"paused", &req.Paused}, {"locked", &req.Locked}, {"run_untagged", &req.RunUntagged}} {
		if *f.dst, err = p.boolean(f.name, *f.dst); err != nil {
			return err
		}
	}
	if p.has("tag_list") {
		if req.Tags, err = p.list("tag_list"); err != nil {
			return err
		}
	}
	if req.AccessLevel, err = p.oneOf("access_level", req.AccessLevel, accessLevels...); err != nil {
		return err
	}
	if req.MaximumTimeout, err = p.integer("maximum_timeout", req.MaximumTimeout); err != nil {
		return err
	}
	if p.has("machine_type") {
		req.MachineType, err = p.str("machine_type")
	}
	return err
}

// mayOwnRunner checks the caller may own a runner of that type: administrators any,
// a group's owners its group runners, a project's writers its project runners.
// It answers 403 (404 for a project the caller cannot see) when not.
func (h *Handler) mayOwnRunner(w http.ResponseWriter, r *http.Request, me *store.User, typ string, groupID, projectID int64) bool {
	ctx := r.Context()
	switch typ {
	case store.RunnerGroup:
		g, err := h.st.Namespaces.Namespace(ctx, groupID)
		if errors.Is(err, store.ErrNotFound) || err == nil && g.Kind != store.NamespaceGroup {
			notFound(w, "Group")
			return false
		}
		if err != nil {
			h.fail(w, r, err)
			return false
		}
		owns, err := h.ownsNamespace(ctx, me, g)
		if err != nil {
			h.fail(w, r, err)
			return false
		}
		if !owns {
			forbidden(w, "you do not own group "+g.FullPath)
		}
		return owns
	case store.RunnerProject:
		access, p, err := h.projectAccess(ctx, me, projectID)
		if err != nil {
			h.fail(w, r, err)
			return false
		}
		switch {
		case access == auth.NoAccess:
			notFound(w, "Project")
			return false
		case access < auth.WriteAccess:
			forbidden(w, "you may not add runners to "+p.FullPath)
			return false
		}
		return true
	}
	if !me.Admin {
		forbidden(w, "only administrators may create instance runners")
	}
	return me.Admin
}

// projectAccess is the caller's access to a project by id (NoAccess when missing).
func (h *Handler) projectAccess(ctx context.Context, me *store.User, id int64) (auth.Access, *store.Project, error) {
	p, err := h.st.Projects.Project(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return auth.NoAccess, nil, nil
	}
	if err != nil {
		return auth.NoAccess, nil, err
	}
	access, err := auth.ProjectAccess(ctx, h.st.Namespaces, me, p)
	return access, p, err
}

// managesRunner reports whether the caller administers the runner: an
// administrator, its creator, or an owner of its group or a writer of its project.
func (h *Handler) managesRunner(ctx context.Context, me *store.User, rn *store.Runner) (bool, error) {
	if me.Admin || rn.CreatorID == me.ID {
		return true, nil
	}
	switch rn.Type {
	case store.RunnerGroup:
		g, err := h.st.Namespaces.Namespace(ctx, rn.NamespaceID)
		if errors.Is(err, store.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		return h.ownsNamespace(ctx, me, g)
	case store.RunnerProject:
		access, _, err := h.projectAccess(ctx, me, rn.ProjectID)
		return access >= auth.WriteAccess, err
	}
	return false, nil
}

// runnerFilter reads the filters of GET /runners: type, paused, status, tag_list.
func (h *Handler) runnerFilter(p params) (store.RunnerQuery, func(*store.Runner) bool, error) {
	var q store.RunnerQuery
	var err error
	if q.Type, err = p.oneOf("type", "", runnerTypes...); err != nil {
		return q, nil, err
	}
	if q.Paused, err = p.optBool("paused"); err != nil {
		return q, nil, err
	}
	status, err := p.oneOf("status", "", runnerStatues...)
	if err != nil {
		return q, nil, err
	}
	tags, err := p.list("tag_list")
	if err != nil {
		return q, nil, err
	}
	now := h.now()
	return q, func(rn *store.Runner) bool {
		if status != "" && runnerStatus(rn, now) != status {
			return false
		}
		for _, t := range tags {
			if !slices.Contains(rn.Tags, t) {
				return false
			}
		}
		return true
	}, nil
}

// listRunners is GET /runners: the runners the caller manages.
func (h *Handler) listRunners(w http.ResponseWriter, r *http.Request) { h.runnerList(w, r, false) }

// listAllRunners is GET /runners/all (administrators): every runner.
func (h *Handler) listAllRunners(w http.ResponseWriter, r *http.Request) { h.runnerList(w, r, true) }

func (h *Handler) runnerList(w http.ResponseWriter, r *http.Request, all bool) {
	p, pg, ok := h.pagedParams(w, r)
	if !ok {
		return
	}
	q, match, err := h.runnerFilter(p)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	me := caller(r)
	runners, err := scanAll(r.Context(), func(ctx context.Context, page store.Page) ([]store.Runner, error) {
		q.Page = page
		return h.st.Runners.ListRunners(ctx, q)
	}, func(rn *store.Runner) (bool, error) {
		if !match(rn) {
			return false, nil
		}
		if all {
			return true, nil
		}
		if rn.CreatorID == me.ID {
			return true, nil
		}
		if me.Admin { // an administrator's own list: the runners they created
			return false, nil
		}
		return h.managesRunner(r.Context(), me, rn)
	})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	page, total := slicePage(runners, pg)
	out := make([]entity.Runner, 0, len(page))
	for i := range page {
		out = append(out, h.runner(&page[i], h.now()))
	}
	h.setPageHeaders(w, r, pg, len(out), total)
	reply.JSON(w, http.StatusOK, out)
}

// managedRunner resolves {id} to a runner the caller manages: 404 when it does not
// exist, 403 when the caller may not manage it.
func (h *Handler) managedRunner(w http.ResponseWriter, r *http.Request) (*store.Runner, bool) {
	id, ok := pathInt64(w, r, "id", "Runner")
	if !ok {
		return nil, false
	}
	rn, err := h.st.Runners.Runner(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		notFound(w, "Runner")
		return nil, false
	}
	if err != nil {
		h.fail(w, r, err)
		return nil, false
	}
	ok, err = h.managesRunner(r.Context(), caller(r), rn)
	if err != nil {
		h.fail(w, r, err)
		return nil, false
	}
	if !ok {
		forbidden(w, "No access granted")
		return nil, false
	}
	return rn, true
}

// getRunner is GET /runners/:id: the runner in detail, with its GPU inventory.
func (h *Handler) getRunner(w http.ResponseWriter, r *http.Request) {
	if rn, ok := h.managedRunner(w, r); ok {
		reply.JSON(w, http.StatusOK, h.runnerDetails(rn, h.now()))
	}
}

// updateRunner is PUT /runners/:id: description, paused (or active), tag_list,
// run_untagged, locked, access_level, maximum_timeout and machine_type; fields
// not given keep their value. 200 with the runner.
func (h *Handler) updateRunner(w http.ResponseWriter, r *http.Request) {
	rn, ok := h.managedRunner(w, r)
	if !ok {
		return
	}
	p, ok := h.params(w, r)
	if !ok {
		return
	}
	req := coordinator.CreateRunnerRequest{Description: rn.Description, Tags: rn.Tags, RunUntagged: rn.RunUntagged,
		Paused: rn.Paused, Locked: rn.Locked, AccessLevel: rn.AccessLevel, MaximumTimeout: rn.MaximumTimeout,
		MachineType: rn.MachineType}
	if err := readRunnerSettings(p, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	updated := *rn
	updated.Description, updated.Tags, updated.RunUntagged, updated.Paused = req.Description, req.Tags, req.RunUntagged, req.Paused
	updated.Locked, updated.AccessLevel, updated.MaximumTimeout, updated.MachineType = req.Locked, req.AccessLevel, req.MaximumTimeout, req.MachineType
	if err := h.svc.UpdateRunner(r.Context(), &updated); err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.Info("runner updated", "runner", rn.ID, "paused", updated.Paused, "by", caller(r).Username)
	reply.JSON(w, http.StatusOK, h.runnerDetails(&updated, h.now()))
}

// deleteRunner is DELETE /runners/:id: 204; its token stops working at once.
func (h *Handler) deleteRunner(w http.ResponseWriter, r *http.Request) {
	rn, ok := h.managedRunner(w, r)
	if !ok {
		return
	}
	if err := h.svc.DeleteRunner(r.Context(), rn.ID); err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.Info("runner deleted", "runner", rn.ID, "by", caller(r).Username)
	w.WriteHeader(http.StatusNoContent)
}
