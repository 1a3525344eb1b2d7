package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/kiln-ci/kiln/internal/store"
)

type artifacts struct{ *db }

const artifactCols = `id, job_id, project_id, file_type, format, filename, size, sha256, blob_key, expire_at, created_at`

func scanArtifact(s scanner) (*store.Artifact, error) {
	var a store.Artifact
	err := s.Scan(&a.ID, &a.JobID, &a.ProjectID, &a.FileType, &a.Format, &a.Filename, &a.Size, &a.SHA256, &a.BlobKey,
		timeCol{&a.ExpireAt}, timeCol{&a.CreatedAt})
	return &a, err
}

func (s artifacts) CreateArtifact(ctx context.Context, a *store.Artifact) error {
	for _, f := range []struct{ name, v string }{{"file type", a.FileType}, {"format", a.Format}, {"filename", a.Filename},
		{"blob key", a.BlobKey}, {"sha256", a.SHA256}} {
		if err := checkNotEmpty(f.name, f.v); err != nil {
			return fmt.Errorf("creating an artifact of job %d: %w", a.JobID, err)
		}
	}
	if a.Size < 0 {
		return fmt.Errorf("creating an artifact of job %d: size %d: %w: negative", a.JobID, a.Size, store.ErrInvalid)
	}
	now := s.now()
	err := s.w.QueryRowContext(ctx, `INSERT INTO artifacts (job_id, project_id, file_type, format, filename, size, sha256, blob_key,
			expire_at, created_at)
		SELECT id, project_id, $1, $2, $3, $4, $5, $6, $7, $8 FROM jobs WHERE id = $9 RETURNING id, project_id`,
		a.FileType, a.Format, a.Filename, a.Size, a.SHA256, a.BlobKey, timeArg(a.ExpireAt), now, a.JobID).Scan(&a.ID, &a.ProjectID)
	if err != nil {
		return fmt.Errorf("creating the %s artifact of job %d: %w", a.FileType, a.JobID, s.classify(err))
	}
	a.CreatedAt = now
	return nil
}

func (s artifacts) Artifact(ctx context.Context, id int64) (*store.Artifact, error) {
	a, err := scanArtifact(s.r.QueryRowContext(ctx, `SELECT `+artifactCols+` FROM artifacts WHERE id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("artifact %d: %w", id, s.classify(err))
	}
	return a, nil
}

func (s artifacts) ArtifactsOfJobs(ctx context.Context, jobIDs []int64) (map[int64][]store.Artifact, error) {
	if len(jobIDs) > store.MaxPageLimit {
		return nil, fmt.Errorf("listing the artifacts of %d jobs: %w: at most %d at once", len(jobIDs), store.ErrInvalid, store.MaxPageLimit)
	}
	out := map[int64][]store.Artifact{}
	if len(jobIDs) == 0 {
		return out, nil
	}
	var a args
	rows, err := s.r.QueryContext(ctx, `SELECT `+artifactCols+` FROM artifacts WHERE job_id IN (`+list(&a, jobIDs)+`)
		ORDER BY job_id, file_type`, a...)
	if err != nil {
		return nil, fmt.Errorf("listing the artifacts of %d jobs: %w", len(jobIDs), err)
	}
	all, err := collect(rows, scanArtifact)
	if err != nil {
		return nil, fmt.Errorf("listing the artifacts of %d jobs: %w", len(jobIDs), err)
	}
	for _, art := range all {
		out[art.JobID] = append(out[art.JobID], art)
	}
	return out, nil
}

func (s artifacts) ListArtifacts(ctx context.Context, jobID int64) ([]store.Artifact, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+artifactCols+` FROM artifacts WHERE job_id = $1 ORDER BY file_type`, jobID)
	if err != nil {
		return nil, fmt.Errorf("listing artifacts of job %d: %w", jobID, err)
	}
	out, err := collect(rows, scanArtifact)
	if err != nil {
		return nil, fmt.Errorf("listing artifacts of job %d: %w", jobID, err)
	}
	return out, nil
}

func (s artifacts) ExpiredArtifacts(ctx context.Context, before time.Time, limit int) ([]store.Artifact, error) {
	if limit <= 0 || limit > store.MaxPageLimit {
		limit = store.MaxPageLimit
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+artifactCols+` FROM artifacts WHERE expire_at IS NOT NULL AND expire_at <= $1
		ORDER BY expire_at, id LIMIT $2`, before.UTC(), limit)
	if err != nil {
		return nil, fmt.Errorf("listing expired artifacts: %w", err)
	}
	out, err := collect(rows, scanArtifact)
	if err != nil {
		return nil, fmt.Errorf("listing expired artifacts: %w", err)
	}
	return out, nil
}

func (s artifacts) DeleteArtifact(ctx context.Context, id int64) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM artifacts WHERE id = $1`, id)
	if err := affected(res, err, s.db); err != nil {
		return fmt.Errorf("deleting artifact %d: %w", id, err)
	}
	return nil
}
