package coordinator

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/kiln-ci/kiln/internal/git"
	"github.com/kiln-ci/kiln/internal/store"
)

// UserIdentity is how a user's git identity reads ("user:<id>"): what the git
// Authorizer returns for a user and OnPush reads back as the pipeline's user.
func UserIdentity(userID int64) string { return "user:" + strconv.FormatInt(userID, 10) }

func userFromIdentity(identity string) int64 {
	id, err := strconv.ParseInt(strings.TrimPrefix(identity, "user:"), 10, 64)
	if err != nil || !strings.HasPrefix(identity, "user:") {
		return 0
	}
	return id
}

// OnPush creates a pipeline for every branch or tag a push created or updated (it is
// the git Handler's PushFunc); deleted refs and other refs make none. Delivery is at
// least once, so a push already turned into a pipeline (same project, ref and commit,
// source push) is not turned into another. A configuration that makes no pipeline
// (workflow:rules, no CI file) is logged; an invalid one gives a failed pipeline.
// It returns an error only when the push should be delivered again.
func (s *Service) OnPush(ctx context.Context, push git.Push) error {
	p, err := s.st.Projects.ProjectByPath(ctx, push.Project)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			s.log.Warn("push to a repository without a project; no pipeline", "project", push.Project)
			return nil
		}
		return fmt.Errorf("reading project %q: %w", push.Project, err)
	}
	var errs []error
	for _, u := range push.Updates {
		if u.Deleted() {
			continue
		}
		name, isBranch := u.Branch()
		if !isBranch {
			var isTag bool
			if name, isTag = u.Tag(); !isTag {
				continue
			}
		}
		if err := s.pushPipeline(ctx, p, push, u, name, isBranch); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *Service) pushPipeline(ctx context.Context, p *store.Project, push git.Push, u git.RefUpdate, name string, isBranch bool) error {
	repo, err := s.cfg.Repos.Open(p.FullPath)
	if err != nil {
		return fmt.Errorf("opening the repository of %s: %w", p.FullPath, err)
	}
	sha, err := repo.ResolveRef(ctx, u.NewSHA) // an annotated tag's object peels to its commit
	if err != nil {
		return fmt.Errorf("resolving %s in %s: %w", u.Ref, p.FullPath, err)
	}
	existing, err := s.st.Pipelines.ListPipelines(ctx, store.PipelineQuery{ProjectID: p.ID, Ref: name, SHA: sha})
	if err != nil {
		return fmt.Errorf("looking for the push's pipeline: %w", err)
	}
	for _, pl := range existing {
		if pl.Source == store.SourcePush && pl.Tag == !isBranch {
			return nil // delivered before
		}
	}
	var changed []string
	before := ""
	if isBranch && !u.Created() {
		before = u.OldSHA
		changed, err = repo.ChangedFiles(ctx, u.OldSHA, sha)
		if err != nil && !errors.Is(err, git.ErrNoBase) {
			s.log.Warn("listing a push's changed files; rules:changes will match", "project", p.FullPath, "error", err)
			changed = nil
		}
	}
	ref := "refs/heads/" + name
	if !isBranch {
		ref = "refs/tags/" + name
	}
	_, err = s.CreatePipeline(ctx, CreatePipelineRequest{
		ProjectID: p.ID, Ref: ref, SHA: sha, BeforeSHA: before, Source: store.SourcePush,
		UserID: userFromIdentity(push.Pusher), ChangedFiles: changed, SaveOnErrors: true,
	})
	if KindOf(err) == KindInvalid {
		s.log.Info("push made no pipeline", "project", p.FullPath, "ref", ref, "reason", err)
		return nil
	}
	return err
}

// BootstrapScopes are the scopes of the first administrator's token.
var BootstrapScopes = []string{"api", "read_api", "read_user", "read_repository", "write_repository",
	"create_runner", "manage_runner", "admin_mode", "sudo"}

// Bootstrap creates the first administrator, "root", with a personal access token
// whose value is token, when the server has no user yet (KILN_BOOTSTRAP_TOKEN), so
// that automation can drive a fresh server. It reports whether it created them; on a
// server with users it does nothing. The token must be at least 20 characters.
func (s *Service) Bootstrap(ctx context.Context, token string) (bool, error) {
	if len(token) < 20 || strings.ContainsAny(token, " \t\r\n") {
		return false, newError(KindInvalid, nil, "the bootstrap token must be at least 20 characters without spaces")
	}
	n, err := s.st.Users.CountUsers(ctx)
	if err != nil {
		return false, fmt.Errorf("counting users: %w", err)
	}
	if n > 0 {
		return false, nil
	}
	u := &store.User{Username: "root", Name: "Administrator", Email: "admin@kiln.invalid", Admin: true}
	if err := s.st.Users.CreateUser(ctx, u); err != nil {
		if errors.Is(err, store.ErrConflict) { // another replica bootstrapped first
			return false, nil
		}
		return false, fmt.Errorf("creating the first administrator: %w", err)
	}
	pat := &store.PersonalAccessToken{UserID: u.ID, Name: "bootstrap", Scopes: BootstrapScopes}
	if err := s.st.Users.CreateToken(ctx, pat, token); err != nil {
		return false, fmt.Errorf("creating the first administrator's token: %w", err)
	}
	s.log.Info("first administrator created", "user", u.Username, "token_name", pat.Name)
	return true, nil
}
