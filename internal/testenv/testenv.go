// Package testenv tells tests which real components this machine offers (a Docker
// daemon, PostgreSQL, the conformance data) and skips or fails a test that needs one
// that is missing.
//
// A missing component skips the test with a message naming it and how to provide it,
// so `go test ./...` passes on a plain machine. In CI, KILN_TEST_REQUIRE lists tiers
// that must run ("docker,postgres,conformance" or "all"): a missing required component
// fails the test instead of skipping it.
//
// Only tests import this package.
package testenv

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Tiers.
const (
	TierDocker      = "docker"
	TierPostgres    = "postgres"
	TierConformance = "conformance"
	TierGPU         = "gpu"
)

// Environment variables.
const (
	EnvRequire     = "KILN_TEST_REQUIRE"      // comma-separated tiers that must not skip
	EnvPostgresDSN = "KILN_TEST_POSTGRES_DSN" // e.g. postgres://kiln@127.0.0.1:5433/kiln_test?sslmode=disable
	EnvShared      = "KILN_SHARED"            // where ../shared is, if not beside the repository
)

// Required reports whether tier must run (KILN_TEST_REQUIRE names it or "all").
func Required(tier string) bool {
	req := strings.Split(os.Getenv(EnvRequire), ",")
	if slices.Contains(req, "all") && tier != TierGPU {
		return true
	}
	return slices.Contains(req, tier)
}

// Missing skips t, or fails it when tier is required, with a message naming what is
// missing and how to start it.
func Missing(t testing.TB, tier, what string) {
	t.Helper()
	if Required(tier) {
		t.Fatalf("%s tier required (%s=%s) but %s", tier, EnvRequire, os.Getenv(EnvRequire), what)
	}
	t.Skipf("skipping %s-tier test: %s", tier, what)
}

var dockerOnce = sync.OnceValue(func() error {
	sock := "/var/run/docker.sock"
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		if !strings.HasPrefix(h, "unix://") {
			return nil // a TCP daemon: let the client find out
		}
		sock = strings.TrimPrefix(h, "unix://")
	}
	c := http.Client{
		Timeout: 3 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}},
	}
	resp, err := c.Get("http://docker/_ping")
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
})

// NeedDocker skips (or fails) t unless a Docker daemon answers.
func NeedDocker(t testing.TB) {
	t.Helper()
	if err := dockerOnce(); err != nil {
		Missing(t, TierDocker, "no Docker daemon answers ("+err.Error()+"); start dockerd or set DOCKER_HOST")
	}
}

// PostgresDSN returns the DSN of a test PostgreSQL, or skips (or fails) t.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(EnvPostgresDSN)
	if dsn == "" {
		Missing(t, TierPostgres, EnvPostgresDSN+" is not set; run scripts/postgres-test.sh start and export what it prints")
	}
	return dsn
}

// SharedDir returns the project's ../shared directory (reference docs and conformance
// data), or skips (or fails) t when it is absent.
func SharedDir(t testing.TB) string {
	t.Helper()
	d, where := os.Getenv(EnvShared), EnvShared+"="+os.Getenv(EnvShared)
	if d == "" {
		_, file, _, _ := runtime.Caller(0)
		// file is <repo>/internal/testenv/testenv.go; shared sits beside <repo>.
		d = filepath.Join(filepath.Dir(file), "..", "..", "..", "shared")
		where = "../shared beside the repository"
	}
	if st, err := os.Stat(filepath.Join(d, "conformance")); err != nil || !st.IsDir() {
		Missing(t, TierConformance, "no conformance directory in "+where+"; set "+EnvShared+" to the shared directory")
	}
	return filepath.Clean(d)
}

// ConformanceDir returns ../shared/conformance/<name>, or skips (or fails) t.
func ConformanceDir(t testing.TB, name string) string {
	t.Helper()
	d := filepath.Join(SharedDir(t), "conformance", name)
	if _, err := os.Stat(d); err != nil {
		Missing(t, TierConformance, d+" not found")
	}
	return d
}
