// Package auth authenticates API and git requests by GitLab's tokens and decides
// who may touch which project:
//
//   - personal access tokens (glpat-…) in a PRIVATE-TOKEN header, an
//     "Authorization: Bearer" header or a private_token query parameter: users;
//   - job tokens (glcbt-…) in a JOB-TOKEN header or a job_token query parameter, and
//     as the password of the git user gitlab-ci-token: a running job;
//   - runner tokens (glrt-…) in a RUNNER-TOKEN header or the JSON body: runners
//     (the runner API reads those itself through the coordinator).
//
// Tokens are looked up by their SHA-256 and the stored hash is compared in constant
// time (the store does both); no token ever reaches a log or an error message.
//
// Only the coordinator side's HTTP packages (internal/api/..., internal/web) and cmd
// import it.
package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/kiln-ci/kiln/internal/api/reply"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/store"
)

// PrivateToken returns the personal access token a request carries, or "".
func PrivateToken(r *http.Request) string {
	if t := r.Header.Get(protocol.HeaderPrivateToken); t != "" {
		return t
	}
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "Bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return r.URL.Query().Get("private_token")
}

// JobToken returns the job token a request carries in its JOB-TOKEN header or
// job_token query parameter, or "".
func JobToken(r *http.Request) string {
	if t := r.Header.Get(protocol.HeaderJobToken); t != "" {
		return t
	}
	return r.URL.Query().Get("job_token")
}

// RunnerToken returns the runner token of the RUNNER-TOKEN header, or "".
func RunnerToken(r *http.Request) string { return r.Header.Get(protocol.HeaderRunnerToken) }

// User is an authenticated user and the token used.
type User struct {
	*store.User
	Token *store.PersonalAccessToken
}

// HasScope reports whether the token grants scope: "api" grants everything,
// "read_api" every read_* scope.
func (u *User) HasScope(scope string) bool {
	if u == nil || u.Token == nil {
		return false
	}
	s := u.Token.Scopes
	return slices.Contains(s, scope) || slices.Contains(s, "api") ||
		(strings.HasPrefix(scope, "read_") && slices.Contains(s, "read_api"))
}

// ErrUnauthorized: a token was given but is unknown, revoked or expired.
var ErrUnauthorized = errors.New("401 Unauthorized")

// Authenticator resolves tokens to users.
type Authenticator struct {
	users store.Users
	log   *slog.Logger
}

// New returns an Authenticator over the store's users; a nil logger discards.
func New(users store.Users, log *slog.Logger) *Authenticator {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Authenticator{users: users, log: log}
}

// UserByToken resolves a personal access token. ErrUnauthorized for an unknown,
// revoked or expired token.
func (a *Authenticator) UserByToken(ctx context.Context, token string) (*User, error) {
	u, t, err := a.users.UserByToken(ctx, token)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnauthorized
	}
	if err != nil {
		return nil, fmt.Errorf("authenticating a personal access token: %w", err)
	}
	return &User{User: u, Token: t}, nil
}

type ctxKey struct{}

// FromContext returns the user Middleware authenticated, or nil for an anonymous
// request.
func FromContext(ctx context.Context) *User {
	u, _ := ctx.Value(ctxKey{}).(*User)
	return u
}

// WithUser returns ctx carrying u.
func WithUser(ctx context.Context, u *User) context.Context {
	return context.WithValue(ctx, ctxKey{}, u)
}

// Middleware authenticates the personal access token a request carries and puts the
// user in its context (FromContext). A request without a token passes on
// anonymously; one with a bad token is answered 401 {"message":"401 Unauthorized"}.
func (a *Authenticator) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := PrivateToken(r)
		if token == "" {
			next.ServeHTTP(w, r)
			return
		}
		u, err := a.UserByToken(r.Context(), token)
		if errors.Is(err, ErrUnauthorized) {
			reply.Status(w, http.StatusUnauthorized)
			return
		}
		if err != nil {
			a.log.Error("authenticating a request", "path", r.URL.Path, "error", err)
			reply.Status(w, http.StatusInternalServerError)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithUser(r.Context(), u)))
	})
}

// RequireUser answers 401 to anonymous requests; use it after Middleware.
func RequireUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if FromContext(r.Context()) == nil {
			reply.Status(w, http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}
