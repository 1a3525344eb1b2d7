package git

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// TreeFS is the tree of one commit as a read-only file system: the pipeline compiler
// reads `.gitlab-ci.yml`, `include:local` files, globs and `rules:exists` through it.
// It implements fs.FS, fs.StatFS, fs.ReadDirFS, fs.ReadFileFS, fs.GlobFS and
// fs.ReadLinkFS.
//
// The whole tree is listed once, by `git ls-tree -r`, when the TreeFS is made, so
// Stat, ReadDir, Glob and Lstat never run git. File contents are read on demand
// through one `git cat-file --batch` process, started at the first read and ended by
// Close or when the context given to Repo.TreeFS is done; after that, contents can no
// longer be read (metadata still can).
//
// Symbolic links are followed within the tree (a target outside it, or an absolute
// one, does not exist); a submodule appears as an empty directory. Every entry's
// modification time is the commit's committer date. A TreeFS is safe for concurrent
// use.
type TreeFS struct {
	repo    string // project path, for errors
	commit  Commit
	root    *treeNode
	nodes   map[string]*treeNode // by path without symlinks; "." is the root
	ctx     context.Context
	git     gitExec
	dir     string
	mu      sync.Mutex // guards cat, closed and link targets
	cat     *catFile
	closed  bool
	targets map[*treeNode]string // symlink targets read so far
}

// treeNode is one tree entry.
type treeNode struct {
	name     string // base name; "." for the root
	path     string // full path; "." for the root
	mode     fs.FileMode
	size     int64
	oid      string
	children []*treeNode // directories only, sorted by name
}

func (n *treeNode) isDir() bool     { return n.mode.IsDir() }
func (n *treeNode) isSymlink() bool { return n.mode&fs.ModeSymlink != 0 }

// maxLinkHops bounds symbolic link resolution, as Linux does.
const maxLinkHops = 40

// TreeFS returns the tree of the commit rev names. Call Close when done with it. It
// fails with ErrUnknownRevision when rev names no commit.
func (r *Repo) TreeFS(ctx context.Context, rev string) (*TreeFS, error) {
	c, err := r.Commit(ctx, rev)
	if err != nil {
		return nil, err
	}
	out, err := r.run(ctx, "ls-tree", "-r", "-t", "-l", "-z", "--full-tree", c.SHA)
	if err != nil {
		return nil, fmt.Errorf("listing tree of %s in %q: %w", c.SHA, r.path, err)
	}
	t := &TreeFS{
		repo: r.path, commit: c, ctx: ctx, git: r.git, dir: r.dir,
		root:    &treeNode{name: ".", path: ".", mode: fs.ModeDir | 0o755},
		targets: map[*treeNode]string{},
	}
	t.nodes = map[string]*treeNode{".": t.root}
	if err := t.index(out); err != nil {
		return nil, fmt.Errorf("listing tree of %s in %q: %w", c.SHA, r.path, err)
	}
	return t, nil
}

// index reads `ls-tree -r -t -l -z` output: "<mode> <type> <oid> <size>\t<path>\0",
// each tree listed before its entries.
func (t *TreeFS) index(out []byte) error {
	for rec := range bytes.SplitSeq(out, []byte{0}) {
		if len(rec) == 0 {
			continue
		}
		meta, p, ok := strings.Cut(string(rec), "\t")
		f := strings.Fields(meta)
		if !ok || len(f) != 4 {
			return fmt.Errorf("unexpected ls-tree entry %q", rec)
		}
		n := &treeNode{name: path.Base(p), path: p, oid: f[2]}
		switch f[0] {
		case "040000", "160000": // a tree, or a submodule shown as an empty directory
			n.mode = fs.ModeDir | 0o755
		case "120000":
			n.mode = fs.ModeSymlink | 0o777
		case "100755":
			n.mode = 0o755
		default:
			n.mode = 0o644
		}
		if f[3] != "-" {
			size, err := strconv.ParseInt(f[3], 10, 64)
			if err != nil {
				return fmt.Errorf("unexpected size in ls-tree entry %q", rec)
			}
			n.size = size
		}
		parent := t.nodes[path.Dir(p)]
		if parent == nil || !parent.isDir() {
			return fmt.Errorf("ls-tree listed %q before its directory", p)
		}
		parent.children = append(parent.children, n)
		t.nodes[p] = n
	}
	for _, n := range t.nodes {
		slices.SortFunc(n.children, func(a, b *treeNode) int { return strings.Compare(a.name, b.name) })
	}
	return nil
}

