package git

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"time"
)

// treeFile is an open regular file. Its contents are read at the first Read, Seek or
// ReadAt.
type treeFile struct {
	fsys   *TreeFS
	node   *treeNode
	info   fileInfo
	r      *bytes.Reader
	closed bool
}

func (f *treeFile) Stat() (fs.FileInfo, error) { return f.info, nil }

func (f *treeFile) load(op string) error {
	if f.closed {
		return &fs.PathError{Op: op, Path: f.node.path, Err: fs.ErrClosed}
	}
	if f.r != nil {
		return nil
	}
	data, err := f.fsys.contents(f.node)
	if err != nil {
		return &fs.PathError{Op: op, Path: f.node.path, Err: err}
	}
	f.r = bytes.NewReader(data)
	return nil
}

func (f *treeFile) Read(p []byte) (int, error) {
	if err := f.load("read"); err != nil {
		return 0, err
	}
	return f.r.Read(p)
}

func (f *treeFile) Seek(offset int64, whence int) (int64, error) {
	if err := f.load("seek"); err != nil {
		return 0, err
	}
	return f.r.Seek(offset, whence)
}

func (f *treeFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.load("read"); err != nil {
		return 0, err
	}
	return f.r.ReadAt(p, off)
}

func (f *treeFile) Close() error {
	if f.closed {
		return &fs.PathError{Op: "close", Path: f.node.path, Err: fs.ErrClosed}
	}
	f.closed = true
	f.r = nil
	return nil
}

// treeDir is an open directory.
type treeDir struct {
	fsys   *TreeFS
	node   *treeNode
	info   fileInfo
	offset int
}

func (d *treeDir) Stat() (fs.FileInfo, error) { return d.info, nil }

func (d *treeDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.node.path, Err: errors.New("is a directory")}
}

func (d *treeDir) Close() error { return nil }

// ReadDir follows fs.ReadDirFile: n <= 0 returns everything left (and a nil error at
// the end); n > 0 returns at most n entries, and io.EOF when none are left.
func (d *treeDir) ReadDir(n int) ([]fs.DirEntry, error) {
	left := d.node.children[d.offset:]
	if n <= 0 {
		d.offset += len(left)
		return d.fsys.entries(left), nil
	}
	if len(left) == 0 {
		return nil, io.EOF
	}
	left = left[:min(n, len(left))]
	d.offset += len(left)
	return d.fsys.entries(left), nil
}

// fileInfo describes a tree entry.
type fileInfo struct {
	name    string
	node    *treeNode
	modTime time.Time
}

func (fi fileInfo) Name() string { return fi.name }
func (fi fileInfo) Size() int64 {
	if fi.node.isDir() {
		return 0
	}
	return fi.node.size
}
func (fi fileInfo) Mode() fs.FileMode  { return fi.node.mode }
func (fi fileInfo) ModTime() time.Time { return fi.modTime }
func (fi fileInfo) IsDir() bool        { return fi.node.isDir() }
func (fi fileInfo) Sys() any           { return nil }

type dirEntry struct{ info fileInfo }

func (d dirEntry) Name() string               { return d.info.name }
func (d dirEntry) IsDir() bool                { return d.info.IsDir() }
func (d dirEntry) Type() fs.FileMode          { return d.info.Mode().Type() }
func (d dirEntry) Info() (fs.FileInfo, error) { return d.info, nil }
func (d dirEntry) String() string             { return fs.FormatDirEntry(d) }
