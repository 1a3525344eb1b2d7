package auth

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/kiln-ci/kiln/internal/coordinator"
	"github.com/kiln-ci/kiln/internal/git"
	"github.com/kiln-ci/kiln/internal/store"
)

// JobTokenUser is the git user name that carries a job token as its password.
const JobTokenUser = "gitlab-ci-token"

// GitAuthorizer returns the git.Authorizer of the hosted repositories:
//
//   - user "gitlab-ci-token" with a job token: read access to the job's own project
//     (and to public and internal projects) while the job runs; never write;
//   - any user name with a personal access token as password: read with the
//     read_repository (or api) scope, write with write_repository (or api), as far
//     as ProjectAccess allows;
//   - no credentials: a 401 challenge, so that git retries with some.
//
// The identity of a user is coordinator.UserIdentity, which OnPush reads back.
func GitAuthorizer(st *store.Store, a *Authenticator) git.Authorizer {
	return git.AuthorizerFunc(func(ctx context.Context, req git.AuthRequest) (string, error) {
		if req.Credentials == nil || req.Credentials.Password == "" {
			return "", git.ErrUnauthorized
		}
		if req.Credentials.Username == JobTokenUser {
			return gitJob(ctx, st, req)
		}
		u, err := a.UserByToken(ctx, req.Credentials.Password)
		if errors.Is(err, ErrUnauthorized) {
			return "", git.ErrUnauthorized
		}
		if err != nil {
			return "", err
		}
		scope := "read_repository"
		if req.Access == git.Write {
			scope = "write_repository"
		}
		if !u.HasScope(scope) {
			return "", git.ErrForbidden
		}
		p, err := st.Projects.ProjectByPath(ctx, req.Project)
		if errors.Is(err, store.ErrNotFound) {
			return "", git.ErrNotFound
		}
		if err != nil {
			return "", fmt.Errorf("reading project for git access: %w", err)
		}
		access, err := ProjectAccess(ctx, st.Namespaces, u.User, p)
		if err != nil {
			return "", err
		}
		switch {
		case access == NoAccess:
			return "", git.ErrNotFound
		case req.Access == git.Write && access < WriteAccess:
			return "", git.ErrForbidden
		}
		return coordinator.UserIdentity(u.ID), nil
	})
}

func gitJob(ctx context.Context, st *store.Store, req git.AuthRequest) (string, error) {
	j, err := st.Jobs.JobByToken(ctx, req.Credentials.Password)
	if errors.Is(err, store.ErrNotFound) {
		return "", git.ErrUnauthorized
	}
	if err != nil {
		return "", fmt.Errorf("authenticating a job token for git: %w", err)
	}
	if req.Access == git.Write {
		return "", git.ErrForbidden
	}
	p, err := st.Projects.ProjectByPath(ctx, req.Project)
	if errors.Is(err, store.ErrNotFound) {
		return "", git.ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("reading project for git access: %w", err)
	}
	if p.ID != j.ProjectID && p.Visibility == store.VisibilityPrivate {
		return "", git.ErrNotFound
	}
	return "job:" + strconv.FormatInt(j.ID, 10), nil
}
