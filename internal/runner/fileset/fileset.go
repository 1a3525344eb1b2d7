// Package fileset selects the files of a project directory that an artifact or a cache
// names: paths with globs (*, ?, [...] and ** for any depth), exclusions, and git's
// untracked files, with the warnings gitlab-runner gives for paths that match nothing
// or point outside the project.
//
// It is on the runner side: the coordinator side must not import it.
package fileset

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// Spec says what to select, GitLab's artifacts:/cache: keywords.
type Spec struct {
	// Paths are relative to the project directory; globs allowed. A path naming a
	// directory selects the directory and everything below it.
	Paths []string
	// Exclude drops files matching any pattern; a pattern matching a directory drops
	// everything below it.
	Exclude []string
	// Untracked adds every file git does not track (ignored files included, as GitLab
	// documents).
	Untracked bool
}

// Result is a selection: relative, slash-separated paths, sorted, directories before
// their contents. Files include symbolic links (archived as links, never followed).
type Result struct {
	Entries  []string
	Messages []Message // for the job log, in gitlab-runner's words
}

// Message is a line for the job log about the selection.
type Message struct {
	Text    string
	Warning bool // e.g. "out/: no matching files..."; else informational
}

func (r *Result) note(warning bool, format string, args ...any) {
	r.Messages = append(r.Messages, Message{Text: fmt.Sprintf(format, args...), Warning: warning})
}

// Select walks root and returns what spec names.
func Select(ctx context.Context, root string, spec Spec) (Result, error) {
	var res Result
	set := map[string]bool{}
	matched := map[string]bool{} // what paths matched, whose parents the archive restores
	for _, p := range spec.Paths {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		pat, ok := clean(p)
		if !ok {
			res.note(true, "%s: path is outside the project directory and is ignored", p)
			continue
		}
		n, err := addPattern(root, pat, set, matched)
		if err != nil {
			return res, err
		}
		if n == 0 {
			res.note(true, "%s: no matching files. Ensure that the artifact path is relative to the working directory", p)
		} else {
			res.note(false, "%s: found %d matching artifact files and directories", p, n)
		}
	}
	if spec.Untracked {
		files, err := untracked(ctx, root)
		if err != nil {
			res.note(true, "untracked: %v", err)
		}
		for _, f := range files {
			set[f] = true
		}
		res.note(false, "untracked: found %d files", len(files))
	}
	var excludes []string
	for _, e := range spec.Exclude {
		if pat, ok := clean(e); ok {
			excludes = append(excludes, pat)
		}
	}
	excluded := 0
	for p := range set {
		if isExcluded(p, excludes) {
			delete(set, p)
			excluded++
		}
	}
	if excluded > 0 {
		res.note(false, "excluded %d files and directories", excluded)
	}
	// Parents only of what is kept: a directory that held only excluded files is
	// not archived, as gitlab-runner archives only what matched.
	for m := range matched {
		if set[m] {
			addParents(m, set)
		}
	}
	res.Entries = make([]string, 0, len(set))
	for p := range set {
		res.Entries = append(res.Entries, p)
	}
	slices.Sort(res.Entries)
	return res, nil
}

// clean makes a pattern relative and slash-separated; ok is false when it escapes root.
func clean(p string) (string, bool) {
	p = filepath.ToSlash(strings.TrimSpace(p))
	if p == "" || path.IsAbs(p) {
		return "", false
	}
	c := path.Clean(p)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", false
	}
	return c, true
}

// addPattern adds every path matching pat, and everything below matched directories,
// to set, and the paths pat matched to matched.
func addPattern(root, pat string, set, matched map[string]bool) (int, error) {
	if !hasMeta(pat) {
		if _, err := os.Lstat(filepath.Join(root, filepath.FromSlash(pat))); err != nil {
			return 0, nil
		}
		if pat == "." {
			return addTree(root, ".", set)
		}
		matched[pat] = true
		return addTree(root, pat, set)
	}
	base := literalPrefix(pat)
	start := filepath.Join(root, filepath.FromSlash(base))
	if _, err := os.Lstat(start); err != nil {
		return 0, nil
	}
	// Like gitlab-runner, count what the pattern matched and what lies below it, not
	// the parent directories added so that an archive restores them.
	found := 0
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // unreadable parts are skipped, as a shell glob would
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if rel == "." || !Match(pat, rel) {
			return nil
		}
		n, err := addTree(root, rel, set)
		if err != nil {
			return err
		}
		found += n
		matched[rel] = true
		if d.IsDir() {
			return filepath.SkipDir
		}
		return nil
	})
	return found, err
}

// addTree adds rel and, for a directory (not a link to one), everything below it. It
// returns how many entries it walked, those another path had added already included:
// like gitlab-runner, each path reports what it matched on its own.
func addTree(root, rel string, set map[string]bool) (int, error) {
	full := filepath.Join(root, filepath.FromSlash(rel))
	st, err := os.Lstat(full)
	if err != nil {
		return 0, nil
	}
	if !st.IsDir() {
		set[rel] = true
		return 1, nil
	}
	n := 0
	err = filepath.WalkDir(full, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		r, _ := filepath.Rel(root, p)
		if r = filepath.ToSlash(r); r != "." {
			set[r] = true
			n++
		}
		return nil
	})
	return n, err
}

// addParents adds the directories above rel, so an archive restores them.
func addParents(rel string, set map[string]bool) {
	for d := path.Dir(rel); d != "." && d != "/"; d = path.Dir(d) {
		set[d] = true
	}
}

func isExcluded(p string, patterns []string) bool {
	for _, pat := range patterns {
		for q := p; q != "." && q != "/"; q = path.Dir(q) {
			if Match(pat, q) {
				return true
			}
		}
	}
	return false
}

// untracked lists files git does not track below root (ignored ones included).
func untracked(ctx context.Context, root string) ([]string, error) {
	cmd := exec.CommandContext(ctx, "git", "-c", "core.quotePath=false", "ls-files", "-o", "-z")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("listing untracked files with git: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	var files []string
	for _, f := range bytes.Split(out, []byte{0}) {
		if len(f) > 0 {
			files = append(files, string(f))
		}
	}
	return files, nil
}
