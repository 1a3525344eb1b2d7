// Package client calls Kiln's user API (GitLab's /api/v4 shapes, package entity)
// with a personal access token: what the kiln project, pipeline and job commands
// use. It would work against GitLab too for the calls GitLab has.
//
// A Client is safe for concurrent use. Errors from the server are *Error values
// carrying the status and GitLab's message; the token never appears in an error.
//
// It imports only the standard library and entity; the coordinator side's
// packages are none of its business, and only cmd imports it.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kiln-ci/kiln/internal/api/entity"
)

// Client is a user API client for one server and token.
type Client struct {
	base  string // e.g. http://127.0.0.1:8080, without a trailing slash
	token string
	http  *http.Client
}

// New returns a client of the server at baseURL (http or https) with a personal
// access token (may be empty for public reads). A nil hc uses a client with a
// 30-second timeout.
func New(baseURL, token string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("server URL %q: want http(s)://host[:port]", baseURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/api/v4")
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{base: u.String(), token: token, http: hc}, nil
}

// Error is an error answer of the API.
type Error struct {
	Status  int    // HTTP status
	Method  string // the request's method and path, for the reader
	Path    string
	Message string // GitLab's message or error, flattened
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s %s: %d %s: %s", e.Method, e.Path, e.Status, http.StatusText(e.Status), e.Message)
}

// IsNotFound reports whether err is a 404 answer.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

// Page describes the page of a list the server answered.
type Page struct {
	Page, PerPage int
	// Next is the next page's number, 0 on the last page.
	Next int
	// Total is the number of records, -1 when the server did not count them.
	Total int
}

// ProjectPath is how a project appears in a path: its id, or its URL-encoded
// full path.
func ProjectPath(project string) string { return "/projects/" + url.PathEscape(project) }

// do sends a request to /api/v4+path with query and a JSON body (nil for none), and
// decodes a JSON answer into out (nil to discard it).
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any) (http.Header, error) {
	res, err := c.send(ctx, method, path, query, body, nil)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if out != nil {
		if err := json.NewDecoder(res.Body).Decode(out); err != nil {
			return nil, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
		}
	}
	return res.Header, nil
}

// send sends a request and returns a 2xx answer for the caller to read and close;
// any other answer becomes an *Error, except the statuses in accept.
func (c *Client) send(ctx context.Context, method, path string, query url.Values, body any, header http.Header, accept ...int) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("%s %s: encoding the request: %w", method, path, err)
		}
		rd = bytes.NewReader(data)
	}
	target := c.base + "/api/v4" + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("PRIVATE-TOKEN", c.token)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if res.StatusCode/100 == 2 || containsInt(accept, res.StatusCode) {
		return res, nil
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	apiErr := &Error{Status: res.StatusCode, Method: method, Path: path, Message: strings.TrimSpace(string(data))}
	var e entity.Error
	if json.Unmarshal(data, &e) == nil {
		if text := e.Text(); text != "" {
			apiErr.Message = text
		}
	}
	return nil, apiErr
}

func containsInt(list []int, n int) bool {
	for _, v := range list {
		if v == n {
			return true
		}
	}
	return false
}

// pageOf reads GitLab's pagination headers.
func pageOf(h http.Header) Page {
	num := func(name string, def int) int {
		n, err := strconv.Atoi(h.Get(name))
		if err != nil {
			return def
		}
		return n
	}
	return Page{Page: num("X-Page", 1), PerPage: num("X-Per-Page", 0), Next: num("X-Next-Page", 0), Total: num("X-Total", -1)}
}

// ListOptions selects a page of a list; zero values take the server's defaults.
type ListOptions struct {
	Page, PerPage int
}

func (o ListOptions) query() url.Values {
	q := url.Values{}
	if o.Page > 0 {
		q.Set("page", strconv.Itoa(o.Page))
	}
	if o.PerPage > 0 {
		q.Set("per_page", strconv.Itoa(o.PerPage))
	}
	return q
}

// CurrentUser is GET /user.
func (c *Client) CurrentUser(ctx context.Context) (*entity.User, error) {
	var u entity.User
	_, err := c.do(ctx, "GET", "/user", nil, nil, &u)
	return &u, err
}

// Namespace is GET /namespaces/:id (an id or a full path).
func (c *Client) Namespace(ctx context.Context, idOrPath string) (*entity.Namespace, error) {
	var ns entity.Namespace
	_, err := c.do(ctx, "GET", "/namespaces/"+url.PathEscape(idOrPath), nil, nil, &ns)
	return &ns, err
}

// ComputeUsage is Kiln's GET /namespaces/:id/compute_usage.
func (c *Client) ComputeUsage(ctx context.Context, idOrPath string) (*entity.ComputeUsage, error) {
	var u entity.ComputeUsage
	_, err := c.do(ctx, "GET", "/namespaces/"+url.PathEscape(idOrPath)+"/compute_usage", nil, nil, &u)
	return &u, err
}

// MachineTypes is Kiln's GET /machine_types.
func (c *Client) MachineTypes(ctx context.Context) ([]entity.MachineType, error) {
	var out []entity.MachineType
	_, err := c.do(ctx, "GET", "/machine_types", nil, nil, &out)
	return out, err
}

// CreateRunnerOptions are the fields of POST /user/runners; RunUntagged nil leaves
// the server's default.
type CreateRunnerOptions struct {
	RunnerType  string   `json:"runner_type"`
	GroupID     int64    `json:"group_id,omitempty"`
	ProjectID   int64    `json:"project_id,omitempty"`
	Description string   `json:"description,omitempty"`
	TagList     []string `json:"tag_list,omitempty"`
	RunUntagged *bool    `json:"run_untagged,omitempty"`
	Paused      bool     `json:"paused,omitempty"`
	Locked      bool     `json:"locked,omitempty"`
	AccessLevel string   `json:"access_level,omitempty"`
	// MachineType is Kiln's: the machine type the runner serves.
	MachineType string `json:"machine_type,omitempty"`
}

// CreateRunner is POST /user/runners: the runner's id and its glrt- token.
func (c *Client) CreateRunner(ctx context.Context, o CreateRunnerOptions) (*entity.RunnerCreated, error) {
	var out entity.RunnerCreated
	_, err := c.do(ctx, "POST", "/user/runners", nil, o, &out)
	return &out, err
}
