package engine

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-ci/kiln/internal/store"
	"github.com/kiln-ci/kiln/internal/testenv"
)

func TestOpenWithoutURLKeepsSQLiteInTheDataDirectory(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(t.Context(), Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Engine != "sqlite" {
		t.Errorf("engine %q, want sqlite", s.Engine)
	}
	if _, err := os.Stat(filepath.Join(dir, DatabaseFile)); err != nil {
		t.Errorf("no database file in the data directory: %v", err)
	}
	b, err := Blobs(Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(t.Context(), "a/b", strings.NewReader("x"), store.AnySize); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "artifacts", "a", "b")); err != nil {
		t.Errorf("blob not under data/artifacts: %v", err)
	}
}

func TestOpenSQLiteURL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "elsewhere.db")
	s, err := Open(t.Context(), Config{DatabaseURL: "sqlite:" + path})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Stat(path); err != nil {
		t.Errorf("no database at %s: %v", path, err)
	}
}

func TestOpenPostgresURL(t *testing.T) {
	s, err := Open(t.Context(), Config{DatabaseURL: testenv.PostgresDSN(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Engine != "postgres" {
		t.Errorf("engine %q, want postgres", s.Engine)
	}
}

func TestOpenRefusesUnknownURLsWithoutRepeatingThem(t *testing.T) {
	for _, u := range []string{"mysql://root:hunter2@db/kiln", "hunter2", "sqlite:"} {
		_, err := Open(t.Context(), Config{DatabaseURL: u})
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Open(%q) = %v, want ErrInvalid", u, err)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error %q repeats a password", err)
		}
	}
	_, err := Open(t.Context(), Config{})
	if !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Open with nothing = %v, want ErrInvalid", err)
	}
	_, err = Open(t.Context(), Config{DatabaseURL: "postgres://kiln:hunter2@127.0.0.1:1/kiln?connect_timeout=1"})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("Open of an unreachable PostgreSQL = %v; want an error without the password", err)
	}
}
