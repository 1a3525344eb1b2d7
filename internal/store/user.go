package store

import (
	"context"
	"time"
)

// User is a person or a bot account.
type User struct {
	ID       int64
	Username string // unique, also the path of the user's personal namespace
	Name     string
	Email    string // unique when set
	Admin    bool
	// NamespaceID is the user's personal namespace, created with the user.
	NamespaceID int64
	CreatedAt   time.Time
}

// PersonalAccessToken is a user's API token (`glpat-…`). Only its hash is stored.
type PersonalAccessToken struct {
	ID     int64
	UserID int64
	Name   string
	// Scopes are GitLab's: api, read_api, read_user, read_repository, write_repository,
	// create_runner, manage_runner, admin_mode, ...
	Scopes    []string
	ExpiresAt time.Time // zero: never expires
	Revoked   bool
	CreatedAt time.Time
}

// Users keeps users and their personal access tokens.
type Users interface {
	// CreateUser inserts u and its personal namespace (path = username, plan free) in
	// one transaction, and sets u.ID, u.NamespaceID and u.CreatedAt. ErrConflict when
	// the username (or a namespace of that path) or the email is taken; ErrInvalid when
	// the username is empty or not a valid path.
	CreateUser(ctx context.Context, u *User) error
	// User returns the user with id, or ErrNotFound.
	User(ctx context.Context, id int64) (*User, error)
	// UserByUsername returns the user with that username, or ErrNotFound.
	UserByUsername(ctx context.Context, username string) (*User, error)
	// ListUsers returns users by ascending id.
	ListUsers(ctx context.Context, page Page) ([]User, error)
	// CountUsers returns how many users exist (zero on a fresh server: time to
	// bootstrap the first admin).
	CountUsers(ctx context.Context) (int, error)
	// UpdateUser saves u's Name, Email and Admin. ErrNotFound, or ErrConflict for a
	// taken email.
	UpdateUser(ctx context.Context, u *User) error

	// CreateToken stores t for token's hash and sets t.ID and t.CreatedAt. The caller
	// makes token (NewToken(PrefixPersonalAccessToken)) and shows it once. ErrNotFound
	// when the user does not exist; ErrInvalid for an empty name or token.
	CreateToken(ctx context.Context, t *PersonalAccessToken, token string) error
	// UserByToken returns the user a live token belongs to and the token's record,
	// comparing hashes in constant time. ErrNotFound when the token is unknown,
	// revoked or expired (at the store's clock).
	UserByToken(ctx context.Context, token string) (*User, *PersonalAccessToken, error)
	// ListTokens returns a user's tokens (revoked ones too) by ascending id.
	ListTokens(ctx context.Context, userID int64) ([]PersonalAccessToken, error)
	// RevokeToken revokes a token for good. ErrNotFound when it does not exist;
	// revoking a revoked token is not an error.
	RevokeToken(ctx context.Context, id int64) error
}

// Page selects part of a list: Limit rows after skipping Offset. Limit ≤ 0 means
// DefaultPageLimit; Limit is capped at MaxPageLimit.
type Page struct {
	Offset int
	Limit  int
}

// Page limits.
const (
	DefaultPageLimit = 20
	MaxPageLimit     = 1000
)

// Bounds returns the page's effective limit and offset.
func (p Page) Bounds() (limit, offset int) {
	limit, offset = p.Limit, max(p.Offset, 0)
	if limit <= 0 {
		limit = DefaultPageLimit
	}
	return min(limit, MaxPageLimit), offset
}
