package protocol

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kiln-ci/kiln/internal/jobspec"
)

// RequestJob asks for a job: POST /jobs/request. It returns the job on 201 and nil on
// 204 (nothing to do). The last X-GitLab-Last-Update seen for req.Token is sent as
// last_update unless req.LastUpdate is set, and the answer's header is remembered.
//
// Errors: ErrForbidden on 403 (the runner is unhealthy); ErrConflict on 409 and
// ErrUnavailable on 503 (healthy, try later); an undecodable 201 is an error that says
// the job was lost. A request whose answer never came is not repeated, so a job the
// coordinator assigned is never silently assigned twice. Use Unhealthy(err) to count
// health as gitlab-runner does.
func (c *Client) RequestJob(ctx context.Context, req JobRequest) (*jobspec.Job, error) {
	if req.LastUpdate == "" {
		c.mu.Lock()
		req.LastUpdate = c.lastUpdate[req.Token]
		c.mu.Unlock()
	}
	resp, err := c.do(ctx, request{
		endpoint: "jobs/request", method: http.MethodPost, path: "jobs/request",
		header: runnerHeader(req.Token), json: req, accept: true,
	})
	if err != nil {
		return nil, err
	}
	if lu := resp.Header.Get(HeaderLastUpdate); lu != "" {
		c.mu.Lock()
		c.lastUpdate[req.Token] = lu
		c.mu.Unlock()
	}
	switch resp.StatusCode {
	case http.StatusNoContent:
		drain(resp)
		return nil, nil
	case http.StatusCreated:
		var job jobspec.Job
		if err := decodeJSON(resp, http.StatusCreated, "jobs/request", &job); err != nil {
			return nil, fmt.Errorf("a job was assigned but cannot be read, so it is lost: %w", err)
		}
		return &job, nil
	default:
		defer drain(resp)
		return nil, &StatusError{Op: "jobs/request", StatusCode: resp.StatusCode, Message: readMessage(resp)}
	}
}

// LastUpdate returns the last X-GitLab-Last-Update received for a runner token.
func (c *Client) LastUpdate(runnerToken string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastUpdate[runnerToken]
}

// UpdateResult is what a job update or trace patch answered.
type UpdateResult struct {
	// StatusCode is 200 (accepted), 202 (accepted, not completed: two-phase commit) or
	// 412 (trace validation failed: re-send the whole trace) for UpdateJob; 202, 416 or
	// 404 for PatchTrace.
	StatusCode int
	// JobStatus is the Job-Status header: "running", "canceling", "canceled", "failed"...
	JobStatus string
	// TraceUpdateInterval is X-GitLab-Trace-Update-Interval; 0 when absent.
	TraceUpdateInterval time.Duration
	// RemoteSize is the end of the Range header "0-<N>" of a trace patch answer: how
	// many bytes the coordinator holds. -1 when absent.
	RemoteSize int64
}

// Canceling reports whether the coordinator asks the job to stop gracefully.
func (r UpdateResult) Canceling() bool { return r.JobStatus == StateCanceling }

// Aborted reports whether the coordinator says the job is over (canceled or failed):
// the runner must stop it at once.
func (r UpdateResult) Aborted() bool {
	return r.JobStatus == StateCanceled || r.JobStatus == StateFailed
}

func jobHeader(token string) http.Header { return http.Header{HeaderJobToken: {token}} }

func readUpdate(resp *http.Response) UpdateResult {
	r := UpdateResult{StatusCode: resp.StatusCode, JobStatus: resp.Header.Get(HeaderJobStatus), RemoteSize: -1}
	if v := resp.Header.Get(HeaderTraceUpdateInterval); v != "" {
		if s, err := strconv.Atoi(v); err == nil && s > 0 {
			r.TraceUpdateInterval = time.Duration(s) * time.Second
		}
	}
	if v := resp.Header.Get(HeaderRange); v != "" {
		if _, end, ok := strings.Cut(v, "-"); ok {
			if n, err := strconv.ParseInt(strings.TrimSpace(end), 10, 64); err == nil && n >= 0 {
				r.RemoteSize = n
			}
		}
	}
	return r
}

// UpdateJob reports a job's state: PUT /jobs/:id with the job token in the Job-Token
// header and the body. 200, 202 and 412 are answers, not errors (see UpdateResult);
// 403 and 404 are errors matching ErrForbidden and ErrNotFound, after which the job
// must be dropped. Other answers are retried per the policy, then returned as errors.
func (c *Client) UpdateJob(ctx context.Context, jobID int64, req UpdateJobRequest) (UpdateResult, error) {
	resp, err := c.do(ctx, request{
		endpoint: "jobs/:id", method: http.MethodPut, path: "jobs/" + strconv.FormatInt(jobID, 10),
		header: jobHeader(req.Token), json: req, retryTransport: true,
	})
	if err != nil {
		return UpdateResult{}, err
	}
	defer drain(resp)
	res := readUpdate(resp)
	switch resp.StatusCode {
	case http.StatusOK, http.StatusAccepted, http.StatusPreconditionFailed:
		return res, nil
	}
	return res, &StatusError{Op: "update job", StatusCode: resp.StatusCode, Message: readMessage(resp)}
}

// PatchTrace appends data to the job's trace at offset start: PATCH
// /jobs/:id/trace?debug_trace=<bool> with Content-Range "start-end" (inclusive, no
// unit). 202 (appended), 416 (offset mismatch: resend from RemoteSize) and 404 (skip)
// are answers; 403 is ErrForbidden (abort the job). data must not be empty.
func (c *Client) PatchTrace(ctx context.Context, jobID int64, jobToken string, start int64, data []byte, debugTrace bool) (UpdateResult, error) {
	if len(data) == 0 {
		return UpdateResult{}, fmt.Errorf("patch trace: empty patch")
	}
	h := jobHeader(jobToken)
	h.Set(HeaderContentRange, fmt.Sprintf("%d-%d", start, start+int64(len(data))-1))
	resp, err := c.do(ctx, request{
		endpoint: "jobs/:id/trace", method: http.MethodPatch,
		path:   "jobs/" + strconv.FormatInt(jobID, 10) + "/trace",
		query:  map[string][]string{"debug_trace": {strconv.FormatBool(debugTrace)}},
		header: h, body: data, ctype: "text/plain", retryTransport: true,
	})
	if err != nil {
		return UpdateResult{}, err
	}
	defer drain(resp)
	res := readUpdate(resp)
	switch resp.StatusCode {
	case http.StatusAccepted, http.StatusRequestedRangeNotSatisfiable, http.StatusNotFound:
		return res, nil
	}
	return res, &StatusError{Op: "patch trace", StatusCode: resp.StatusCode, Message: readMessage(resp)}
}
