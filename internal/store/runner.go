package store

import (
	"context"
	"encoding/json"
	"time"
)

// Runner types (GitLab's runner_type).
const (
	RunnerInstance = "instance_type"
	RunnerGroup    = "group_type"
	RunnerProject  = "project_type"
)

// Runner access levels.
const (
	AccessNotProtected = "not_protected"
	AccessRefProtected = "ref_protected"
)

// Runner is a registered runner (GitLab's runner; its hosts are RunnerManagers).
// Only its token's hash is stored.
type Runner struct {
	ID          int64
	Type        string // RunnerInstance, RunnerGroup or RunnerProject
	NamespaceID int64  // the group of a group runner
	ProjectID   int64  // the project of a project runner
	Description string
	Tags        []string
	RunUntagged bool
	Paused      bool
	Locked      bool
	AccessLevel string // AccessNotProtected (default) or AccessRefProtected
	// MaximumTimeout caps its jobs' timeout in seconds; 0: no cap.
	MaximumTimeout int
	// MachineType is the machine type the runner serves, "" for a self-managed runner.
	MachineType string
	// ShortToken is the first 8 characters of the token after its prefix (for display).
	ShortToken     string
	TokenExpiresAt time.Time // zero: never
	CreatorID      int64
	CreatedAt      time.Time
	ContactedAt    time.Time

	// What the runner last reported (from any of its managers).
	Version      string
	Revision     string
	Platform     string
	Architecture string
	Executor     string
	IPAddress    string
	// GPUInventory is the Kiln GPU inventory the runner advertises, as sent.
	GPUInventory json.RawMessage
}

// RunnerManager is one host serving a runner, keyed by the runner's system_id.
type RunnerManager struct {
	RunnerID     int64
	SystemID     string
	Version      string
	Revision     string
	Platform     string
	Architecture string
	Executor     string
	IPAddress    string
	GPUInventory json.RawMessage
	CreatedAt    time.Time
	ContactedAt  time.Time
}

// RunnerContact is what a runner reports when it calls (verify, jobs/request).
type RunnerContact struct {
	SystemID     string // "" when the runner sent none: only the runner is updated
	Version      string
	Revision     string
	Platform     string
	Architecture string
	Executor     string
	IPAddress    string
	GPUInventory json.RawMessage // nil keeps the inventory already stored
}

// RegistrationToken is a legacy runner registration token of the instance, a group or
// a project (GitLab's deprecated `POST /runners` flow).
type RegistrationToken struct {
	ID          int64
	RunnerType  string // the type of runner it registers
	NamespaceID int64  // for RunnerGroup
	ProjectID   int64  // for RunnerProject
	CreatedAt   time.Time
}

// RunnerQuery filters ListRunners.
type RunnerQuery struct {
	Type   string // "": any
	Paused *bool  // nil: any
	Page   Page
}

// Runners keeps runners, their managers and registration tokens.
type Runners interface {
	// CreateRunner inserts r for token's hash and sets ID, ShortToken, CreatedAt and
	// defaults (AccessNotProtected). The caller makes token
	// (NewToken(PrefixRunnerToken)). ErrInvalid for a bad type or access level, or a
	// group/project runner without its group/project; ErrNotFound for a missing one.
	CreateRunner(ctx context.Context, r *Runner, token string) error
	// Runner returns the runner with id, or ErrNotFound.
	Runner(ctx context.Context, id int64) (*Runner, error)
	// RunnerByToken returns the runner a token authenticates, comparing hashes in
	// constant time. ErrNotFound when unknown or expired.
	RunnerByToken(ctx context.Context, token string) (*Runner, error)
	// ListRunners returns matching runners by ascending id.
	ListRunners(ctx context.Context, q RunnerQuery) ([]Runner, error)
	// UpdateRunner saves r's Description, Tags, RunUntagged, Paused, Locked,
	// AccessLevel, MaximumTimeout and MachineType. ErrNotFound; ErrInvalid.
	UpdateRunner(ctx context.Context, r *Runner) error
	// DeleteRunner deletes a runner, its managers and its token. Its jobs keep their
	// RunnerID. ErrNotFound.
	DeleteRunner(ctx context.Context, id int64) error
	// ResetRunnerToken replaces a runner's token (the old one stops working at once).
	// ErrNotFound.
	ResetRunnerToken(ctx context.Context, id int64, token string, expiresAt time.Time) error
	// RecordContact sets ContactedAt to now and the reported facts on the runner, and
	// on its manager c.SystemID (created on first contact). ErrNotFound.
	RecordContact(ctx context.Context, runnerID int64, c RunnerContact) error
	// ListManagers returns a runner's managers by system id.
	ListManagers(ctx context.Context, runnerID int64) ([]RunnerManager, error)
	// DeleteManager removes one manager of a runner (unregister of one host).
	// ErrNotFound.
	DeleteManager(ctx context.Context, runnerID int64, systemID string) error

	// CreateRegistrationToken stores t for token's hash and sets t.ID and
	// t.CreatedAt. ErrInvalid; ErrNotFound for a missing group or project.
	CreateRegistrationToken(ctx context.Context, t *RegistrationToken, token string) error
	// RegistrationTokenByToken returns the registration token record, comparing
	// hashes in constant time. ErrNotFound.
	RegistrationTokenByToken(ctx context.Context, token string) (*RegistrationToken, error)
	// DeleteRegistrationToken revokes a registration token. ErrNotFound.
	DeleteRegistrationToken(ctx context.Context, id int64) error
}
