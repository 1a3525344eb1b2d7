package auth

import (
	"context"
	"fmt"

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
	chain, err := nss.Ancestors(ctx, p.NamespaceID)
	if err != nil {
		return NoAccess, fmt.Errorf("reading the namespaces of project %d: %w", p.ID, err)
	}
	for _, n := range chain {
		if n.OwnerID == u.ID {
			return WriteAccess, nil
		}
	}
	return read, nil
}
