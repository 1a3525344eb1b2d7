package web

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"

	"github.com/kiln-ci/kiln/internal/api/auth"
	"github.com/kiln-ci/kiln/internal/store"
)

// pageSize is how many rows a list page shows.
const pageSize = 20

// visibleProjects returns the page of projects (newest first) the viewer may read,
// among those q selects, and whether there are more. Administrators page in the
// store; others see the readable ones among the newest store.MaxPageLimit.
func (h *Handler) visibleProjects(ctx context.Context, u *auth.User, q store.ProjectQuery, page int) ([]store.Project, bool, error) {
	if u != nil && u.Admin {
		q.Page = store.Page{Offset: (page - 1) * pageSize, Limit: pageSize + 1}
		ps, err := h.st.Projects.ListProjects(ctx, q)
		if err != nil {
			return nil, false, err
		}
		return ps[:min(len(ps), pageSize)], len(ps) > pageSize, nil
	}
	q.Page = store.Page{Limit: store.MaxPageLimit}
	all, err := h.st.Projects.ListProjects(ctx, q)
	if err != nil {
		return nil, false, err
	}
	nss := auth.CachedAncestors(h.st.Namespaces)
	var su *store.User
	if u != nil {
		su = u.User
	}
	readable := all[:0]
	for _, p := range all {
		a, err := auth.ProjectAccess(ctx, nss, su, &p)
		if err != nil {
			return nil, false, err
		}
		if a >= auth.ReadAccess {
			readable = append(readable, p)
		}
	}
	from := min((page-1)*pageSize, len(readable))
	to := min(from+pageSize, len(readable))
	return readable[from:to], to < len(readable), nil
}

// projectAccess loads a project by its full path and the viewer's access to it. A
// project the viewer may not read is answered 404 (its existence is not revealed),
// and ok is false.
func (h *Handler) projectAccess(w http.ResponseWriter, r *http.Request, fullPath string) (*store.Project, auth.Access, bool) {
	p, err := h.st.Projects.ProjectByPath(r.Context(), fullPath)
	if errors.Is(err, store.ErrNotFound) {
		h.notFound(w, r)
		return nil, auth.NoAccess, false
	}
	if err != nil {
		h.serverError(w, r, err)
		return nil, auth.NoAccess, false
	}
	var su *store.User
	if u := viewer(r); u != nil {
		su = u.User
	}
	a, err := auth.ProjectAccess(r.Context(), h.st.Namespaces, su, p)
	if err != nil {
		h.serverError(w, r, err)
		return nil, auth.NoAccess, false
	}
	if a < auth.ReadAccess {
		h.notFound(w, r)
		return nil, a, false
	}
	return p, a, true
}

// canWrite reports whether the viewer may change things in a project from the UI:
// write access and a token with the api scope.
func canWrite(r *http.Request, a auth.Access) bool {
	u := viewer(r)
	return u != nil && a >= auth.WriteAccess && u.HasScope("api")
}

// checkWrite answers a post the viewer may not make with 403 and returns false.
func (h *Handler) checkWrite(w http.ResponseWriter, r *http.Request, a auth.Access) bool {
	u := viewer(r)
	switch {
	case u == nil:
		h.errorPage(w, r, http.StatusForbidden, "Sign in to do this.")
	case a < auth.WriteAccess:
		h.errorPage(w, r, http.StatusForbidden, "You do not have permission to change this project.")
	case !u.HasScope("api"):
		h.errorPage(w, r, http.StatusForbidden, "The token you signed in with needs the api scope to change things.")
	default:
		return true
	}
	return false
}

// pageParam reads ?page=N (1 when absent or not a positive number below 10,000).
func pageParam(r *http.Request) int {
	n, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil || n < 1 || n > 10000 {
		return 1
	}
	return n
}

// usernames resolves user ids to usernames within one request.
type usernames struct {
	h    *Handler
	seen map[int64]string
}

func (n *usernames) name(ctx context.Context, id int64) string {
	if id == 0 {
		return ""
	}
	if s, ok := n.seen[id]; ok {
		return s
	}
	if n.seen == nil {
		n.seen = map[int64]string{}
	}
	u, err := n.h.st.Users.User(ctx, id)
	if err != nil {
		n.seen[id] = ""
		return ""
	}
	n.seen[id] = u.Username
	return u.Username
}

// sortedJobs returns jobs by stage, then name.
func sortedJobs(jobs []store.Job) []store.Job {
	slices.SortStableFunc(jobs, func(a, b store.Job) int {
		if a.StageIdx != b.StageIdx {
			return a.StageIdx - b.StageIdx
		}
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return jobs
}
