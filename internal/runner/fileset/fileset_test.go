package fileset

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestMatchDoubleStar(t *testing.T) {
	cases := []struct {
		pat, name string
		want      bool
	}{
		{"*.o", "x.o", true},
		{"*.o", "d/x.o", false},
		{"**/*.o", "x.o", true},
		{"**/*.o", "a/b/c/x.o", true},
		{"a/**/b", "a/b", true},
		{"a/**/b", "a/x/y/b", true},
		{"a/**/b", "a/x/y/c", false},
		{"a/**", "a/x/y", true},
		{"a/**", "b/x", false},
		{"build/*/out", "build/linux/out", true},
		{"build/*/out", "build/linux/arm/out", false},
		{"file?.txt", "file1.txt", true},
		{"[ab].txt", "c.txt", false},
		{"bad[", "bad[", false},
	}
	for _, c := range cases {
		if got := Match(c.pat, c.name); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.pat, c.name, got, c.want)
		}
	}
}

func writeTree(t *testing.T, root string, files ...string) {
	t.Helper()
	for _, f := range files {
		p := filepath.Join(root, filepath.FromSlash(f))
		if strings.HasSuffix(f, "/") {
			os.MkdirAll(p, 0o755)
			continue
		}
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSelectPathsGlobsAndExcludes(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, "out/a.txt", "out/sub/b.txt", "out/sub/c.o", "bin/x.o", "bin/deep/y.o", "README", "empty/")
	cases := []struct {
		name string
		spec Spec
		want []string
	}{
		{"directory brings its content", Spec{Paths: []string{"out/"}},
			[]string{"out", "out/a.txt", "out/sub", "out/sub/b.txt", "out/sub/c.o"}},
		{"double star", Spec{Paths: []string{"**/*.o"}},
			[]string{"bin", "bin/deep", "bin/deep/y.o", "bin/x.o", "out", "out/sub", "out/sub/c.o"}},
		{"exclude by pattern", Spec{Paths: []string{"out"}, Exclude: []string{"**/*.o"}},
			[]string{"out", "out/a.txt", "out/sub", "out/sub/b.txt"}},
		{"exclude a directory", Spec{Paths: []string{"out"}, Exclude: []string{"out/sub"}},
			[]string{"out", "out/a.txt"}},
		{"empty directory kept", Spec{Paths: []string{"empty"}}, []string{"empty"}},
		{"outside the project is ignored", Spec{Paths: []string{"../etc/passwd", "/etc/passwd", "README"}}, []string{"README"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := Select(context.Background(), root, c.spec)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(res.Entries, c.want) {
				t.Errorf("entries = %q, want %q", res.Entries, c.want)
			}
		})
	}
}

func TestSelectWarnsForPathsWithoutFiles(t *testing.T) {
	res, err := Select(context.Background(), t.TempDir(), Spec{Paths: []string{"missing/"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Messages) != 1 || !res.Messages[0].Warning || !strings.Contains(res.Messages[0].Text, "missing/: no matching files") {
		t.Errorf("messages = %+v", res.Messages)
	}
}

func TestSelectUntrackedIncludesIgnoredFilesButNotTrackedOnes(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, "tracked.txt", ".gitignore", "new.txt", "build/ignored.bin")
	os.WriteFile(filepath.Join(root, ".gitignore"), []byte("build/\n"), 0o644)
	for _, args := range [][]string{{"init", "-q"}, {"add", "tracked.txt", ".gitignore"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
	res, err := Select(context.Background(), root, Spec{Untracked: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"build/ignored.bin", "new.txt"}; !slices.Equal(res.Entries, want) {
		t.Errorf("untracked = %q, want %q", res.Entries, want)
	}
}

func TestSelectCountsMatchesNotTheParentsAddedForThem(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "cache"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "cache", "file1.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Select(context.Background(), root, Spec{Paths: []string{"cache/**.txt"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Entries, []string{"cache", "cache/file1.txt"}) {
		t.Errorf("entries = %q, want the file and its parent", res.Entries)
	}
	if len(res.Messages) != 1 || res.Messages[0].Text != "cache/**.txt: found 1 matching artifact files and directories" {
		t.Errorf("messages = %+v, want gitlab-runner's count of 1", res.Messages)
	}
}

func TestEveryPathCountsWhatItMatchesEvenWhenAnotherPathAddedItFirst(t *testing.T) {
	root := t.TempDir()
	for _, f := range []string{".cache/file1", ".cache/.hidden", ".cache2/foo/bar/file1"} {
		p := filepath.Join(root, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	res, err := Select(context.Background(), root, Spec{Paths: []string{".cache", ".cache/", ".cache2/*/bar", ".cache2/**/bar"}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range res.Messages {
		got = append(got, m.Text)
	}
	want := []string{
		".cache: found 3 matching artifact files and directories",
		".cache/: found 3 matching artifact files and directories",
		".cache2/*/bar: found 2 matching artifact files and directories",
		".cache2/**/bar: found 2 matching artifact files and directories",
	}
	if !slices.Equal(got, want) {
		t.Errorf("messages = %q, want %q", got, want)
	}
}

func TestADirectoryThatHeldOnlyExcludedFilesIsNotSelected(t *testing.T) {
	root := t.TempDir()
	for _, f := range []string{"out/a.txt", "out/sub/b.txt", "kept/sub/c.txt"} {
		p := filepath.Join(root, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// kept/sub is matched itself, so it stays though its only file is excluded.
	res, err := Select(context.Background(), root, Spec{Paths: []string{"out/**/*.txt", "kept/sub"},
		Exclude: []string{"out/sub/*", "kept/sub/c.txt"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"kept", "kept/sub", "out", "out/a.txt"}; !slices.Equal(res.Entries, want) {
		t.Errorf("entries = %q, want %q", res.Entries, want)
	}
}
