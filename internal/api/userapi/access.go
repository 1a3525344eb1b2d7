package userapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/kiln-ci/kiln/internal/api/auth"
	"github.com/kiln-ci/kiln/internal/api/reply"
	"github.com/kiln-ci/kiln/internal/store"
)

// rule says who may call an endpoint: the token scope it needs, whether anonymous
// callers may (for what public projects show), and whether it is for administrators.
type rule struct {
	scope     string
	anonymous bool
	admin     bool
}

// The rules of the endpoints, as GitLab's: reads need read_api (or api), writes api;
// runners create_runner or manage_runner (or api); the current user read_user.
var (
	readPublic  = rule{scope: "read_api", anonymous: true}
	readUser    = rule{scope: "read_user"}
	read        = rule{scope: "read_api"}
	write       = rule{scope: "api"}
	adminRead   = rule{scope: "read_api", admin: true}
	adminWrite  = rule{scope: "api", admin: true}
	createRunnr = rule{scope: "create_runner"}
	manageRunnr = rule{scope: "manage_runner"}
	// anyScope: any live token (GET /personal_access_tokens/self).
	anyScope = rule{}
)

// guard authenticates a request (auth.Middleware) and enforces the rule: 401 for an
// anonymous caller where one is not allowed (or a bad token), 403 insufficient_scope
// for a token without the scope, 403 for a non-administrator on an admin endpoint.
func (h *Handler) guard(rl rule, next http.HandlerFunc) http.Handler {
	return h.auth.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u := auth.FromContext(r.Context())
		switch {
		case u == nil && rl.anonymous:
		case u == nil:
			reply.Status(w, http.StatusUnauthorized)
			return
		case rl.scope != "" && !u.HasScope(rl.scope):
			reply.JSON(w, http.StatusForbidden, map[string]string{
				"error":             "insufficient_scope",
				"error_description": "The request requires higher privileges than provided by the access token.",
				"scope":             rl.scope,
			})
			return
		case rl.admin && !u.Admin:
			forbidden(w, "administrators only")
			return
		}
		next(w, r)
	}))
}

// caller is the authenticated user, or nil.
func caller(r *http.Request) *store.User {
	if u := auth.FromContext(r.Context()); u != nil {
		return u.User
	}
	return nil
}

// errNoAccess stands for a record the caller may not see: answered 404, as GitLab
// does, so that private records do not reveal they exist.
var errNoAccess = errors.New("no access")

// lookupProject returns the project an :id names: its numeric id or its URL-encoded
// full path. store.ErrNotFound when there is none.
func (h *Handler) lookupProject(ctx context.Context, ref string) (*store.Project, error) {
	if id, err := strconv.ParseInt(ref, 10, 64); err == nil {
		return h.st.Projects.Project(ctx, id)
	}
	return h.st.Projects.ProjectByPath(ctx, ref)
}

// project resolves the {id} path value to a project the caller may access at level
// want: 404 "Project Not Found" when it does not exist or the caller may not read
// it, 403 when the caller may read but not write it.
func (h *Handler) project(w http.ResponseWriter, r *http.Request, want auth.Access) (*store.Project, bool) {
	p, err := h.lookupProject(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		notFound(w, "Project")
		return nil, false
	}
	if err != nil {
		h.fail(w, r, fmt.Errorf("reading project %q: %w", r.PathValue("id"), err))
		return nil, false
	}
	access, err := auth.ProjectAccess(r.Context(), h.st.Namespaces, caller(r), p)
	if err != nil {
		h.fail(w, r, err)
		return nil, false
	}
	switch {
	case access == auth.NoAccess:
		notFound(w, "Project")
		return nil, false
	case access < want:
		forbidden(w, "")
		return nil, false
	}
	return p, true
}

// lookupNamespace returns the namespace an :id names: its numeric id or its
// URL-encoded full path.
func (h *Handler) lookupNamespace(ctx context.Context, ref string) (*store.Namespace, error) {
	if id, err := strconv.ParseInt(ref, 10, 64); err == nil {
		return h.st.Namespaces.Namespace(ctx, id)
	}
	return h.st.Namespaces.NamespaceByPath(ctx, ref)
}

// ownsNamespace reports whether u administers the namespace: an administrator, or
// the owner of it or of a group above it.
func (h *Handler) ownsNamespace(ctx context.Context, u *store.User, ns *store.Namespace) (bool, error) {
	if u == nil {
		return false, nil
	}
	if u.Admin || ns.OwnerID == u.ID {
		return true, nil
	}
	return auth.OwnsNamespace(ctx, h.st.Namespaces, u.ID, ns.ID)
}

// namespace resolves the {id} path value to a namespace the caller administers;
// kind, when set, must match ("group"). 404 otherwise, named by what.
func (h *Handler) namespace(w http.ResponseWriter, r *http.Request, kind, what string) (*store.Namespace, bool) {
	ns, err := h.lookupNamespace(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) || err == nil && kind != "" && ns.Kind != kind {
		notFound(w, what)
		return nil, false
	}
	if err != nil {
		h.fail(w, r, fmt.Errorf("reading namespace %q: %w", r.PathValue("id"), err))
		return nil, false
	}
	ok, err := h.ownsNamespace(r.Context(), caller(r), ns)
	if err != nil {
		h.fail(w, r, err)
		return nil, false
	}
	if !ok {
		notFound(w, what)
		return nil, false
	}
	return ns, true
}

// pathInt64 reads a numeric path value; 404 "<what> Not Found" when it is not one.
func pathInt64(w http.ResponseWriter, r *http.Request, name, what string) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || id <= 0 {
		notFound(w, what)
		return 0, false
	}
	return id, true
}
