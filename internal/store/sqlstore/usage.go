package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/kiln-ci/kiln/internal/store"
)

type usage struct{ *db }

func checkMonth(month string) error {
	if t, err := time.Parse("2006-01", month); err != nil || t.Format("2006-01") != month {
		return fmt.Errorf("month %q: %w: want YYYY-MM", month, store.ErrInvalid)
	}
	return nil
}

// checkTopLevel makes sure id is a top-level namespace.
func checkTopLevel(ctx context.Context, q querier, d *db, id int64) error {
	var parent sql.NullInt64
	if err := q.QueryRowContext(ctx, `SELECT parent_id FROM namespaces WHERE id = $1`, id).Scan(&parent); err != nil {
		return fmt.Errorf("namespace %d: %w", id, d.classify(err))
	}
	if parent.Valid {
		return fmt.Errorf("namespace %d is a subgroup: %w: usage is charged to the top-level namespace", id, store.ErrInvalid)
	}
	return nil
}

// addToUsage ends an INSERT INTO compute_usage: a row that exists is added to.
const addToUsage = `ON CONFLICT (root_namespace_id, month, shard) DO UPDATE SET minutes = compute_usage.minutes + excluded.minutes`

// usageShard picks the row of a month a charge adds to (Dialect.UsageShards).
func (d *db) usageShard() int {
	if d.d.UsageShards > 1 {
		return rand.IntN(d.d.UsageShards)
	}
	return 0
}

func (s usage) AddMinutes(ctx context.Context, rootNamespaceID int64, month string, minutes float64) (store.ComputeUsage, error) {
	u := store.ComputeUsage{RootNamespaceID: rootNamespaceID, Month: month}
	if err := checkMonth(month); err != nil {
		return u, fmt.Errorf("adding compute minutes: %w", err)
	}
	if minutes < 0 || math.IsNaN(minutes) || math.IsInf(minutes, 0) {
		return u, fmt.Errorf("adding compute minutes: amount %v: %w: want a finite amount ≥ 0", minutes, store.ErrInvalid)
	}
	// The charge goes to one of the month's shards (PostgreSQL: concurrent charges
	// of one namespace mostly land on different rows instead of queueing on one
	// row's lock) in one statement, so that the row is locked only while the
	// database runs it, never across a round trip. The SELECT inserts nothing for a
	// missing or non-top-level namespace.
	res, err := s.w.ExecContext(ctx, `INSERT INTO compute_usage (root_namespace_id, month, shard, minutes, warned)
			SELECT id, $2, $4, $3, -1 FROM namespaces WHERE id = $1 AND parent_id IS NULL
		`+addToUsage, rootNamespaceID, month, minutes, s.usageShard())
	if err := affected(res, err, s.db); errors.Is(err, store.ErrNotFound) {
		if err := checkTopLevel(ctx, s.w, s.db, rootNamespaceID); err != nil {
			return u, fmt.Errorf("adding compute minutes to namespace %d for %s: %w", rootNamespaceID, month, err)
		}
		// A namespace's parent never changes: this is not expected.
		return u, fmt.Errorf("adding compute minutes to namespace %d for %s: it changed meanwhile: %w", rootNamespaceID, month, store.ErrConflict)
	} else if err != nil {
		return u, fmt.Errorf("adding compute minutes to namespace %d for %s: %w", rootNamespaceID, month, err)
	}
	// Read after the charge committed, the month's usage counts it and every charge
	// committed before: of concurrent charges, the one whose read comes last sees
	// them all, so no warning level is crossed unseen.
	return s.Usage(ctx, rootNamespaceID, month)
}

// Usage rows: a month's minutes are the sum of its shards' (AddMinutes); the warning
// level is kept on shard 0 and the other shards hold NotWarned, so the month's is
// their maximum.

func (s usage) Usage(ctx context.Context, rootNamespaceID int64, month string) (store.ComputeUsage, error) {
	u := store.ComputeUsage{RootNamespaceID: rootNamespaceID, Month: month, Warned: store.NotWarned}
	if err := checkMonth(month); err != nil {
		return u, fmt.Errorf("compute usage: %w", err)
	}
	err := s.r.QueryRowContext(ctx, `SELECT coalesce(sum(minutes), 0), coalesce(max(warned), -1) FROM compute_usage
		WHERE root_namespace_id = $1 AND month = $2`, rootNamespaceID, month).Scan(&u.Minutes, &u.Warned)
	if err != nil {
		return u, fmt.Errorf("compute usage of namespace %d for %s: %w", rootNamespaceID, month, err)
	}
	return u, nil
}

func (s usage) ListUsage(ctx context.Context, rootNamespaceID int64) ([]store.ComputeUsage, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT root_namespace_id, month, sum(minutes), max(warned) FROM compute_usage
		WHERE root_namespace_id = $1 GROUP BY root_namespace_id, month ORDER BY month DESC`, rootNamespaceID)
	if err != nil {
		return nil, fmt.Errorf("listing compute usage of namespace %d: %w", rootNamespaceID, err)
	}
	out, err := collect(rows, func(sc scanner) (*store.ComputeUsage, error) {
		var u store.ComputeUsage
		err := sc.Scan(&u.RootNamespaceID, &u.Month, &u.Minutes, &u.Warned)
		return &u, err
	})
	if err != nil {
		return nil, fmt.Errorf("listing compute usage of namespace %d: %w", rootNamespaceID, err)
	}
	return out, nil
}

func (s usage) MarkWarned(ctx context.Context, rootNamespaceID int64, month string, level int) (bool, error) {
	if err := checkMonth(month); err != nil {
		return false, fmt.Errorf("recording a quota warning: %w", err)
	}
	if level != 25 && level != 5 && level != 0 {
		return false, fmt.Errorf("recording a quota warning: level %d: %w: want 25, 5 or 0", level, store.ErrInvalid)
	}
	// One statement, as in AddMinutes. The upsert updates (and returns a row) only
	// when level is lower than what was recorded, so of concurrent callers one sees a
	// row; no row also comes from a missing or non-top-level namespace, told apart
	// afterwards.
	var got int
	err := s.w.QueryRowContext(ctx, `INSERT INTO compute_usage (root_namespace_id, month, shard, minutes, warned)
			SELECT id, $2, 0, 0, $3 FROM namespaces WHERE id = $1 AND parent_id IS NULL
		ON CONFLICT (root_namespace_id, month, shard) DO UPDATE SET warned = excluded.warned
		WHERE compute_usage.warned = -1 OR compute_usage.warned > excluded.warned
		RETURNING warned`, rootNamespaceID, month, level).Scan(&got)
	if errors.Is(err, sql.ErrNoRows) {
		err = checkTopLevel(ctx, s.w, s.db, rootNamespaceID)
		if err == nil {
			return false, nil // recorded already, at this level or a lower one
		}
	}
	if err != nil {
		return false, fmt.Errorf("recording the %d%% quota warning of namespace %d for %s: %w", level, rootNamespaceID, month, s.classify(err))
	}
	return true, nil
}
