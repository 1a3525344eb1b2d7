package sources

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Tree copies a local working tree into the project directory, for `kiln exec`:
// every job starts from a fresh copy, so jobs never change the user's files. Git's
// object files (.git/objects), which git never changes in place, are hard-linked
// rather than copied where the file system allows.
//
// With Clean, the copy holds what git would see in a fresh checkout plus the
// uncommitted changes: tracked files and untracked files that are not ignored (and the
// .git directory, so git commands in scripts work). Without Clean it holds everything
// in the tree. Either way, when the project directory lies inside the tree, the
// tree's directory that holds it (e.g. builds/) is left out of the copy. GIT_STRATEGY=none keeps whatever the project directory holds, and empty
// empties it, as for git sources.
type Tree struct {
	// Dir is the working tree (absolute).
	Dir   string
	Clean bool
}

// Get implements Sources.
func (t Tree) Get(ctx context.Context, req Request) error {
	strategy, err := Strategy(req.Job, req.Vars)
	if err != nil {
		return err
	}
	if done, err := skipOrEmpty(strategy, req); done {
		return err
	}
	src, err := filepath.Abs(t.Dir)
	if err != nil {
		return err
	}
	if t.Clean {
		req.Log.Noticef("Copying a clean copy of %s (tracked and unignored files)...", src)
	} else {
		req.Log.Noticef("Copying the working tree %s...", src)
	}
	if err := os.RemoveAll(req.Dir); err != nil {
		return fmt.Errorf("removing the previous copy: %w", err)
	}
	if err := os.MkdirAll(req.Dir, 0o755); err != nil {
		return fmt.Errorf("creating the project directory: %w", err)
	}
	dst, _ := filepath.Abs(req.Dir)
	var files []string
	if t.Clean {
		files, err = cleanFiles(ctx, src)
		if err != nil {
			return err
		}
	}
	n, err := copyTree(ctx, src, dst, files)
	if err != nil {
		return fmt.Errorf("copying the working tree: %w", err)
	}
	req.Log.Printf("Copied %d files.", n)
	return nil
}

// cleanFiles lists tracked and untracked-but-not-ignored files, plus .git.
func cleanFiles(ctx context.Context, root string) ([]string, error) {
	cmd := exec.CommandContext(ctx, "git", "-c", "core.quotePath=false", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s is not a git working tree (a clean copy needs git): %s", root, strings.TrimSpace(stderr.String()))
	}
	files := []string{".git"}
	for _, f := range bytes.Split(out, []byte{0}) {
		if len(f) > 0 {
			files = append(files, string(f))
		}
	}
	return files, nil
}

// copyTree copies src to dst: only the listed relative paths (directories whole) when
// files is not nil, else everything. It never descends into dst itself.
func copyTree(ctx context.Context, src, dst string, files []string) (int, error) {
	count := 0
	walk := func(root string) error {
		return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if isUnder(dst, p) || (d.IsDir() && p != src && isUnder(p, dst)) {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			rel, _ := filepath.Rel(src, p)
			target := filepath.Join(dst, rel)
			if d.IsDir() {
				return os.MkdirAll(target, 0o755)
			}
			count++
			if isGitObject(rel) && linkEntry(p, target, d) {
				return nil
			}
			return copyEntry(p, target, d)
		})
	}
	if files == nil {
		return count, walk(src)
	}
	for _, f := range files {
		p := filepath.Join(src, filepath.FromSlash(f))
		if _, err := os.Lstat(p); err != nil {
			continue // deleted in the working tree but still in the index
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dst, filepath.FromSlash(f))), 0o755); err != nil {
			return count, err
		}
		if err := walk(p); err != nil {
			return count, err
		}
	}
	return count, nil
}

// isUnder reports whether p is dst or inside it.
func isUnder(dst, p string) bool {
	return p == dst || strings.HasPrefix(p, dst+string(filepath.Separator))
}

// isGitObject reports whether rel (relative to the tree) is in .git/objects: loose
// objects and packs, which git writes once and never changes in place.
func isGitObject(rel string) bool {
	return strings.HasPrefix(filepath.ToSlash(rel), ".git/objects/")
}

// linkEntry hard-links a git object file instead of copying it, which makes copying a
// repository with a large history cheap; false when it cannot (another file system,
// not a regular file) and the file must be copied.
func linkEntry(src, dst string, d fs.DirEntry) bool {
	if !d.Type().IsRegular() {
		return false
	}
	_ = os.Remove(dst)
	return os.Link(src, dst) == nil
}

func copyEntry(src, dst string, d fs.DirEntry) error {
	info, err := d.Info()
	if err != nil {
		return err
	}
	switch {
	case info.Mode()&fs.ModeSymlink != 0:
		link, err := os.Readlink(src)
		if err != nil {
			return err
		}
		_ = os.Remove(dst)
		return os.Symlink(link, dst)
	case info.Mode().IsRegular():
		in, err := os.Open(src)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, info.Mode().Perm())
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	}
	return nil
}
