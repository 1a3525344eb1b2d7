package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kiln-ci/kiln/internal/store"
)

type runners struct{ *db }

const runnerCols = `id, runner_type, namespace_id, project_id, description, tags, run_untagged, paused, locked, access_level,
	maximum_timeout, machine_type, short_token, token_expires_at, creator_id, created_at, contacted_at, version, revision,
	platform, architecture, executor, ip_address, gpu_inventory`

func scanRunner(s scanner) (*store.Runner, error) {
	var r store.Runner
	err := s.Scan(&r.ID, &r.Type, int64Col{&r.NamespaceID}, int64Col{&r.ProjectID}, &r.Description, jsonCol{&r.Tags},
		&r.RunUntagged, &r.Paused, &r.Locked, &r.AccessLevel, &r.MaximumTimeout, &r.MachineType, &r.ShortToken,
		timeCol{&r.TokenExpiresAt}, int64Col{&r.CreatorID}, timeCol{&r.CreatedAt}, timeCol{&r.ContactedAt}, &r.Version,
		&r.Revision, &r.Platform, &r.Architecture, &r.Executor, &r.IPAddress, rawCol{&r.GPUInventory})
	return &r, err
}

// shortToken is what GitLab shows of a token: 8 characters after known prefixes.
func shortToken(token string) string {
	for _, p := range []string{store.PrefixRunnerToken, store.PrefixRegistrationToken} {
		token = strings.TrimPrefix(token, p)
	}
	return token[:min(8, len(token))]
}

func checkRunner(r *store.Runner) error {
	if r.AccessLevel == "" {
		r.AccessLevel = store.AccessNotProtected
	}
	if err := checkOneOf("runner access level", r.AccessLevel, store.AccessNotProtected, store.AccessRefProtected); err != nil {
		return err
	}
	if r.MaximumTimeout < 0 {
		return fmt.Errorf("runner maximum timeout %d: %w: negative", r.MaximumTimeout, store.ErrInvalid)
	}
	for _, t := range r.Tags {
		if strings.TrimSpace(t) == "" {
			return fmt.Errorf("runner tags: %w: a tag is empty", store.ErrInvalid)
		}
	}
	r.Tags = slices.Compact(slices.Sorted(slices.Values(r.Tags)))
	return nil
}

// checkScope checks the group or project a runner (or registration token) of type belongs to.
func checkScope(typ string, namespaceID, projectID int64) error {
	switch {
	case typ == store.RunnerInstance && namespaceID == 0 && projectID == 0,
		typ == store.RunnerGroup && namespaceID != 0 && projectID == 0,
		typ == store.RunnerProject && namespaceID == 0 && projectID != 0:
		return nil
	}
	return fmt.Errorf("runner type %q with group %d and project %d: %w: an instance runner has neither, a group runner its group, a project runner its project",
		typ, namespaceID, projectID, store.ErrInvalid)
}

func (s runners) CreateRunner(ctx context.Context, r *store.Runner, token string) error {
	if err := checkRunner(r); err != nil {
		return fmt.Errorf("creating a runner: %w", err)
	}
	if err := checkScope(r.Type, r.NamespaceID, r.ProjectID); err != nil {
		return fmt.Errorf("creating a runner: %w", err)
	}
	if err := checkNotEmpty("runner token", token); err != nil {
		return fmt.Errorf("creating a runner: %w", err)
	}
	tags, err := jsonArg(orEmpty(r.Tags))
	if err != nil {
		return err
	}
	now := s.now()
	short := shortToken(token)
	err = s.w.QueryRowContext(ctx, `INSERT INTO runners (runner_type, namespace_id, project_id, description, tags, run_untagged,
			paused, locked, access_level, maximum_timeout, machine_type, token_hash, short_token, token_expires_at, creator_id,
			created_at, gpu_inventory)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) RETURNING id`,
		r.Type, nullInt64(r.NamespaceID), nullInt64(r.ProjectID), r.Description, tags, r.RunUntagged, r.Paused, r.Locked,
		r.AccessLevel, r.MaximumTimeout, r.MachineType, store.HashToken(token), short, timeArg(r.TokenExpiresAt),
		nullInt64(r.CreatorID), now, rawArg(r.GPUInventory)).Scan(&r.ID)
	if err != nil {
		return fmt.Errorf("creating a runner: %w", s.classify(err))
	}
	r.ShortToken, r.CreatedAt = short, now
	return nil
}

