package blobfs

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/store"
	"github.com/kiln-ci/kiln/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.RunBlobs(t, func(t testing.TB) store.ArtifactBlobs {
		f, err := New(Config{Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		return f
	})
}

func TestPutRefusesBlobsOverTheLimit(t *testing.T) {
	dir := t.TempDir()
	f, err := New(Config{Dir: dir, MaxSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Put(t.Context(), "exact", strings.NewReader("0123456789"), store.AnySize); err != nil {
		t.Errorf("a blob of exactly the limit: %v", err)
	}
	_, err = f.Put(t.Context(), "over", strings.NewReader("0123456789a"), store.AnySize)
	if err == nil || !strings.Contains(err.Error(), "more than 10 bytes") {
		t.Errorf("a blob over the limit: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "over")); !os.IsNotExist(err) {
		t.Errorf("refused blob exists: %v", err)
	}
	left, _ := os.ReadDir(filepath.Join(dir, tmpDir))
	if len(left) != 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

func TestNewRemovesOnlyStaleTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	tmp := filepath.Join(dir, tmpDir)
	if err := os.MkdirAll(tmp, 0o750); err != nil {
		t.Fatal(err)
	}
	stale, fresh := filepath.Join(tmp, "put-stale"), filepath.Join(tmp, "put-fresh")
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("a crash's leftover survived: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("a Put in progress was removed: %v", err)
	}
}

func TestBlobsAreFilesUnderTheDirectory(t *testing.T) {
	dir := t.TempDir()
	f, err := New(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Put(t.Context(), "projects/7/jobs/42/archive.zip", bytes.NewReader([]byte("zip")), store.AnySize); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "projects", "7", "jobs", "42", "archive.zip"))
	if err != nil || string(got) != "zip" {
		t.Errorf("file = %q, %v", got, err)
	}
	if _, err := New(Config{}); err == nil {
		t.Error("New without a directory succeeded")
	}
}
