package localrun

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// DefaultStateDir is where kiln exec keeps a working tree's builds, caches, artifacts
// and pipeline counter when not told otherwise: under the user's cache directory, one
// directory per working tree, so the tree itself stays untouched.
func DefaultStateDir(repoDir string) (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("finding a state directory: %w (give one with --state-dir)", err)
	}
	abs, err := filepath.Abs(repoDir)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(abs))
	return filepath.Join(base, "kiln", "exec", filepath.Base(abs)+"-"+hex.EncodeToString(sum[:6])), nil
}

// state is one working tree's state directory, held exclusively by one kiln exec at a
// time (the builds directory's slots would collide otherwise).
type state struct {
	dir  string
	lock *os.File
}

// openState creates dir if needed and takes its lock.
func openState(dir string) (*state, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("creating the state directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(abs, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening the state directory's lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another kiln exec is running with the state directory %s; wait for it or give another --state-dir", abs)
		}
		return nil, fmt.Errorf("locking the state directory: %w", err)
	}
	return &state{dir: abs, lock: f}, nil
}

func (s *state) builds() string    { return filepath.Join(s.dir, "builds") }
func (s *state) cache() string     { return filepath.Join(s.dir, "cache") }
func (s *state) artifacts() string { return filepath.Join(s.dir, "artifacts") }

// resetArtifacts empties the artifacts directory: artifacts live for one run.
func (s *state) resetArtifacts() error {
	if err := os.RemoveAll(s.artifacts()); err != nil {
		return fmt.Errorf("removing the previous run's artifacts: %w", err)
	}
	return os.MkdirAll(s.artifacts(), 0o755)
}

// nextPipelineID counts this working tree's pipelines: CI_PIPELINE_ID and
// CI_PIPELINE_IID.
func (s *state) nextPipelineID() (int64, error) {
	p := filepath.Join(s.dir, "pipeline-id")
	var last int64
	if b, err := os.ReadFile(p); err == nil {
		last, _ = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	}
	next := last + 1
	if err := os.WriteFile(p, []byte(strconv.FormatInt(next, 10)+"\n"), 0o644); err != nil {
		return 0, fmt.Errorf("counting pipelines: %w", err)
	}
	return next, nil
}

// close releases the lock.
func (s *state) close() error {
	if s == nil || s.lock == nil {
		return nil
	}
	err := s.lock.Close()
	s.lock = nil
	return err
}

// shortHash is a short, stable digest of s.
func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:6])
}
