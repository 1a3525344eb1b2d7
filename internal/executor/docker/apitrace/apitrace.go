// Package apitrace is a recording proxy for the Docker Engine API, for benchmarks that
// show where a job's time goes: it listens on a Unix socket of its own, passes every
// request on to the daemon unchanged (attach streams included, which it hijacks and
// copies both ways) and records each call's method, path, status, start and duration.
// Point the Docker executor's Config.Host at Proxy.Host.
//
// It is a measuring tool for tests and benchmarks: product code must not import it.
package apitrace

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Call is one Docker API request as the proxy saw it.
type Call struct {
	// Method and Op: e.g. "POST" and "/containers/{id}/start" (ids, names and the API
	// version prefix replaced, so calls group by kind).
	Method, Op string
	Status     int
	// Start is when the request arrived; Took how long until its response (or, for
	// an attach stream, the stream) ended.
	Start time.Time
	Took  time.Duration
}

// String is "POST /containers/{id}/start 204 212ms".
func (c Call) String() string {
	return fmt.Sprintf("%s %s %d %v", c.Method, c.Op, c.Status, c.Took.Round(100*time.Microsecond))
}

// Proxy forwards Docker API requests to a daemon and records them. It is safe for
// concurrent use.
type Proxy struct {
	srv  *http.Server
	ln   net.Listener
	dir  string
	done chan struct{}

	mu    sync.Mutex
	calls []Call
}

// Start listens on a new socket in a temporary directory and forwards to daemon, a
// Docker host address of the form unix:///path (empty: DOCKER_HOST, else the default
// socket). Close stops it.
func Start(daemon string) (*Proxy, error) {
	if daemon == "" {
		daemon = os.Getenv("DOCKER_HOST")
	}
	if daemon == "" {
		daemon = "unix:///var/run/docker.sock"
	}
	sock, ok := strings.CutPrefix(daemon, "unix://")
	if !ok {
		return nil, fmt.Errorf("apitrace: daemon address %q: only unix:// sockets are supported", daemon)
	}
	dir, err := os.MkdirTemp("", "kiln-apitrace-")
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("unix", filepath.Join(dir, "docker.sock"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("apitrace: listening: %w", err)
	}
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(&url.URL{Scheme: "http", Host: "docker"})
			r.Out.Host = "docker"
		},
		Transport:     &http.Transport{DialContext: dial, MaxIdleConnsPerHost: 16},
		FlushInterval: -1, // streams (attach, logs, pull progress) pass through at once
	}
	p := &Proxy{ln: ln, dir: dir, done: make(chan struct{})}
	p.srv = &http.Server{Handler: p.record(rp), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(p.done)
		_ = p.srv.Serve(ln)
	}()
	return p, nil
}

// Host is the proxy's address for a Docker client: unix:///…/docker.sock.
func (p *Proxy) Host() string { return "unix://" + p.ln.Addr().String() }

// Calls returns the calls recorded since the last Reset, in the order they ended.
func (p *Proxy) Calls() []Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Call(nil), p.calls...)
}

// Reset forgets the calls recorded so far.
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = nil
}

// Close stops the proxy and removes its socket. Hijacked streams still open are cut.
func (p *Proxy) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := p.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = p.srv.Close()
	}
	<-p.done
	return errors.Join(err, os.RemoveAll(p.dir))
}

func (p *Proxy) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.status == 0 && r.Header.Get("Upgrade") != "" {
			sw.status = http.StatusSwitchingProtocols // the stream was hijacked
		}
		c := Call{Method: r.Method, Op: Op(r.URL.Path), Status: sw.status, Start: start, Took: time.Since(start)}
		p.mu.Lock()
		p.calls = append(p.calls, c)
		p.mu.Unlock()
	})
}

// statusWriter remembers the status code; it passes Flush and Hijack through so
// streams and upgraded connections work.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController find Flush and Hijack.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

var (
	versionPrefix = regexp.MustCompile(`^/v[0-9]+\.[0-9]+`)
	objectPath    = regexp.MustCompile(`^/(containers|networks|volumes|exec)/([^/]+)`)
	imagePath     = regexp.MustCompile(`^/images/(.+?)(/(json|history|push|tag|get))?$`)
)

// Op turns a request path into its kind: "/v1.41/containers/3f…/start" becomes
// "/containers/{id}/start"; list and create calls keep their names.
func Op(path string) string {
	path = versionPrefix.ReplaceAllString(path, "")
	if m := imagePath.FindStringSubmatch(path); m != nil && m[1] != "create" && m[1] != "json" && m[1] != "prune" && m[1] != "search" && m[1] != "load" {
		return "/images/{id}" + m[2]
	}
	return objectPath.ReplaceAllStringFunc(path, func(m string) string {
		parts := strings.SplitN(m, "/", 3)
		switch parts[2] {
		case "json", "create", "prune":
			return m
		}
		return "/" + parts[1] + "/{id}"
	})
}
