package protocoltest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/kiln-ci/kiln/internal/protocol"
)

func (s *Server) register(w http.ResponseWriter, body []byte) {
	var req protocol.RegisterRunnerRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "400 Bad request - " + err.Error()})
		return
	}
	s.mu.Lock()
	ok := s.regTokens[req.Token]
	s.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusForbidden, map[string]string{"message": "403 Forbidden"})
		return
	}
	s.mu.Lock()
	s.nextRunner++
	r := &Runner{ID: s.nextRunner, Token: fmt.Sprintf("registered-runner-%d-token", s.nextRunner), Info: req.Info}
	s.runners[r.Token] = r
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, protocol.RegisterRunnerResponse{ID: r.ID, Token: r.Token})
}

func (s *Server) verify(w http.ResponseWriter, body []byte) {
	var req protocol.VerifyRunnerRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "400 Bad request - " + err.Error()})
		return
	}
	s.mu.Lock()
	r, ok := s.runners[req.Token]
	if ok {
		r.Verified++
		r.Info, r.SystemID = req.Info, req.SystemID
	}
	s.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusForbidden, map[string]string{"message": "403 Forbidden"})
		return
	}
	writeJSON(w, http.StatusOK, protocol.VerifyRunnerResponse{ID: r.ID, Token: r.Token})
}

func (s *Server) unregister(w http.ResponseWriter, r *http.Request, body []byte, manager bool) {
	var req protocol.UnregisterRunnerRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "400 Bad request - " + err.Error()})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.runners[req.Token]; !ok || r.Header.Get(protocol.HeaderRunnerToken) != req.Token {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	if manager && req.SystemID == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "400 Bad request - system_id is missing"})
		return
	}
	s.unregisters = append(s.unregisters, req)
	if !manager {
		delete(s.runners, req.Token)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) requestJob(w http.ResponseWriter, r *http.Request, body []byte) {
	var req protocol.JobRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "400 Bad request - " + err.Error()})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	runner, ok := s.runners[req.Token]
	if !ok || !strings.EqualFold(r.Header.Get(protocol.HeaderRunnerToken), req.Token) {
		writeJSON(w, http.StatusForbidden, map[string]string{"message": "403 Forbidden"})
		return
	}
	runner.Info, runner.SystemID = req.Info, req.SystemID
	if len(s.queue) == 0 {
		w.Header().Set(protocol.HeaderLastUpdate, "lu-"+strconv.Itoa(s.lastUpdate))
		w.WriteHeader(http.StatusNoContent)
		return
	}
	id := s.queue[0]
	s.queue = s.queue[1:]
	j := s.jobs[id]
	j.State = protocol.StateRunning
	s.notify()
	writeJSON(w, http.StatusCreated, j.Spec)
}

// job authenticates a job-scoped request; on failure it has answered already.
func (s *Server) job(w http.ResponseWriter, r *http.Request, idText string, needActive bool) (*Job, bool) {
	id, err := strconv.ParseInt(idText, 10, 64)
	j, ok := s.jobs[id]
	if err != nil || !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "404 Job Not Found"})
		return nil, false
	}
	if r.Header.Get(protocol.HeaderJobToken) != j.Spec.Token {
		writeJSON(w, http.StatusForbidden, map[string]string{"message": "403 Forbidden - invalid job token"})
		return nil, false
	}
	if needActive && j.State != protocol.StateRunning && j.State != protocol.StateCanceling {
		w.Header().Set(protocol.HeaderJobStatus, j.State)
		writeJSON(w, http.StatusForbidden, map[string]string{"message": "403 Forbidden - job is not running"})
		return nil, false
	}
	return j, true
}

func (s *Server) updateJob(w http.ResponseWriter, r *http.Request, idText string, body []byte) {
	var req protocol.UpdateJobRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "400 Bad request - " + err.Error()})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.job(w, r, idText, false)
	if !ok {
		return
	}
	if req.Token != j.Spec.Token {
		writeJSON(w, http.StatusForbidden, map[string]string{"message": "403 Forbidden - token in body does not match"})
		return
	}
	defer s.notify()
	j.Updates = append(j.Updates, req)
	switch j.State {
	case protocol.StateSuccess, protocol.StateFailed, protocol.StateCanceled:
		if j.Final == nil && req.State != protocol.StateRunning {
			// An aborted job's runner still reports its end.
			f := req
			j.Final = &f
		}
		w.Header().Set(protocol.HeaderJobStatus, j.State)
		w.WriteHeader(http.StatusOK)
		return
	}
	if req.State == protocol.StateRunning {
		w.Header().Set(protocol.HeaderJobStatus, j.State)
		w.WriteHeader(http.StatusOK)
		return
	}
	if req.State != protocol.StateSuccess && req.State != protocol.StateFailed {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "400 Bad request - state is invalid"})
		return
	}
	want := fmt.Sprintf("crc32:%08x", j.crc)
	if req.Output.Checksum != want || req.Output.Bytesize != j.TraceSize {
		j.TraceMismatch++
		if j.TraceMismatch <= 3 {
			// GitLab's two-phase commit: not accepted until the trace is complete.
			w.Header().Set(protocol.HeaderJobStatus, j.State)
			w.WriteHeader(http.StatusAccepted)
			return
		}
	} else {
		j.ChecksumOK = true
	}
	if j.State == protocol.StateCanceling {
		j.State = protocol.StateCanceled
	} else {
		j.State = req.State
	}
	f := req
	j.Final = &f
	w.Header().Set(protocol.HeaderJobStatus, j.State)
	w.WriteHeader(http.StatusOK)
}

func (s *Server) patchTrace(w http.ResponseWriter, r *http.Request, idText string, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.job(w, r, idText, true)
	if !ok {
		return
	}
	cr := r.Header.Get(protocol.HeaderContentRange)
	startText, endText, found := strings.Cut(cr, "-")
	start, err1 := strconv.ParseInt(startText, 10, 64)
	end, err2 := strconv.ParseInt(endText, 10, 64)
	if !found || err1 != nil || err2 != nil || end-start+1 != int64(len(body)) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "400 Bad request - Content-Range is missing or wrong"})
		return
	}
	w.Header().Set(protocol.HeaderJobStatus, j.State)
	w.Header().Set(protocol.HeaderTraceUpdateInterval, "1")
	if start != j.TraceSize {
		w.Header().Set(protocol.HeaderRange, fmt.Sprintf("0-%d", j.TraceSize))
		w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
		return
	}
	if err := j.appendTrace(body); err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"message": "500 storing trace: " + err.Error()})
		return
	}
	s.notify()
	w.Header().Set(protocol.HeaderRange, fmt.Sprintf("0-%d", j.TraceSize))
	w.WriteHeader(http.StatusAccepted)
}
