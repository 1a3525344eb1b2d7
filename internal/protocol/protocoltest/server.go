// Package protocoltest is a faithful fake coordinator: GitLab's runner API
// (runner-protocol.md §9's minimum server) over real HTTP, for tests of anything that
// speaks the protocol as a runner. It registers and verifies runners, hands out queued
// jobs, keeps traces exactly as GitLab does (append only at the current length, 416
// with Range otherwise, Job-Status on every answer), stores artifacts, serves
// dependencies' archives and git repositories over smart HTTP behind a 401 challenge.
//
// Tests steer it: Enqueue jobs, Cancel or Abort them, Inject faults (416, 412, 202,
// 5xx, ...) on chosen requests, and read back every request it received.
//
// It is a shared test helper: both sides may import it from tests; production code
// must not.
package protocoltest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"hash/crc32"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/protocol"
)

// Options configure a Server.
type Options struct {
	// TraceDir, when set, keeps each trace in the file <TraceDir>/<job id>.log instead
	// of memory, for tests that stream hundreds of megabytes: Job.Trace stays empty,
	// Job.TracePath names the file.
	TraceDir string
	// GitRoot is a directory of bare repositories served over smart HTTP at their path
	// below it (e.g. GitRoot/group/project.git at /group/project.git).
	GitRoot string
}

// Server is the fake coordinator. Its methods are safe for concurrent use.
type Server struct {
	URL  string // e.g. http://127.0.0.1:41234, what a runner is configured with
	opts Options
	srv  *httptest.Server

	mu          sync.Mutex
	changed     chan struct{} // closed and replaced on every state change
	nextRunner  int64
	runners     map[string]*Runner // authentication token → runner
	regTokens   map[string]bool
	nextJob     int64
	queue       []int64
	jobs        map[int64]*Job
	requests    []Request
	faults      []*Fault
	lastUpdate  int
	unregisters []protocol.UnregisterRunnerRequest
}

// Runner is a runner the server knows.
type Runner struct {
	ID       int64
	Token    string
	Info     protocol.Info
	SystemID string
	Verified int
}

// Job is the server's record of one job.
type Job struct {
	Spec  jobspec.Job
	State string // pending, running, canceling, success, failed, canceled
	// Trace is what the runner patched, byte for byte (empty with Options.TraceDir,
	// where TracePath holds it).
	Trace       []byte
	TracePath   string
	TraceSize   int64
	TraceSHA256 string // hex digest of the stored trace
	// Updates are the PUT bodies in order; Final is the last one with a final state.
	Updates       []protocol.UpdateJobRequest
	Final         *protocol.UpdateJobRequest
	Artifacts     []Artifact
	ChecksumOK    bool // the final PUT's checksum and bytesize matched the stored trace
	TraceMismatch int  // final PUTs whose checksum or bytesize did not match

	crc uint32
	sha hash.Hash
}

// Artifact is one uploaded archive.
type Artifact struct {
	FileName, Format, Type, ExpireIn string
	Data                             []byte
}

// Request is one request the server received.
type Request struct {
	Method string
	Path   string
	Query  string
	Header http.Header
	Status int
	// Body holds JSON bodies; for a trace patch its length only is kept in BodyLen.
	Body    []byte
	BodyLen int
}

// Fault answers matching requests with Status instead of serving them.
type Fault struct {
	Method string // "" matches any
	// Path matches the request path exactly, e.g. "/api/v4/jobs/7/trace".
	Path   string
	Status int
	Header map[string]string
	// Times is how many requests the fault answers; ≤ 0 means once.
	Times int
	// ResetTrace truncates the job's stored trace, as GitLab does when it answers 412.
	ResetTrace bool
	// JobStatus, when set, is sent as the Job-Status header.
	JobStatus string
}

// New starts a server that stops when t ends.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	s := &Server{
		opts:      opts,
		changed:   make(chan struct{}),
		runners:   map[string]*Runner{},
		regTokens: map[string]bool{},
		jobs:      map[int64]*Job{},
		nextJob:   1000,
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// Close stops the server (also done when the test ends).
func (s *Server) Close() { s.srv.Close() }

// notify wakes waiters; s.mu must be held.
func (s *Server) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
	s.lastUpdate++
}

// AddRunner makes token a valid runner authentication token and returns the runner.
func (s *Server) AddRunner(token string) *Runner {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextRunner++
	r := &Runner{ID: s.nextRunner, Token: token}
	s.runners[token] = r
	return r
}

// AddRegistrationToken accepts token for legacy registration (POST /runners).
func (s *Server) AddRegistrationToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.regTokens[token] = true
}

// Runners returns the runners the server knows, by token.
func (s *Server) Runners() map[string]Runner {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]Runner{}
	for k, r := range s.runners {
		out[k] = *r
	}
	return out
}

