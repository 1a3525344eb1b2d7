package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRequiredNamesTiersAndAllButTheGPU(t *testing.T) {
	t.Setenv(EnvRequire, "docker,postgres")
	if !Required(TierDocker) || !Required(TierPostgres) || Required(TierConformance) {
		t.Errorf("KILN_TEST_REQUIRE=docker,postgres: docker %v, postgres %v, conformance %v",
			Required(TierDocker), Required(TierPostgres), Required(TierConformance))
	}
	t.Setenv(EnvRequire, "all")
	if !Required(TierConformance) || Required(TierGPU) {
		t.Errorf("KILN_TEST_REQUIRE=all: conformance %v, gpu %v; CI has no GPU", Required(TierConformance), Required(TierGPU))
	}
}

// skips reports whether f skips the test it is given.
func skips(t *testing.T, f func(testing.TB)) bool {
	t.Helper()
	skipped := false
	t.Run("probe", func(t *testing.T) {
		defer func() { skipped = t.Skipped() }()
		f(t)
	})
	return skipped
}

func TestSharedDirSkipsWhenKILN_SHAREDHoldsNoConformanceData(t *testing.T) {
	t.Setenv(EnvRequire, "")
	empty := t.TempDir()
	t.Setenv(EnvShared, empty)
	if !skips(t, func(tb testing.TB) { SharedDir(tb) }) {
		t.Errorf("%s=%s has no conformance directory, yet SharedDir went on", EnvShared, empty)
	}
	if err := os.Mkdir(filepath.Join(empty, "conformance"), 0o755); err != nil {
		t.Fatal(err)
	}
	var got string
	if skips(t, func(tb testing.TB) { got = SharedDir(tb) }) || got != empty {
		t.Errorf("with a conformance directory SharedDir = %q, want %q", got, empty)
	}
}
