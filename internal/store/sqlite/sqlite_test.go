package sqlite

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/store"
	"github.com/kiln-ci/kiln/internal/store/storetest"
)

// open opens a fresh database in a temporary directory.
func open(t testing.TB, now func() time.Time) *store.Store {
	t.Helper()
	s, err := Open(t.Context(), Config{Path: filepath.Join(t.TempDir(), "kiln.db"), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, open)
}

// BenchmarkClaimFinish: go test -run '^$' -bench ClaimFinish -benchtime 5000x ./internal/store/sqlite/
func BenchmarkClaimFinish(b *testing.B) {
	for _, sync := range []string{"full", "normal"} {
		for _, order := range []string{store.ClaimFIFO, store.ClaimFairShare} {
			b.Run("synchronous="+sync+"/"+order, func(b *testing.B) {
				storetest.BenchClaimFinish(b, func(t testing.TB, now func() time.Time) *store.Store {
					s, err := Open(t.Context(), Config{Path: filepath.Join(t.TempDir(), "kiln.db"), Now: now, Synchronous: sync})
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { s.Close() })
					return s
				}, 8, order)
			})
		}
	}
}
