package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kiln-ci/kiln/internal/store"
	"github.com/kiln-ci/kiln/internal/store/storetest"
	"github.com/kiln-ci/kiln/internal/testenv"
)

// freshSchema returns a new schema name for one test and drops the schema when the
// test ends.
func freshSchema(t testing.TB, dsn string) string {
	t.Helper()
	var b [8]byte
	rand.Read(b[:])
	schema := "kiln_test_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	return schema
}

// open opens a store in a schema of its own on the test database.
func open(t testing.TB, now func() time.Time) *store.Store {
	t.Helper()
	dsn := testenv.PostgresDSN(t)
	// Commits need not wait for the disk in conformance tests (a crash loses the
	// test anyway); the benchmark keeps the server's durable default.
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("%s is not a URL: %v", testenv.EnvPostgresDSN, err)
	}
	q := u.Query()
	q.Set("synchronous_commit", "off")
	u.RawQuery = q.Encode()
	s, err := Open(t.Context(), Config{DSN: u.String(), Schema: freshSchema(t, dsn), Now: now, MaxConns: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	testenv.PostgresDSN(t)
	storetest.Run(t, open)
}

// BenchmarkClaimFinish runs with the server's durable defaults (synchronous_commit on):
//
//	eval "$(scripts/postgres-test.sh start)"
//	go test -run '^$' -bench ClaimFinish -benchtime 5000x ./internal/store/postgres/
func BenchmarkClaimFinish(b *testing.B) {
	for _, order := range []string{store.ClaimFIFO, store.ClaimFairShare} {
		b.Run(order, func(b *testing.B) {
			storetest.BenchClaimFinish(b, func(t testing.TB, now func() time.Time) *store.Store {
				dsn := testenv.PostgresDSN(t)
				s, err := Open(t.Context(), Config{DSN: dsn, Schema: freshSchema(t, dsn), Now: now, MaxConns: 32})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			}, 16, order)
		})
	}
}
