package postgres

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kiln-ci/kiln/internal/store"
	"github.com/kiln-ci/kiln/internal/store/storetest"
	"github.com/kiln-ci/kiln/internal/testenv"
)

// replicas opens n stores on one fresh schema, at once, as coordinator replicas
// starting together do.
func replicas(t *testing.T, n int) []*store.Store {
	t.Helper()
	dsn := testenv.PostgresDSN(t)
	schema := freshSchema(t, dsn)
	out := make([]*store.Store, n)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			out[i], errs[i] = Open(t.Context(), Config{DSN: dsn, Schema: schema, MaxConns: 8})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		t.Cleanup(func() { out[i].Close() })
	}
	return out
}

func TestReplicasStartingTogetherMigrateOnce(t *testing.T) {
	rs := replicas(t, 4)
	u := &store.User{Username: "root"}
	if err := rs[0].Users.CreateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	got, err := rs[3].Users.UserByUsername(t.Context(), "root")
	if err != nil || got.ID != u.ID {
		t.Errorf("another replica sees %+v, %v", got, err)
	}
}

func TestReplicasNeverClaimOneJobTwice(t *testing.T) {
	storetest.ClaimRace(t, replicas(t, 3), 600, 24)
}

func TestNotificationsReachOtherReplicas(t *testing.T) {
	rs := replicas(t, 2)
	l, err := rs[1].Notifier.Listen(t.Context(), "jobs_pending")
	if err != nil {
		t.Fatal(err)
	}
	if err := rs[0].Notifier.Notify(t.Context(), "jobs_pending", "project:7"); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-l:
		if p != "project:7" {
			t.Errorf("payload %q, want project:7", p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no notification within 5s")
	}
}

func TestNotificationsAreScopedToTheSchema(t *testing.T) {
	a, b := replicas(t, 1)[0], replicas(t, 1)[0]
	l, err := b.Notifier.Listen(t.Context(), "jobs_pending")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Notifier.Notify(t.Context(), "jobs_pending", "other instance"); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-l:
		t.Errorf("a store in another schema got %q", p)
	case <-time.After(300 * time.Millisecond):
	}
}

func TestAListenerSurvivesALostConnection(t *testing.T) {
	s := replicas(t, 1)[0]
	l, err := s.Notifier.Listen(t.Context(), "jobs_pending")
	if err != nil {
		t.Fatal(err)
	}
	// Kill the listening connection, as a database restart or a network cut would.
	conn, err := pgx.Connect(t.Context(), testenv.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	n := s.Notifier.(*notifier)
	tag, err := conn.Exec(t.Context(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE query LIKE 'LISTEN %' AND query LIKE '%' || $1 || '%'`, n.prefix)
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("terminating the listener: %v (%d rows)", err, tag.RowsAffected())
	}
	select {
	case p := <-l:
		if p != "" {
			t.Errorf("first payload after reconnecting = %q, want the empty 'look again' hint", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no hint within 10s of losing the connection")
	}
	if err := s.Notifier.Notify(t.Context(), "jobs_pending", "after"); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-l:
		if p != "after" {
			t.Errorf("payload %q, want after", p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no notification after reconnecting")
	}
}

func TestOpenRefusesADatabaseFromANewerKiln(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	schema := freshSchema(t, dsn)
	s, err := Open(t.Context(), Config{DSN: dsn, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	if _, err := conn.Exec(t.Context(), `INSERT INTO `+pgx.Identifier{schema, "schema_migrations"}.Sanitize()+
		` (version, name, applied_at) VALUES (999, 'from_the_future', 'x')`); err != nil {
		t.Fatal(err)
	}
	_, err = Open(t.Context(), Config{DSN: dsn, Schema: schema})
	if !errors.Is(err, store.ErrSchemaTooNew) {
		t.Errorf("Open = %v, want ErrSchemaTooNew", err)
	}
}

func TestOpenRefusesBadSettingsWithoutRepeatingTheDSN(t *testing.T) {
	for _, cfg := range []Config{
		{DSN: "postgres://kiln:hunter2@db:notaport/kiln"},
		{DSN: testenv.PostgresDSN(t), Schema: "Robert'); DROP TABLE jobs;--"},
	} {
		_, err := Open(t.Context(), cfg)
		if !errors.Is(err, store.ErrInvalid) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open(%q) = %v, want ErrInvalid without the password", cfg.Schema, err)
		}
	}
}
