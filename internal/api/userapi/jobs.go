package userapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kiln-ci/kiln/internal/api/auth"
	"github.com/kiln-ci/kiln/internal/api/reply"
	"github.com/kiln-ci/kiln/internal/coordinator"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/store"
)

// listProjectJobs is GET /projects/:id/jobs, newest first (filters: scope[],
// include_retried).
func (h *Handler) listProjectJobs(w http.ResponseWriter, r *http.Request) {
	p, ok := h.project(w, r, auth.ReadAccess)
	if !ok {
		return
	}
	h.listJobs(w, r, p, store.JobQuery{ProjectID: p.ID, Newest: true})
}

func (h *Handler) listJobs(w http.ResponseWriter, r *http.Request, p *store.Project, q store.JobQuery) {
	ps, ok := h.params(w, r)
	if !ok {
		return
	}
	pg, err := readPagination(ps)
	if err == nil {
		q.Statuses, err = readStatuses(ps, "scope")
	}
	if err == nil {
		q.IncludeRetried, err = ps.boolean("include_retried", false)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	q.OmitPayload = true // the list shows no payloads
	jobs, total, err := countedPage(r.Context(), pg, func(ctx context.Context, page store.Page) ([]store.Job, error) {
		q.Page = page
		return h.st.Jobs.ListJobs(ctx, q)
	}, func(ctx context.Context, upTo int) (int, error) {
		return h.st.Jobs.CountJobs(ctx, q, upTo)
	})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out, err := h.jobView(p).jobs(r.Context(), jobs)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.setPageHeaders(w, r, pg, len(out), total)
	reply.JSON(w, http.StatusOK, out)
}

// projectJob resolves {job_id} within the project: 404 "Job Not Found" when it is
// not one of the project's.
func (h *Handler) projectJob(w http.ResponseWriter, r *http.Request, access auth.Access) (*store.Project, *store.Job, bool) {
	p, ok := h.project(w, r, access)
	if !ok {
		return nil, nil, false
	}
	id, ok := pathInt64(w, r, "job_id", "Job")
	if !ok {
		return nil, nil, false
	}
	j, err := h.st.Jobs.Job(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || err == nil && j.ProjectID != p.ID {
		notFound(w, "Job")
		return nil, nil, false
	}
	if err != nil {
		h.fail(w, r, err)
		return nil, nil, false
	}
	return p, j, true
}

// getJob is GET /projects/:id/jobs/:job_id.
func (h *Handler) getJob(w http.ResponseWriter, r *http.Request) {
	if p, j, ok := h.projectJob(w, r, auth.ReadAccess); ok {
		h.replyJob(w, r, http.StatusOK, p, j)
	}
}

func (h *Handler) replyJob(w http.ResponseWriter, r *http.Request, status int, p *store.Project, j *store.Job) {
	e, err := h.jobView(p).job(r.Context(), j)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	reply.JSON(w, status, e)
}

// jobTrace is GET /projects/:id/jobs/:job_id/trace: the log as text/plain, as the
// runner sent it (masked by the runner). Kiln honours "Range: bytes=N-" (206 with
// the rest of the log, 416 when nothing is past N) so that a client can follow a
// running job, and sets Job-Status to the job's status.
func (h *Handler) jobTrace(w http.ResponseWriter, r *http.Request) {
	_, j, ok := h.projectJob(w, r, auth.ReadAccess)
	if !ok {
		return
	}
	from, ranged, err := traceRange(r.Header.Get("Range"))
	if err != nil {
		reply.Text(w, http.StatusRequestedRangeNotSatisfiable, "416 Range Not Satisfiable - "+err.Error())
		return
	}
	data, err := h.st.Traces.ReadTrace(r.Context(), j.ID, from)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		h.fail(w, r, err)
		return
	}
	w.Header().Set(protocol.HeaderJobStatus, string(j.Status))
	w.Header().Set("Accept-Ranges", "bytes")
	if ranged && len(data) == 0 {
		size := from
		if info, err := h.st.Traces.TraceInfo(r.Context(), j.ID); err == nil {
			size = info.Size
		}
		w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", size))
		w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	status := http.StatusOK
	if ranged {
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", from, from+int64(len(data))-1, from+int64(len(data))))
		status = http.StatusPartialContent
	}
	w.WriteHeader(status)
	w.Write(data)
}

// traceRange reads "bytes=N-" (the only form a log's growing end allows).
func traceRange(h string) (from int64, ranged bool, err error) {
	if h == "" {
		return 0, false, nil
	}
	spec, ok := strings.CutPrefix(h, "bytes=")
	start, rest, ok2 := strings.Cut(spec, "-")
	if !ok || !ok2 || rest != "" {
		return 0, false, errors.New(`want "Range: bytes=N-"`)
	}
	from, err = strconv.ParseInt(start, 10, 64)
	if err != nil || from < 0 {
		return 0, false, errors.New(`want "Range: bytes=N-" with N ≥ 0`)
	}
	return from, true, nil
}

// jobArtifacts is GET /projects/:id/jobs/:job_id/artifacts: the artifacts archive.
func (h *Handler) jobArtifacts(w http.ResponseWriter, r *http.Request) {
	_, j, ok := h.projectJob(w, r, auth.ReadAccess)
	if !ok {
		return
	}
	rc, a, err := h.svc.OpenArtifact(r.Context(), j.ID, store.ArtifactArchive)
	if coordinator.KindOf(err) == coordinator.KindNotFound {
		notFound(w, "Artifacts")
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer rc.Close()
	ct := "application/octet-stream"
	switch a.Format {
	case store.FormatZip:
		ct = "application/zip"
	case store.FormatGzip:
		ct = "application/gzip"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", a.Filename))
	http.ServeContent(w, r, "", a.CreatedAt.Truncate(time.Second), rc)
}

// cancelJob is POST .../jobs/:job_id/cancel: 201 with the job (canceling while its
// runner stops it). A finished job is left as it is, as GitLab does.
func (h *Handler) cancelJob(w http.ResponseWriter, r *http.Request) {
	p, j, ok := h.projectJob(w, r, auth.WriteAccess)
	if !ok {
		return
	}
	out, err := h.svc.CancelJob(r.Context(), j.ID)
	switch {
	case coordinator.KindOf(err) == coordinator.KindConflict:
		out = j
	case err != nil:
		h.fail(w, r, err)
		return
	}
	h.log.Info("job cancel requested", "job", j.ID, "status", out.Status, "by", caller(r).Username)
	h.replyJob(w, r, http.StatusCreated, p, out)
}

// retryJob is POST .../jobs/:job_id/retry: 201 with the new job; 403 "Job is not
// retryable" for an unfinished or already retried job.
func (h *Handler) retryJob(w http.ResponseWriter, r *http.Request) {
	p, j, ok := h.projectJob(w, r, auth.WriteAccess)
	if !ok {
		return
	}
	next, err := h.svc.RetryJob(r.Context(), j.ID)
	if coordinator.KindOf(err) == coordinator.KindConflict {
		forbidden(w, "Job is not retryable")
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.Info("job retried", "job", j.ID, "new_job", next.ID, "by", caller(r).Username)
	h.replyJob(w, r, http.StatusCreated, p, next)
}

// playJob is POST .../jobs/:job_id/play: a manual job (or a delayed one, now) is
// queued. 200 with the job, as GitLab answers; 400 "Unplayable Job" otherwise.
func (h *Handler) playJob(w http.ResponseWriter, r *http.Request) {
	p, j, ok := h.projectJob(w, r, auth.WriteAccess)
	if !ok {
		return
	}
	out, err := h.svc.PlayJob(r.Context(), j.ID)
	if coordinator.KindOf(err) == coordinator.KindConflict {
		reply.Text(w, http.StatusBadRequest, "400 Bad request - Unplayable Job")
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.Info("job played", "job", j.ID, "by", caller(r).Username)
	h.replyJob(w, r, http.StatusOK, p, out)
}
