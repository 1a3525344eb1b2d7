// Package sqlite is the default store engine: one SQLite database file under the
// coordinator's data directory, through the pure-Go modernc.org/sqlite driver, in WAL
// mode with foreign keys on. Writes go through one connection (SQLite has a single
// writer; queueing in Go beats busy-waiting in SQLite) and reads through a small
// pool. Wake-ups are in-process (store/notify): one coordinator per database file.
//
// Only the coordinator side's wiring (store/engine, cmd) and tests import it.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/kiln-ci/kiln/internal/store"
	"github.com/kiln-ci/kiln/internal/store/notify"
	"github.com/kiln-ci/kiln/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Config configures a SQLite store.
type Config struct {
	// Path of the database file, created (with its directory) if missing.
	Path string
	// Synchronous is SQLite's synchronous setting: "full" (the default: a commit
	// survives power loss) or "normal" (faster; a crash of the machine may lose the
	// last commits, a crash of the process loses nothing).
	Synchronous string
	// Readers is the size of the read pool (default 4).
	Readers int
	// BusyTimeout bounds waiting for another process holding the file (default 10 s).
	BusyTimeout time.Duration
	// Now is the store's clock; nil means time.Now.
	Now func() time.Time
	// Logger; nil discards.
	Logger *slog.Logger
}

// Dialect is SQLite's: the claim needs no row locks (its UPDATE runs alone under the
// single writer), and migrations are serialised by BEGIN IMMEDIATE.
var Dialect = sqlstore.Dialect{Name: "sqlite", CacheStatements: true, Classify: classify}

// Open opens (creating and migrating) the database at cfg.Path.
func Open(ctx context.Context, cfg Config) (*store.Store, error) {
	if cfg.Path == "" || strings.ContainsRune(cfg.Path, '?') {
		return nil, fmt.Errorf("sqlite store: path %q: %w: want a file path without '?'", cfg.Path, store.ErrInvalid)
	}
	sync := strings.ToLower(cfg.Synchronous)
	if sync == "" {
		sync = "full"
	}
	if sync != "full" && sync != "normal" {
		return nil, fmt.Errorf("sqlite store: synchronous %q: %w: want full or normal", cfg.Synchronous, store.ErrInvalid)
	}
	if cfg.Readers <= 0 {
		cfg.Readers = 4
	}
	if cfg.BusyTimeout <= 0 {
		cfg.BusyTimeout = 10 * time.Second
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o750); err != nil {
		return nil, fmt.Errorf("sqlite store: %w", err)
	}
	dsn := func(extra ...string) string {
		q := url.Values{}
		q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", cfg.BusyTimeout.Milliseconds()))
		q.Add("_pragma", "foreign_keys(1)")
		q.Add("_pragma", "synchronous("+sync+")")
		q.Set("_time_integer_format", "unix_micro")
		q.Set("_inttotime", "1")
		for i := 0; i+1 < len(extra); i += 2 {
			q.Add(extra[i], extra[i+1])
		}
		return cfg.Path + "?" + q.Encode()
	}
	w, err := sql.Open("sqlite", dsn("_txlock", "immediate", "_pragma", "journal_mode(wal)"))
	if err != nil {
		return nil, fmt.Errorf("sqlite store %s: %w", cfg.Path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite store %s: %w", cfg.Path, err)
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		w.Close()
		return nil, err
	}
	if err := sqlstore.Migrate(ctx, w, Dialect, sub); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite store %s: %w", cfg.Path, err)
	}
	r, err := sql.Open("sqlite", dsn("_pragma", "query_only(1)"))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite store %s: %w", cfg.Path, err)
	}
	r.SetMaxOpenConns(cfg.Readers)
	r.SetMaxIdleConns(cfg.Readers)
	hub := notify.NewHub(0)
	return sqlstore.New(sqlstore.Config{
		Writer:   w,
		Reader:   r,
		Dialect:  Dialect,
		Notifier: hub,
		Now:      cfg.Now,
		Logger:   cfg.Logger,
		Closer:   closer{hub: hub, dbs: []*sql.DB{r, w}},
	}), nil
}

type closer struct {
	hub *notify.Hub
	dbs []*sql.DB
}

func (c closer) Close() error {
	errs := []error{c.hub.Close()}
	for _, db := range c.dbs {
		errs = append(errs, db.Close())
	}
	return errors.Join(errs...)
}

// classify maps SQLite's extended constraint codes to store sentinels.
func classify(err error) error {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return nil
	}
	switch e.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return store.ErrConflict
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return store.ErrNotFound
	case sqlite3.SQLITE_CONSTRAINT_CHECK, sqlite3.SQLITE_CONSTRAINT_NOTNULL:
		return store.ErrInvalid
	}
	return nil
}
