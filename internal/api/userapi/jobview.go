package userapi

import (
	"context"
	"errors"
	"fmt"

	"github.com/kiln-ci/kiln/internal/api/entity"
	"github.com/kiln-ci/kiln/internal/store"
)

// jobView presents the jobs of one project, reading each pipeline, user and runner
// they refer to once per request, and a list's artifacts in one call.
type jobView struct {
	h         *Handler
	project   *store.Project
	pipelines map[int64]*store.Pipeline
	users     map[int64]*store.User
	runners   map[int64]*store.Runner
	// artifacts holds the artifacts of the jobs a list shows (nil: read per job).
	artifacts map[int64][]store.Artifact
}

func (h *Handler) jobView(p *store.Project) *jobView {
	return &jobView{h: h, project: p, pipelines: map[int64]*store.Pipeline{}, users: map[int64]*store.User{},
		runners: map[int64]*store.Runner{}}
}

func (v *jobView) pipeline(ctx context.Context, id int64) (*store.Pipeline, error) {
	if pl, ok := v.pipelines[id]; ok {
		return pl, nil
	}
	pl, err := v.h.st.Pipelines.Pipeline(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("reading pipeline %d: %w", id, err)
	}
	v.pipelines[id] = pl
	return pl, nil
}

// user returns a user, or nil for 0 or a user that is gone.
func (v *jobView) user(ctx context.Context, id int64) (*store.User, error) {
	if id == 0 {
		return nil, nil
	}
	if u, ok := v.users[id]; ok {
		return u, nil
	}
	u, err := v.h.st.Users.User(ctx, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("reading user %d: %w", id, err)
	}
	v.users[id] = u
	return u, nil
}

// runner returns a runner, or nil for 0 or a runner deleted since.
func (v *jobView) runner(ctx context.Context, id int64) (*store.Runner, error) {
	if id == 0 {
		return nil, nil
	}
	if r, ok := v.runners[id]; ok {
		return r, nil
	}
	r, err := v.h.st.Runners.Runner(ctx, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("reading runner %d: %w", id, err)
	}
	v.runners[id] = r
	return r, nil
}

// job is GitLab's Ci::Job of j.
func (v *jobView) job(ctx context.Context, j *store.Job) (entity.Job, error) {
	pl, err := v.pipeline(ctx, j.PipelineID)
	if err != nil {
		return entity.Job{}, err
	}
	out := entity.Job{
		ID: j.ID, Status: string(j.Status), Stage: j.Stage, Name: j.Name, Ref: pl.Ref, Tag: pl.Tag,
		Coverage: j.Coverage, AllowFailure: j.AllowFailure, CreatedAt: j.CreatedAt, StartedAt: optTime(j.StartedAt),
		FinishedAt: optTime(j.FinishedAt), Duration: seconds(j.Duration()),
		Commit:   entity.Commit{ID: pl.SHA, ShortID: shortSHA(pl.SHA)},
		Pipeline: v.h.pipelineBasic(pl, v.project), WebURL: v.h.webURL(v.project.FullPath, "-", "jobs", fmt.Sprint(j.ID)),
		Artifacts: []entity.JobArtifact{}, TagList: j.Tags, When: j.When, ScheduledAt: optTime(j.ScheduledAt),
		Attempt: j.Attempt, MachineType: j.MachineType, GPUCount: j.GPUCount, KilnMessage: j.KilnMessage,
		GPUTelemetry: j.GPUTelemetry,
	}
	if out.TagList == nil {
		out.TagList = []string{}
	}
	if j.Status == store.StatusFailed {
		out.FailureReason = j.FailureReason
	}
	if !j.StartedAt.IsZero() && !j.QueuedAt.IsZero() {
		out.QueuedDuration = seconds(j.StartedAt.Sub(j.QueuedAt))
	}
	if u, err := v.user(ctx, pl.UserID); err != nil {
		return entity.Job{}, err
	} else if u != nil {
		ub := v.h.userBasic(u)
		out.User = &ub
	}
	if r, err := v.runner(ctx, j.RunnerID); err != nil {
		return entity.Job{}, err
	} else if r != nil {
		rb := v.h.runner(r, v.h.now())
		out.Runner = &rb
	}
	arts := v.artifacts[j.ID]
	if v.artifacts == nil {
		if arts, err = v.h.st.Artifacts.ListArtifacts(ctx, j.ID); err != nil {
			return entity.Job{}, fmt.Errorf("listing the artifacts of job %d: %w", j.ID, err)
		}
	}
	for _, a := range arts {
		out.Artifacts = append(out.Artifacts, entity.JobArtifact{FileType: a.FileType, Size: a.Size, Filename: a.Filename,
			FileFormat: a.Format, ExpireAt: optTime(a.ExpireAt)})
		if a.FileType == store.ArtifactArchive {
			out.ArtifactsFile = &entity.ArtifactsFile{Filename: a.Filename, Size: a.Size}
			out.ArtifactsExpireAt = optTime(a.ExpireAt)
		}
	}
	return out, nil
}

// jobs presents a list of jobs.
func (v *jobView) jobs(ctx context.Context, jobs []store.Job) ([]entity.Job, error) {
	ids := make([]int64, len(jobs))
	for i := range jobs {
		ids[i] = jobs[i].ID
	}
	var err error
	if v.artifacts, err = v.h.st.Artifacts.ArtifactsOfJobs(ctx, ids); err != nil {
		return nil, fmt.Errorf("listing the artifacts of %d jobs: %w", len(ids), err)
	}
	out := make([]entity.Job, 0, len(jobs))
	for i := range jobs {
		e, err := v.job(ctx, &jobs[i])
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

func shortSHA(sha string) string {
	if len(sha) > 8 {
		return sha[:8]
	}
	return sha
}
