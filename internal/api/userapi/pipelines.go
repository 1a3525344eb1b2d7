package userapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/kiln-ci/kiln/internal/api/auth"
	"github.com/kiln-ci/kiln/internal/api/entity"
	"github.com/kiln-ci/kiln/internal/api/reply"
	"github.com/kiln-ci/kiln/internal/coordinator"
	"github.com/kiln-ci/kiln/internal/store"
)

// readStatuses reads a status filter: one status (status=) or several (scope[]=).
func readStatuses(p params, name string) ([]store.Status, error) {
	names, err := p.list(name)
	if err != nil {
		return nil, err
	}
	out := make([]store.Status, 0, len(names))
	for _, n := range names {
		s := store.Status(n)
		if !s.Valid() {
			return nil, badValue(name)
		}
		out = append(out, s)
	}
	return out, nil
}

// unsupported refuses GitLab filters Kiln does not apply, rather than answering as
// if they had been applied.
func unsupported(p params, names ...string) error {
	for _, n := range names {
		if p.has(n) {
			return &paramError{n + " is not supported by Kiln"}
		}
	}
	return nil
}

// pipelineScopes are GitLab's scope filter of pipelines that Kiln applies.
var pipelineScopes = map[string][]store.Status{
	"running":  {store.StatusRunning},
	"pending":  {store.StatusPending},
	"finished": {store.StatusSuccess, store.StatusFailed, store.StatusCanceled, store.StatusSkipped},
}

// createPipeline is POST /projects/:id/pipeline?ref=: ref required, variables a list
// of {key, value, variable_type}. 201 with the pipeline; an invalid configuration,
// an unknown ref or a configuration that makes no pipeline is 400 {"message":
// {"base": ["..."]}} and creates nothing.
func (h *Handler) createPipeline(w http.ResponseWriter, r *http.Request) {
	p, ok := h.project(w, r, auth.WriteAccess)
	if !ok {
		return
	}
	ps, ok := h.params(w, r)
	if !ok {
		return
	}
	ref, err := ps.required("ref")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	vars, err := readPipelineVariables(ps)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	me := caller(r)
	pl, err := h.svc.CreatePipeline(r.Context(), coordinator.CreatePipelineRequest{
		ProjectID: p.ID, Ref: ref, Source: store.SourceAPI, UserID: me.ID, Variables: vars})
	if coordinator.KindOf(err) == coordinator.KindInvalid {
		h.fail(w, r, baseErr(strings.Split(messageOf(err), "\n")...))
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	reply.JSON(w, http.StatusCreated, h.pipeline(pl, p, me))
}

// messageOf is the message a coordinator error shows.
func messageOf(err error) string {
	var ce *coordinator.Error
	if errors.As(err, &ce) && ce.Message != "" {
		return ce.Message
	}
	return err.Error()
}

func readPipelineVariables(p params) ([]store.PipelineVariable, error) {
	objs, err := p.objects("variables")
	if err != nil {
		return nil, err
	}
	out := make([]store.PipelineVariable, 0, len(objs))
	for i, o := range objs {
		field := func(f string) string { return fmt.Sprintf("variables[%d][%s]", i, f) }
		v := params(o)
		key, err := v.required("key")
		if err != nil {
			return nil, missing(field("key"))
		}
		value, err := v.str("value")
		if err != nil {
			return nil, invalid(field("value"))
		}
		typ, err := v.oneOf("variable_type", store.VariableEnv, store.VariableEnv, store.VariableFile)
		if err != nil {
			return nil, badValue(field("variable_type"))
		}
		if !store.ValidVariableKey(key) {
			return nil, &paramError{field("key") + " can contain only letters, digits and '_'"}
		}
		out = append(out, store.PipelineVariable{Key: key, Value: value, VariableType: typ})
	}
	return out, nil
}

// listPipelines is GET /projects/:id/pipelines, newest first (filters: status,
// scope running/pending/finished, ref, sha).
func (h *Handler) listPipelines(w http.ResponseWriter, r *http.Request) {
	p, ok := h.project(w, r, auth.ReadAccess)
	if !ok {
		return
	}
	ps, ok := h.params(w, r)
	if !ok {
		return
	}
	q := store.PipelineQuery{ProjectID: p.ID}
	pg, err := readPagination(ps)
	if err == nil {
		err = unsupported(ps, "source", "username", "updated_after", "updated_before", "name", "yaml_errors", "created_after", "created_before")
	}
	if err == nil {
		q.Statuses, err = readStatuses(ps, "status")
	}
	if err == nil {
		var scope string
		if scope, err = ps.str("scope"); err == nil && scope != "" {
			if q.Statuses = pipelineScopes[scope]; q.Statuses == nil {
				err = badValueWhy("scope", "Kiln filters by running, pending or finished")
			}
		}
	}
	if err == nil {
		if q.Ref, err = ps.str("ref"); err == nil {
			q.SHA, err = ps.str("sha")
		}
	}
	if err == nil {
		_, err = ps.oneOf("order_by", "id", "id")
	}
	if err == nil {
		_, err = ps.oneOf("sort", "desc", "desc")
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	pipelines, total, err := countedPage(r.Context(), pg, func(ctx context.Context, page store.Page) ([]store.Pipeline, error) {
		q.Page = page
		return h.st.Pipelines.ListPipelines(ctx, q)
	}, func(ctx context.Context, upTo int) (int, error) {
		return h.st.Pipelines.CountPipelines(ctx, q, upTo)
	})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]entity.PipelineBasic, 0, len(pipelines))
	for i := range pipelines {
		out = append(out, h.pipelineBasic(&pipelines[i], p))
	}
	h.setPageHeaders(w, r, pg, len(out), total)
	reply.JSON(w, http.StatusOK, out)
}

