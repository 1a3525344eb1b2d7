// Package cache keeps job caches as zip archives in a local directory, as
// gitlab-runner does without a shared cache server: one archive per project and key,
// <dir>/<key>/cache.zip, with GitLab's key rules (default key, sanitisation, fallback
// keys), policies (pull, push, pull-push) and conditions (on_success, on_failure,
// always).
//
// It is on the runner side: the coordinator side must not import it.
package cache

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"unicode"

	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/runner/fileset"
	"github.com/kiln-ci/kiln/internal/runner/ziparchive"
)

// ErrNotFound means no archive exists for any of the keys tried.
var ErrNotFound = errors.New("no cache archive for this key")

// Store is one project's cache directory.
type Store struct {
	dir string
}

// NewStore returns the cache kept under dir (created on first save).
func NewStore(dir string) *Store { return &Store{dir: dir} }

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

// Key turns a cache entry's key into the sanitised key it is stored under. An empty
// key defaults to "<job name>/<ref>", as in gitlab-runner. expand resolves variables.
// warning is non-empty when the key had to be changed; err when nothing usable is left.
func Key(raw, jobName, ref string, expand func(string) string) (key, warning string, err error) {
	if raw == "" {
		raw = path.Join("/", jobName, ref)[1:]
	} else if expand != nil {
		raw = expand(raw)
	}
	return Sanitize(raw)
}

// Sanitize applies gitlab-runner's cache key rules: %2F/%2E decoded, backslashes made
// slashes, the key rooted so no "../" can leave the cache directory, and trailing
// spaces and empty last elements dropped.
func Sanitize(key string) (string, string, error) {
	if key == "" {
		return "", "", fmt.Errorf("empty cache key")
	}
	s := key
	for _, enc := range []string{"%2f", "%2F"} {
		s = strings.ReplaceAll(s, enc, "/")
	}
	for _, enc := range []string{"%2e", "%2E"} {
		s = strings.ReplaceAll(s, enc, ".")
	}
	s = strings.ReplaceAll(s, `\`, "/")
	cleaned := path.Join("/", s)
	out := ""
	for cleaned != "" && cleaned != "/" {
		dir, file := path.Split(cleaned)
		file = strings.TrimRightFunc(file, unicode.IsSpace)
		if file == "" {
			cleaned = strings.TrimSuffix(dir, "/")
			continue
		}
		out = path.Join(dir[1:], file)
		break
	}
	if out == "" {
		return "", "", fmt.Errorf("cache key %q could not be sanitized", key)
	}
	if out != key {
		return out, fmt.Sprintf("cache key %q sanitized to %q", key, out), nil
	}
	return out, "", nil
}

// ArchivePath is where the archive for key lives.
func (s *Store) ArchivePath(key string) string {
	return filepath.Join(s.dir, filepath.FromSlash(key), "cache.zip")
}

// Restore extracts the first of keys that has an archive into projectDir and returns
// that key. ErrNotFound when none has one.
func (s *Store) Restore(ctx context.Context, projectDir string, keys []string) (string, error) {
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		p := s.ArchivePath(k)
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err := ziparchive.Extract(p, projectDir); err != nil {
			return k, fmt.Errorf("extracting cache %s: %w", k, err)
		}
		return k, nil
	}
	return "", ErrNotFound
}

// Save archives what spec selects in projectDir under key, replacing the previous
// archive atomically. It returns the selection (for the log); an empty selection
// saves nothing and returns the selection with no error.
func (s *Store) Save(ctx context.Context, projectDir, key string, spec fileset.Spec) (fileset.Result, error) {
	sel, err := fileset.Select(ctx, projectDir, spec)
	if err != nil {
		return sel, fmt.Errorf("selecting cache files: %w", err)
	}
	if len(sel.Entries) == 0 {
		return sel, nil
	}
	dst := s.ArchivePath(key)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return sel, fmt.Errorf("creating cache directory: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".cache-*.zip")
	if err != nil {
		return sel, fmt.Errorf("creating cache archive: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := ziparchive.Create(tmp, projectDir, sel.Entries); err != nil {
		tmp.Close()
		return sel, err
	}
	if err := tmp.Close(); err != nil {
		return sel, fmt.Errorf("writing cache archive: %w", err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return sel, fmt.Errorf("storing cache archive: %w", err)
	}
	return sel, nil
}

// Pulls reports whether a cache with this policy is restored before the script.
// An unknown policy is an error naming it.
func Pulls(policy string) (bool, error) {
	switch policy {
	case "", jobspec.CachePullPush, jobspec.CachePull:
		return true, nil
	case jobspec.CachePush:
		return false, nil
	}
	return false, fmt.Errorf("unknown cache policy %q (want pull, push or pull-push)", policy)
}

// Pushes reports whether a cache with this policy and condition is saved after a job
// that succeeded or not.
func Pushes(policy, when string, succeeded bool) (bool, error) {
	switch policy {
	case "", jobspec.CachePullPush, jobspec.CachePush:
	case jobspec.CachePull:
		return false, nil
	default:
		return false, fmt.Errorf("unknown cache policy %q (want pull, push or pull-push)", policy)
	}
	return fileset.Kept("cache:when", when, succeeded)
}

// FallbackKeys returns the keys to try after the main one: the entry's fallback_keys,
// then CACHE_FALLBACK_KEY unless it ends in "-protected" (which would let an
// unprotected ref read a protected cache). Unusable keys become warnings.
func FallbackKeys(c jobspec.Cache, globalFallback string, expand func(string) string) (keys, warnings []string) {
	add := func(raw string, global bool) {
		if raw == "" {
			return
		}
		if expand != nil && !global {
			raw = expand(raw)
		}
		k, w, err := Sanitize(raw)
		if w != "" {
			warnings = append(warnings, w)
		}
		if err != nil {
			warnings = append(warnings, err.Error())
			return
		}
		if global && strings.HasSuffix(k, "-protected") {
			warnings = append(warnings, fmt.Sprintf("CACHE_FALLBACK_KEY %q not allowed to end in %q", k, "-protected"))
			return
		}
		keys = append(keys, k)
	}
	for _, k := range c.FallbackKeys {
		add(k, false)
	}
	add(globalFallback, true)
	return keys, warnings
}
