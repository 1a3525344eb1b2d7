package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/store"
)

type users struct{ *db }

const userCols = `id, username, name, email, admin, namespace_id, created_at`

func scanUser(s scanner) (*store.User, error) {
	var u store.User
	err := s.Scan(&u.ID, &u.Username, &u.Name, stringCol{&u.Email}, &u.Admin, int64Col{&u.NamespaceID}, timeCol{&u.CreatedAt})
	return &u, err
}

func (s users) CreateUser(ctx context.Context, u *store.User) error {
	if err := checkPath("username", u.Username); err != nil {
		return fmt.Errorf("creating user: %w", err)
	}
	now := s.now()
	err := s.tx(ctx, func(tx querier) error {
		var id int64
		err := tx.QueryRowContext(ctx, `INSERT INTO users (username, name, email, admin, created_at)
			VALUES ($1, $2, $3, $4, $5) RETURNING id`,
			u.Username, u.Name, nullString(strings.TrimSpace(u.Email)), u.Admin, now).Scan(&id)
		if err != nil {
			return s.classify(err)
		}
		nsName := u.Name
		if strings.TrimSpace(nsName) == "" {
			nsName = u.Username
		}
		var nsID int64
		err = tx.QueryRowContext(ctx, `INSERT INTO namespaces (kind, name, path, full_path, owner_id, plan, created_at)
			VALUES ('user', $1, $2, $3, $4, $5, $6) RETURNING id`,
			nsName, u.Username, u.Username, id, machine.PlanFree, now).Scan(&nsID)
		if err != nil {
			return fmt.Errorf("personal namespace: %w", s.classify(err))
		}
		if _, err := tx.ExecContext(ctx, `UPDATE namespaces SET root_id = id WHERE id = $1`, nsID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET namespace_id = $1 WHERE id = $2`, nsID, id); err != nil {
			return err
		}
		u.ID, u.NamespaceID, u.CreatedAt = id, nsID, now
		return nil
	})
	if err != nil {
		return fmt.Errorf("creating user %q: %w", u.Username, err)
	}
	return nil
}

func (s users) User(ctx context.Context, id int64) (*store.User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("user %d: %w", id, s.classify(err))
	}
	return u, nil
}

func (s users) UserByUsername(ctx context.Context, username string) (*store.User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE lower(username) = lower($1)`, username))
	if err != nil {
		return nil, fmt.Errorf("user %q: %w", username, s.classify(err))
	}
	return u, nil
}

func (s users) ListUsers(ctx context.Context, page store.Page) ([]store.User, error) {
	var a args
	limit, offset := page.Bounds()
	rows, err := s.r.QueryContext(ctx, `SELECT `+userCols+` FROM users ORDER BY id`+pageClause(&a, limit, offset), a...)
	if err != nil {
		return nil, fmt.Errorf("listing users: %w", err)
	}
	out, err := collect(rows, scanUser)
	if err != nil {
		return nil, fmt.Errorf("listing users: %w", err)
	}
	return out, nil
}

func (s users) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting users: %w", err)
	}
	return n, nil
}

func (s users) UpdateUser(ctx context.Context, u *store.User) error {
	res, err := s.w.ExecContext(ctx, `UPDATE users SET name = $1, email = $2, admin = $3 WHERE id = $4`,
		u.Name, nullString(strings.TrimSpace(u.Email)), u.Admin, u.ID)
	if err := affected(res, err, s.db); err != nil {
		return fmt.Errorf("updating user %d: %w", u.ID, err)
	}
	return nil
}

const tokenCols = `id, user_id, name, scopes, expires_at, revoked, created_at`

func scanToken(s scanner) (*store.PersonalAccessToken, error) {
	var t store.PersonalAccessToken
	err := s.Scan(&t.ID, &t.UserID, &t.Name, jsonCol{&t.Scopes}, timeCol{&t.ExpiresAt}, &t.Revoked, timeCol{&t.CreatedAt})
	return &t, err
}

func (s users) CreateToken(ctx context.Context, t *store.PersonalAccessToken, token string) error {
	if err := checkNotEmpty("token name", t.Name); err != nil {
		return fmt.Errorf("creating a personal access token: %w", err)
	}
	if err := checkNotEmpty("token", token); err != nil {
		return fmt.Errorf("creating a personal access token: %w", err)
	}
	scopes := t.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	sc, err := jsonArg(scopes)
	if err != nil {
		return err
	}
	now := s.now()
	err = s.w.QueryRowContext(ctx, `INSERT INTO personal_access_tokens (user_id, name, token_hash, scopes, expires_at, revoked, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
		t.UserID, t.Name, store.HashToken(token), sc, timeArg(t.ExpiresAt), t.Revoked, now).Scan(&t.ID)
	if err != nil {
		return fmt.Errorf("creating personal access token %q for user %d: %w", t.Name, t.UserID, s.classify(err))
	}
	t.CreatedAt = now
	return nil
}

func (s users) UserByToken(ctx context.Context, token string) (*store.User, *store.PersonalAccessToken, error) {
	var hash []byte
	row := s.r.QueryRowContext(ctx, `SELECT t.token_hash, t.id, t.user_id, t.name, t.scopes, t.expires_at, t.revoked, t.created_at,
		u.id, u.username, u.name, u.email, u.admin, u.namespace_id, u.created_at
		FROM personal_access_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1`, store.HashToken(token))
	var t store.PersonalAccessToken
	var u store.User
	err := row.Scan(&hash, &t.ID, &t.UserID, &t.Name, jsonCol{&t.Scopes}, timeCol{&t.ExpiresAt}, &t.Revoked, timeCol{&t.CreatedAt},
		&u.ID, &u.Username, &u.Name, stringCol{&u.Email}, &u.Admin, int64Col{&u.NamespaceID}, timeCol{&u.CreatedAt})
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !store.TokenMatches(hash, token)) {
		return nil, nil, fmt.Errorf("personal access token: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("looking up a personal access token: %w", err)
	}
	if t.Revoked || (!t.ExpiresAt.IsZero() && !s.now().Before(t.ExpiresAt)) {
		return nil, nil, fmt.Errorf("personal access token %d is revoked or expired: %w", t.ID, store.ErrNotFound)
	}
	return &u, &t, nil
}

func (s users) ListTokens(ctx context.Context, userID int64) ([]store.PersonalAccessToken, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+tokenCols+` FROM personal_access_tokens WHERE user_id = $1 ORDER BY id`, userID)
	if err != nil {
		return nil, fmt.Errorf("listing tokens of user %d: %w", userID, err)
	}
	out, err := collect(rows, scanToken)
	if err != nil {
		return nil, fmt.Errorf("listing tokens of user %d: %w", userID, err)
	}
	return out, nil
}

func (s users) RevokeToken(ctx context.Context, id int64) error {
	res, err := s.w.ExecContext(ctx, `UPDATE personal_access_tokens SET revoked = TRUE WHERE id = $1`, id)
	if err := affected(res, err, s.db); err != nil {
		return fmt.Errorf("revoking personal access token %d: %w", id, err)
	}
	return nil
}

// collect scans every row with scan.
func collect[T any](rows *sql.Rows, scan func(scanner) (*T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *v)
	}
	return out, rows.Err()
}

// affected turns an update's result into ErrNotFound when it touched no row.
func affected(res sql.Result, err error, d *db) error {
	if err != nil {
		return d.classify(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}
