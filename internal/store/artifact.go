package store

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
)

// Artifact file types (GitLab's artifact_type values Kiln keeps).
const (
	ArtifactArchive  = "archive"
	ArtifactMetadata = "metadata"
	ArtifactDotenv   = "dotenv"
	ArtifactJUnit    = "junit"
	ArtifactTrace    = "trace"
)

// Artifact formats (GitLab's artifact_format).
const (
	FormatZip  = "zip"
	FormatGzip = "gzip"
	FormatRaw  = "raw"
)

// Artifact is the metadata of a job's uploaded file; its contents are a blob in
// ArtifactBlobs under BlobKey.
type Artifact struct {
	ID        int64
	JobID     int64
	ProjectID int64
	FileType  string // ArtifactArchive, ArtifactDotenv, ArtifactJUnit, ...
	Format    string // FormatZip, FormatGzip or FormatRaw
	Filename  string
	Size      int64
	SHA256    string // hex
	BlobKey   string
	ExpireAt  time.Time // zero: kept forever
	CreatedAt time.Time
}

// Artifacts keeps artifact metadata. A job has at most one artifact per file type.
type Artifacts interface {
	// CreateArtifact inserts a and sets a.ID, a.ProjectID (the job's) and a.CreatedAt.
	// Store the blob first (ArtifactBlobs.Put), so a row never points at nothing.
	// ErrNotFound for a missing job; ErrConflict when the job already has an artifact
	// of that file type; ErrInvalid for empty fields or a negative size.
	CreateArtifact(ctx context.Context, a *Artifact) error
	// Artifact returns the artifact with id, or ErrNotFound.
	Artifact(ctx context.Context, id int64) (*Artifact, error)
	// ListArtifacts returns a job's artifacts by file type.
	ListArtifacts(ctx context.Context, jobID int64) ([]Artifact, error)
	// ArtifactsOfJobs returns the artifacts of several jobs (a page of a job list) in
	// one call: each job's by file type, keyed by job id; jobs without artifacts are
	// not in the map. At most MaxPageLimit ids; ErrInvalid beyond.
	ArtifactsOfJobs(ctx context.Context, jobIDs []int64) (map[int64][]Artifact, error)
	// ExpiredArtifacts returns up to limit artifacts whose ExpireAt is set and not
	// after before, oldest expiry first.
	ExpiredArtifacts(ctx context.Context, before time.Time, limit int) ([]Artifact, error)
	// DeleteArtifact deletes the row (delete its blob afterwards). ErrNotFound.
	DeleteArtifact(ctx context.Context, id int64) error
}

// BlobInfo describes a stored blob.
type BlobInfo struct {
	Size   int64
	SHA256 string // hex
}

// ArtifactBlobs keeps artifact contents by key. Keys are slash-separated relative
// paths of segments of [A-Za-z0-9._-] starting with a letter or digit (CheckBlobKey),
// chosen by the caller,
// e.g. "projects/7/jobs/42/archive.zip". Implementations are safe for concurrent use;
// a filesystem one is store/blobfs, another (S3) may be added.
type ArtifactBlobs interface {
	// Put stores r's contents under key, replacing any blob there, and returns its
	// size and SHA-256. It is durable when Put returns nil, and atomic: a reader sees
	// the old blob or the whole new one, never a part. When want.Size ≥ 0 or
	// want.SHA256 is set and the contents differ, or more than the store's size limit
	// arrives, nothing is stored and the error wraps ErrInvalid.
	Put(ctx context.Context, key string, r io.Reader, want Expect) (BlobInfo, error)
	// Open returns the blob under key and its size. The caller closes it.
	// ErrNotFound.
	Open(ctx context.Context, key string) (io.ReadSeekCloser, int64, error)
	// Delete removes the blob under key; a missing blob is not an error.
	Delete(ctx context.Context, key string) error
}

// Expect is what Put should find in a blob: Size < 0 or SHA256 "" checks nothing.
type Expect struct {
	Size   int64
	SHA256 string // hex, case-insensitive
}

// AnySize is an Expect that checks nothing.
var AnySize = Expect{Size: -1}

var blobSegment = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// CheckBlobKey returns an error wrapping ErrInvalid unless key is a valid blob key:
// at most 1024 bytes of slash-separated segments, each of [A-Za-z0-9._-] starting
// with a letter or digit.
func CheckBlobKey(key string) error {
	if key == "" || len(key) > 1024 {
		return fmt.Errorf("blob key %q: %w: want 1 to 1024 bytes", key, ErrInvalid)
	}
	for _, seg := range strings.Split(key, "/") {
		if !blobSegment.MatchString(seg) {
			return fmt.Errorf("blob key %q: %w: segment %q must be letters, digits, '.', '_' or '-', starting with a letter or digit",
				key, ErrInvalid, seg)
		}
	}
	return nil
}
