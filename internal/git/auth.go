package git

import (
	"context"
	"errors"
	"log/slog"
)

// Access is what a smart-HTTP request needs.
type Access int

const (
	// Read: clone, fetch, ls-remote (git-upload-pack).
	Read Access = iota + 1
	// Write: push (git-receive-pack).
	Write
)

func (a Access) String() string {
	switch a {
	case Read:
		return "read"
	case Write:
		return "write"
	}
	return "unknown"
}

// Credentials are a request's HTTP Basic credentials. Password is a password or a
// token: a personal access token, or a job token with Username "gitlab-ci-token".
// Formatting a Credentials (fmt, slog) shows neither field: some clients send a token
// as the username (`https://<token>@host/...`).
type Credentials struct {
	Username string
	Password string
}

func (c Credentials) String() string   { return "[REDACTED credentials]" }
func (c Credentials) GoString() string { return c.String() }

// LogValue keeps the credentials out of structured logs.
func (c Credentials) LogValue() slog.Value { return slog.StringValue(c.String()) }

// AuthRequest is one authorization question.
type AuthRequest struct {
	// Project is the full path as the client addressed it (it passed ValidatePath;
	// its case is the client's).
	Project string
	Access  Access
	// Credentials is nil when the request carried none. Git sends none until it has
	// been challenged with a 401.
	Credentials *Credentials
}

// Authorizer decides who may read or write a project's repository.
type Authorizer interface {
	// Authorize is called once for every smart-HTTP request (several per clone or
	// push), concurrently, before the repository is looked up on disk, so it also
	// decides what an unknown project answers. It returns an identity for the caller
	// (no control characters, such as "user:42"; may be empty), which the Handler
	// logs and passes to OnPush as Push.Pusher, or an error:
	//
	//   - ErrUnauthorized: credentials missing or wrong: 401 with a Basic challenge;
	//   - ErrForbidden: known caller, not allowed: 403;
	//   - ErrNotFound: no such project, or one the caller may not know about: 404;
	//   - anything else: 500, logged (so it must not contain the credentials).
	//
	// Whatever the error, a request without credentials is answered with the 401
	// challenge, so that git retries with the user's credentials.
	Authorize(ctx context.Context, req AuthRequest) (identity string, err error)
}

// AuthorizerFunc adapts a function to Authorizer.
type AuthorizerFunc func(ctx context.Context, req AuthRequest) (string, error)

// Authorize calls f.
func (f AuthorizerFunc) Authorize(ctx context.Context, req AuthRequest) (string, error) {
	return f(ctx, req)
}

// Errors an Authorizer returns.
var (
	ErrUnauthorized = errors.New("unauthorized")
	ErrForbidden    = errors.New("forbidden")
)
