// Package ziparchive writes and extracts the archives artifacts and caches travel in:
// zip files of a project directory's entries (regular files, directories and symbolic
// links, with modes and times kept), and GitLab's "gzip" artifact format (one gzip
// member per file). Extraction refuses anything that would land outside the target
// directory.
//
// It is on the runner side: the coordinator side must not import it.
package ziparchive

import (
	"archive/zip"
	"compress/flate"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Create writes a zip of the entries (slash-separated paths relative to root) to w.
// Entries that vanished since they were selected are skipped.
func Create(w io.Writer, root string, entries []string) error {
	zw := zip.NewWriter(w)
	zw.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(out, flate.BestSpeed)
	})
	for _, rel := range entries {
		if err := addEntry(zw, root, rel); err != nil {
			return fmt.Errorf("archiving %s: %w", rel, err)
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("finishing zip archive: %w", err)
	}
	return nil
}

func addEntry(zw *zip.Writer, root, rel string) error {
	full := filepath.Join(root, filepath.FromSlash(rel))
	st, err := os.Lstat(full)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	h, err := zip.FileInfoHeader(st)
	if err != nil {
		return err
	}
	h.Name = rel
	switch {
	case st.IsDir():
		h.Name += "/"
		h.Method = zip.Store
		_, err = zw.CreateHeader(h)
		return err
	case st.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(full)
		if err != nil {
			return err
		}
		h.Method = zip.Store
		fw, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		_, err = io.WriteString(fw, target)
		return err
	case st.Mode().IsRegular():
		h.Method = zip.Deflate
		fw, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		f, err := os.Open(full)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(fw, f)
		return err
	}
	return nil // sockets, devices and pipes are not archived
}

// Extract unpacks the zip file at src into dst, overwriting what is there. An entry
// whose name is absolute or climbs out of dst, or that would be written through a
// symbolic link leading out of dst, is an error and nothing after it is written.
func Extract(src, dst string) error {
	zr, err := zip.OpenReader(src)
	if err != nil {
		return fmt.Errorf("opening archive: %w", err)
	}
	defer zr.Close()
	for _, f := range zr.File {
		if err := extractOne(f, dst); err != nil {
			return fmt.Errorf("extracting %q: %w", f.Name, err)
		}
	}
	return nil
}

func extractOne(f *zip.File, dst string) error {
	name := strings.TrimSuffix(filepath.ToSlash(f.Name), "/")
	if name == "" || path.IsAbs(name) || strings.Contains(f.Name, "\\") {
		return fmt.Errorf("unsafe entry name")
	}
	clean := path.Clean(name)
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return fmt.Errorf("entry leads outside the target directory")
	}
	target := filepath.Join(dst, filepath.FromSlash(clean))
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	if err := insideDir(dst, filepath.Dir(target)); err != nil {
		return err
	}
	mode := f.Mode()
	switch {
	case mode.IsDir():
		if err := os.MkdirAll(target, 0o755); err != nil {
			return err
		}
		return os.Chmod(target, mode.Perm()|0o700)
	case mode&fs.ModeSymlink != 0:
		rc, err := f.Open()
		if err != nil {
			return err
		}
		link, err := io.ReadAll(io.LimitReader(rc, 4096))
		rc.Close()
		if err != nil {
			return err
		}
		_ = os.RemoveAll(target)
		return os.Symlink(string(link), target)
	default:
		rc, err := f.Open()
		if err != nil {
			return err
		}
		defer rc.Close()
		if st, err := os.Lstat(target); err == nil && !st.Mode().IsRegular() {
			_ = os.RemoveAll(target)
		}
		out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode.Perm()|0o600)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, rc); err != nil {
			out.Close()
			return err
		}
		if err := out.Close(); err != nil {
			return err
		}
		_ = os.Chmod(target, mode.Perm())
		return os.Chtimes(target, f.Modified, f.Modified)
	}
}

// insideDir checks that dir, with symbolic links resolved, is root or below it.
func insideDir(root, dir string) error {
	r, err := filepath.EvalSymlinks(root)
	if err != nil {
		return err
	}
	d, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return err
	}
	rel, err := filepath.Rel(r, d)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("entry would be written through a link leading outside the target directory")
	}
	return nil
}

// CreateGzip writes GitLab's "gzip" artifact format: each regular file among entries
// as one gzip member, its name in the member header.
func CreateGzip(w io.Writer, root string, entries []string) error {
	for _, rel := range entries {
		full := filepath.Join(root, filepath.FromSlash(rel))
		st, err := os.Lstat(full)
		if err != nil || !st.Mode().IsRegular() {
			continue
		}
		if err := gzipOne(w, full, rel, st); err != nil {
			return fmt.Errorf("archiving %s: %w", rel, err)
		}
	}
	return nil
}

func gzipOne(w io.Writer, full, rel string, st fs.FileInfo) error {
	f, err := os.Open(full)
	if err != nil {
		return err
	}
	defer f.Close()
	gz := gzip.NewWriter(w)
	gz.Name, gz.ModTime = rel, st.ModTime()
	if _, err := io.Copy(gz, f); err != nil {
		return err
	}
	return gz.Close()
}