func (s runners) Runner(ctx context.Context, id int64) (*store.Runner, error) {
	r, err := scanRunner(s.r.QueryRowContext(ctx, `SELECT `+runnerCols+` FROM runners WHERE id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("runner %d: %w", id, s.classify(err))
	}
	return r, nil
}

func (s runners) RunnerByToken(ctx context.Context, token string) (*store.Runner, error) {
	var hash []byte
	r, err := scanRunner(prefixScanner{s.r.QueryRowContext(ctx, `SELECT token_hash, `+runnerCols+` FROM runners
		WHERE token_hash = $1`, store.HashToken(token)), &hash})
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !store.TokenMatches(hash, token)) {
		return nil, fmt.Errorf("runner token: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("looking up a runner token: %w", err)
	}
	if !r.TokenExpiresAt.IsZero() && !s.now().Before(r.TokenExpiresAt) {
		return nil, fmt.Errorf("the token of runner %d expired: %w", r.ID, store.ErrNotFound)
	}
	return r, nil
}

func (s runners) ListRunners(ctx context.Context, q store.RunnerQuery) ([]store.Runner, error) {
	var a args
	query := `SELECT ` + runnerCols + ` FROM runners WHERE 1 = 1`
	if q.Type != "" {
		query += ` AND runner_type = ` + a.add(q.Type)
	}
	if q.Paused != nil {
		query += ` AND paused = ` + a.add(*q.Paused)
	}
	limit, offset := q.Page.Bounds()
	rows, err := s.r.QueryContext(ctx, query+` ORDER BY id`+pageClause(&a, limit, offset), a...)
	if err != nil {
		return nil, fmt.Errorf("listing runners: %w", err)
	}
	out, err := collect(rows, scanRunner)
	if err != nil {
		return nil, fmt.Errorf("listing runners: %w", err)
	}
	return out, nil
}

func (s runners) UpdateRunner(ctx context.Context, r *store.Runner) error {
	if err := checkRunner(r); err != nil {
		return fmt.Errorf("updating runner %d: %w", r.ID, err)
	}
	tags, err := jsonArg(orEmpty(r.Tags))
	if err != nil {
		return err
	}
	res, err := s.w.ExecContext(ctx, `UPDATE runners SET description = $1, tags = $2, run_untagged = $3, paused = $4, locked = $5,
		access_level = $6, maximum_timeout = $7, machine_type = $8 WHERE id = $9`,
		r.Description, tags, r.RunUntagged, r.Paused, r.Locked, r.AccessLevel, r.MaximumTimeout, r.MachineType, r.ID)
	if err := affected(res, err, s.db); err != nil {
		return fmt.Errorf("updating runner %d: %w", r.ID, err)
	}
	return nil
}

func (s runners) DeleteRunner(ctx context.Context, id int64) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM runners WHERE id = $1`, id)
	if err := affected(res, err, s.db); err != nil {
		return fmt.Errorf("deleting runner %d: %w", id, err)
	}
	return nil
}

func (s runners) ResetRunnerToken(ctx context.Context, id int64, token string, expiresAt time.Time) error {
	if err := checkNotEmpty("runner token", token); err != nil {
		return fmt.Errorf("resetting the token of runner %d: %w", id, err)
	}
	res, err := s.w.ExecContext(ctx, `UPDATE runners SET token_hash = $1, short_token = $2, token_expires_at = $3 WHERE id = $4`,
		store.HashToken(token), shortToken(token), timeArg(expiresAt), id)
	if err := affected(res, err, s.db); err != nil {
		return fmt.Errorf("resetting the token of runner %d: %w", id, err)
	}
	return nil
}

func (s runners) RecordContact(ctx context.Context, runnerID int64, c store.RunnerContact) error {
	now := s.now()
	update := `UPDATE runners SET contacted_at = $1, version = $2, revision = $3, platform = $4,
			architecture = $5, executor = $6, ip_address = $7, gpu_inventory = coalesce($8, gpu_inventory) WHERE id = $9`
	a := args{now, c.Version, c.Revision, c.Platform, c.Architecture, c.Executor, c.IPAddress, rawArg(c.GPUInventory), runnerID}
	upsertManager := `INSERT INTO runner_managers (runner_id, system_id, version, revision, platform, architecture,
				executor, ip_address, gpu_inventory, created_at, contacted_at)
			%s
			ON CONFLICT (runner_id, system_id) DO UPDATE SET version = excluded.version, revision = excluded.revision,
				platform = excluded.platform, architecture = excluded.architecture, executor = excluded.executor,
				ip_address = excluded.ip_address, gpu_inventory = coalesce(excluded.gpu_inventory, runner_managers.gpu_inventory),
				contacted_at = excluded.contacted_at`
	var err error
	switch {
	case c.SystemID == "":
		res, uerr := s.w.ExecContext(ctx, update, a...)
		err = affected(res, uerr, s.db)
	case s.d.WritableCTE:
		// One statement: the runner's row and its manager's, the manager only if the
		// runner exists.
		var n int
		err = s.w.QueryRowContext(ctx, `WITH r AS (`+update+` RETURNING id),
				m AS (`+fmt.Sprintf(upsertManager, `SELECT r.id, $10, $2, $3, $4, $5, $6, $7, $8, $1, $1 FROM r`)+`)
			SELECT count(*) FROM r`, append(a, c.SystemID)...).Scan(&n)
		if err == nil && n == 0 {
			err = store.ErrNotFound
		}
	default:
		err = s.tx(ctx, func(tx querier) error {
			res, err := tx.ExecContext(ctx, update, a...)
			if err := affected(res, err, s.db); err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, fmt.Sprintf(upsertManager, `VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)`),
				runnerID, c.SystemID, c.Version, c.Revision, c.Platform, c.Architecture, c.Executor, c.IPAddress,
				rawArg(c.GPUInventory), now)
			return s.classify(err)
		})
	}
	if err != nil {
		return fmt.Errorf("recording contact of runner %d: %w", runnerID, s.classify(err))
	}
	return nil
}