// Commit returns the commit whose tree this is.
func (t *TreeFS) Commit() Commit { return t.commit }

// Close ends the process that reads file contents. It is safe to call more than once.
func (t *TreeFS) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	if t.cat != nil {
		t.cat.Close()
		t.cat = nil
	}
	return nil
}

// contents reads a blob through the shared cat-file process.
func (t *TreeFS) contents(n *treeNode) ([]byte, error) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil, errors.New("tree of " + t.commit.SHA + " is closed")
	}
	if t.cat == nil {
		cf, err := startCatFile(t.ctx, t.git, t.dir)
		if err != nil {
			t.mu.Unlock()
			return nil, err
		}
		t.cat = cf
	}
	cf := t.cat
	t.mu.Unlock()
	_, typ, data, err := cf.object(n.oid)
	if err != nil {
		return nil, fmt.Errorf("reading %s in %q: %w", n.path, t.repo, err)
	}
	if typ != "blob" {
		return nil, fmt.Errorf("reading %s in %q: object %s is a %s", n.path, t.repo, n.oid, typ)
	}
	return data, nil
}

// linkTarget returns a symbolic link's target, reading it once.
func (t *TreeFS) linkTarget(n *treeNode) (string, error) {
	t.mu.Lock()
	target, ok := t.targets[n]
	t.mu.Unlock()
	if ok {
		return target, nil
	}
	data, err := t.contents(n)
	if err != nil {
		return "", err
	}
	t.mu.Lock()
	t.targets[n] = string(data)
	t.mu.Unlock()
	return string(data), nil
}

// errTooManyLinks: symbolic links loop or nest deeper than maxLinkHops.
var errTooManyLinks = errors.New("too many levels of symbolic links")

