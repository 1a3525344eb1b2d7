package ziparchive

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestZipRoundTripKeepsFilesModesLinksAndEmptyDirectories(t *testing.T) {
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "out/empty"), 0o755)
	os.WriteFile(filepath.Join(src, "out/run.sh"), []byte("#!/bin/sh\necho hi\n"), 0o755)
	os.WriteFile(filepath.Join(src, "out/data.bin"), bytes.Repeat([]byte{0, 1, 2, 255}, 1000), 0o600)
	os.Symlink("run.sh", filepath.Join(src, "out/link"))
	var buf bytes.Buffer
	if err := Create(&buf, src, []string{"out", "out/data.bin", "out/empty", "out/link", "out/run.sh", "out/vanished"}); err != nil {
		t.Fatal(err)
	}
	zf := filepath.Join(t.TempDir(), "a.zip")
	os.WriteFile(zf, buf.Bytes(), 0o644)
	dst := t.TempDir()
	os.MkdirAll(filepath.Join(dst, "out"), 0o755)
	os.WriteFile(filepath.Join(dst, "out/run.sh"), []byte("old content that is longer"), 0o644)
	if err := Extract(zf, dst); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"out/run.sh", "out/data.bin"} {
		a, _ := os.ReadFile(filepath.Join(src, name))
		b, _ := os.ReadFile(filepath.Join(dst, name))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs after the round trip", name)
		}
	}
	if st, _ := os.Stat(filepath.Join(dst, "out/run.sh")); st.Mode().Perm() != 0o755 {
		t.Errorf("run.sh mode = %v, want 0755", st.Mode().Perm())
	}
	if l, err := os.Readlink(filepath.Join(dst, "out/link")); err != nil || l != "run.sh" {
		t.Errorf("link = %q, %v", l, err)
	}
	if st, err := os.Stat(filepath.Join(dst, "out/empty")); err != nil || !st.IsDir() {
		t.Errorf("empty directory not restored: %v", err)
	}
}

func zipWith(t *testing.T, entries map[string]string, links map[string]string) string {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range entries {
		w, _ := zw.Create(name)
		io.WriteString(w, body)
	}
	for name, target := range links {
		h := &zip.FileHeader{Name: name}
		h.SetMode(os.ModeSymlink | 0o777)
		w, _ := zw.CreateHeader(h)
		io.WriteString(w, target)
	}
	zw.Close()
	p := filepath.Join(t.TempDir(), "evil.zip")
	os.WriteFile(p, buf.Bytes(), 0o644)
	return p
}

func TestExtractRefusesEntriesLeavingTheTarget(t *testing.T) {
	outside := t.TempDir()
	cases := map[string]string{
		"climbing name": zipWith(t, map[string]string{"../escape.txt": "x"}, nil),
		"absolute name": zipWith(t, map[string]string{"/tmp/abs.txt": "x"}, nil),
	}
	for name, zf := range cases {
		t.Run(name, func(t *testing.T) {
			if err := Extract(zf, t.TempDir()); err == nil {
				t.Error("Extract accepted an entry outside the target")
			}
		})
	}
	t.Run("through a symbolic link", func(t *testing.T) {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		h := &zip.FileHeader{Name: "dir"}
		h.SetMode(os.ModeSymlink | 0o777)
		w, _ := zw.CreateHeader(h)
		io.WriteString(w, outside)
		w, _ = zw.Create("dir/pwned.txt")
		io.WriteString(w, "x")
		zw.Close()
		zf := filepath.Join(t.TempDir(), "link.zip")
		os.WriteFile(zf, buf.Bytes(), 0o644)
		err := Extract(zf, t.TempDir())
		if err == nil || !strings.Contains(err.Error(), "outside") {
			t.Errorf("Extract = %v, want a refusal", err)
		}
		if _, err := os.Stat(filepath.Join(outside, "pwned.txt")); err == nil {
			t.Error("a file was written outside the target directory")
		}
	})
}

func TestGzipFormatHasOneMemberPerFile(t *testing.T) {
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "a.env"), []byte("A=1\n"), 0o644)
	os.WriteFile(filepath.Join(src, "b.env"), []byte("B=2\n"), 0o644)
	var buf bytes.Buffer
	if err := CreateGzip(&buf, src, []string{"a.env", "b.env"}); err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	var content bytes.Buffer
	for {
		zr.Multistream(false)
		names = append(names, zr.Name)
		io.Copy(&content, zr)
		if err := zr.Reset(&buf); err == io.EOF {
			break
		}
	}
	if strings.Join(names, ",") != "a.env,b.env" || content.String() != "A=1\nB=2\n" {
		t.Errorf("members %q with %q", names, content.String())
	}
}
