package userapi

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/kiln-ci/kiln/internal/api/entity"
	"github.com/kiln-ci/kiln/internal/api/reply"
	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/store"
)

// plans are the values of Kiln's plan field.
var plans = []string{machine.PlanFree, machine.PlanPremium, machine.PlanUltimate}

// createGroup is POST /groups: name and path required; parent_id makes a subgroup
// (its parent's owners and administrators may); plan is Kiln's field, free, premium
// or ultimate, for a top-level group, and only administrators set one other than
// free. 201 with the group; 400 {"message": {"path": ["has already been taken"]}}.
func (h *Handler) createGroup(w http.ResponseWriter, r *http.Request) {
	p, ok := h.params(w, r)
	if !ok {
		return
	}
	me := caller(r)
	g := &store.Namespace{OwnerID: me.ID}
	var err error
	if g.Name, err = p.required("name"); err == nil {
		if g.Path, err = p.required("path"); err == nil {
			if g.ParentID, err = p.id("parent_id"); err == nil {
				g.Plan, err = p.oneOf("plan", "", plans...)
			}
		}
	}
	if err == nil {
		err = checkSegment("path", g.Path)
	}
	switch {
	case err != nil:
	case g.ParentID != 0 && g.Plan != "":
		err = fieldErr("plan", "is the top-level group's: a subgroup has none")
	case g.Plan != "" && g.Plan != machine.PlanFree && !me.Admin:
		forbidden(w, "only administrators may set a plan")
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	fullPath := g.Path
	if g.ParentID != 0 {
		parent, err := h.st.Namespaces.Namespace(r.Context(), g.ParentID)
		if errors.Is(err, store.ErrNotFound) || err == nil && parent.Kind != store.NamespaceGroup {
			notFound(w, "Parent Group")
			return
		}
		if err != nil {
			h.fail(w, r, err)
			return
		}
		owns, err := h.ownsNamespace(r.Context(), me, parent)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if !owns {
			forbidden(w, "you may not create a subgroup in "+parent.FullPath)
			return
		}
		fullPath = parent.FullPath + "/" + g.Path
	}
	if _, err := h.st.Namespaces.NamespaceByPath(r.Context(), fullPath); err == nil {
		h.fail(w, r, fieldErr("path", "has already been taken"))
		return
	}
	err = h.st.Namespaces.CreateGroup(r.Context(), g)
	if errors.Is(err, store.ErrConflict) {
		err = fieldErr("path", "has already been taken")
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.Info("group created", "group", g.FullPath, "plan", g.Plan, "by", me.Username)
	full, err := h.fullName(r.Context(), g)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	reply.JSON(w, http.StatusCreated, h.group(g, full))
}

// fullName is GitLab's "Parent / Child" name of a group.
func (h *Handler) fullName(ctx context.Context, ns *store.Namespace) (string, error) {
	if ns.ParentID == 0 {
		return ns.Name, nil
	}
	chain, err := h.st.Namespaces.Ancestors(ctx, ns.ID)
	if err != nil {
		return "", err
	}
	names := make([]string, len(chain))
	for i, n := range chain {
		names[i] = n.Name
	}
	return strings.Join(names, " / "), nil
}

// visibleNamespaces returns the namespaces the caller administers (all of them for an
// administrator: see ownsNamespace), of kind when set, whose name or path contains
// search. It reads the namespaces once and walks their parents in memory.
func (h *Handler) visibleNamespaces(ctx context.Context, me *store.User, kind, search string) ([]store.Namespace, error) {
	all, err := scanAll(ctx, h.st.Namespaces.ListNamespaces, func(*store.Namespace) (bool, error) { return true, nil })
	if err != nil {
		return nil, err
	}
	byID := make(map[int64]*store.Namespace, len(all))
	for i := range all {
		byID[all[i].ID] = &all[i]
	}
	owns := func(ns *store.Namespace) bool {
		for n, depth := ns, 0; n != nil && depth <= 64; n, depth = byID[n.ParentID], depth+1 {
			if n.OwnerID == me.ID {
				return true
			}
		}
		return me.Admin
	}
	search = strings.ToLower(search)
	out := []store.Namespace{}
	for i := range all {
		ns := &all[i]
		switch {
		case kind != "" && ns.Kind != kind:
		case search != "" && !strings.Contains(strings.ToLower(ns.Name), search) && !strings.Contains(strings.ToLower(ns.FullPath), search):
		case owns(ns):
			out = append(out, *ns)
		}
	}
	return out, nil
}

// listGroups is GET /groups (filter: search): the groups the caller owns, every
// group for an administrator.
func (h *Handler) listGroups(w http.ResponseWriter, r *http.Request) {
	h.listNamespacesOf(w, r, store.NamespaceGroup)
}

// listNamespaces is GET /namespaces (filter: search): the caller's own namespace
// and the groups they own; all of them for an administrator.
func (h *Handler) listNamespaces(w http.ResponseWriter, r *http.Request) {
	h.listNamespacesOf(w, r, "")
}

func (h *Handler) listNamespacesOf(w http.ResponseWriter, r *http.Request, kind string) {
	p, pg, ok := h.pagedParams(w, r)
	if !ok {
		return
	}
	search, _ := p.str("search")
	all, err := h.visibleNamespaces(r.Context(), caller(r), kind, search)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	page, total := slicePage(all, pg)
	h.setPageHeaders(w, r, pg, len(page), total)
	if kind == store.NamespaceGroup {
		out := make([]entity.Group, 0, len(page))
		for i := range page {
			full, err := h.fullName(r.Context(), &page[i])
			if err != nil {
				h.fail(w, r, err)
				return
			}
			out = append(out, h.group(&page[i], full))
		}
		reply.JSON(w, http.StatusOK, out)
		return
	}
	out := make([]entity.Namespace, 0, len(page))
	for i := range page {
		out = append(out, h.namespaceEntity(&page[i]))
	}
	reply.JSON(w, http.StatusOK, out)
}

// getGroup is GET /groups/:id (id or URL-encoded full path).
func (h *Handler) getGroup(w http.ResponseWriter, r *http.Request) {
	g, ok := h.namespace(w, r, store.NamespaceGroup, "Group")
	if !ok {
		return
	}
	full, err := h.fullName(r.Context(), g)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	reply.JSON(w, http.StatusOK, h.group(g, full))
}

// getNamespace is GET /namespaces/:id (id or URL-encoded full path).
func (h *Handler) getNamespace(w http.ResponseWriter, r *http.Request) {
	ns, ok := h.namespace(w, r, "", "Namespace")
	if !ok {
		return
	}
	reply.JSON(w, http.StatusOK, h.namespaceEntity(ns))
}

// updateNamespace is PUT /namespaces/:id (administrators): Kiln's plan of a
// top-level namespace. 200 with the namespace.
func (h *Handler) updateNamespace(w http.ResponseWriter, r *http.Request) {
	ns, ok := h.namespace(w, r, "", "Namespace")
	if !ok {
		return
	}
	p, ok := h.params(w, r)
	if !ok {
		return
	}
	plan, err := p.oneOf("plan", "", plans...)
	switch {
	case err != nil:
	case plan == "":
		err = missing("plan")
	case ns.ParentID != 0:
		err = fieldErr("plan", "is the top-level group's: set it on "+strings.SplitN(ns.FullPath, "/", 2)[0])
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.st.Namespaces.SetPlan(r.Context(), ns.ID, plan); err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.Info("namespace plan changed", "namespace", ns.FullPath, "from", ns.Plan, "to", plan, "by", caller(r).Username)
	ns.Plan = plan
	reply.JSON(w, http.StatusOK, h.namespaceEntity(ns))
}

// computeUsage is Kiln's GET /namespaces/:id/compute_usage: the compute minutes of
// the namespace's top-level namespace this month, its quota, what is left and the
// warning a person should see (at 25 %, 5 % and 0 % left).
func (h *Handler) computeUsage(w http.ResponseWriter, r *http.Request) {
	ns, ok := h.namespace(w, r, "", "Namespace")
	if !ok {
		return
	}
	rep, err := h.svc.ComputeUsage(r.Context(), ns.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	root := ns
	if ns.RootID != ns.ID {
		if root, err = h.st.Namespaces.Namespace(r.Context(), ns.RootID); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	out := entity.ComputeUsage{
		NamespaceID: ns.ID, RootNamespaceID: root.ID, RootNamespacePath: root.FullPath, Month: rep.Month,
		Plan: rep.Plan, Used: rep.Used, PercentLeft: rep.PercentLeft, Exceeded: rep.Exceeded, Warning: rep.Warning(),
	}
	if rep.Quota >= 0 {
		q, left := rep.Quota, rep.Left
		out.Quota, out.Left = &q, &left
	}
	if rep.Level != store.NotWarned {
		l := rep.Level
		out.WarningLevel = &l
	}
	reply.JSON(w, http.StatusOK, out)
}
