// Package artifacts turns a job's artifacts: entries into archives ready to upload
// (zip for archives, GitLab's gzip format for junit and dotenv reports, raw for a
// single file) and decides which run for a job's outcome. Dotenv reports are read by
// internal/dotenv, which the coordinator uses too.
//
// It is on the runner side: the coordinator side must not import it.
package artifacts

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/runner/fileset"
	"github.com/kiln-ci/kiln/internal/runner/ziparchive"
)

// Runs reports whether an artifact with condition when is uploaded after a job that
// succeeded or not. An unknown condition is an error naming it.
func Runs(when string, succeeded bool) (bool, error) {
	return fileset.Kept("artifacts:when", when, succeeded)
}

// Archive is one built archive, a temporary file the caller removes.
type Archive struct {
	Path      string
	Format    string // zip, gzip or raw
	Entries   []string
	Selection fileset.Result
}

// Open opens the archive for reading (protocol.ArtifactUpload.Open).
func (a *Archive) Open() (io.ReadCloser, error) { return os.Open(a.Path) }

// Remove deletes the archive file.
func (a *Archive) Remove() error { return os.Remove(a.Path) }

// Skip says why an artifact produces no archive: nothing to select. Such an artifact
// is skipped, not failed, as in gitlab-runner.
func Skip(a jobspec.Artifact) bool { return len(a.Paths) == 0 && !a.Untracked }

// Build selects the artifact's files in projectDir and writes its archive into tmpDir.
// a must already have its variables expanded. A selection with no files returns a nil
// archive and the selection (whose messages say why).
func Build(ctx context.Context, projectDir, tmpDir string, a jobspec.Artifact) (*Archive, fileset.Result, error) {
	sel, err := fileset.Select(ctx, projectDir, fileset.Spec{Paths: a.Paths, Exclude: a.Exclude, Untracked: a.Untracked})
	if err != nil {
		return nil, sel, err
	}
	files := regularFiles(projectDir, sel.Entries)
	if len(files) == 0 {
		return nil, sel, nil
	}
	format := a.ArtifactFormat
	if format == "" {
		format = jobspec.ArtifactFormatZip
	}
	f, err := os.CreateTemp(tmpDir, "artifacts-*")
	if err != nil {
		return nil, sel, fmt.Errorf("creating artifacts archive: %w", err)
	}
	arc := &Archive{Path: f.Name(), Format: format, Entries: sel.Entries, Selection: sel}
	switch format {
	case jobspec.ArtifactFormatZip:
		err = ziparchive.Create(f, projectDir, sel.Entries)
	case jobspec.ArtifactFormatGzip:
		err = ziparchive.CreateGzip(f, projectDir, files)
	case jobspec.ArtifactFormatRaw:
		if len(files) != 1 {
			err = fmt.Errorf("artifact format raw needs exactly one file, found %d", len(files))
			break
		}
		var src *os.File
		if src, err = os.Open(filepath.Join(projectDir, filepath.FromSlash(files[0]))); err == nil {
			_, err = io.Copy(f, src)
			src.Close()
		}
	default:
		err = fmt.Errorf("unsupported artifact format %q (Kiln writes zip, gzip and raw)", format)
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return nil, sel, fmt.Errorf("creating %s archive: %w", format, err)
	}
	return arc, sel, nil
}

// regularFiles keeps the entries that are regular files or links.
func regularFiles(root string, entries []string) []string {
	var out []string
	for _, e := range entries {
		st, err := os.Lstat(filepath.Join(root, filepath.FromSlash(e)))
		if err == nil && !st.IsDir() {
			out = append(out, e)
		}
	}
	return out
}

// Extract unpacks a downloaded zip archive into projectDir.
func Extract(zipPath, projectDir string) error {
	return ziparchive.Extract(zipPath, projectDir)
}
