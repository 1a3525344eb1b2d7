package auth

import (
	"context"
	"fmt"
	"slices"

	"github.com/kiln-ci/kiln/internal/store"
)

// Access is what a user may do with a project.
type Access int

// Access levels, each including the ones before.
const (
	NoAccess Access = iota
	ReadAccess
	WriteAccess
)

// ProjectAccess decides a user's access to a project. Kiln has no membership lists
// yet, so the rule is simple and documented: administrators, the project's creator
// and the owners of its namespace or of any group above it may read and write;
// anyone authenticated may read internal and public projects; anonymous callers
// (u nil) may read public ones.
func ProjectAccess(ctx context.Context, nss store.Namespaces, u *store.User, p *store.Project) (Access, error) {
	read := NoAccess
	switch {
	case p.Visibility == store.VisibilityPublic:
		read = ReadAccess
	case p.Visibility == store.VisibilityInternal && u != nil:
		read = ReadAccess
	}
	if u == nil {
		return read, nil
	}
	if u.Admin || (p.CreatorID != 0 && p.CreatorID == u.ID) {
		return WriteAccess, nil
	}
	owns, err := OwnsNamespace(ctx, nss, u.ID, p.NamespaceID)
	if err != nil {
		return NoAccess, fmt.Errorf("deciding access to project %d: %w", p.ID, err)
	}
	if owns {
		return WriteAccess, nil
	}
	return read, nil
}

// OwnsNamespace reports whether the user owns the namespace nsID or a group above
// it. (Administrators may do what owners do, but do not own by this test.)
func OwnsNamespace(ctx context.Context, nss store.Namespaces, userID, nsID int64) (bool, error) {
	chain, err := nss.Ancestors(ctx, nsID)
	if err != nil {
		return false, fmt.Errorf("reading namespace %d and the groups above it: %w", nsID, err)
	}
	return slices.ContainsFunc(chain, func(n store.Namespace) bool { return n.OwnerID == userID }), nil
}

// CachedAncestors returns nss with Ancestors answered from memory after the first
// call per namespace, so that deciding access to many projects of the same
// namespaces (a list) reads each namespace's chain once. It is for one request: it
// never forgets, and it is not safe for concurrent use.
func CachedAncestors(nss store.Namespaces) store.Namespaces {
	return &ancestorCache{Namespaces: nss, seen: map[int64][]store.Namespace{}}
}

type ancestorCache struct {
	store.Namespaces
	seen map[int64][]store.Namespace
}

func (c *ancestorCache) Ancestors(ctx context.Context, id int64) ([]store.Namespace, error) {
	if chain, ok := c.seen[id]; ok {
		return chain, nil
	}
	chain, err := c.Namespaces.Ancestors(ctx, id)
	if err != nil {
		return nil, err
	}
	c.seen[id] = chain
	return chain, nil
}
