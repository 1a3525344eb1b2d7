// Package postgres is the store engine for several coordinator replicas sharing one
// PostgreSQL database, through pgx (a pgxpool under database/sql). Claims lock their
// job FOR UPDATE SKIP LOCKED, migrations take an advisory lock, and wake-ups travel
// between replicas by LISTEN/NOTIFY.
//
// Only the coordinator side's wiring (store/engine, cmd) and tests import it.
package postgres

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/kiln-ci/kiln/internal/store"
	"github.com/kiln-ci/kiln/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Config configures a PostgreSQL store.
type Config struct {
	// DSN is a libpq connection string or URL, e.g.
	// postgres://kiln@db:5432/kiln?sslmode=verify-full.
	DSN string
	// Schema, when set, holds Kiln's tables (created if missing) instead of the
	// database's default search path, and namespaces its notification channels, so
	// that several Kiln instances (or test runs) can share one database.
	Schema string
	// MaxConns bounds the connection pool (default 20), plus one connection for LISTEN.
	MaxConns int32
	// Now is the store's clock; nil means time.Now.
	Now func() time.Time
	// Logger; nil discards.
	Logger *slog.Logger
}

// Dialect is PostgreSQL's.
var Dialect = sqlstore.Dialect{
	Name:          "postgres",
	SkipLocked:    "FOR UPDATE OF j SKIP LOCKED",
	WritableCTE:   true,
	Lateral:       true,
	UsageShards:   32,
	JSONBTags:     true,
	MigrationLock: `SELECT pg_advisory_xact_lock(hashtext('kiln.migrations.' || current_schema()))`,
	Classify:      classify,
}

var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Open connects to cfg.DSN, applies migrations and starts the notification listener.
// Errors never repeat the DSN (it may hold a password).
func Open(ctx context.Context, cfg Config) (*store.Store, error) {
	poolCfg, err := pgxpool.ParseConfig(cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("postgres store: parsing the DSN: %w", store.ErrInvalid)
	}
	if cfg.Schema != "" && !schemaName.MatchString(cfg.Schema) {
		return nil, fmt.Errorf("postgres store: schema %q: %w: want [a-z_][a-z0-9_]*", cfg.Schema, store.ErrInvalid)
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	poolCfg.MaxConns = cfg.MaxConns
	prefix := ""
	if cfg.Schema != "" {
		poolCfg.ConnConfig.RuntimeParams["search_path"] = cfg.Schema
		sum := sha256.Sum256([]byte(cfg.Schema))
		prefix = "k" + hex.EncodeToString(sum[:4]) + "_"
	}
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return nil, fmt.Errorf("postgres store: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres store: connecting to %s:%d: %w", poolCfg.ConnConfig.Host, poolCfg.ConnConfig.Port, err)
	}
	if cfg.Schema != "" {
		if err := createSchema(ctx, pool, cfg.Schema); err != nil {
			pool.Close()
			return nil, fmt.Errorf("postgres store: creating schema %s: %w", cfg.Schema, err)
		}
	}
	db := stdlib.OpenDBFromPool(pool)
	sub, err := fs.Sub(migrations, "migrations")
	if err == nil {
		err = sqlstore.Migrate(ctx, db, Dialect, sub)
	}
	if err != nil {
		db.Close()
		pool.Close()
		return nil, fmt.Errorf("postgres store: %w", err)
	}
	n := newNotifier(pool, poolCfg.ConnConfig, prefix, cfg.Logger)
	return sqlstore.New(sqlstore.Config{
		Writer:   db,
		Dialect:  Dialect,
		Notifier: n,
		Now:      cfg.Now,
		Logger:   cfg.Logger,
		Closer: closeFunc(func() error {
			n.Close()
			err := db.Close()
			pool.Close()
			return err
		}),
	}), nil
}

// createSchema creates schema unless it exists. CREATE SCHEMA IF NOT EXISTS alone
// races with a replica doing the same, hence the advisory lock.
func createSchema(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('kiln.schema.' || $1))`, schema); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{schema}.Sanitize())
		return err
	})
}

type closeFunc func() error

func (f closeFunc) Close() error { return f() }

// classify maps PostgreSQL's SQLSTATEs to store sentinels.
func classify(err error) error {
	var e *pgconn.PgError
	if !errors.As(err, &e) {
		return nil
	}
	switch e.Code {
	case "23505": // unique_violation
		return store.ErrConflict
	case "23503": // foreign_key_violation
		return store.ErrNotFound
	case "23514", "23502", "22001", "22P02", "22003": // check, not null, too long, bad text, out of range
		return store.ErrInvalid
	}
	return nil
}
