package runnerapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

// requestJob is POST /jobs/request: 201 with the job as JSON, or 204 with
// X-GitLab-Last-Update when none came within the long poll. As in GitLab the 201 has
// no X-GitLab-Last-Update, so a runner that got a job asks again without one and
// claims at once (more jobs may be waiting). 403 only for a bad token, never for a
// transient condition.
func (h *Handler) requestJob(w http.ResponseWriter, r *http.Request) {
	var req protocol.JobRequest
	if !h.decode(w, r, &req) {
		return
	}
	runner, err := h.svc.AuthenticateRunner(r.Context(), runnerToken(r, req.Token))
	if err != nil {
		reply.Error(w, r, h.log, err)
		return
	}
	job, lastUpdate, err := h.svc.RequestJob(r.Context(), runner, coordinator.JobRequest{
		Contact:    coordinator.Contact{SystemID: req.SystemID, Info: req.Info, IP: clientIP(r)},
		LastUpdate: req.LastUpdate,
	})
	if err != nil {
		reply.Error(w, r, h.log, err)
		return
	}
	if job == nil {
		if lastUpdate != "" {
			w.Header().Set(protocol.HeaderLastUpdate, lastUpdate)
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	body, err := json.Marshal(job)
	if err != nil {
		h.svc.Unclaim(context.WithoutCancel(r.Context()), job.ID)
		reply.Error(w, r, h.log, fmt.Errorf("encoding job %d: %w", job.ID, err))
		return
	}
	if r.Context().Err() != nil {
		h.svc.Unclaim(context.WithoutCancel(r.Context()), job.ID)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	if _, err := w.Write(body); err != nil {
		h.svc.Unclaim(context.WithoutCancel(r.Context()), job.ID)
	}
}

// jobFor authenticates the job token of a request about job {id}: 403 when the token
// is missing or belongs to no running job (finished jobs' tokens are revoked), or to
// another job.
func (h *Handler) jobFor(w http.ResponseWriter, r *http.Request, bodyToken string) (*store.Job, bool) {
	id, ok := pathID(w, r)
	if !ok {
		return nil, false
	}
	token := auth.JobToken(r)
	if token == "" {
		token = bodyToken
	}
	job, err := h.svc.AuthenticateJob(r.Context(), token)
	if err != nil {
		if coordinator.KindOf(err) == coordinator.KindUnauthorized {
			err = &coordinator.Error{Kind: coordinator.KindForbidden, Message: "403 Forbidden - job token missing"}
		}
		reply.Error(w, r, h.log, err)
		return nil, false
	}
	if job.ID != id {
		reply.Text(w, http.StatusForbidden, fmt.Sprintf("403 Forbidden - the job token is not job %d's", id))
		return nil, false
	}
	return job, true
}

// updateJob is PUT /jobs/:id. It answers 200 with Job-Status (canceling asks the
// runner to stop, canceled or failed to abort) and X-GitLab-Trace-Update-Interval, or
// 412 when the trace does not match the runner's checksum (the stored trace is then
// emptied so that the runner's resend from offset 0 is accepted).
func (h *Handler) updateJob(w http.ResponseWriter, r *http.Request) {
	var req protocol.UpdateJobRequest
	if !h.decode(w, r, &req) {
		return
	}
	job, ok := h.jobFor(w, r, req.Token)
	if !ok {
		return
	}
	checksum := req.Output.Checksum
	if checksum == "" {
		checksum = req.Checksum
	}
	res, err := h.svc.UpdateJob(r.Context(), job, coordinator.JobUpdate{
		Contact: coordinator.Contact{Info: req.Info, IP: clientIP(r)},
		State:   req.State, FailureReason: req.FailureReason, ExitCode: req.ExitCode,
		Checksum: checksum, Bytesize: req.Output.Bytesize, Kiln: req.Kiln,
	})
	if err != nil {
		reply.Error(w, r, h.log, err)
		return
	}
	h.setJobHeaders(w, res.Status)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if res.TraceMismatch {
		w.WriteHeader(http.StatusPreconditionFailed)
		io.WriteString(w, "412")
		return
	}
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, "200")
}

// parseContentRange reads gitlab-runner's Content-Range: "<start>-<end>", inclusive,
// (a "bytes " prefix and a "/<total>" suffix are tolerated).
func parseContentRange(v string) (start, end int64, err error) {
	v = strings.TrimPrefix(strings.TrimSpace(v), "bytes ")
	v, _, _ = strings.Cut(v, "/")
	a, b, ok := strings.Cut(v, "-")
	if !ok {
		return 0, 0, errors.New("want <start>-<end>")
	}
	if start, err = strconv.ParseInt(a, 10, 64); err != nil || start < 0 {
		return 0, 0, errors.New("start is not a byte offset")
	}
	if end, err = strconv.ParseInt(b, 10, 64); err != nil || end < start-1 {
		return 0, 0, errors.New("end is not a byte offset at or after start")
	}
	return start, end, nil
}

// patchTrace is PATCH /jobs/:id/trace. The patch is appended only when it starts
// at the trace's current length: 202 with Range: 0-<new length>, Job-Status and
// X-GitLab-Trace-Update-Interval; otherwise 416 with Range: 0-<length>. 400 without
// a valid Content-Range or when the body's length disagrees with it.
func (h *Handler) patchTrace(w http.ResponseWriter, r *http.Request) {
	job, ok := h.jobFor(w, r, "")
	if !ok {
		return
	}
	cr := r.Header.Get(protocol.HeaderContentRange)
	if cr == "" {
		reply.Text(w, http.StatusBadRequest, "400 Bad request - Missing header Content-Range")
		return
	}
	start, end, err := parseContentRange(cr)
	if err != nil {
		reply.Text(w, http.StatusBadRequest, fmt.Sprintf("400 Bad request - Content-Range %q: %v", cr, err))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxPatch))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		reply.Text(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("413 Request Entity Too Large - a trace patch is limited to %d bytes", h.maxPatch))
		return
	}
	if err != nil {
		reply.Text(w, http.StatusBadRequest, "400 Bad request - reading the body failed")
		return
	}
	if int64(len(body)) != end-start+1 {
		reply.Text(w, http.StatusBadRequest, fmt.Sprintf("400 Bad request - Content-Range %q covers %d bytes but the body has %d", cr, end-start+1, len(body)))
		return
	}
	size, status, err := h.svc.AppendTrace(r.Context(), job, start, body)
	var rangeErr *coordinator.RangeError
	if errors.As(err, &rangeErr) {
		h.setJobHeaders(w, status)
		w.Header().Set(protocol.HeaderRange, fmt.Sprintf("0-%d", rangeErr.Size))
		reply.Text(w, http.StatusRequestedRangeNotSatisfiable, "416 Range Not Satisfiable")
		return
	}
	if err != nil {
		reply.Error(w, r, h.log, err)
		return
	}
	h.setJobHeaders(w, status)
	w.Header().Set(protocol.HeaderRange, fmt.Sprintf("0-%d", size))
	w.WriteHeader(http.StatusAccepted)
}

