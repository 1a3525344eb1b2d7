package git

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// thousandFileRepo makes a repository whose one commit holds .gitlab-ci.yml and
// 1,000 files in 20 directories of 50 (half .go, half .txt).
func thousandFileRepo(b *testing.B) *Repo {
	b.Helper()
	src := b.TempDir()
	for d := range 20 {
		dir := filepath.Join(src, fmt.Sprintf("dir%02d", d))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		for f := range 50 {
			ext := ".go"
			if f%2 == 1 {
				ext = ".txt"
			}
			name := filepath.Join(dir, fmt.Sprintf("file%03d%s", f, ext))
			if err := os.WriteFile(name, []byte(fmt.Sprintf("package p%d // %d\n", d, f)), 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := os.WriteFile(filepath.Join(src, ".gitlab-ci.yml"), []byte("job:\n  script: [make test]\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	repo, _, err := newTestManager(b).CreateFromDir(context.Background(), "bench/project", src,
		InitialCommit{AuthorName: "Bench", AuthorEmail: "bench@example.com", Time: time.Unix(1700000000, 0)})
	if err != nil {
		b.Fatal(err)
	}
	return repo
}

// BenchmarkRepoReadFile reads one file at a commit the one-shot way (one git process).
func BenchmarkRepoReadFile(b *testing.B) {
	repo := thousandFileRepo(b)
	ctx := context.Background()
	for b.Loop() {
		if _, err := repo.ReadFile(ctx, "main", ".gitlab-ci.yml"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTreeFSReadFile reads one file through an open TreeFS (its cat-file process).
func BenchmarkTreeFSReadFile(b *testing.B) {
	repo := thousandFileRepo(b)
	tfs, err := repo.TreeFS(context.Background(), "main")
	if err != nil {
		b.Fatal(err)
	}
	defer tfs.Close()
	for b.Loop() {
		if _, err := tfs.ReadFile("dir07/file021.txt"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTreeFSGlob globs 500 of the 1,000 files.
func BenchmarkTreeFSGlob(b *testing.B) {
	repo := thousandFileRepo(b)
	tfs, err := repo.TreeFS(context.Background(), "main")
	if err != nil {
		b.Fatal(err)
	}
	defer tfs.Close()
	for b.Loop() {
		m, err := tfs.Glob("dir*/file*.go")
		if err != nil || len(m) != 500 {
			b.Fatalf("Glob = %d matches, %v", len(m), err)
		}
	}
}

// BenchmarkRepoTreeFS opens the tree of a 1,000-file commit (git cat-file + git ls-tree),
// with the objects loose (as after a small push or CreateFromDir) and packed (as after a
// large push or housekeeping): ls-tree -l reads every blob's header.
func BenchmarkRepoTreeFS(b *testing.B) {
	ctx := context.Background()
	for _, packed := range []bool{false, true} {
		name := "loose"
		if packed {
			name = "packed"
		}
		b.Run(name, func(b *testing.B) {
			repo := thousandFileRepo(b) // CreateFromDir packs its objects
			if !packed {
				unpack(b, repo)
			}
			for b.Loop() {
				tfs, err := repo.TreeFS(ctx, "main")
				if err != nil {
					b.Fatal(err)
				}
				tfs.Close()
			}
		})
	}
}

// unpack turns a repository's packs into loose objects.
func unpack(b *testing.B, repo *Repo) {
	b.Helper()
	packs, _ := filepath.Glob(filepath.Join(repo.Dir(), "objects", "pack", "*.pack"))
	for _, p := range packs {
		data, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		for _, ext := range []string{".pack", ".idx", ".rev"} {
			os.Remove(strings.TrimSuffix(p, ".pack") + ext)
		}
		if _, err := repo.git.output(context.Background(), repo.Dir(), bytes.NewReader(data), nil, "unpack-objects", "-q"); err != nil {
			b.Fatal(err)
		}
	}
}
