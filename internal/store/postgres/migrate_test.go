package postgres

import (
	"database/sql"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/kiln-ci/kiln/internal/store"
	"github.com/kiln-ci/kiln/internal/store/sqlstore"
	"github.com/kiln-ci/kiln/internal/testenv"
)

// migratedTo creates schema with the migrations up to version only, as an older Kiln
// left it, and returns a connection whose search path is that schema.
func migratedTo(t *testing.T, dsn, schema string, version int) *sql.DB {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["search_path"] = schema
	db := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { db.Close() })
	if _, err := db.ExecContext(t.Context(), `CREATE SCHEMA `+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	older := fstest.MapFS{}
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files[:version] {
		data, err := fs.ReadFile(migrations, f)
		if err != nil {
			t.Fatal(err)
		}
		older[strings.TrimPrefix(f, "migrations/")] = &fstest.MapFile{Data: data}
	}
	if err := sqlstore.Migrate(t.Context(), db, Dialect, older); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestUsageFromBeforeShardsStillCounts(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	schema := freshSchema(t, dsn)
	db := migratedTo(t, dsn, schema, 3)
	if _, err := db.ExecContext(t.Context(), `INSERT INTO namespaces (id, kind, name, path, full_path, plan, created_at)
			VALUES (1, 'group', 'g', 'g', 'g', 'free', now());
		INSERT INTO compute_usage (root_namespace_id, month, minutes, warned) VALUES (1, '2026-03', 300.5, 25), (1, '2026-02', 7, -1)`); err != nil {
		t.Fatal(err)
	}
	s, err := Open(t.Context(), Config{DSN: dsn, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for range 20 { // over several shards
		if _, err := s.Usage.AddMinutes(t.Context(), 1, "2026-03", 0.5); err != nil {
			t.Fatal(err)
		}
	}
	u, err := s.Usage.Usage(t.Context(), 1, "2026-03")
	if err != nil || u.Minutes != 310.5 || u.Warned != 25 {
		t.Errorf("usage after 20 charges = %+v, %v, want 310.5 minutes warned at 25", u, err)
	}
	list, err := s.Usage.ListUsage(t.Context(), 1)
	if err != nil || len(list) != 2 || list[0].Minutes != 310.5 || list[1].Minutes != 7 || list[1].Warned != store.NotWarned {
		t.Errorf("ListUsage = %+v, %v", list, err)
	}
}

func TestRunningJobsFromBeforeTheIndexChangesKeepTheirTokens(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	schema := freshSchema(t, dsn)
	db := migratedTo(t, dsn, schema, 4)
	if _, err := db.ExecContext(t.Context(), `INSERT INTO namespaces (id, kind, name, path, full_path, plan, created_at)
			VALUES (1, 'group', 'g', 'g', 'g', 'free', now());
		INSERT INTO projects (id, namespace_id, root_namespace_id, name, path, full_path, default_branch, visibility,
			ci_config_path, created_at) VALUES (1, 1, 1, 'p', 'p', 'g/p', 'main', 'private', '.gitlab-ci.yml', now());
		INSERT INTO pipelines (id, project_id, iid, ref, sha, source, status, created_at, updated_at)
			VALUES (1, 1, 1, 'main', 'abc', 'push', 'running', now(), now())`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(t.Context(), `INSERT INTO jobs (id, pipeline_id, project_id, root_namespace_id, name, stage, status, when_condition, runner_id,
			token_hash, created_at, updated_at, started_at)
			VALUES (1, 1, 1, 1, 'a', 'test', 'running', 'on_success', 7, $1, now(), now(), now()),
				(2, 1, 1, 1, 'b', 'test', 'success', 'on_success', 7, NULL, now(), now(), now())`,
		store.HashToken("glcbt-before")); err != nil {
		t.Fatal(err)
	}
	s, err := Open(t.Context(), Config{DSN: dsn, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, err := s.Jobs.JobByToken(t.Context(), "glcbt-before"); err != nil || got.ID != 1 || got.RunnerID != 7 {
		t.Errorf("JobByToken after the migration = %+v, %v, want job 1 on runner 7", got, err)
	}
	running, err := s.Jobs.ListJobs(t.Context(), store.JobQuery{RunnerID: 7, Statuses: []store.Status{store.StatusRunning}})
	if err != nil || len(running) != 1 || running[0].ID != 1 {
		t.Errorf("runner 7's running jobs = %+v, %v, want job 1", running, err)
	}
}
