package git

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
)

// Config configures a Manager.
type Config struct {
	// Root is the directory that holds the repositories. It is created if missing.
	Root string
	// GitBinary is the git executable: a path, or a name looked up in PATH. Default "git".
	GitBinary string
	// Logger receives diagnostics. Nil discards them.
	Logger *slog.Logger
}

// Manager owns the repositories under one root directory: `group/sub/project` lives
// at `<root>/group/sub/project.git`, lowercased: GitLab paths are case-insensitive,
// so `Group/Project` and `group/project` are one repository. Kiln's own state
// (hooks, push records, scratch space) lives in `<root>/+kiln`, a name no project path
// can take.
//
// A Manager is safe for concurrent use. Create, Rename and Delete are serialised;
// reads and serving go on concurrently with them. One Manager should own a root: two
// processes creating and deleting under the same root race with each other.
type Manager struct {
	root string
	git  gitExec
	log  *slog.Logger
	mu   sync.Mutex // serialises Create, Rename and Delete
}

// stateDirName holds Kiln's own files under the root; '+' is not allowed in GitLab
// paths, so no project or group can collide with it.
const stateDirName = "+kiln"

// NewManager checks the git binary (2.31 or newer), creates the root if needed, and
// removes what an interrupted Create or Delete left behind.
func NewManager(ctx context.Context, cfg Config) (*Manager, error) {
	if cfg.Root == "" {
		return nil, errors.New("git manager: Config.Root is empty")
	}
	root, err := filepath.Abs(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("git manager: root %q: %w", cfg.Root, err)
	}
	g, err := newGitExec(ctx, cfg.GitBinary)
	if err != nil {
		return nil, fmt.Errorf("git manager: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Manager{root: root, git: g, log: log.With("component", "git")}
	for _, d := range []string{m.tmpDir(), m.trashDir(), m.hooksDir(), m.pushesDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("git manager: creating %s: %w", d, err)
		}
	}
	for _, d := range []string{m.tmpDir(), m.trashDir()} {
		if err := emptyDir(d); err != nil {
			return nil, fmt.Errorf("git manager: clearing %s: %w", d, err)
		}
	}
	return m, nil
}

// Root returns the absolute root directory.
func (m *Manager) Root() string { return m.root }

func (m *Manager) stateDir() string  { return filepath.Join(m.root, stateDirName) }
func (m *Manager) tmpDir() string    { return filepath.Join(m.stateDir(), "tmp") }
func (m *Manager) trashDir() string  { return filepath.Join(m.stateDir(), "trash") }
func (m *Manager) hooksDir() string  { return filepath.Join(m.stateDir(), "hooks") }
func (m *Manager) pushesDir() string { return filepath.Join(m.stateDir(), "pushes") }

// dir returns the repository directory of fullPath after checking the path rules.
func (m *Manager) dir(fullPath string) (string, error) {
	if err := ValidatePath(fullPath); err != nil {
		return "", err
	}
	return filepath.Join(m.root, filepath.FromSlash(diskPath(fullPath))), nil
}

// CreateOptions configures a new repository.
type CreateOptions struct {
	// DefaultBranch is the branch HEAD points to. Default "main".
	DefaultBranch string
}

// Create makes an empty bare repository for fullPath. It fails with ErrExists when one
// exists (paths differing only in case are the same repository) and with
// ErrInvalidPath, before touching the disk, when fullPath breaks the path rules. The
// repository appears atomically: a concurrent Open sees all of it or nothing.
func (m *Manager) Create(ctx context.Context, fullPath string, opts CreateOptions) (*Repo, error) {
	dir, err := m.dir(fullPath)
	if err != nil {
		return nil, err
	}
	branch := opts.DefaultBranch
	if branch == "" {
		branch = "main"
	}
	if err := ValidateRefName("refs/heads/"+branch, false); err != nil {
		return nil, fmt.Errorf("creating repository %q: default branch: %w", fullPath, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := os.Lstat(dir); err == nil {
		return nil, fmt.Errorf("creating repository %q: %w", fullPath, ErrExists)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("creating repository %q: %w", fullPath, err)
	}
	tmp, err := os.MkdirTemp(m.tmpDir(), "create-")
	if err != nil {
		return nil, fmt.Errorf("creating repository %q: %w", fullPath, err)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed into place
	if _, err := m.git.output(ctx, "", nil, nil, "init", "--bare", "--quiet", "--template=",
		"--initial-branch="+branch, tmp); err != nil {
		return nil, fmt.Errorf("creating repository %q: %w", fullPath, err)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, fmt.Errorf("creating repository %q: %w", fullPath, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return nil, fmt.Errorf("creating repository %q: %w", fullPath, err)
	}
	m.log.Info("repository created", "project", fullPath, "default_branch", branch)
	return m.repo(fullPath, dir), nil
}

// Open returns the repository of fullPath, ErrNotFound when there is none, or
// ErrInvalidPath (without touching the disk).
func (m *Manager) Open(fullPath string) (*Repo, error) {
	dir, err := m.dir(fullPath)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) || err == nil && !st.IsDir() {
		return nil, fmt.Errorf("opening repository %q: %w", fullPath, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("opening repository %q: %w", fullPath, err)
	}
	return m.repo(fullPath, dir), nil
}

func (m *Manager) repo(fullPath, dir string) *Repo {
	return &Repo{path: fullPath, dir: dir, git: m.git, tmp: m.tmpDir()}
}

// Delete removes the repository of fullPath, and the group directories it leaves
// empty. It fails with ErrNotFound when there is none. The repository disappears
// atomically before its files are removed.
func (m *Manager) Delete(ctx context.Context, fullPath string) error {
	dir, err := m.dir(fullPath)
	if err != nil {
		return err
	}
	trash := filepath.Join(m.trashDir(), rand.Text())
	m.mu.Lock()
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		m.mu.Unlock()
		return fmt.Errorf("deleting repository %q: %w", fullPath, ErrNotFound)
	}
	err = os.Rename(dir, trash)
	if err == nil {
		m.removeEmptyParents(dir)
	}
	m.mu.Unlock()
	if err != nil {
		return fmt.Errorf("deleting repository %q: %w", fullPath, err)
	}
	if err := os.RemoveAll(trash); err != nil {
		m.log.Warn("removing deleted repository's files", "project", fullPath, "error", err)
	}
	m.log.Info("repository deleted", "project", fullPath)
	return nil
}

// Rename moves the repository of from to to (a project transfer or path change). It
// fails with ErrNotFound when from has no repository and ErrExists when to has one.
// Renaming to a path that differs only in case changes nothing on disk.
func (m *Manager) Rename(ctx context.Context, from, to string) error {
	src, err := m.dir(from)
	if err != nil {
		return fmt.Errorf("renaming repository: from: %w", err)
	}
	dst, err := m.dir(to)
	if err != nil {
		return fmt.Errorf("renaming repository: to: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := os.Lstat(src); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("renaming repository %q: %w", from, ErrNotFound)
	}
	if src == dst {
		return nil
	}
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("renaming repository %q to %q: %w", from, to, ErrExists)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("renaming repository %q to %q: %w", from, to, err)
	}
	if err := os.Rename(src, dst); err != nil {
		m.removeEmptyParents(dst)
		return fmt.Errorf("renaming repository %q to %q: %w", from, to, err)
	}
	m.removeEmptyParents(src)
	m.log.Info("repository renamed", "from", from, "to", to)
	return nil
}

// removeEmptyParents removes the now-empty group directories above repoDir, stopping
// at the root or the first directory that is not empty. Call with m.mu held.
func (m *Manager) removeEmptyParents(repoDir string) {
	for d := filepath.Dir(repoDir); d != m.root && len(d) > len(m.root); d = filepath.Dir(d) {
		if os.Remove(d) != nil {
			return
		}
	}
}

// emptyDir removes everything inside dir.
func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}
