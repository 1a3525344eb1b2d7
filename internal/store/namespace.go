package store

import (
	"context"
	"time"
)

// Namespace kinds.
const (
	NamespaceUser  = "user"
	NamespaceGroup = "group"
)

// Namespace is a user's personal namespace or a group. Groups nest (ParentID); the
// top-level namespace (RootID) carries the plan and is charged compute minutes.
type Namespace struct {
	ID       int64
	Kind     string // NamespaceUser or NamespaceGroup
	Name     string
	Path     string // one path segment, e.g. "ml-team"
	FullPath string // parent's full path + "/" + Path, e.g. "acme/ml-team"; unique
	ParentID int64  // 0 for a top-level namespace
	RootID   int64  // the top-level namespace; its own ID for a top-level one
	// OwnerID is the user who owns a personal namespace or created a group.
	OwnerID int64
	// Plan is the top-level namespace's plan (machine.PlanFree, PlanPremium,
	// PlanUltimate); a subgroup reports its root's plan.
	Plan      string
	CreatedAt time.Time
}

// Namespaces keeps namespaces. Personal namespaces are created with their user
// (Users.CreateUser); this interface creates groups.
type Namespaces interface {
	// CreateGroup inserts a group and sets n.ID, n.Kind, n.FullPath, n.RootID, n.Plan
	// and n.CreatedAt. With ParentID set the group is a subgroup and its Plan must be
	// empty (it follows the root); a top-level group's empty Plan means free.
	// ErrNotFound for a missing parent; ErrConflict for a taken full path; ErrInvalid
	// for a bad path or plan.
	CreateGroup(ctx context.Context, n *Namespace) error
	// Namespace returns the namespace with id, or ErrNotFound.
	Namespace(ctx context.Context, id int64) (*Namespace, error)
	// NamespaceByPath returns the namespace with that full path, or ErrNotFound.
	NamespaceByPath(ctx context.Context, fullPath string) (*Namespace, error)
	// ListNamespaces returns namespaces by ascending id.
	ListNamespaces(ctx context.Context, page Page) ([]Namespace, error)
	// Ancestors returns the namespace with id and its ancestors, top-level first.
	Ancestors(ctx context.Context, id int64) ([]Namespace, error)
	// SetPlan changes a top-level namespace's plan. ErrInvalid for a subgroup or an
	// unknown plan; ErrNotFound.
	SetPlan(ctx context.Context, id int64, plan string) error
}
