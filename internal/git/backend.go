package git

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/cgi"
	"strconv"
	"strings"
	"sync"
)

// forwardedHeaders are the request headers git http-backend reads; nothing else (in
// particular no Authorization, Cookie or token header) reaches the git processes.
var forwardedHeaders = []string{"Content-Type", "Content-Encoding", "Git-Protocol"}

// hiddenRefs are GitLab's internal ref namespaces: pushes may not create, move or
// delete them (receive.hideRefs), though fetches still see them, so that runners
// fetch `refs/pipelines/<id>`.
var hiddenRefs = []string{"refs/pipelines", "refs/merge-requests", "refs/keep-around", "refs/environments"}

// serveBackend runs `git http-backend` for one authorized request.
func (h *Handler) serveBackend(w *responseWriter, r *http.Request, log *slog.Logger, repo *Repo, action, identity string) {
	config := [][2]string{
		{"http.uploadpack", "true"},
		{"http.receivepack", "true"},
		{"http.getanyfile", "false"},
		{"uploadpack.allowFilter", "true"},
		{"core.hooksPath", h.repos.hooksDir()},
	}
	for _, ref := range hiddenRefs {
		config = append(config, [2]string{"receive.hideRefs", ref})
	}
	if h.maxPush > 0 {
		config = append(config, [2]string{"receive.maxInputSize", strconv.FormatInt(h.maxPush, 10)})
	}
	env := []string{
		"GIT_PROJECT_ROOT=" + h.repos.root,
		"GIT_HTTP_EXPORT_ALL=1",
		"REMOTE_USER=" + identity, // http-backend's name for the pusher in git's idents
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_ATTR_NOSYSTEM=1",
		"GIT_CONFIG_COUNT=" + strconv.Itoa(len(config)),
	}
	for i, kv := range config {
		n := strconv.Itoa(i)
		env = append(env, "GIT_CONFIG_KEY_"+n+"="+kv[0], "GIT_CONFIG_VALUE_"+n+"="+kv[1])
	}

	var record string
	if action == actionReceivePack && h.onPush != nil {
		record = h.newRecordName()
		h.claim(record)
		defer h.release(record)
		env = append(env,
			"KILN_PUSH_RECORD="+h.recordPath(record),
			"KILN_PUSH_PROJECT="+repo.path,
			"KILN_PUSH_PUSHER="+identity,
		)
	}

	stderr := &logLines{log: log.With("project", repo.path), msg: "git http-backend"}
	backend := &cgi.Handler{
		Path:   h.repos.git.path,
		Args:   []string{"http-backend"},
		Dir:    h.repos.root,
		Env:    env,
		Logger: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		Stderr: stderr,
	}

	req := r.Clone(r.Context())
	req.Header = make(http.Header, len(forwardedHeaders))
	for _, k := range forwardedHeaders {
		if v := r.Header.Values(k); len(v) > 0 {
			req.Header[k] = v
		}
	}
	// net/http has already decoded a chunked body; clearing the marker lets the CGI
	// handler (which refuses chunked requests) stream it to http-backend, which reads
	// to end of input when CONTENT_LENGTH is absent.
	req.TransferEncoding = nil
	req.URL.Path = "/" + diskPath(repo.path) + "/" + action
	req.URL.RawPath = ""

	if r.Method == http.MethodPost {
		// Let git write (progress, keep-alives) while the request is still arriving.
		_ = http.NewResponseController(w).EnableFullDuplex()
	}
	backend.ServeHTTP(w, req)
	stderr.Flush()

	if action == actionReceivePack {
		log.Info("git push served", "project", repo.path, "status", w.status())
	}
	if record != "" {
		// The push is in the repository whatever the client does now: announce it
		// even if the request's context is canceled.
		h.announce(context.WithoutCancel(r.Context()), record)
	}
}

// logLines writes a child's standard error to the log, one record per line.
type logLines struct {
	log *slog.Logger
	msg string
	mu  sync.Mutex
	buf []byte
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.emit(string(l.buf[:i]))
		l.buf = l.buf[i+1:]
	}
	if len(l.buf) > 4096 {
		l.emit(string(l.buf))
		l.buf = l.buf[:0]
	}
	return len(p), nil
}

// Flush logs a last unterminated line.
func (l *logLines) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.emit(string(l.buf))
		l.buf = nil
	}
}

func (l *logLines) emit(line string) {
	if line = strings.TrimSpace(line); line != "" {
		l.log.Warn(l.msg, "stderr", line)
	}
}
