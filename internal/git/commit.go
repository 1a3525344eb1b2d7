package git

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Commit is what GitLab's CI_COMMIT_* variables need from a commit.
type Commit struct {
	SHA        string
	TreeSHA    string
	ParentSHAs []string // first parent first; none for a root commit
	// Message is the full commit message as stored, invalid UTF-8 replaced
	// (CI_COMMIT_MESSAGE). Git usually stores it with a trailing newline.
	Message        string
	AuthorName     string
	AuthorEmail    string
	AuthoredAt     time.Time
	CommitterName  string
	CommitterEmail string
	CommittedAt    time.Time
}

// noCommitMessage is GitLab's stand-in for an empty commit message.
const noCommitMessage = "--no commit message"

// ParentSHA returns the first parent's SHA, or "" for a root commit.
func (c Commit) ParentSHA() string {
	if len(c.ParentSHAs) == 0 {
		return ""
	}
	return c.ParentSHAs[0]
}

// Title is CI_COMMIT_TITLE, GitLab's "full title": the message up to its first line
// break, or "--no commit message" when the message is blank.
func (c Commit) Title() string {
	if strings.TrimSpace(c.Message) == "" {
		return noCommitMessage
	}
	if i := strings.IndexAny(c.Message, "\r\n"); i >= 0 {
		return c.Message[:i]
	}
	return c.Message
}

// Description is CI_COMMIT_DESCRIPTION, as GitLab computes it: the whole message when
// the title is 100 characters or longer; otherwise the message after its first
// newline, with one trailing line break removed ("" for a one-line message).
func (c Commit) Description() string {
	if utf8.RuneCountInString(c.Title()) >= 100 {
		return c.Message
	}
	if strings.TrimSpace(c.Message) == "" {
		return noCommitMessage
	}
	_, rest, ok := strings.Cut(c.Message, "\n")
	if !ok {
		return ""
	}
	return chomp(rest)
}

// chomp removes one trailing "\r\n", "\n" or "\r", as Ruby's String#chomp does.
func chomp(s string) string {
	if t, ok := strings.CutSuffix(s, "\r\n"); ok {
		return t
	}
	return strings.TrimSuffix(strings.TrimSuffix(s, "\n"), "\r")
}

// Author is CI_COMMIT_AUTHOR: "Name <email>".
func (c Commit) Author() string {
	return c.AuthorName + " <" + c.AuthorEmail + ">"
}

// Timestamp is CI_COMMIT_TIMESTAMP: the commit (committer) date in ISO 8601, in UTC
// (`2022-01-31T16:47:55Z`).
func (c Commit) Timestamp() string {
	return c.CommittedAt.UTC().Format(time.RFC3339)
}

// Commit reads the commit rev names (an annotated tag is peeled to its commit). It
// fails with ErrUnknownRevision when rev names no commit.
func (r *Repo) Commit(ctx context.Context, rev string) (Commit, error) {
	if err := validRevision(rev); err != nil {
		return Commit{}, fmt.Errorf("reading commit %q in %q: %w", rev, r.path, err)
	}
	cf, err := startCatFile(ctx, r.git, r.dir)
	if err != nil {
		return Commit{}, fmt.Errorf("reading commit %q in %q: %w", rev, r.path, err)
	}
	defer cf.Close()
	oid, typ, data, err := cf.object(rev + "^{commit}")
	if errors.Is(err, errMissing) {
		return Commit{}, fmt.Errorf("reading commit %q in %q: %w", rev, r.path, ErrUnknownRevision)
	}
	if err != nil {
		return Commit{}, fmt.Errorf("reading commit %q in %q: %w", rev, r.path, err)
	}
	if typ != "commit" {
		return Commit{}, fmt.Errorf("reading commit %q in %q: got a %s: %w", rev, r.path, typ, ErrUnknownRevision)
	}
	c, err := parseCommit(oid, data)
	if err != nil {
		return Commit{}, fmt.Errorf("reading commit %q in %q: %w", rev, r.path, err)
	}
	return c, nil
}

// parseCommit reads a raw commit object: header lines, a blank line, the message.
func parseCommit(sha string, raw []byte) (Commit, error) {
	c := Commit{SHA: sha}
	header, msg, _ := bytes.Cut(raw, []byte("\n\n"))
	c.Message = strings.ToValidUTF8(string(msg), "\uFFFD")
	for line := range bytes.SplitSeq(header, []byte("\n")) {
		key, value, _ := strings.Cut(string(line), " ")
		var err error
		switch key {
		case "tree":
			c.TreeSHA = value
		case "parent":
			c.ParentSHAs = append(c.ParentSHAs, value)
		case "author":
			c.AuthorName, c.AuthorEmail, c.AuthoredAt, err = parseIdent(value)
		case "committer":
			c.CommitterName, c.CommitterEmail, c.CommittedAt, err = parseIdent(value)
		}
		if err != nil {
			return Commit{}, fmt.Errorf("commit %s: %s line: %w", sha, key, err)
		}
	}
	if c.TreeSHA == "" {
		return Commit{}, fmt.Errorf("commit %s: no tree line", sha)
	}
	return c, nil
}