// Unregistered returns the bodies of the DELETE /runners(/managers) calls received.
func (s *Server) Unregistered() []protocol.UnregisterRunnerRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]protocol.UnregisterRunnerRequest(nil), s.unregisters...)
}

// Enqueue adds a job to the queue and returns its id. A zero Spec.ID and an empty
// Spec.Token are filled in. The job's variables get CI_JOB_ID and CI_JOB_TOKEN
// (masked) unless present, as GitLab sends them.
func (s *Server) Enqueue(spec jobspec.Job) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if spec.ID == 0 {
		s.nextJob++
		spec.ID = s.nextJob
	}
	if spec.Token == "" {
		spec.Token = fmt.Sprintf("glcbt-job%d-secrettoken", spec.ID)
	}
	if _, ok := spec.Variables.Lookup("CI_JOB_ID"); !ok {
		spec.Variables = append(spec.Variables, jobspec.Variable{Key: "CI_JOB_ID", Value: strconv.FormatInt(spec.ID, 10), Public: true})
	}
	if _, ok := spec.Variables.Lookup("CI_JOB_TOKEN"); !ok {
		spec.Variables = append(spec.Variables, jobspec.Variable{Key: "CI_JOB_TOKEN", Value: spec.Token, Masked: true})
	}
	j := &Job{Spec: spec, State: "pending", sha: sha256.New(), TraceSHA256: fmt.Sprintf("%x", sha256.Sum256(nil))}
	if s.opts.TraceDir != "" {
		j.TracePath = filepath.Join(s.opts.TraceDir, strconv.FormatInt(spec.ID, 10)+".log")
	}
	s.jobs[spec.ID] = j
	s.queue = append(s.queue, spec.ID)
	s.notify()
	return spec.ID
}

// Job returns a snapshot of a job's record.
func (s *Server) Job(id int64) (Job, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[id]
	if !ok {
		return Job{}, false
	}
	c := *j
	c.Trace = bytes.Clone(j.Trace)
	c.Updates = append([]protocol.UpdateJobRequest(nil), j.Updates...)
	c.Artifacts = append([]Artifact(nil), j.Artifacts...)
	c.sha = nil
	return c, true
}

// Cancel asks the runner to stop a running job gracefully: the next PATCH or PUT
// answers Job-Status: canceling, and the final PUT turns the job into canceled.
func (s *Server) Cancel(id int64) { s.setState(id, protocol.StateCanceling) }

// Abort ends a job on the server's side: Job-Status: canceled, the runner must stop.
func (s *Server) Abort(id int64) { s.setState(id, protocol.StateCanceled) }

func (s *Server) setState(id int64, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if j, ok := s.jobs[id]; ok {
		j.State = state
		s.notify()
	}
}

// Inject adds a fault; faults are matched in the order added.
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Times <= 0 {
		f.Times = 1
	}
	s.faults = append(s.faults, &f)
}

// Requests returns every request received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Wait blocks until cond holds for the job (checked on every change) or ctx ends.
func (s *Server) Wait(ctx context.Context, id int64, cond func(Job) bool) (Job, error) {
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if j, ok := s.Job(id); ok && cond(j) {
			return j, nil
		}
		select {
		case <-ctx.Done():
			j, _ := s.Job(id)
			return j, fmt.Errorf("waiting for job %d (state %s): %w", id, j.State, ctx.Err())
		case <-ch:
		}
	}
}

// WaitFinal waits until the runner sent the job's final update.
func (s *Server) WaitFinal(ctx context.Context, id int64) (Job, error) {
	return s.Wait(ctx, id, func(j Job) bool { return j.Final != nil })
}

// Finals waits up to timeout, for all of them together, until the runner sent the
// final update of each job of ids, and returns the jobs in that order. A job without
// one by then fails t, with its trace so far.
func (s *Server) Finals(t testing.TB, timeout time.Duration, ids ...int64) []Job {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out := make([]Job, 0, len(ids))
	for _, id := range ids {
		j, err := s.WaitFinal(ctx, id)
		if err != nil {
			t.Fatalf("%v\n%s", err, j.Trace)
		}
		out = append(out, j)
	}
	return out
}

func (j *Job) resetTrace() {
	if j.TracePath != "" {
		_ = os.Truncate(j.TracePath, 0)
	}
	j.Trace, j.TraceSize, j.crc = nil, 0, 0
	j.sha = sha256.New()
	j.TraceSHA256 = fmt.Sprintf("%x", j.sha.Sum(nil))
}

func (j *Job) appendTrace(b []byte) error {
	if j.TracePath == "" {
		j.Trace = append(j.Trace, b...)
	} else {
		f, err := os.OpenFile(j.TracePath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return err
		}
		_, err = f.Write(b)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	j.TraceSize += int64(len(b))
	j.crc = crc32.Update(j.crc, crc32.IEEETable, b)
	j.sha.Write(b)
	j.TraceSHA256 = fmt.Sprintf("%x", j.sha.Sum(nil))
	return nil
}
