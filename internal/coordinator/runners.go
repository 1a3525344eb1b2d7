package coordinator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/store"
)

// minMaximumTimeout is GitLab's smallest runner maximum_timeout (10 minutes).
const minMaximumTimeout = 600

// CreateRunnerRequest creates a runner (GitLab's POST /user/runners).
type CreateRunnerRequest struct {
	Type        string // store.RunnerInstance (default), RunnerGroup or RunnerProject
	NamespaceID int64  // the group of a group runner
	ProjectID   int64  // the project of a project runner
	Description string
	Tags        []string
	RunUntagged bool
	Paused      bool
	Locked      bool
	AccessLevel string // store.AccessNotProtected (default) or AccessRefProtected
	// MaximumTimeout caps its jobs' timeout in seconds; 0 for none, else ≥ 600.
	MaximumTimeout int
	// MachineType is the machine type the runner serves (a tag of the catalog), ""
	// for a self-managed runner. A Kiln runner also reports it when it polls.
	MachineType string
	CreatorID   int64
}

// CreateRunner creates a runner and returns it with its authentication token
// (glrt-…), which is shown once. A runner serving a machine type carries that
// type's tag among its tags.
func (s *Service) CreateRunner(ctx context.Context, req CreateRunnerRequest) (*store.Runner, string, error) {
	if req.Type == "" {
		req.Type = store.RunnerInstance
	}
	r := &store.Runner{
		Type: req.Type, NamespaceID: req.NamespaceID, ProjectID: req.ProjectID, Description: req.Description,
		Tags: req.Tags, RunUntagged: req.RunUntagged, Paused: req.Paused, Locked: req.Locked,
		AccessLevel: req.AccessLevel, MaximumTimeout: req.MaximumTimeout, MachineType: req.MachineType,
		CreatorID: req.CreatorID,
	}
	if err := s.checkRunner(r); err != nil {
		return nil, "", err
	}
	token, err := store.NewToken(store.PrefixRunnerToken)
	if err != nil {
		return nil, "", err
	}
	if err := s.st.Runners.CreateRunner(ctx, r, token); err != nil {
		return nil, "", storeInput(err, "creating the runner")
	}
	s.log.Info("runner created", "runner", r.ID, "type", r.Type, "machine_type", r.MachineType)
	return r, token, nil
}

