// Package sqlstore implements the store interfaces once, in SQL that SQLite and
// PostgreSQL both run ($N placeholders, RETURNING, ON CONFLICT, partial indexes), over
// database/sql. The engines (store/sqlite, store/postgres) open the database, apply
// their dialect's migrations (Migrate) and hand the handles to New, with a Dialect
// for the few things that differ: row locking in the claim, error codes, and what
// lets PostgreSQL, whose statements are round trips to another process, do in one
// statement what SQLite does in a transaction (writable CTEs, LATERAL) or spread a hot
// counter over rows (UsageShards).
//
// Only the engine packages import it.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/kiln-ci/kiln/internal/store"
)

// Dialect is what differs between engines.
type Dialect struct {
	// Name is the engine's name ("sqlite", "postgres").
	Name string
	// SkipLocked is appended to the claim's candidate query to lock the chosen row and
	// skip rows other claims hold (PostgreSQL: "FOR UPDATE OF j SKIP LOCKED"). Empty
	// where a write statement already runs alone (SQLite's single writer).
	SkipLocked string
	// MigrationLock is run first in the migration transaction so that replicas
	// starting together migrate one at a time ("" if transactions already serialise).
	MigrationLock string
	// WritableCTE says the database runs data-modifying statements in WITH
	// (PostgreSQL), letting a trace append be one statement.
	WritableCTE bool
	// Lateral says the database runs LATERAL subqueries and MATERIALIZED CTEs
	// (PostgreSQL), letting a fair-share claim be one statement.
	Lateral bool
	// UsageShards is how many rows a namespace's monthly compute usage is spread over
	// (0 or 1: one), so that concurrent charges do not queue on one row's lock where
	// writers run concurrently (PostgreSQL).
	UsageShards int
	// JSONBTags matches runner tags on jobs.tags with jsonb containment (PostgreSQL)
	// instead of the job_tags table.
	JSONBTags bool
	// CacheStatements keeps prepared statements per query text, for drivers that
	// would otherwise parse each statement on every call.
	CacheStatements bool
	// Classify maps a driver error to store.ErrConflict (a unique constraint),
	// store.ErrNotFound (a foreign key: the referenced row is missing) or
	// store.ErrInvalid (a check or not-null constraint), and returns nil otherwise.
	Classify func(error) error
}

// Config is what New needs.
type Config struct {
	// Writer runs every transaction and write. SQLite engines give it one connection.
	Writer *sql.DB
	// Reader runs reads outside transactions; nil means Writer.
	Reader *sql.DB
	// Dialect of the database.
	Dialect Dialect
	// Notifier carries wake-ups; the store does not call it itself.
	Notifier store.Notifier
	// Now is the store's clock; nil means time.Now. Times are kept in UTC at
	// microsecond precision.
	Now func() time.Time
	// Logger for the store's own events; nil discards them. Values are never logged.
	Logger *slog.Logger
	// Closer is called by Store.Close (closing the databases and the notifier).
	Closer io.Closer
}

// db is the state the aggregates share.
type db struct {
	w, r conn // writes and transactions; reads
	d    Dialect
	now  func() time.Time
	log  *slog.Logger
}

// countUpTo counts the rows of table that match where (whose arguments are a), and
// when upTo > 0 stops counting at upTo: a list's total is then capped, as GitLab caps
// it, without reading every matching row.
func (d *db) countUpTo(ctx context.Context, table, where string, a args, upTo int) (int, error) {
	query := `SELECT count(*) FROM ` + table + ` WHERE ` + where
	if upTo > 0 {
		query = `SELECT count(*) FROM (SELECT 1 FROM ` + table + ` WHERE ` + where + ` LIMIT ` + a.add(upTo) + `) c`
	}
	var n int
	err := d.r.QueryRowContext(ctx, query, a...).Scan(&n)
	return n, err
}

// New returns a store over cfg's database, which must be migrated already.
func New(cfg Config) *store.Store {
	d := &db{w: conn{db: cfg.Writer}, r: conn{db: cfg.Reader}, d: cfg.Dialect, log: cfg.Logger}
	if d.r.db == nil {
		d.r.db = d.w.db
	}
	closer := cfg.Closer
	if cfg.Dialect.CacheStatements {
		d.w.cache = newStmtCache()
		d.r.cache = d.w.cache
		if d.r.db != d.w.db {
			d.r.cache = newStmtCache()
		}
		closer = closeFunc(func() error {
			d.w.cache.close()
			d.r.cache.close()
			if cfg.Closer == nil {
				return nil
			}
			return cfg.Closer.Close()
		})
	}
	clock := cfg.Now
	if clock == nil {
		clock = time.Now
	}
	d.now = func() time.Time { return clock().UTC().Truncate(time.Microsecond) }
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	return &store.Store{
		Users:      users{d},
		Namespaces: namespaces{d},
		Projects:   projects{d},
		Variables:  variables{d},
		Pipelines:  pipelines{d},
		Jobs:       jobs{d},
		Traces:     traces{d},
		Artifacts:  artifacts{d},
		Runners:    runners{d},
		Usage:      usage{d},
		Notifier:   cfg.Notifier,
		Engine:     cfg.Dialect.Name,
		Closer:     closer,
	}
}

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// tx runs fn in a write transaction, committing when fn returns nil.
func (d *db) tx(ctx context.Context, fn func(tx querier) error) error {
	tx, err := d.w.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning a transaction: %w", err)
	}
	c := d.w.inTx(tx)
	defer c.prepareMissed(ctx)
	if err := fn(c); err != nil {
		if rerr := tx.Rollback(); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) {
			d.log.Warn("rolling back a transaction", "err", rerr)
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing: %w", d.classify(err))
	}
	return nil
}

// classify wraps a driver error with the store sentinel it stands for, if any.
// sql.ErrNoRows becomes store.ErrNotFound.
func (d *db) classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	if d.d.Classify != nil {
		if s := d.d.Classify(err); s != nil {
			return &classified{sentinel: s, err: err}
		}
	}
	return err
}

// classified is a driver error that stands for a store sentinel.
type classified struct {
	sentinel error
	err      error
}

func (c *classified) Error() string   { return c.sentinel.Error() + ": " + c.err.Error() }
func (c *classified) Unwrap() []error { return []error{c.sentinel, c.err} }

type closeFunc func() error

func (f closeFunc) Close() error { return f() }
