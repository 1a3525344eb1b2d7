// Package engine opens the store a coordinator's configuration names: SQLite under
// the data directory by default, PostgreSQL when a database URL is given, and the
// artifact blobs under the data directory.
//
// Only wiring (cmd, kiln up) and tests import it.
package engine

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/kiln-ci/kiln/internal/store"
	"github.com/kiln-ci/kiln/internal/store/blobfs"
	"github.com/kiln-ci/kiln/internal/store/postgres"
	"github.com/kiln-ci/kiln/internal/store/sqlite"
)

// Config says where the coordinator keeps its state.
type Config struct {
	// DataDir holds the SQLite database (kiln.db) and the artifacts (artifacts/).
	DataDir string
	// DatabaseURL selects the database: empty for SQLite in DataDir,
	// "postgres://…" or "postgresql://…" for PostgreSQL, "sqlite:PATH" for a SQLite
	// file elsewhere.
	DatabaseURL string
	// MaxArtifactSize refuses larger artifact uploads (bytes); 0: no limit.
	MaxArtifactSize int64
	// Now is the store's clock; nil means time.Now.
	Now func() time.Time
	// Logger; nil discards.
	Logger *slog.Logger
}

// DatabaseFile is the SQLite database's name in the data directory.
const DatabaseFile = "kiln.db"

// Open opens (creating and migrating) the database cfg names. Errors name the
// engine and never repeat the URL, which may hold a password.
func Open(ctx context.Context, cfg Config) (*store.Store, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case cfg.DatabaseURL == "":
		if cfg.DataDir == "" {
			return nil, fmt.Errorf("opening the store: %w: neither a data directory nor a database URL is set", store.ErrInvalid)
		}
		return sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(cfg.DataDir, DatabaseFile), Now: cfg.Now,
			Logger: cfg.Logger.With("component", "store", "engine", "sqlite")})
	case strings.HasPrefix(cfg.DatabaseURL, "postgres://"), strings.HasPrefix(cfg.DatabaseURL, "postgresql://"):
		return postgres.Open(ctx, postgres.Config{DSN: cfg.DatabaseURL, Now: cfg.Now,
			Logger: cfg.Logger.With("component", "store", "engine", "postgres")})
	case strings.HasPrefix(cfg.DatabaseURL, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(cfg.DatabaseURL, "sqlite:"), "//")
		if path == "" {
			return nil, fmt.Errorf("opening the store: %w: sqlite: URL without a path", store.ErrInvalid)
		}
		return sqlite.Open(ctx, sqlite.Config{Path: path, Now: cfg.Now,
			Logger: cfg.Logger.With("component", "store", "engine", "sqlite")})
	}
	scheme := "no scheme"
	if u, err := url.Parse(cfg.DatabaseURL); err == nil && u.Scheme != "" {
		scheme = "scheme " + u.Scheme
	}
	return nil, fmt.Errorf("opening the store: database URL with %s: %w: want postgres://, postgresql:// or sqlite:", scheme, store.ErrInvalid)
}

// Blobs opens the artifact blob directory under cfg.DataDir.
func Blobs(cfg Config) (*blobfs.FS, error) {
	if cfg.DataDir == "" {
		return nil, fmt.Errorf("opening artifact storage: %w: no data directory", store.ErrInvalid)
	}
	return blobfs.New(blobfs.Config{Dir: filepath.Join(cfg.DataDir, "artifacts"), MaxSize: cfg.MaxArtifactSize,
		Logger: cfg.Logger})
}
