package store

import (
	"context"
	"time"
)

// Project visibilities.
const (
	VisibilityPrivate  = "private"
	VisibilityInternal = "internal"
	VisibilityPublic   = "public"
)

// DefaultCIConfigPath is where a project's pipeline is defined unless it says otherwise.
const DefaultCIConfigPath = ".gitlab-ci.yml"

// Project is a project in a namespace. Its bare git repository is kept by
// internal/git; the store keeps only its metadata.
type Project struct {
	ID              int64
	NamespaceID     int64
	RootNamespaceID int64 // the namespace's top-level namespace
	Name            string
	Path            string // one path segment
	FullPath        string // namespace full path + "/" + Path; unique
	Description     string
	DefaultBranch   string // "main" when empty at creation
	Visibility      string // private (default), internal or public
	CIConfigPath    string // DefaultCIConfigPath when empty at creation
	// CreatorID is the user who created the project (0 for none).
	CreatorID int64
	CreatedAt time.Time
}

// ProjectQuery filters ListProjects.
type ProjectQuery struct {
	NamespaceID int64 // 0: any namespace
	// Under, when set, keeps projects whose namespace is this one or below it.
	Under int64
	Page  Page
}

// Projects keeps projects.
type Projects interface {
	// CreateProject inserts p and sets ID, RootNamespaceID, FullPath, CreatedAt and
	// the defaults above. ErrNotFound for a missing namespace; ErrConflict for a taken
	// full path; ErrInvalid for a bad path, name or visibility.
	CreateProject(ctx context.Context, p *Project) error
	// Project returns the project with id, or ErrNotFound.
	Project(ctx context.Context, id int64) (*Project, error)
	// ProjectByPath returns the project with that full path, or ErrNotFound.
	ProjectByPath(ctx context.Context, fullPath string) (*Project, error)
	// ListProjects returns matching projects by descending id (newest first, as
	// GitLab lists them).
	ListProjects(ctx context.Context, q ProjectQuery) ([]Project, error)
	// UpdateProject saves p's Name, Description, DefaultBranch, Visibility and
	// CIConfigPath. ErrNotFound; ErrInvalid.
	UpdateProject(ctx context.Context, p *Project) error
}
