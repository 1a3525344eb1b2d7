package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/kiln-ci/kiln/internal/api/entity"
)

// CreateProjectOptions are the fields of POST /projects; empty ones take the
// server's defaults.
type CreateProjectOptions struct {
	Name          string `json:"name,omitempty"`
	Path          string `json:"path,omitempty"`
	NamespaceID   int64  `json:"namespace_id,omitempty"`
	Description   string `json:"description,omitempty"`
	Visibility    string `json:"visibility,omitempty"`
	DefaultBranch string `json:"default_branch,omitempty"`
}

// CreateProject is POST /projects.
func (c *Client) CreateProject(ctx context.Context, o CreateProjectOptions) (*entity.Project, error) {
	var p entity.Project
	_, err := c.do(ctx, "POST", "/projects", nil, o, &p)
	return &p, err
}

// Project is GET /projects/:id (an id or a full path).
func (c *Client) Project(ctx context.Context, project string) (*entity.Project, error) {
	var p entity.Project
	_, err := c.do(ctx, "GET", ProjectPath(project), nil, nil, &p)
	return &p, err
}

// ProjectListOptions filter GET /projects.
type ProjectListOptions struct {
	ListOptions
	Search string
	Owned  bool
}

// Projects is GET /projects: one page.
func (c *Client) Projects(ctx context.Context, o ProjectListOptions) ([]entity.Project, Page, error) {
	q := o.query()
	if o.Search != "" {
		q.Set("search", o.Search)
	}
	if o.Owned {
		q.Set("owned", "true")
	}
	var out []entity.Project
	h, err := c.do(ctx, "GET", "/projects", q, nil, &out)
	if err != nil {
		return nil, Page{}, err
	}
	return out, pageOf(h), nil
}

// CreatePipeline is POST /projects/:id/pipeline?ref=, with variables.
func (c *Client) CreatePipeline(ctx context.Context, project, ref string, vars []entity.PipelineVariable) (*entity.Pipeline, error) {
	body := map[string]any{}
	if len(vars) > 0 {
		body["variables"] = vars
	}
	var pl entity.Pipeline
	_, err := c.do(ctx, "POST", ProjectPath(project)+"/pipeline", url.Values{"ref": {ref}}, body, &pl)
	return &pl, err
}

// PipelineListOptions filter GET /projects/:id/pipelines.
type PipelineListOptions struct {
	ListOptions
	Status string
	Ref    string
}

// Pipelines is GET /projects/:id/pipelines: one page, newest first.
func (c *Client) Pipelines(ctx context.Context, project string, o PipelineListOptions) ([]entity.PipelineBasic, Page, error) {
	q := o.query()
	if o.Status != "" {
		q.Set("status", o.Status)
	}
	if o.Ref != "" {
		q.Set("ref", o.Ref)
	}
	var out []entity.PipelineBasic
	h, err := c.do(ctx, "GET", ProjectPath(project)+"/pipelines", q, nil, &out)
	if err != nil {
		return nil, Page{}, err
	}
	return out, pageOf(h), nil
}

// Pipeline is GET /projects/:id/pipelines/:pipeline_id.
func (c *Client) Pipeline(ctx context.Context, project string, id int64) (*entity.Pipeline, error) {
	var pl entity.Pipeline
	_, err := c.do(ctx, "GET", fmt.Sprintf("%s/pipelines/%d", ProjectPath(project), id), nil, nil, &pl)
	return &pl, err
}

// PipelineJobs is GET /projects/:id/pipelines/:pipeline_id/jobs: every page.
func (c *Client) PipelineJobs(ctx context.Context, project string, id int64) ([]entity.Job, error) {
	var all []entity.Job
	for page := 1; page > 0; {
		var jobs []entity.Job
		q := ListOptions{Page: page, PerPage: 100}.query()
		h, err := c.do(ctx, "GET", fmt.Sprintf("%s/pipelines/%d/jobs", ProjectPath(project), id), q, nil, &jobs)
		if err != nil {
			return nil, err
		}
		all = append(all, jobs...)
		page = pageOf(h).Next
	}
	return all, nil
}

// CancelPipeline is POST /projects/:id/pipelines/:pipeline_id/cancel.
func (c *Client) CancelPipeline(ctx context.Context, project string, id int64) (*entity.Pipeline, error) {
	var pl entity.Pipeline
	_, err := c.do(ctx, "POST", fmt.Sprintf("%s/pipelines/%d/cancel", ProjectPath(project), id), nil, nil, &pl)
	return &pl, err
}

// RetryPipeline is POST /projects/:id/pipelines/:pipeline_id/retry.
func (c *Client) RetryPipeline(ctx context.Context, project string, id int64) (*entity.Pipeline, error) {
	var pl entity.Pipeline
	_, err := c.do(ctx, "POST", fmt.Sprintf("%s/pipelines/%d/retry", ProjectPath(project), id), nil, nil, &pl)
	return &pl, err
}

// Job is GET /projects/:id/jobs/:job_id.
func (c *Client) Job(ctx context.Context, project string, id int64) (*entity.Job, error) {
	var j entity.Job
	_, err := c.do(ctx, "GET", fmt.Sprintf("%s/jobs/%d", ProjectPath(project), id), nil, nil, &j)
	return &j, err
}

// TraceChunk is part of a job's log.
type TraceChunk struct {
	Data []byte
	// Next is the offset to ask from next time.
	Next int64
	// JobStatus is the job's status when the server answered ("" when the server
	// does not say, as GitLab does not).
	JobStatus string
}

// Trace is GET /projects/:id/jobs/:job_id/trace from byte offset from: Kiln answers
// only the bytes past it (Range: bytes=from-); a server that ignores the range
// (GitLab) sends the whole log and Trace cuts what was already seen.
func (c *Client) Trace(ctx context.Context, project string, id, from int64) (TraceChunk, error) {
	h := http.Header{}
	if from > 0 {
		h.Set("Range", fmt.Sprintf("bytes=%d-", from))
	}
	path := fmt.Sprintf("%s/jobs/%d/trace", ProjectPath(project), id)
	res, err := c.send(ctx, "GET", path, nil, nil, h, http.StatusRequestedRangeNotSatisfiable)
	if err != nil {
		return TraceChunk{}, err
	}
	defer res.Body.Close()
	chunk := TraceChunk{Next: from, JobStatus: res.Header.Get("Job-Status")}
	if res.StatusCode == http.StatusRequestedRangeNotSatisfiable {
		return chunk, nil // nothing new
	}
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return TraceChunk{}, fmt.Errorf("GET %s: reading the log: %w", path, err)
	}
	start := int64(0) // data holds bytes [start, start+len(data)) of the log
	if res.StatusCode == http.StatusPartialContent {
		start = rangeStart(res.Header.Get("Content-Range"))
	}
	end := start + int64(len(data))
	if end <= from {
		return chunk, nil
	}
	if start < from {
		data = data[from-start:]
	}
	chunk.Data, chunk.Next = data, end
	return chunk, nil
}

// rangeStart reads N of "bytes N-M/T".
func rangeStart(cr string) int64 {
	spec, ok := strings.CutPrefix(cr, "bytes ")
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(strings.SplitN(spec, "-", 2)[0], 10, 64)
	if err != nil {
		return 0
	}
	return n
}
