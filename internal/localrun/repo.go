package localrun

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os/exec"
	"os/user"
	"path"
	"path/filepath"
	"strings"
)

// Repo is what kiln exec knows about the git working tree whose pipeline it runs:
// the commit, the branch, and the project's identity, read with git the way GitLab
// would know them from a push.
type Repo struct {
	// Dir is the directory holding the configuration (absolute); jobs get a copy of it.
	Dir string
	// Ref is the branch (or, on a detached HEAD at a tag, the tag); Tag says which.
	Ref string
	Tag bool
	// SHA is HEAD; BeforeSHA its first parent (empty for a root commit).
	SHA, BeforeSHA string
	// Message is the commit message; Author "Name <email>"; Timestamp ISO 8601.
	Message, Author, Timestamp string
	// DefaultBranch is origin's HEAD, else git's init.defaultBranch, else Ref.
	DefaultBranch string
	// Namespace and Name make the project path (CI_PROJECT_PATH): from the origin
	// remote when it is a URL, else "local" and the directory's name.
	Namespace, Name string
	// Host and URL are origin's server and the project's web URL, when origin is a
	// URL (without any credentials it held).
	Host, URL string
	// UserName and UserEmail are git's user.name and user.email; Login the OS user.
	UserName, UserEmail, Login, UID string
	// Changed are the files a push of the working tree would change, for
	// rules:changes: those that differ from the branch as origin has it, committed or
	// not, and untracked files that are not ignored. Nil when origin does not have the
	// branch (a new branch, a tag, no remote): GitLab then takes changes as true.
	Changed []string
}

// Path is the project's path, namespace/name.
func (r *Repo) Path() string { return r.Namespace + "/" + r.Name }

// ReadRepo reads dir's repository with git. dir must be inside a git working tree
// with at least one commit.
func ReadRepo(ctx context.Context, dir string) (*Repo, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	g := gitIn{ctx: ctx, dir: abs}
	if _, err := g.run("rev-parse", "--show-toplevel"); err != nil {
		return nil, fmt.Errorf("%s is not in a git working tree (kiln exec runs a repository's pipeline): %w", abs, err)
	}
	r := &Repo{Dir: abs}
	if r.SHA, err = g.run("rev-parse", "--verify", "HEAD^{commit}"); err != nil {
		return nil, fmt.Errorf("the repository at %s has no commit yet; commit once, then run kiln exec", abs)
	}
	r.BeforeSHA, _ = g.run("rev-parse", "--verify", "--quiet", "HEAD^1")
	if r.Ref, _ = g.run("symbolic-ref", "--quiet", "--short", "HEAD"); r.Ref == "" {
		if tag, err := g.run("describe", "--tags", "--exact-match", "HEAD"); err == nil && tag != "" {
			r.Ref, r.Tag = tag, true
		} else {
			r.Ref = r.SHA
		}
	}
	r.Message, _ = g.raw("log", "-1", "--format=%B", "HEAD")
	r.Message = strings.TrimRight(r.Message, "\n")
	r.Author, _ = g.run("log", "-1", "--format=%an <%ae>", "HEAD")
	r.Timestamp, _ = g.run("log", "-1", "--format=%cI", "HEAD")
	r.UserName, _ = g.run("config", "user.name")
	r.UserEmail, _ = g.run("config", "user.email")
	if u, err := user.Current(); err == nil {
		r.Login, r.UID = u.Username, u.Uid
	}
	if head, err := g.run("symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD"); err == nil && head != "" {
		r.DefaultBranch = strings.TrimPrefix(head, "origin/")
	} else if b, err := g.run("config", "init.defaultBranch"); err == nil && b != "" {
		r.DefaultBranch = b
	} else {
		r.DefaultBranch = r.Ref
	}
	r.Namespace, r.Name = "local", filepath.Base(abs)
	if origin, err := g.run("remote", "get-url", "origin"); err == nil {
		if host, p, ok := parseRemote(origin); ok {
			r.Host = host
			r.URL = "https://" + host + "/" + p
			r.Namespace, r.Name = path.Split(p)
			r.Namespace = strings.TrimSuffix(r.Namespace, "/")
			if r.Namespace == "" {
				r.Namespace = "local"
			}
		}
	}
	r.Changed = changedFiles(g, r)
	return r, nil
}

// changedFiles lists what a push of the working tree would change (see Repo.Changed).
func changedFiles(g gitIn, r *Repo) []string {
	if r.Tag {
		return nil
	}
	upstream := "refs/remotes/origin/" + r.Ref
	if _, err := g.run("rev-parse", "--verify", "--quiet", upstream); err != nil {
		return nil
	}
	diff, err := g.raw("diff", "--name-only", "--relative", "-z", upstream, "--")
	if err != nil {
		return nil
	}
	untracked, err := g.raw("ls-files", "-z", "--others", "--exclude-standard")
	if err != nil {
		return nil
	}
	changed := []string{}
	for _, f := range strings.Split(diff+untracked, "\x00") {
		if f != "" {
			changed = append(changed, filepath.ToSlash(f))
		}
	}
	return changed
}

// parseRemote returns a git remote's host and project path (without .git), dropping
// any user name or password in it. It understands URLs (https://, ssh://, git://)
// and scp-like addresses (git@host:group/project.git).
func parseRemote(remote string) (host, projectPath string, ok bool) {
	remote = strings.TrimSpace(remote)
	var p string
	if u, err := url.Parse(remote); err == nil && u.Scheme != "" && u.Host != "" {
		host, p = u.Hostname(), u.Path
	} else if at, rest, found := strings.Cut(remote, ":"); found && !strings.Contains(at, "/") {
		if _, h, hasUser := strings.Cut(at, "@"); hasUser {
			at = h
		}
		host, p = at, rest
	} else {
		return "", "", false
	}
	p = strings.TrimSuffix(strings.Trim(path.Clean("/"+p), "/"), ".git")
	if host == "" || p == "" || p == "." || strings.Contains(p, "..") {
		return "", "", false
	}
	return host, p, true
}

// gitIn runs git in a directory.
type gitIn struct {
	ctx context.Context
	dir string
}

// run returns git's output without surrounding white space.
func (g gitIn) run(args ...string) (string, error) {
	out, err := g.raw(args...)
	return strings.TrimSpace(out), err
}

func (g gitIn) raw(args ...string) (string, error) {
	cmd := exec.CommandContext(g.ctx, "git", append([]string{"-c", "core.quotePath=false"}, args...)...)
	cmd.Dir = g.dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			return "", fmt.Errorf("git %s: %w", args[0], err)
		}
		return "", fmt.Errorf("git %s: %s", args[0], msg)
	}
	return string(out), nil
}

// errNoGit is returned when git itself is missing.
var errNoGit = errors.New("git is not installed (kiln exec reads the commit with git)")

func checkGit() error {
	if _, err := exec.LookPath("git"); err != nil {
		return errNoGit
	}
	return nil
}
