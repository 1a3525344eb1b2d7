package protocoltest

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/kiln-ci/kiln/internal/protocol"
)

func (s *Server) uploadArtifacts(w http.ResponseWriter, r *http.Request, idText string) {
	s.mu.Lock()
	_, ok := s.job(w, r, idText, true)
	s.mu.Unlock()
	if !ok {
		return
	}
	mr, err := r.MultipartReader()
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "400 Bad request - " + err.Error()})
		return
	}
	var a *Artifact
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": "400 Bad request - " + err.Error()})
			return
		}
		if part.FormName() != "file" {
			continue
		}
		data, err := io.ReadAll(part)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": "400 Bad request - " + err.Error()})
			return
		}
		q := r.URL.Query()
		a = &Artifact{FileName: part.FileName(), Format: q.Get("artifact_format"), Type: q.Get("artifact_type"),
			ExpireIn: q.Get("expire_in"), Data: data}
	}
	if a == nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "400 Bad request - file is missing"})
		return
	}
	s.mu.Lock()
	if j, ok := s.job(discard{}, r, idText, false); ok {
		j.Artifacts = append(j.Artifacts, *a)
		s.notify()
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, "201")
}

// downloadArtifacts serves the job's archive (the last upload of type archive) to a
// request carrying that job's own token.
func (s *Server) downloadArtifacts(w http.ResponseWriter, r *http.Request, idText string) {
	s.mu.Lock()
	j, ok := s.job(w, r, idText, false)
	var data []byte
	if ok {
		for _, a := range j.Artifacts {
			if a.Type == "" || a.Type == "archive" {
				data = a.Data
			}
		}
	}
	s.mu.Unlock()
	if !ok {
		return
	}
	if data == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "404 Not found"})
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
}

// serveGit serves the bare repositories under Options.GitRoot with git http-backend,
// behind GitLab's challenge: a request without credentials gets 401 and
// WWW-Authenticate; credentials must be gitlab-ci-token and the token of a job that is
// running.
func (s *Server) serveGit(w http.ResponseWriter, r *http.Request) {
	if !s.gitAuthorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="GitLab"`)
		http.Error(w, "HTTP Basic: Access denied", http.StatusUnauthorized)
		return
	}
	backend := gitHTTPBackend()
	if backend == "" {
		http.Error(w, "git http-backend not found", http.StatusInternalServerError)
		return
	}
	h := &cgi.Handler{
		Path: backend,
		Root: "/",
		Env:  []string{"GIT_PROJECT_ROOT=" + s.opts.GitRoot, "GIT_HTTP_EXPORT_ALL=1", "REMOTE_USER=gitlab-ci-token"},
	}
	h.ServeHTTP(w, r)
}

func (s *Server) gitAuthorized(r *http.Request) bool {
	auth := r.Header.Get("Authorization")
	enc, ok := strings.CutPrefix(auth, "Basic ")
	if !ok {
		return false
	}
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return false
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok || user != "gitlab-ci-token" {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, j := range s.jobs {
		if j.Spec.Token == pass && (j.State == protocol.StateRunning || j.State == protocol.StateCanceling) {
			return true
		}
	}
	return false
}

func gitHTTPBackend() string {
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		return ""
	}
	p := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// discard is a ResponseWriter for re-checks whose answer must not be sent.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}
