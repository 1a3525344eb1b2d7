// Package blobfs keeps artifact blobs as files under a directory (the coordinator's
// data directory): store.ArtifactBlobs on a filesystem.
//
// A Put writes a temporary file in the same directory tree, checks its size and
// SHA-256, fsyncs it, renames it into place and fsyncs the directory, so a blob is
// either absent or whole, and durable once Put returns.
//
// Only the coordinator side imports it.
package blobfs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kiln-ci/kiln/internal/store"
)

// Config configures a blob directory.
type Config struct {
	// Dir holds the blobs; it is created if missing.
	Dir string
	// MaxSize refuses blobs larger than this many bytes; 0 means no limit.
	MaxSize int64
	// Logger for cleanup problems; nil discards.
	Logger *slog.Logger
}

// FS is a directory of blobs. It is safe for concurrent use.
type FS struct {
	dir, tmp string
	max      int64
	log      *slog.Logger
}

// tmpDir is where Put writes before renaming; keys cannot name it (they start with
// a letter or digit).
const tmpDir = ".tmp"

// staleTemp is the age after which a temporary file is taken for a crash's leftover.
const staleTemp = time.Hour

// New returns the blob directory cfg.Dir, creating it, and removes temporary files
// older than an hour (left behind by a crash; younger ones may be another replica's
// Put in progress).
func New(cfg Config) (*FS, error) {
	if cfg.Dir == "" {
		return nil, fmt.Errorf("artifact blobs: %w: no directory given", store.ErrInvalid)
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("artifact blobs in %s: %w", cfg.Dir, err)
	}
	f := &FS{dir: dir, tmp: filepath.Join(dir, tmpDir), max: cfg.MaxSize, log: cfg.Logger}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(f.tmp, 0o750); err != nil {
		return nil, fmt.Errorf("creating %s: %w", f.tmp, err)
	}
	entries, err := os.ReadDir(f.tmp)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", f.tmp, err)
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > staleTemp {
			if err := os.Remove(filepath.Join(f.tmp, e.Name())); err != nil {
				f.log.Warn("removing a stale temporary blob", "path", filepath.Join(f.tmp, e.Name()), "err", err)
			}
		}
	}
	return f, nil
}

func (f *FS) path(key string) (string, error) {
	if err := store.CheckBlobKey(key); err != nil {
		return "", err
	}
	return filepath.Join(f.dir, filepath.FromSlash(key)), nil
}

// Put implements store.ArtifactBlobs.
func (f *FS) Put(ctx context.Context, key string, r io.Reader, want store.Expect) (store.BlobInfo, error) {
	dst, err := f.path(key)
	if err != nil {
		return store.BlobInfo{}, fmt.Errorf("storing a blob: %w", err)
	}
	tmp, err := os.CreateTemp(f.tmp, "put-*")
	if err != nil {
		return store.BlobInfo{}, fmt.Errorf("storing blob %s: %w", key, err)
	}
	keep := false
	defer func() {
		if !keep {
			tmp.Close()
			if err := os.Remove(tmp.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
				f.log.Warn("removing a temporary blob", "path", tmp.Name(), "err", err)
			}
		}
	}()
	info, err := f.copy(ctx, tmp, r)
	if err != nil {
		return store.BlobInfo{}, fmt.Errorf("storing blob %s: %w", key, err)
	}
	if want.Size >= 0 && info.Size != want.Size {
		return info, fmt.Errorf("storing blob %s: got %d bytes, want %d: %w", key, info.Size, want.Size, store.ErrInvalid)
	}
	if want.SHA256 != "" && !strings.EqualFold(want.SHA256, info.SHA256) {
		return info, fmt.Errorf("storing blob %s: sha256 %s, want %s: %w", key, info.SHA256, want.SHA256, store.ErrInvalid)
	}
	if err := tmp.Sync(); err != nil {
		return info, fmt.Errorf("storing blob %s: syncing: %w", key, err)
	}
	if err := tmp.Close(); err != nil {
		return info, fmt.Errorf("storing blob %s: %w", key, err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return info, fmt.Errorf("storing blob %s: %w", key, err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return info, fmt.Errorf("storing blob %s: %w", key, err)
	}
	keep = true
	if err := syncDir(filepath.Dir(dst)); err != nil {
		return info, fmt.Errorf("storing blob %s: syncing its directory: %w", key, err)
	}
	return info, nil
}

// copy writes r to w, hashing it and enforcing the size limit and ctx.
func (f *FS) copy(ctx context.Context, w io.Writer, r io.Reader) (store.BlobInfo, error) {
	h := sha256.New()
	limit := int64(-1)
	if f.max > 0 {
		limit = f.max
	}
	n, err := io.Copy(io.MultiWriter(w, h), &ctxReader{ctx: ctx, r: r, left: limit})
	info := store.BlobInfo{Size: n, SHA256: hexSum(h)}
	if errors.Is(err, errTooLarge) {
		return info, fmt.Errorf("more than %d bytes: %w", f.max, store.ErrInvalid)
	}
	return info, err
}

func hexSum(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

var errTooLarge = errors.New("blob too large")

// ctxReader stops at ctx's end and after left bytes (left < 0: no limit).
type ctxReader struct {
	ctx  context.Context
	r    io.Reader
	left int64
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	if c.left == 0 {
		// One more byte tells a blob of exactly the limit from a larger one.
		var one [1]byte
		n, err := c.r.Read(one[:])
		if n > 0 {
			return 0, errTooLarge
		}
		return 0, err
	}
	if c.left > 0 && int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	if c.left > 0 {
		c.left -= int64(n)
	}
	return n, err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Open implements store.ArtifactBlobs.
func (f *FS) Open(ctx context.Context, key string) (io.ReadSeekCloser, int64, error) {
	p, err := f.path(key)
	if err != nil {
		return nil, 0, fmt.Errorf("opening a blob: %w", err)
	}
	file, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, fmt.Errorf("blob %s: %w", key, store.ErrNotFound)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("opening blob %s: %w", key, err)
	}
	st, err := file.Stat()
	if err != nil {
		file.Close()
		return nil, 0, fmt.Errorf("opening blob %s: %w", key, err)
	}
	return file, st.Size(), nil
}

// Delete implements store.ArtifactBlobs.
func (f *FS) Delete(ctx context.Context, key string) error {
	p, err := f.path(key)
	if err != nil {
		return fmt.Errorf("deleting a blob: %w", err)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("deleting blob %s: %w", key, err)
	}
	return nil
}

var _ store.ArtifactBlobs = (*FS)(nil)
