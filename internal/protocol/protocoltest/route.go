package protocoltest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/kiln-ci/kiln/internal/protocol"
)

// serve routes a request, after recording it and applying any fault.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	var body []byte
	if !strings.HasSuffix(r.URL.Path, "/artifacts") && !strings.Contains(r.URL.Path, ".git/") {
		body, _ = io.ReadAll(io.LimitReader(r.Body, 64<<20))
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	defer func() {
		req := Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Status: rec.status, BodyLen: len(body)}
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			req.Body = body
		}
		s.mu.Lock()
		s.requests = append(s.requests, req)
		s.mu.Unlock()
	}()
	if s.applyFault(rec, r) {
		return
	}
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/api/v4/"):
		s.serveAPI(rec, r, strings.TrimPrefix(p, "/api/v4/"), body)
	case s.opts.GitRoot != "" && strings.Contains(p, ".git/"):
		s.serveGit(rec, r)
	default:
		http.NotFound(rec, r)
	}
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, p string, body []byte) {
	parts := strings.Split(p, "/")
	switch {
	case p == "runners" && r.Method == http.MethodPost:
		s.register(w, body)
	case p == "runners/verify" && r.Method == http.MethodPost:
		s.verify(w, body)
	case (p == "runners" || p == "runners/managers") && r.Method == http.MethodDelete:
		s.unregister(w, r, body, p == "runners/managers")
	case p == "jobs/request" && r.Method == http.MethodPost:
		s.requestJob(w, r, body)
	case len(parts) == 2 && parts[0] == "jobs" && r.Method == http.MethodPut:
		s.updateJob(w, r, parts[1], body)
	case len(parts) == 3 && parts[0] == "jobs" && parts[2] == "trace" && r.Method == http.MethodPatch:
		s.patchTrace(w, r, parts[1], body)
	case len(parts) == 3 && parts[0] == "jobs" && parts[2] == "artifacts" && r.Method == http.MethodPost:
		s.uploadArtifacts(w, r, parts[1])
	case len(parts) == 3 && parts[0] == "jobs" && parts[2] == "artifacts" && r.Method == http.MethodGet:
		s.downloadArtifacts(w, r, parts[1])
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "404 Not Found"})
	}
}

func (s *Server) applyFault(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if (f.Method != "" && f.Method != r.Method) || f.Path != r.URL.Path {
			continue
		}
		f.Times--
		if f.Times <= 0 {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
		}
		if f.ResetTrace {
			if id, err := strconv.ParseInt(strings.Split(strings.TrimPrefix(r.URL.Path, "/api/v4/jobs/"), "/")[0], 10, 64); err == nil {
				if j, ok := s.jobs[id]; ok {
					j.resetTrace()
				}
			}
		}
		for k, v := range f.Header {
			w.Header().Set(k, v)
		}
		if f.JobStatus != "" {
			w.Header().Set(protocol.HeaderJobStatus, f.JobStatus)
		}
		w.WriteHeader(f.Status)
		s.notify()
		return true
	}
	return false
}

type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