// parseIdent reads "Name <email> 1700000000 +0100".
func parseIdent(s string) (name, email string, when time.Time, err error) {
	lt := strings.IndexByte(s, '<')
	gt := strings.LastIndexByte(s, '>')
	if lt < 0 || gt < lt {
		return "", "", time.Time{}, fmt.Errorf("no <email> in %q", s)
	}
	name = strings.TrimSpace(s[:lt])
	email = s[lt+1 : gt]
	f := strings.Fields(s[gt+1:])
	if len(f) != 2 {
		return "", "", time.Time{}, fmt.Errorf("no date in %q", s)
	}
	secs, err1 := strconv.ParseInt(f[0], 10, 64)
	tz, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || len(f[1]) != 5 {
		return "", "", time.Time{}, fmt.Errorf("bad date %q", s[gt+1:])
	}
	if tz < 0 {
		tz = -tz
		when = time.Unix(secs, 0).In(time.FixedZone(f[1], -((tz/100)*3600 + (tz%100)*60)))
	} else {
		when = time.Unix(secs, 0).In(time.FixedZone(f[1], (tz/100)*3600+(tz%100)*60))
	}
	return name, email, when, nil
}

// ReadFile returns the contents of the file at path (slash-separated, relative to the
// repository root, as fs.ValidPath requires) in the commit rev names. A symbolic
// link's contents are its target, as git stores it; TreeFS follows links. It fails
// with an error wrapping fs.ErrNotExist when the commit has no file there and with
// ErrUnknownRevision when rev names no commit.
func (r *Repo) ReadFile(ctx context.Context, rev, path string) ([]byte, error) {
	if err := validRevision(rev); err != nil {
		return nil, fmt.Errorf("reading %q at %q in %q: %w", path, rev, r.path, err)
	}
	if !fs.ValidPath(path) || path == "." || strings.ContainsAny(path, "\n\x00") {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fs.ErrInvalid}
	}
	cf, err := startCatFile(ctx, r.git, r.dir)
	if err != nil {
		return nil, fmt.Errorf("reading %q at %q in %q: %w", path, rev, r.path, err)
	}
	defer cf.Close()
	_, typ, data, err := cf.object(rev + "^{commit}:" + path)
	if errors.Is(err, errMissing) {
		if _, _, _, cerr := cf.object(rev + "^{commit}"); errors.Is(cerr, errMissing) {
			return nil, fmt.Errorf("reading %q at %q in %q: %w", path, rev, r.path, ErrUnknownRevision)
		}
		return nil, fmt.Errorf("reading %q at %q in %q: %w", path, rev, r.path, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %q at %q in %q: %w", path, rev, r.path, err)
	}
	if typ != "blob" {
		return nil, fmt.Errorf("reading %q at %q in %q: is a %s, not a file", path, rev, r.path, typ)
	}
	return data, nil
}

// ChangedFiles lists, sorted, the paths of files added, modified or deleted between
// the commits before and after (a two-dot comparison of their trees, as GitLab's
// rules:changes uses for push pipelines). A zero (or empty) before, as a push that
// creates a branch or tag reports, has nothing to compare with: the error wraps
// ErrNoBase, and GitLab then treats rules:changes as matching.
func (r *Repo) ChangedFiles(ctx context.Context, before, after string) ([]string, error) {
	if before == "" || IsZeroSHA(before) {
		return nil, fmt.Errorf("changed files in %q up to %s: %w", r.path, after, ErrNoBase)
	}
	for _, rev := range []string{before, after} {
		if err := validRevision(rev); err != nil {
			return nil, fmt.Errorf("changed files in %q: %w", r.path, err)
		}
	}
	out, err := r.run(ctx, "diff-tree", "-r", "-z", "--name-only", "--no-renames", "--no-commit-id",
		before+"^{commit}", after+"^{commit}")
	if err != nil {
		for _, rev := range []string{before, after} {
			if _, rerr := r.ResolveRef(ctx, rev); errors.Is(rerr, ErrUnknownRevision) {
				return nil, fmt.Errorf("changed files in %q from %s to %s: %q: %w", r.path, before, after, rev, ErrUnknownRevision)
			}
		}
		return nil, fmt.Errorf("changed files in %q from %s to %s: %w", r.path, before, after, err)
	}
	paths := []string{}
	for p := range strings.SplitSeq(strings.TrimSuffix(string(out), "\x00"), "\x00") {
		if p != "" {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	return paths, nil
}