// checkRunner validates a runner's settings and normalises its tags.
func (s *Service) checkRunner(r *store.Runner) error {
	tags := make([]string, 0, len(r.Tags))
	for _, t := range r.Tags {
		if t = strings.TrimSpace(t); t != "" && !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	if r.MachineType != "" {
		if _, ok := s.catalog.Get(r.MachineType); !ok {
			return newError(KindInvalid, nil, "machine type %q is not in the catalog", r.MachineType)
		}
		if !slices.Contains(tags, r.MachineType) {
			tags = append(tags, r.MachineType)
		}
	}
	r.Tags = tags
	if r.MaximumTimeout != 0 && r.MaximumTimeout < minMaximumTimeout {
		return newError(KindInvalid, nil, "maximum_timeout %d must be 0 (none) or at least %d seconds", r.MaximumTimeout, minMaximumTimeout)
	}
	if r.AccessLevel != "" && r.AccessLevel != store.AccessNotProtected && r.AccessLevel != store.AccessRefProtected {
		return newError(KindInvalid, nil, "access_level %q must be not_protected or ref_protected", r.AccessLevel)
	}
	return nil
}

// storeInput turns a store ErrInvalid or ErrNotFound into a caller's error with the
// store's message (which names the field, never a secret).
func storeInput(err error, doing string) error {
	switch {
	case errors.Is(err, store.ErrInvalid):
		return newError(KindInvalid, err, "%s: %v", doing, err)
	case errors.Is(err, store.ErrNotFound):
		return newError(KindNotFound, err, "%s: %v", doing, err)
	case errors.Is(err, store.ErrConflict):
		return newError(KindConflict, err, "%s: %v", doing, err)
	}
	return fmt.Errorf("%s: %w", doing, err)
}

// UpdateRunner saves a runner's settings (description, tags, run_untagged, paused,
// locked, access level, maximum timeout, machine type). Waiting runners see the
// change at their next poll.
func (s *Service) UpdateRunner(ctx context.Context, r *store.Runner) error {
	if err := s.checkRunner(r); err != nil {
		return err
	}
	if err := s.st.Runners.UpdateRunner(ctx, r); err != nil {
		return storeInput(err, fmt.Sprintf("updating runner %d", r.ID))
	}
	s.forgetRunner(r.ID)
	s.hub.Changed()
	return nil
}

// DeleteRunner deletes a runner; its token stops working at once.
func (s *Service) DeleteRunner(ctx context.Context, id int64) error {
	if err := s.st.Runners.DeleteRunner(ctx, id); err != nil {
		return notFound(err, "runner", id)
	}
	s.forgetRunner(id)
	s.log.Info("runner deleted", "runner", id)
	return nil
}

// ResetRunnerToken gives a runner a new authentication token (with the old one's
// glrt- prefix, or none for a runner registered with a registration token); the old
// one stops working at once. Tokens do not expire, so the runner's rotation stays off.
func (s *Service) ResetRunnerToken(ctx context.Context, r *store.Runner, oldToken string) (string, error) {
	prefix := store.PrefixRunnerToken
	if oldToken != "" && !strings.HasPrefix(oldToken, store.PrefixRunnerToken) {
		prefix = ""
	}
	token, err := store.NewToken(prefix)
	if err != nil {
		return "", err
	}
	if err := s.st.Runners.ResetRunnerToken(ctx, r.ID, token, time.Time{}); err != nil {
		return "", notFound(err, "runner", r.ID)
	}
	s.forgetRunner(r.ID)
	s.log.Info("runner token reset", "runner", r.ID)
	return token, nil
}

// AuthenticateRunner returns the runner a token authenticates; KindForbidden for an
// unknown token (gitlab-runner treats 403 as "token invalid").
func (s *Service) AuthenticateRunner(ctx context.Context, token string) (*store.Runner, error) {
	if token == "" {
		return nil, newError(KindForbidden, nil, "403 Forbidden - runner token missing")
	}
	key := string(store.HashToken(token))
	if r, ok := s.runnersByToken.get(key, s.now()); ok {
		return &r, nil
	}
	r, err := s.st.Runners.RunnerByToken(ctx, token)
	if errors.Is(err, store.ErrNotFound) {
		return nil, newError(KindForbidden, err, "403 Forbidden - invalid runner token")
	}
	if err != nil {
		return nil, fmt.Errorf("authenticating a runner: %w", err)
	}
	s.runnersByToken.put(key, *r, s.now())
	s.runnersByID.put(r.ID, *r, s.now())
	return r, nil
}

// runner reads a runner, briefly cached.
func (s *Service) runner(ctx context.Context, id int64) (*store.Runner, error) {
	if r, ok := s.runnersByID.get(id, s.now()); ok {
		return &r, nil
	}
	r, err := s.st.Runners.Runner(ctx, id)
	if err != nil {
		return nil, err
	}
	s.runnersByID.put(id, *r, s.now())
	return r, nil
}

// forgetRunner drops cached runners after this replica changed one, and makes its
// hosts' next contact due.
func (s *Service) forgetRunner(id int64) {
	s.runnersByToken.clear()
	s.runnersByID.drop(id)
	s.contacts.forget(id)
}

// Contact is what a runner says about itself on a call.
type Contact struct {
	SystemID string
	Info     protocol.Info
	IP       string
}

// RegisterRunner registers a runner with a legacy registration token (POST
// /runners) and returns it with its new authentication token. KindForbidden for an
// unknown registration token.
func (s *Service) RegisterRunner(ctx context.Context, req protocol.RegisterRunnerRequest, ip string) (*store.Runner, string, error) {
	rt, err := s.st.Runners.RegistrationTokenByToken(ctx, req.Token)
	if errors.Is(err, store.ErrNotFound) || req.Token == "" {
		return nil, "", newError(KindForbidden, err, "403 Forbidden - invalid registration token")
	}
	if err != nil {
		return nil, "", fmt.Errorf("checking a registration token: %w", err)
	}
	r := &store.Runner{
		Type: rt.RunnerType, NamespaceID: rt.NamespaceID, ProjectID: rt.ProjectID, Description: req.Description,
		Tags: strings.Split(req.Tags, ","), RunUntagged: req.RunUntagged || strings.TrimSpace(req.Tags) == "",
		Paused: req.Paused, Locked: req.Locked, AccessLevel: req.AccessLevel, MaximumTimeout: req.MaximumTimeout,
	}
	if req.Info.Kiln != nil {
		r.MachineType = req.Info.Kiln.MachineType
	}
	if err := s.checkRunner(r); err != nil {
		return nil, "", err
	}
	token, err := store.NewToken("")
	if err != nil {
		return nil, "", err
	}
	if err := s.st.Runners.CreateRunner(ctx, r, token); err != nil {
		return nil, "", storeInput(err, "registering the runner")
	}
	s.log.Info("runner registered", "runner", r.ID, "type", r.Type, "machine_type", r.MachineType)
	s.RecordContact(ctx, r, Contact{Info: req.Info, IP: ip})
	return r, token, nil
}

// EnsureRegistrationToken makes token an instance-wide registration token (GitLab's
// legacy one, for gitlab-runner register --registration-token) unless it is one
// already, and reports whether it created it. KindInvalid for a token under 20
// characters, with spaces, or with the glrt- prefix (runners would take it for an
// authentication token and verify it instead of registering).
func (s *Service) EnsureRegistrationToken(ctx context.Context, token string) (bool, error) {
	if len(token) < 20 || strings.ContainsAny(token, " \t\r\n") || strings.HasPrefix(token, store.PrefixRunnerToken) {
		return false, newError(KindInvalid, nil, "the registration token must be at least 20 characters without spaces and not start with "+
			store.PrefixRunnerToken+" (the prefix of runner authentication tokens)")
	}
	_, err := s.st.Runners.RegistrationTokenByToken(ctx, token)
	if err == nil {
		return false, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return false, fmt.Errorf("looking up the registration token: %w", err)
	}
	rt := &store.RegistrationToken{RunnerType: store.RunnerInstance}
	if err := s.st.Runners.CreateRegistrationToken(ctx, rt, token); err != nil {
		if errors.Is(err, store.ErrConflict) { // another replica made it first
			return false, nil
		}
		return false, fmt.Errorf("creating the registration token: %w", err)
	}
	s.log.Info("instance runner registration token created", "id", rt.ID)
	return true, nil
}

// VerifyRunner checks a runner's token (POST /runners/verify) and records its host
// (system_id) as one of its managers. KindForbidden for an unknown token.
func (s *Service) VerifyRunner(ctx context.Context, token string, c Contact) (*store.Runner, error) {
	r, err := s.AuthenticateRunner(ctx, token)
	if err != nil {
		return nil, err
	}
	s.RecordContact(ctx, r, c)
	return r, nil
}

// UnregisterRunner deletes the runner a token authenticates (DELETE /runners).
func (s *Service) UnregisterRunner(ctx context.Context, token string) error {
	r, err := s.AuthenticateRunner(ctx, token)
	if err != nil {
		return err
	}
	return s.DeleteRunner(ctx, r.ID)
}

// UnregisterManager removes one host of a runner (DELETE /runners/managers).
// KindNotFound when the runner has no host with that system id.
func (s *Service) UnregisterManager(ctx context.Context, token, systemID string) error {
	r, err := s.AuthenticateRunner(ctx, token)
	if err != nil {
		return err
	}
	if systemID == "" {
		return newError(KindInvalid, nil, "system_id is missing")
	}
	if err := s.st.Runners.DeleteManager(ctx, r.ID, systemID); err != nil {
		return notFound(err, "runner manager", systemID)
	}
	s.log.Info("runner manager unregistered", "runner", r.ID, "system_id", systemID)
	return nil
}