const managerCols = `runner_id, system_id, version, revision, platform, architecture, executor, ip_address, gpu_inventory,
	created_at, contacted_at`

func scanManager(s scanner) (*store.RunnerManager, error) {
	var m store.RunnerManager
	err := s.Scan(&m.RunnerID, &m.SystemID, &m.Version, &m.Revision, &m.Platform, &m.Architecture, &m.Executor,
		&m.IPAddress, rawCol{&m.GPUInventory}, timeCol{&m.CreatedAt}, timeCol{&m.ContactedAt})
	return &m, err
}

func (s runners) ListManagers(ctx context.Context, runnerID int64) ([]store.RunnerManager, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+managerCols+` FROM runner_managers WHERE runner_id = $1 ORDER BY system_id`, runnerID)
	if err != nil {
		return nil, fmt.Errorf("listing managers of runner %d: %w", runnerID, err)
	}
	out, err := collect(rows, scanManager)
	if err != nil {
		return nil, fmt.Errorf("listing managers of runner %d: %w", runnerID, err)
	}
	return out, nil
}

func (s runners) DeleteManager(ctx context.Context, runnerID int64, systemID string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM runner_managers WHERE runner_id = $1 AND system_id = $2`, runnerID, systemID)
	if err := affected(res, err, s.db); err != nil {
		return fmt.Errorf("deleting manager %q of runner %d: %w", systemID, runnerID, err)
	}
	return nil
}

func (s runners) CreateRegistrationToken(ctx context.Context, t *store.RegistrationToken, token string) error {
	if err := checkScope(t.RunnerType, t.NamespaceID, t.ProjectID); err != nil {
		return fmt.Errorf("creating a registration token: %w", err)
	}
	if err := checkNotEmpty("registration token", token); err != nil {
		return fmt.Errorf("creating a registration token: %w", err)
	}
	now := s.now()
	err := s.w.QueryRowContext(ctx, `INSERT INTO registration_tokens (token_hash, runner_type, namespace_id, project_id, created_at)
		VALUES ($1, $2, $3, $4, $5) RETURNING id`,
		store.HashToken(token), t.RunnerType, nullInt64(t.NamespaceID), nullInt64(t.ProjectID), now).Scan(&t.ID)
	if err != nil {
		return fmt.Errorf("creating a registration token: %w", s.classify(err))
	}
	t.CreatedAt = now
	return nil
}

func (s runners) RegistrationTokenByToken(ctx context.Context, token string) (*store.RegistrationToken, error) {
	var hash []byte
	var t store.RegistrationToken
	err := s.r.QueryRowContext(ctx, `SELECT token_hash, id, runner_type, namespace_id, project_id, created_at
		FROM registration_tokens WHERE token_hash = $1`, store.HashToken(token)).
		Scan(&hash, &t.ID, &t.RunnerType, int64Col{&t.NamespaceID}, int64Col{&t.ProjectID}, timeCol{&t.CreatedAt})
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !store.TokenMatches(hash, token)) {
		return nil, fmt.Errorf("registration token: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("looking up a registration token: %w", err)
	}
	return &t, nil
}

func (s runners) DeleteRegistrationToken(ctx context.Context, id int64) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM registration_tokens WHERE id = $1`, id)
	if err := affected(res, err, s.db); err != nil {
		return fmt.Errorf("deleting registration token %d: %w", id, err)
	}
	return nil
}