// uploadArtifacts is POST /jobs/:id/artifacts: the multipart field "file" streamed
// to the artifact store, with artifact_type, artifact_format and expire_in from the
// query. 201; 400 without a file; 413 beyond the size limit.
func (h *Handler) uploadArtifacts(w http.ResponseWriter, r *http.Request) {
	job, ok := h.jobFor(w, r, "")
	if !ok {
		return
	}
	mr, err := r.MultipartReader()
	if err != nil {
		reply.Text(w, http.StatusBadRequest, "400 Bad request - want a multipart/form-data body with a file field")
		return
	}
	q := r.URL.Query()
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			reply.Text(w, http.StatusBadRequest, "400 Bad request - file is missing")
			return
		}
		if err != nil {
			reply.Text(w, http.StatusBadRequest, "400 Bad request - the multipart body is malformed")
			return
		}
		if part.FormName() != "file" {
			part.Close()
			continue
		}
		a, err := h.svc.UploadArtifact(r.Context(), job, coordinator.ArtifactUpload{
			Type: q.Get("artifact_type"), Format: q.Get("artifact_format"), ExpireIn: q.Get("expire_in"),
			Filename: part.FileName(), Body: part,
		})
		part.Close()
		if err != nil {
			reply.Error(w, r, h.log, err)
			return
		}
		reply.JSON(w, http.StatusCreated, map[string]any{
			"id": job.ID, "artifact_type": a.FileType, "artifact_format": a.Format, "filename": a.Filename, "size": a.Size,
		})
		return
	}
}

// contentTypes of artifact formats.
var contentTypes = map[string]string{
	store.FormatZip:  "application/zip",
	store.FormatGzip: "application/gzip",
	store.FormatRaw:  "application/octet-stream",
}

// downloadArtifacts is GET /jobs/:id/artifacts with the JOB-TOKEN of that job or of a
// job depending on it: 200 with the archive as uploaded. 401 without a token, 403 for
// a token that may not read it, 404 when there is no archive.
func (h *Handler) downloadArtifacts(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	requester, err := h.svc.AuthenticateJob(r.Context(), auth.JobToken(r))
	if err != nil {
		reply.Error(w, r, h.log, err)
		return
	}
	rc, a, err := h.svc.OpenJobArtifact(r.Context(), requester, id)
	if err != nil {
		reply.Error(w, r, h.log, err)
		return
	}
	defer rc.Close()
	ct, ok := contentTypes[a.Format]
	if !ok {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", a.Filename))
	http.ServeContent(w, r, "", a.CreatedAt.Truncate(time.Second), rc)
}
