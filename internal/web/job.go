package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"strconv"
	"time"

	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/store"
)

type jobData struct {
	Project   *store.Project
	Pipeline  *store.Pipeline
	Job       *store.Job
	Runner    *store.Runner // nil when none took it (or it was deleted)
	Newer     *store.Job    // the attempt that replaced this one
	Artifacts []store.Artifact
	Telemetry []protocol.GPUTelemetry
	Duration  time.Duration
	Queued    time.Duration
	CanWrite  bool
	Log       logView
}

// sizeHint is about how large the page is: mostly its log.
func (d jobData) sizeHint() int { return len(d.Log.HTML) }

// logView is the log panel: its first render and what follow mode needs.
type logView struct {
	HTML      template.HTML
	Size      int64 // bytes of log stored
	Truncated bool  // the page shows only the last part
	Offset    int64 // where the next poll starts
	State     string
	Follow    bool // the job is unfinished: poll for more
	PollMS    int64
	TraceURL  string
	RawURL    string
}

// job loads a job of a project; one of another project is not found.
func (h *Handler) job(w http.ResponseWriter, r *http.Request, p *store.Project, id int64) (*store.Job, bool) {
	j, err := h.st.Jobs.Job(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && j.ProjectID != p.ID) {
		h.notFound(w, r)
		return nil, false
	}
	if err != nil {
		h.serverError(w, r, err)
		return nil, false
	}
	return j, true
}

// jobPage shows a job: its status and facts, its failure, GPU telemetry, artifacts
// and log.
func (h *Handler) jobPage(w http.ResponseWriter, r *http.Request, full string, id int64) {
	p, access, ok := h.projectAccess(w, r, full)
	if !ok {
		return
	}
	j, ok := h.job(w, r, p, id)
	if !ok {
		return
	}
	ctx := r.Context()
	pl, err := h.st.Pipelines.Pipeline(ctx, j.PipelineID)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	data := jobData{Project: p, Pipeline: pl, Job: j, Duration: j.Duration(), CanWrite: canWrite(r, access)}
	switch {
	case !j.StartedAt.IsZero() && !j.QueuedAt.IsZero():
		data.Queued = j.StartedAt.Sub(j.QueuedAt)
	case j.Status == store.StatusPending && !j.QueuedAt.IsZero():
		data.Queued = h.now().Sub(j.QueuedAt)
	}
	if j.Status == store.StatusRunning || j.Status == store.StatusCanceling {
		data.Duration = h.now().Sub(j.StartedAt)
	}
	if j.RunnerID != 0 {
		if data.Runner, err = h.st.Runners.Runner(ctx, j.RunnerID); err != nil && !errors.Is(err, store.ErrNotFound) {
			h.serverError(w, r, err)
			return
		}
	}
	if j.Retried {
		attempts, err := h.st.Jobs.ListJobs(ctx, store.JobQuery{PipelineID: j.PipelineID, Page: store.Page{Limit: store.MaxPageLimit}})
		if err != nil {
			h.serverError(w, r, err)
			return
		}
		for i := range attempts {
			if attempts[i].Name == j.Name {
				data.Newer = &attempts[i]
			}
		}
	}
	if data.Artifacts, err = h.st.Artifacts.ListArtifacts(ctx, j.ID); err != nil {
		h.serverError(w, r, err)
		return
	}
	if len(j.GPUTelemetry) > 0 {
		if err := json.Unmarshal(j.GPUTelemetry, &data.Telemetry); err != nil {
			h.log.Warn("a job's GPU telemetry does not parse", "job", j.ID, "error", err)
		}
	}
	if data.Log, err = h.firstLog(r, p, j); err != nil {
		h.serverError(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "job", j.Name+" (#"+strconv.FormatInt(j.ID, 10)+") · "+p.FullPath, data)
}

// firstLog renders the log a job page opens with: all of it, or its last
// MaxLogBytes from a line start.
func (h *Handler) firstLog(r *http.Request, p *store.Project, j *store.Job) (logView, error) {
	base := "/" + p.FullPath + "/-/jobs/" + strconv.FormatInt(j.ID, 10)
	v := logView{Follow: !j.Status.Finished(), PollMS: h.cfg.PollInterval.Milliseconds(),
		TraceURL: base + "/trace.json", RawURL: base + "/raw"}
	html, consumed, st, start, size, err := h.renderTail(r, j)
	if err != nil {
		return v, err
	}
	v.HTML, v.Size, v.Truncated, v.Offset, v.State = html, size, start > 0, start+consumed, st
	return v, nil
}

// renderTail renders a job's log from the start, or from the first line start in its
// last MaxLogBytes. It returns the HTML, the bytes rendered, the state to continue
// from, where it started and the log's size.
func (h *Handler) renderTail(r *http.Request, j *store.Job) (template.HTML, int64, string, int64, int64, error) {
	ctx := r.Context()
	info, err := h.st.Traces.TraceInfo(ctx, j.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", 0, "", 0, 0, err
	}
	start := max(info.Size-h.cfg.MaxLogBytes, 0)
	data, err := h.st.Traces.ReadTrace(ctx, j.ID, start)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", 0, "", 0, 0, err
	}
	if nl := bytes.IndexByte(data, '\n'); start > 0 && nl >= 0 {
		data, start = data[nl+1:], start+int64(nl)+1 // start at a line
	}
	html, consumed, st, err := renderLog(data, "", j.Status.Finished())
	if err != nil {
		return "", 0, "", 0, 0, err
	}
	return html, int64(consumed), st, start, start + int64(len(data)), nil
}
