package web

import (
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/kiln-ci/kiln/internal/store"
	"github.com/kiln-ci/kiln/internal/web/joblog"
)

// maxPollBytes bounds the log one follow-mode poll renders; the next poll goes on.
const maxPollBytes = 1 << 20

// renderLog renders log bytes from a state token (see joblog).
func renderLog(data []byte, state string, final bool) (template.HTML, int, string, error) {
	st, err := joblog.Decode(state)
	if err != nil {
		return "", 0, "", err
	}
	var b strings.Builder // its String does not copy
	b.Grow(len(data)*6 + 512)
	n, err := joblog.Render(&b, &st, data, final)
	if err != nil {
		return "", 0, "", err
	}
	// joblog escapes every byte of the log: its output is markup made by Kiln.
	return template.HTML(b.String()), n, st.Encode(), nil
}

// traceReply is GET /<project>/-/jobs/<id>/trace.json: the log rendered from offset.
type traceReply struct {
	// Offset is where the next poll starts; State goes with it.
	Offset int64  `json:"offset"`
	State  string `json:"state"`
	Size   int64  `json:"size"`
	HTML   string `json:"html"`
	// Reset says to replace what is shown with HTML: the log was rewritten (the runner
	// resent it from the start), or the page is more than MaxLogBytes behind and HTML
	// is the log's last part.
	Reset bool `json:"reset,omitempty"`
	// Complete says the job is finished and its whole log was sent: stop polling.
	Complete bool         `json:"complete"`
	Status   store.Status `json:"status"`
}

func jsonError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

// jobTrace answers follow mode's polls: ?offset=N&state=TOKEN, from the last reply.
func (h *Handler) jobTrace(w http.ResponseWriter, r *http.Request, full string, id int64) {
	p, _, ok := h.projectAccess(w, r, full)
	if !ok {
		return
	}
	j, ok := h.job(w, r, p, id)
	if !ok {
		return
	}
	q := r.URL.Query()
	offset := int64(0)
	if s := q.Get("offset"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			jsonError(w, http.StatusBadRequest, "offset must be a byte offset (a whole number ≥ 0)")
			return
		}
		offset = n
	}
	state := q.Get("state")
	if _, err := joblog.Decode(state); err != nil {
		jsonError(w, http.StatusBadRequest, "state: "+err.Error())
		return
	}
	ctx := r.Context()
	// The job is read before its log: when it is finished, the log read after it is whole.
	finished := j.Status.Finished()
	info, err := h.st.Traces.TraceInfo(ctx, j.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		h.log.Error("reading a trace's size", "job", j.ID, "error", err)
		jsonError(w, http.StatusInternalServerError, "500 Internal Server Error")
		return
	}
	reply := traceReply{Status: j.Status}
	// Past the end, the log was rewritten; far behind, the page starts over at the
	// log's last part, as a page load does, so no poll reads more than that.
	if offset > info.Size || info.Size-offset > h.cfg.MaxLogBytes {
		html, consumed, st, start, size, err := h.renderTail(r, j)
		if err != nil {
			h.log.Error("rendering a trace", "job", j.ID, "error", err)
			jsonError(w, http.StatusInternalServerError, "500 Internal Server Error")
			return
		}
		reply.Reset, reply.HTML, reply.Offset, reply.State, reply.Size = true, string(html), start+consumed, st, size
		reply.Complete = finished && reply.Offset == size
		writeTrace(w, reply)
		return
	}
	data, err := h.st.Traces.ReadTrace(ctx, j.ID, offset)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		h.log.Error("reading a trace", "job", j.ID, "error", err)
		jsonError(w, http.StatusInternalServerError, "500 Internal Server Error")
		return
	}
	reply.Size = offset + int64(len(data))
	whole := len(data) <= maxPollBytes
	if !whole {
		data = data[:maxPollBytes]
	}
	html, consumed, st, err := renderLog(data, state, finished && whole)
	if err != nil {
		jsonError(w, http.StatusBadRequest, "state: "+err.Error())
		return
	}
	reply.HTML, reply.Offset, reply.State = string(html), offset+int64(consumed), st
	reply.Complete = finished && reply.Offset == reply.Size
	writeTrace(w, reply)
}

func writeTrace(w http.ResponseWriter, reply traceReply) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(reply)
}

// jobRaw serves the log as stored, as plain text.
func (h *Handler) jobRaw(w http.ResponseWriter, r *http.Request, full string, id int64) {
	p, _, ok := h.projectAccess(w, r, full)
	if !ok {
		return
	}
	j, ok := h.job(w, r, p, id)
	if !ok {
		return
	}
	data, err := h.st.Traces.ReadTrace(r.Context(), j.ID, 0)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		h.serverError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.Write(data)
}

// safeFilename keeps an artifact's file name if it is plain, for Content-Disposition.
var safeFilename = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$`)

// jobArtifacts downloads a job's artifacts archive.
func (h *Handler) jobArtifacts(w http.ResponseWriter, r *http.Request, full string, id int64) {
	p, _, ok := h.projectAccess(w, r, full)
	if !ok {
		return
	}
	j, ok := h.job(w, r, p, id)
	if !ok {
		return
	}
	f, a, err := h.svc.OpenArtifact(r.Context(), j.ID, store.ArtifactArchive)
	if err != nil {
		h.serviceError(w, r, err)
		return
	}
	defer f.Close()
	name := a.Filename
	if !safeFilename.MatchString(name) {
		name = "artifacts.zip"
	}
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(w, r, "", a.CreatedAt, f)
}

// jobAction cancels, retries or plays a job, then shows it (a retry shows the new
// attempt).
func (h *Handler) jobAction(w http.ResponseWriter, r *http.Request, full string, id int64) {
	p, access, ok := h.projectAccess(w, r, full)
	if !ok || !h.checkWrite(w, r, access) {
		return
	}
	if _, ok := h.job(w, r, p, id); !ok {
		return
	}
	action := path.Base(r.URL.Path)
	var (
		j   *store.Job
		err error
	)
	switch action {
	case "cancel":
		j, err = h.svc.CancelJob(r.Context(), id)
	case "retry":
		j, err = h.svc.RetryJob(r.Context(), id)
	case "play":
		j, err = h.svc.PlayJob(r.Context(), id)
	}
	if err != nil {
		h.serviceError(w, r, err)
		return
	}
	h.log.Info("job action from the web UI", "action", action, "job", id, "user", viewer(r).Username)
	http.Redirect(w, r, "/"+p.FullPath+"/-/jobs/"+strconv.FormatInt(j.ID, 10), http.StatusSeeOther)
}
