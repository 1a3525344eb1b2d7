package coordinator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/kiln-ci/kiln/internal/ci"
	"github.com/kiln-ci/kiln/internal/store"
)

// ArtifactUpload is one file a runner uploads for its job (POST /jobs/:id/artifacts).
type ArtifactUpload struct {
	// Type is GitLab's artifact_type: archive (default), dotenv, junit, ...
	Type string
	// Format is artifact_format: zip (default), gzip or raw.
	Format   string
	Filename string
	// ExpireIn is GitLab's expire_in ("1 day", "never"); "" keeps it forever.
	ExpireIn string
	Body     io.Reader
}

var artifactType = regexp.MustCompile(`^[a-z][a-z_]{0,39}$`)

// UploadArtifact streams a job's artifact to the blob store and records it. The
// upload is refused with KindTooLarge beyond the size limit, KindConflict when the
// job already has an artifact of that type, and KindInvalid for a bad type, format,
// expiry or dotenv report; a refused upload leaves nothing behind.
func (s *Service) UploadArtifact(ctx context.Context, j *store.Job, up ArtifactUpload) (*store.Artifact, error) {
	if up.Type == "" {
		up.Type = store.ArtifactArchive
	}
	if up.Format == "" {
		up.Format = store.FormatZip
	}
	if !artifactType.MatchString(up.Type) {
		return nil, newError(KindInvalid, nil, "artifact_type %q is not an artifact type", up.Type)
	}
	if up.Format != store.FormatZip && up.Format != store.FormatGzip && up.Format != store.FormatRaw {
		return nil, newError(KindInvalid, nil, "artifact_format %q must be zip, gzip or raw", up.Format)
	}
	var expire time.Time
	if e := strings.TrimSpace(up.ExpireIn); e != "" && e != "never" {
		d, err := ci.ParseDuration(e)
		if err != nil || d <= 0 {
			return nil, newError(KindInvalid, err, "expire_in %q is not a duration such as \"1 day\" or \"never\"", up.ExpireIn)
		}
		expire = s.now().Add(d)
	}
	existing, err := s.st.Artifacts.ListArtifacts(ctx, j.ID)
	if err != nil {
		return nil, fmt.Errorf("listing the artifacts of job %d: %w", j.ID, err)
	}
	if slices.ContainsFunc(existing, func(a store.Artifact) bool { return a.FileType == up.Type }) {
		return nil, newError(KindConflict, nil, "job %d already has an artifact of type %s", j.ID, up.Type)
	}
	key := fmt.Sprintf("projects/%d/jobs/%d/%s-%d.%s", j.ProjectID, j.ID, up.Type, s.now().UnixNano(), up.Format)
	body := &limitedReader{r: up.Body, left: s.cfg.MaxArtifactBytes}
	info, err := s.cfg.Blobs.Put(ctx, key, body, store.AnySize)
	if body.over {
		return nil, newError(KindTooLarge, err, "413 Request Entity Too Large: artifacts are limited to %d bytes", s.cfg.MaxArtifactBytes)
	}
	if err != nil {
		if errors.Is(err, store.ErrInvalid) {
			return nil, newError(KindTooLarge, err, "413 Request Entity Too Large: %v", err)
		}
		return nil, fmt.Errorf("storing an artifact of job %d: %w", j.ID, err)
	}
	if up.Type == store.ArtifactDotenv {
		if _, err := s.readDotenv(ctx, &store.Artifact{BlobKey: key, Format: up.Format}); err != nil {
			s.deleteBlob(ctx, key)
			return nil, newError(KindInvalid, err, "dotenv report: %v", err)
		}
	}
	filename := up.Filename
	if filename == "" {
		filename = up.Type
	}
	a := &store.Artifact{JobID: j.ID, FileType: up.Type, Format: up.Format, Filename: filename, Size: info.Size,
		SHA256: info.SHA256, BlobKey: key, ExpireAt: expire}
	if err := s.st.Artifacts.CreateArtifact(ctx, a); err != nil {
		s.deleteBlob(ctx, key)
		return nil, storeInput(err, "recording the artifact")
	}
	s.log.Info("artifact uploaded", "job", j.ID, "type", a.FileType, "size", a.Size)
	return a, nil
}

func (s *Service) deleteBlob(ctx context.Context, key string) {
	if err := s.cfg.Blobs.Delete(ctx, key); err != nil {
		s.log.Warn("deleting a refused artifact's blob", "key", key, "error", err)
	}
}

// limitedReader fails once more than left bytes are read.
type limitedReader struct {
	r    io.Reader
	left int64
	over bool
}

var errTooLarge = errors.New("artifact too large")

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left < 0 {
		l.over = true
		return 0, errTooLarge
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		l.over = true
		return n, errTooLarge
	}
	return n, err
}

// OpenJobArtifact opens a job's archive for the job (or a job depending on it) that
// holds the token (GET /jobs/:id/artifacts): a job token downloads the artifacts of
// its own job and of the jobs it lists as dependencies in its pipeline.
// KindForbidden for any other job, KindNotFound when there is no archive.
func (s *Service) OpenJobArtifact(ctx context.Context, requester *store.Job, jobID int64) (io.ReadSeekCloser, *store.Artifact, error) {
	if jobID != requester.ID {
		target, err := s.st.Jobs.Job(ctx, jobID)
		if err != nil {
			return nil, nil, notFound(err, "job", jobID)
		}
		if target.PipelineID != requester.PipelineID || !slices.Contains(requester.Dependencies, target.Name) {
			return nil, nil, newError(KindForbidden, nil, "403 Forbidden - job %d is not a dependency of job %d", jobID, requester.ID)
		}
	}
	return s.OpenArtifact(ctx, jobID, store.ArtifactArchive)
}

// OpenArtifact opens a job's artifact of a file type (archive for the job's
// artifacts archive); the caller closes it. KindNotFound when there is none.
func (s *Service) OpenArtifact(ctx context.Context, jobID int64, fileType string) (io.ReadSeekCloser, *store.Artifact, error) {
	arts, err := s.st.Artifacts.ListArtifacts(ctx, jobID)
	if err != nil {
		return nil, nil, fmt.Errorf("listing the artifacts of job %d: %w", jobID, err)
	}
	i := slices.IndexFunc(arts, func(a store.Artifact) bool { return a.FileType == fileType })
	if i < 0 {
		return nil, nil, newError(KindNotFound, nil, "404 Not Found - job %d has no %s artifact", jobID, fileType)
	}
	a := arts[i]
	rc, _, err := s.cfg.Blobs.Open(ctx, a.BlobKey)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil, newError(KindNotFound, err, "404 Not Found - the %s artifact of job %d is gone", fileType, jobID)
		}
		return nil, nil, fmt.Errorf("opening artifact %d: %w", a.ID, err)
	}
	return rc, &a, nil
}