// resolve finds the entry name refers to, following symbolic links on the way and,
// when followLast is set, a link at the end too. Errors are *fs.PathError.
func (t *TreeFS) resolve(op, name string, followLast bool) (*treeNode, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	comps := splitPath(name)
	cur, hops := t.root, 0
	for len(comps) > 0 {
		if !cur.isDir() {
			return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		child := t.nodes[joinPath(cur.path, comps[0])]
		comps = comps[1:]
		if child == nil {
			return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		if !child.isSymlink() || len(comps) == 0 && !followLast {
			cur = child
			continue
		}
		if hops++; hops > maxLinkHops {
			return nil, &fs.PathError{Op: op, Path: name, Err: errTooManyLinks}
		}
		target, err := t.linkTarget(child)
		if err != nil {
			return nil, &fs.PathError{Op: op, Path: name, Err: err}
		}
		resolved := path.Join(path.Dir(child.path), target)
		if path.IsAbs(target) || resolved == ".." || strings.HasPrefix(resolved, "../") {
			return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		comps = append(splitPath(resolved), comps...)
		cur = t.root
	}
	return cur, nil
}

func splitPath(p string) []string {
	if p == "." || p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

func joinPath(dir, name string) string {
	if dir == "." {
		return name
	}
	return dir + "/" + name
}

func (t *TreeFS) info(name string, n *treeNode) fileInfo {
	return fileInfo{name: path.Base(name), node: n, modTime: t.commit.CommittedAt}
}

// Open opens the named file or directory, following symbolic links.
func (t *TreeFS) Open(name string) (fs.File, error) {
	n, err := t.resolve("open", name, true)
	if err != nil {
		return nil, err
	}
	if n.isDir() {
		return &treeDir{fsys: t, node: n, info: t.info(name, n)}, nil
	}
	return &treeFile{fsys: t, node: n, info: t.info(name, n)}, nil
}

// Stat describes the named file, following symbolic links.
func (t *TreeFS) Stat(name string) (fs.FileInfo, error) {
	n, err := t.resolve("stat", name, true)
	if err != nil {
		return nil, err
	}
	return t.info(name, n), nil
}

// Lstat describes the named file without following a final symbolic link.
func (t *TreeFS) Lstat(name string) (fs.FileInfo, error) {
	n, err := t.resolve("lstat", name, false)
	if err != nil {
		return nil, err
	}
	return t.info(name, n), nil
}

// ReadLink returns the target of the named symbolic link.
func (t *TreeFS) ReadLink(name string) (string, error) {
	n, err := t.resolve("readlink", name, false)
	if err != nil {
		return "", err
	}
	if !n.isSymlink() {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	target, err := t.linkTarget(n)
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
	}
	return target, nil
}

// ReadDir lists the named directory, sorted by file name.
func (t *TreeFS) ReadDir(name string) ([]fs.DirEntry, error) {
	n, err := t.resolve("readdir", name, true)
	if err != nil {
		return nil, err
	}
	if !n.isDir() {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	return t.entries(n.children), nil
}

func (t *TreeFS) entries(nodes []*treeNode) []fs.DirEntry {
	list := make([]fs.DirEntry, len(nodes))
	for i, c := range nodes {
		list[i] = dirEntry{fileInfo{name: c.name, node: c, modTime: t.commit.CommittedAt}}
	}
	return list
}

// ReadFile returns the contents of the named file, following symbolic links.
func (t *TreeFS) ReadFile(name string) ([]byte, error) {
	n, err := t.resolve("read", name, true)
	if err != nil {
		return nil, err
	}
	if n.isDir() {
		return nil, &fs.PathError{Op: "read", Path: name, Err: errors.New("is a directory")}
	}
	data, err := t.contents(n)
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	return data, nil
}

// Glob returns the names matching pattern, with fs.Glob's semantics (path.Match per
// path element; `**` is not special), answered from the in-memory listing.
func (t *TreeFS) Glob(pattern string) ([]string, error) {
	if _, err := path.Match(pattern, ""); err != nil {
		return nil, err
	}
	return t.glob(pattern)
}

func (t *TreeFS) glob(pattern string) ([]string, error) {
	if !hasMeta(pattern) {
		if _, err := t.Stat(pattern); err != nil {
			return nil, nil
		}
		return []string{pattern}, nil
	}
	dir, file := path.Split(pattern)
	dir = cleanGlobPath(dir)
	if !hasMeta(dir) {
		return t.globDir(dir, file, nil)
	}
	if dir == pattern {
		return nil, path.ErrBadPattern
	}
	dirs, err := t.glob(dir)
	if err != nil {
		return nil, err
	}
	var matches []string
	for _, d := range dirs {
		if matches, err = t.globDir(d, file, matches); err != nil {
			return nil, err
		}
	}
	return matches, nil
}

// globDir appends the entries of dir that match pattern; a dir that is not a
// directory contributes nothing.
func (t *TreeFS) globDir(dir, pattern string, matches []string) ([]string, error) {
	n, err := t.resolve("glob", dir, true)
	if err != nil || !n.isDir() {
		return matches, nil
	}
	for _, c := range n.children {
		ok, err := path.Match(pattern, c.name)
		if err != nil {
			return matches, err
		}
		if ok {
			matches = append(matches, joinPath(dir, c.name))
		}
	}
	return matches, nil
}

func hasMeta(p string) bool { return strings.ContainsAny(p, `*?[\`) }

func cleanGlobPath(p string) string {
	switch p {
	case "":
		return "."
	default:
		return p[:len(p)-1] // the trailing slash
	}
}