// projectPipeline resolves {pipeline_id} within the project: 404 "Pipeline Not
// Found" when it is not one of the project's.
func (h *Handler) projectPipeline(w http.ResponseWriter, r *http.Request, p *store.Project) (*store.Pipeline, bool) {
	id, ok := pathInt64(w, r, "pipeline_id", "Pipeline")
	if !ok {
		return nil, false
	}
	pl, err := h.st.Pipelines.Pipeline(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || err == nil && pl.ProjectID != p.ID {
		notFound(w, "Pipeline")
		return nil, false
	}
	if err != nil {
		h.fail(w, r, err)
		return nil, false
	}
	return pl, true
}

// getPipeline is GET /projects/:id/pipelines/:pipeline_id.
func (h *Handler) getPipeline(w http.ResponseWriter, r *http.Request) {
	p, ok := h.project(w, r, auth.ReadAccess)
	if !ok {
		return
	}
	pl, ok := h.projectPipeline(w, r, p)
	if !ok {
		return
	}
	h.replyPipeline(w, r, http.StatusOK, pl, p)
}

func (h *Handler) replyPipeline(w http.ResponseWriter, r *http.Request, status int, pl *store.Pipeline, p *store.Project) {
	u, err := h.jobView(p).user(r.Context(), pl.UserID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	reply.JSON(w, status, h.pipeline(pl, p, u))
}

// listPipelineJobs is GET /projects/:id/pipelines/:pipeline_id/jobs (filters:
// scope[], include_retried), in the order they were created.
func (h *Handler) listPipelineJobs(w http.ResponseWriter, r *http.Request) {
	p, ok := h.project(w, r, auth.ReadAccess)
	if !ok {
		return
	}
	pl, ok := h.projectPipeline(w, r, p)
	if !ok {
		return
	}
	h.listJobs(w, r, p, store.JobQuery{PipelineID: pl.ID})
}

// pipelineVariables is GET /projects/:id/pipelines/:pipeline_id/variables: the
// variables given when it was created (for those who may write to the project).
func (h *Handler) pipelineVariables(w http.ResponseWriter, r *http.Request) {
	p, ok := h.project(w, r, auth.WriteAccess)
	if !ok {
		return
	}
	pl, ok := h.projectPipeline(w, r, p)
	if !ok {
		return
	}
	out := make([]entity.PipelineVariable, 0, len(pl.Variables))
	for _, v := range pl.Variables {
		out = append(out, entity.PipelineVariable{Key: v.Key, Value: v.Value, VariableType: orDefault(v.VariableType, store.VariableEnv)})
	}
	reply.JSON(w, http.StatusOK, out)
}

// cancelPipeline is POST .../pipelines/:pipeline_id/cancel: every unfinished job is
// canceled (running ones once their runner hears). 201 with the pipeline.
func (h *Handler) cancelPipeline(w http.ResponseWriter, r *http.Request) {
	h.pipelineAction(w, r, h.svc.CancelPipeline)
}

// retryPipeline is POST .../pipelines/:pipeline_id/retry: failed and canceled jobs
// run again. 201 with the pipeline (unchanged when nothing needed a retry, as in
// GitLab).
func (h *Handler) retryPipeline(w http.ResponseWriter, r *http.Request) {
	h.pipelineAction(w, r, h.svc.RetryPipeline)
}

func (h *Handler) pipelineAction(w http.ResponseWriter, r *http.Request, act func(context.Context, int64) (*store.Pipeline, error)) {
	p, ok := h.project(w, r, auth.WriteAccess)
	if !ok {
		return
	}
	pl, ok := h.projectPipeline(w, r, p)
	if !ok {
		return
	}
	done, err := act(r.Context(), pl.ID)
	switch {
	case coordinator.KindOf(err) == coordinator.KindConflict:
		done = pl
	case err != nil:
		h.fail(w, r, err)
		return
	}
	h.log.Info("pipeline action", "path", r.URL.Path, "pipeline", pl.ID, "status", done.Status, "by", caller(r).Username)
	h.replyPipeline(w, r, http.StatusCreated, done, p)
}
