package web

import (
	"errors"
	"net/http"
	"path"
	"strconv"
	"time"

	"github.com/kiln-ci/kiln/internal/coordinator"
	"github.com/kiln-ci/kiln/internal/store"
)

type pipelineData struct {
	Project  *store.Project
	Pipeline *store.Pipeline
	Warnings bool
	User     string
	// Commit is the commit's title and author, when the repository is at hand.
	CommitTitle, CommitAuthor string
	Stages                    []stageView
	Duration, Queued          time.Duration
	CanWrite                  bool
	Cancelable, Retryable     bool
	JobCount                  int
}

// pipeline loads a pipeline of a project; one of another project is not found.
func (h *Handler) pipeline(w http.ResponseWriter, r *http.Request, p *store.Project, id int64) (*store.Pipeline, bool) {
	pl, err := h.st.Pipelines.Pipeline(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && pl.ProjectID != p.ID) {
		h.notFound(w, r)
		return nil, false
	}
	if err != nil {
		h.serverError(w, r, err)
		return nil, false
	}
	return pl, true
}

// pipelinePage shows a pipeline: its header and its graph of stages and jobs.
func (h *Handler) pipelinePage(w http.ResponseWriter, r *http.Request, full string, id int64) {
	p, access, ok := h.projectAccess(w, r, full)
	if !ok {
		return
	}
	pl, ok := h.pipeline(w, r, p, id)
	if !ok {
		return
	}
	ctx := r.Context()
	jobs, err := h.pipelineJobs(ctx, pl.ID)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	names := usernames{h: h}
	data := pipelineData{Project: p, Pipeline: pl, User: names.name(ctx, pl.UserID), Stages: stagesOf(jobs),
		Duration: pl.Duration(), CanWrite: canWrite(r, access), Cancelable: !pl.Status.Finished()}
	if !pl.StartedAt.IsZero() {
		data.Queued = pl.StartedAt.Sub(pl.CreatedAt)
	}
	if pl.Status == store.StatusSuccess {
		_, data.Warnings = coordinator.GroupStatus(jobs)
	}
	for _, s := range data.Stages {
		data.JobCount += len(s.Jobs)
		for _, j := range s.Jobs {
			if j.Status == store.StatusFailed || j.Status == store.StatusCanceled {
				data.Retryable = true
			}
		}
	}
	if h.repos != nil {
		if repo, err := h.repos.Open(p.FullPath); err == nil {
			if c, err := repo.Commit(ctx, pl.SHA); err == nil {
				data.CommitTitle, data.CommitAuthor = c.Title(), c.AuthorName
			} else {
				h.log.Debug("reading a pipeline's commit", "project", p.FullPath, "sha", pl.SHA, "error", err)
			}
		}
	}
	h.render(w, r, http.StatusOK, "pipeline", "Pipeline #"+strconv.FormatInt(pl.ID, 10)+" · "+p.FullPath, data)
}

// pipelineAction cancels or retries a pipeline.
func (h *Handler) pipelineAction(w http.ResponseWriter, r *http.Request, full string, id int64) {
	p, access, ok := h.projectAccess(w, r, full)
	if !ok || !h.checkWrite(w, r, access) {
		return
	}
	if _, ok := h.pipeline(w, r, p, id); !ok {
		return
	}
	var err error
	switch action := path.Base(r.URL.Path); action {
	case "cancel":
		_, err = h.svc.CancelPipeline(r.Context(), id)
	case "retry":
		_, err = h.svc.RetryPipeline(r.Context(), id)
	}
	if err != nil {
		h.serviceError(w, r, err)
		return
	}
	h.log.Info("pipeline action from the web UI", "action", path.Base(r.URL.Path), "pipeline", id, "user", viewer(r).Username)
	http.Redirect(w, r, "/"+p.FullPath+"/-/pipelines/"+strconv.FormatInt(id, 10), http.StatusSeeOther)
}
