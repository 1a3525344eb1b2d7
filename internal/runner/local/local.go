// Package local is the runner.Channel for jobs run on the user's own machine
// (`kiln exec`): the job log goes to a writer, artifacts are kept in a local
// directory, and dependent jobs download them from there.
//
// It is on the runner side: the coordinator side must not import it.
package local

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/runner"
)

// Artifacts keeps the archives of a pipeline's jobs in a directory, one directory per
// job id. It is safe for concurrent use.
type Artifacts struct {
	dir string
	mu  sync.Mutex
}

// NewArtifacts keeps archives under dir.
func NewArtifacts(dir string) *Artifacts { return &Artifacts{dir: dir} }

// Path returns where the archive of the given type and name of job id is kept.
func (a *Artifacts) Path(id int64, up protocol.ArtifactUpload) string {
	typ := up.Type
	if typ == "" {
		typ = jobspec.ArtifactTypeArchive
	}
	return filepath.Join(a.dir, strconv.FormatInt(id, 10), typ+"-"+up.FileName())
}

// Archive returns the path of job id's archive (type archive, zip), if it has one.
func (a *Artifacts) Archive(id int64) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	matches, _ := filepath.Glob(filepath.Join(a.dir, strconv.FormatInt(id, 10), "archive-*.zip"))
	if len(matches) == 0 {
		return "", false
	}
	return matches[len(matches)-1], true
}

func (a *Artifacts) store(id int64, up protocol.ArtifactUpload) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	dst := a.Path(id, up)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	src, err := up.Open()
	if err != nil {
		return err
	}
	defer src.Close()
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, src); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Channel is one local job's channel.
type Channel struct {
	out       io.Writer
	jobID     int64
	artifacts *Artifacts

	cancelOnce sync.Once
	canceling  chan struct{}

	mu      sync.Mutex
	outcome *runner.Outcome
}

var _ runner.Channel = (*Channel)(nil)

// NewChannel returns a channel writing job id's log to out and keeping its artifacts in
// store.
func NewChannel(out io.Writer, id int64, store *Artifacts) *Channel {
	return &Channel{out: out, jobID: id, artifacts: store, canceling: make(chan struct{})}
}

// Write passes the job log on.
func (c *Channel) Write(p []byte) (int, error) { return c.out.Write(p) }

// Cancel asks the job to stop gracefully (the first Ctrl-C).
func (c *Channel) Cancel() { c.cancelOnce.Do(func() { close(c.canceling) }) }

// Canceling is closed by Cancel.
func (c *Channel) Canceling() <-chan struct{} { return c.canceling }

// UploadArtifacts keeps the archive in the store.
func (c *Channel) UploadArtifacts(_ context.Context, up protocol.ArtifactUpload) error {
	if err := c.artifacts.store(c.jobID, up); err != nil {
		return fmt.Errorf("keeping artifacts: %w", err)
	}
	return nil
}

// DownloadArtifacts copies a dependency's archive from the store.
func (c *Channel) DownloadArtifacts(_ context.Context, dep jobspec.Dependency, dst *os.File) error {
	p, ok := c.artifacts.Archive(dep.ID)
	if !ok {
		return fmt.Errorf("job %s (%d) has no artifacts archive", dep.Name, dep.ID)
	}
	src, err := os.Open(p)
	if err != nil {
		return err
	}
	defer src.Close()
	_, err = io.Copy(dst, src)
	return err
}

// Finish records the outcome.
func (c *Channel) Finish(_ context.Context, o runner.Outcome) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.outcome = &o
	return nil
}

// Outcome returns the job's outcome once Finish was called.
func (c *Channel) Outcome() (runner.Outcome, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.outcome == nil {
		return runner.Outcome{}, false
	}
	return *c.outcome, true
}
