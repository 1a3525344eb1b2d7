package sqlite

import (
	"bytes"
	"database/sql"
	"errors"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/kiln-ci/kiln/internal/store"
	"github.com/kiln-ci/kiln/internal/store/sqlstore"
)

func TestReopeningKeepsDataAndAppliesNothingTwice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kiln.db")
	s, err := Open(t.Context(), Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	u := &store.User{Username: "root", Admin: true}
	if err := s.Users.CreateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(t.Context(), Config{Path: path})
	if err != nil {
		t.Fatalf("reopening: %v", err)
	}
	defer s.Close()
	got, err := s.Users.UserByUsername(t.Context(), "root")
	if err != nil || got.ID != u.ID {
		t.Fatalf("user after reopening = %+v, %v", got, err)
	}
	files, err := fs.Glob(migrations, "migrations/*.sql")
	must(t, err)
	if n := count(t, path, `SELECT count(*) FROM schema_migrations`); n != len(files) || n < 2 {
		t.Errorf("schema_migrations has %d rows, want one per migration file (%d)", n, len(files))
	}
}

func TestOpenRefusesADatabaseFromANewerKiln(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kiln.db")
	s, err := Open(t.Context(), Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	exec(t, path, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'from_the_future', 'x')`)
	_, err = Open(t.Context(), Config{Path: path})
	if !errors.Is(err, store.ErrSchemaTooNew) || !strings.Contains(err.Error(), "0999_from_the_future") {
		t.Errorf("Open = %v, want ErrSchemaTooNew naming the migration", err)
	}
}

func TestOpenRefusesAForeignMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kiln.db")
	s, err := Open(t.Context(), Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	exec(t, path, `UPDATE schema_migrations SET name = 'something_else' WHERE version = 1`)
	if _, err := Open(t.Context(), Config{Path: path}); err == nil || !strings.Contains(err.Error(), "something_else") {
		t.Errorf("Open = %v, want a refusal naming the foreign migration", err)
	}
}

func TestOpenRefusesBadSettings(t *testing.T) {
	for _, cfg := range []Config{{}, {Path: "a?b"}, {Path: filepath.Join(t.TempDir(), "x.db"), Synchronous: "off"}} {
		if _, err := Open(t.Context(), cfg); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Open(%+v) = %v, want ErrInvalid", cfg, err)
		}
	}
}

func TestTokensAreStoredOnlyAsHashes(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kiln.db")
	s, err := Open(t.Context(), Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	u := &store.User{Username: "ada"}
	must(t, s.Users.CreateUser(ctx, u))
	pat, _ := store.NewToken(store.PrefixPersonalAccessToken)
	must(t, s.Users.CreateToken(ctx, &store.PersonalAccessToken{UserID: u.ID, Name: "t"}, pat))
	rt, _ := store.NewToken(store.PrefixRunnerToken)
	must(t, s.Runners.CreateRunner(ctx, &store.Runner{Type: store.RunnerInstance}, rt))
	reg, _ := store.NewToken(store.PrefixRegistrationToken)
	must(t, s.Runners.CreateRegistrationToken(ctx, &store.RegistrationToken{RunnerType: store.RunnerInstance}, reg))
	s.Close() // checkpoints the WAL into the file
	var all []byte
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	for _, tok := range []string{pat, rt, reg} {
		if bytes.Contains(all, []byte(tok)) || bytes.Contains(all, []byte(tok[len(tok)-20:])) {
			t.Errorf("the database files contain token %s…", tok[:8])
		}
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func exec(t testing.TB, path, query string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	must(t, err)
	defer db.Close()
	_, err = db.Exec(query)
	must(t, err)
}

func count(t testing.TB, path, query string) int {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	must(t, err)
	defer db.Close()
	var n int
	must(t, db.QueryRow(query).Scan(&n))
	return n
}

func TestChunksFromBeforeChunkChecksumsStillAddUp(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kiln.db")
	s, err := Open(t.Context(), Config{Path: path})
	must(t, err)
	j := &store.Job{Name: "old", Stage: "test", Status: store.StatusPending}
	g := &store.Namespace{Name: "g", Path: "g"}
	must(t, s.Namespaces.CreateGroup(t.Context(), g))
	p := &store.Project{NamespaceID: g.ID, Path: "p"}
	must(t, s.Projects.CreateProject(t.Context(), p))
	must(t, s.Pipelines.CreatePipeline(t.Context(), &store.Pipeline{ProjectID: p.ID, Ref: "main", SHA: "a", Source: "push",
		Status: store.StatusPending}, []*store.Job{j}))
	_, err = s.Traces.AppendTrace(t.Context(), j.ID, 0, []byte("written before 0002, "))
	must(t, err)
	_, err = s.Traces.AppendTrace(t.Context(), j.ID, 21, []byte("and after"))
	must(t, err)
	s.Close()
	exec(t, path, `UPDATE trace_chunks SET crc32 = NULL WHERE start_offset = 0`) // as 0002 leaves old chunks
	s, err = Open(t.Context(), Config{Path: path})
	must(t, err)
	defer s.Close()
	info, err := s.Traces.TraceInfo(t.Context(), j.ID)
	must(t, err)
	if want := crc32.ChecksumIEEE([]byte("written before 0002, and after")); info.CRC32 != want || info.Size != 30 {
		t.Errorf("TraceInfo = %+v, want size 30 crc %08x", info, want)
	}
}

// migratedTo returns a database at path with the migrations up to version only, as an
// older Kiln left it.
func migratedTo(t *testing.T, path string, version int) {
	t.Helper()
	older := fstest.MapFS{}
	files, err := fs.Glob(migrations, "migrations/*.sql")
	must(t, err)
	for _, f := range files[:version] {
		data, err := fs.ReadFile(migrations, f)
		must(t, err)
		older[strings.TrimPrefix(f, "migrations/")] = &fstest.MapFile{Data: data}
	}
	db, err := sql.Open("sqlite", path)
	must(t, err)
	defer db.Close()
	must(t, sqlstore.Migrate(t.Context(), db, Dialect, older))
}

func TestUsageFromBeforeShardsStillCounts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kiln.db")
	migratedTo(t, path, 3)
	exec(t, path, `INSERT INTO namespaces (id, kind, name, path, full_path, plan, created_at) VALUES (1, 'group', 'g', 'g', 'g', 'free', 0);
		INSERT INTO compute_usage (root_namespace_id, month, minutes, warned) VALUES (1, '2026-03', 300.5, 25), (1, '2026-02', 7, -1)`)
	s, err := Open(t.Context(), Config{Path: path})
	must(t, err)
	defer s.Close()
	u, err := s.Usage.AddMinutes(t.Context(), 1, "2026-03", 1.5)
	must(t, err)
	if u.Minutes != 302 || u.Warned != 25 {
		t.Errorf("usage after a charge = %+v, want 302 minutes warned at 25", u)
	}
	list, err := s.Usage.ListUsage(t.Context(), 1)
	must(t, err)
	if len(list) != 2 || list[0].Minutes != 302 || list[1].Minutes != 7 || list[1].Warned != store.NotWarned {
		t.Errorf("ListUsage = %+v", list)
	}
}
