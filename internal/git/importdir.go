package git

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// InitialCommit describes the one commit CreateFromDir makes.
type InitialCommit struct {
	// Branch receives the commit and becomes the default branch. Default "main".
	Branch string
	// Message is the commit message. Default "Initial commit".
	Message string
	// AuthorName and AuthorEmail sign the commit as author and committer. Required.
	AuthorName  string
	AuthorEmail string
	// Time is the author and committer date. Default: now.
	Time time.Time
}

// CreateFromDir creates the repository of fullPath holding one commit with the files
// under dir (as `git add -A` sees them: .gitignore files are honoured, nested .git
// directories are not imported), and returns it with the commit's SHA. It is how
// `kiln up --demo` makes a project from examples/. On any failure the new repository
// is removed again; an existing one fails with ErrExists and is left alone.
func (m *Manager) CreateFromDir(ctx context.Context, fullPath, dir string, c InitialCommit) (*Repo, string, error) {
	if c.AuthorName == "" || c.AuthorEmail == "" {
		return nil, "", fmt.Errorf("importing %s into %q: InitialCommit needs AuthorName and AuthorEmail", dir, fullPath)
	}
	if strings.ContainsAny(c.AuthorName+c.AuthorEmail, "<>\n\x00") {
		return nil, "", fmt.Errorf("importing %s into %q: author %q <%s> contains '<', '>', a newline or NUL", dir, fullPath, c.AuthorName, c.AuthorEmail)
	}
	if c.Branch == "" {
		c.Branch = "main"
	}
	if c.Message == "" {
		c.Message = "Initial commit"
	}
	if c.Time.IsZero() {
		c.Time = time.Now()
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, "", fmt.Errorf("importing %s into %q: %w", dir, fullPath, err)
	}
	if !st.IsDir() {
		return nil, "", fmt.Errorf("importing %s into %q: not a directory", dir, fullPath)
	}
	repo, err := m.Create(ctx, fullPath, CreateOptions{DefaultBranch: c.Branch})
	if err != nil {
		return nil, "", fmt.Errorf("importing %s: %w", dir, err)
	}
	sha, err := repo.commitDir(ctx, dir, c)
	if err != nil {
		if derr := m.Delete(context.WithoutCancel(ctx), fullPath); derr != nil {
			err = errors.Join(err, fmt.Errorf("removing the half-made repository: %w", derr))
		}
		return nil, "", fmt.Errorf("importing %s into %q: %w", dir, fullPath, err)
	}
	return repo, sha, nil
}

// commitDir writes dir's files as a root commit on c.Branch, using a temporary index
// so that the bare repository never gets one.
func (r *Repo) commitDir(ctx context.Context, dir string, c InitialCommit) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	scratch, err := os.MkdirTemp(r.tmp, "import-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(scratch)
	date := strconv.FormatInt(c.Time.Unix(), 10) + " " + c.Time.Format("-0700")
	env := []string{
		"GIT_INDEX_FILE=" + filepath.Join(scratch, "index"),
		"GIT_AUTHOR_NAME=" + c.AuthorName, "GIT_AUTHOR_EMAIL=" + c.AuthorEmail, "GIT_AUTHOR_DATE=" + date,
		"GIT_COMMITTER_NAME=" + c.AuthorName, "GIT_COMMITTER_EMAIL=" + c.AuthorEmail, "GIT_COMMITTER_DATE=" + date,
	}
	if _, err := r.git.output(ctx, abs, nil, env, "--git-dir="+r.dir, "--work-tree="+abs, "add", "--all", "--", "."); err != nil {
		return "", err
	}
	tree, err := r.git.output(ctx, r.dir, nil, env, "write-tree")
	if err != nil {
		return "", err
	}
	msg := c.Message
	if !strings.HasSuffix(msg, "\n") {
		msg += "\n"
	}
	out, err := r.git.output(ctx, r.dir, strings.NewReader(msg), env, "commit-tree", strings.TrimSpace(string(tree)))
	if err != nil {
		return "", err
	}
	sha := strings.TrimSpace(string(out))
	if err := r.UpdateRef(ctx, "refs/heads/"+c.Branch, sha, ZeroSHA); err != nil {
		return "", err
	}
	// git add leaves one loose object per file; a pack makes reading the tree (ls-tree
	// -l opens every blob) an order of magnitude faster.
	if _, err := r.run(ctx, "repack", "-a", "-d", "-q"); err != nil {
		return "", err
	}
	return sha, nil
}
