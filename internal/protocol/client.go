package protocol

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/kiln-ci/kiln/internal/version"
)

// ClientConfig configures a Client.
type ClientConfig struct {
	// URL is the coordinator as configured (e.g. https://gitlab.example.com). A trailing
	// "/" and a trailing "/ci" are dropped, as gitlab-runner does; only http and https
	// are accepted.
	URL string
	// HTTPClient sends the requests; nil means a client with sane transport timeouts.
	// Its CheckRedirect is respected except where the protocol says otherwise.
	HTTPClient *http.Client
	// UserAgent is sent on every request; empty means "kiln-runner <version> (...)".
	UserAgent string
	// Logger receives retry and correlation messages; nil discards them. No token,
	// job output or request body is ever logged.
	Logger *slog.Logger
	// Retry is the policy for answers worth retrying (408, 429, 5xx); zero fields take
	// gitlab-runner's defaults.
	Retry RetryPolicy
	// Observe, when set, is called after every HTTP exchange with the endpoint's name
	// (e.g. "jobs/request"), the status code (0 for a transport error) and how long it
	// took, so the runner can keep request metrics without this package knowing how.
	Observe func(endpoint string, status int, d time.Duration)
}

// Client speaks GitLab's runner API (runner-protocol.md) to one coordinator.
//
// A Client is safe for concurrent use by many goroutines. Every method takes the
// token it authenticates with, so one Client serves any number of runners and jobs
// on the same coordinator.
type Client struct {
	base      *url.URL // .../api/v4/
	http      *http.Client
	noFollow  *http.Client // http, but answering redirects instead of following them
	userAgent string
	log       *slog.Logger
	retry     RetryPolicy
	observe   func(string, int, time.Duration)

	mu         sync.Mutex
	lastUpdate map[string]string // runner token → last X-GitLab-Last-Update
}

// NewClient validates cfg and returns a client.
func NewClient(cfg ClientConfig) (*Client, error) {
	base, err := APIBase(cfg.URL)
	if err != nil {
		return nil, err
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 10 * time.Minute,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConnsPerHost:   16,
		}}
	}
	ua := cfg.UserAgent
	if ua == "" {
		ua = DefaultUserAgent()
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	noFollow := *hc
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Client{
		base:       base,
		http:       hc,
		noFollow:   &noFollow,
		userAgent:  ua,
		log:        log,
		retry:      cfg.Retry.withDefaults(),
		observe:    cfg.Observe,
		lastUpdate: map[string]string{},
	}, nil
}

// DefaultUserAgent is "kiln-runner <version> (<revision>; <go version>; <os>/<arch>)",
// in the shape of gitlab-runner's.
func DefaultUserAgent() string {
	return fmt.Sprintf("kiln-runner %s (%s; %s; %s/%s)", version.Version, version.Rev(),
		runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// APIBase turns a configured coordinator URL into its API base, ".../api/v4/".
func APIBase(raw string) (*url.URL, error) {
	s := strings.TrimSpace(raw)
	s = strings.TrimRight(s, "/")
	s = strings.TrimSuffix(s, "/ci")
	s = strings.TrimRight(s, "/")
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("coordinator URL %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("coordinator URL %q: scheme must be http or https", raw)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("coordinator URL %q: no host", raw)
	}
	if u.User != nil {
		return nil, fmt.Errorf("coordinator URL %q: must not carry credentials; use a token", redactURL(u))
	}
	u.RawQuery, u.Fragment = "", ""
	u.Path = strings.TrimRight(u.Path, "/") + "/api/v4/"
	u.RawPath = ""
	return u, nil
}

// BaseURL returns the coordinator URL the client was configured with, normalised
// (without /api/v4).
func (c *Client) BaseURL() string {
	u := *c.base
	u.Path = strings.TrimSuffix(u.Path, "api/v4/")
	return strings.TrimRight(u.String(), "/")
}

// request is one API call as the retry loop sees it.
type request struct {
	endpoint string // for metrics and messages, e.g. "jobs/request"
	method   string
	path     string // relative to the API base
	query    url.Values
	header   http.Header
	json     any    // a JSON body, or nil
	body     []byte // a raw body (used when json is nil)
	ctype    string // Content-Type of body
	accept   bool   // expects a JSON answer
	// retryTransport allows retrying after a transport error; false for calls whose
	// repetition could lose something (a job assigned by a request whose answer was lost).
	retryTransport bool
	// base overrides the API base (artifact uploads re-targeted by a 307).
	base *url.URL
	// noRedirect returns a redirect answer instead of following it.
	noRedirect bool
}

// do sends r, retrying answers worth retrying per the client's policy. The caller must
// close the returned response's body.
func (c *Client) do(ctx context.Context, r request) (*http.Response, error) {
	var body []byte
	ctype := r.ctype
	if r.json != nil {
		b, err := json.Marshal(r.json)
		if err != nil {
			return nil, fmt.Errorf("%s: encoding request: %w", r.endpoint, err)
		}
		body, ctype = b, "application/json"
	} else {
		body = r.body
	}
	var lastErr error
	for attempt := 1; ; attempt++ {
		resp, err := c.send(ctx, r, body, ctype, nil)
		var wait time.Duration
		switch {
		case err != nil:
			if ctx.Err() != nil || !r.retryTransport || attempt >= c.retry.MaxAttempts {
				return nil, err
			}
			lastErr, wait = err, c.retry.backoff(attempt, nil)
		case c.retry.retryable(resp.StatusCode) && attempt < c.retry.MaxAttempts:
			wait = c.retry.backoff(attempt, resp.Header)
			lastErr = &StatusError{Op: r.endpoint, StatusCode: resp.StatusCode, Message: readMessage(resp)}
			resp.Body.Close()
		default:
			return resp, nil
		}
		c.log.Debug("retrying request", "endpoint", r.endpoint, "attempt", attempt, "wait", wait, "error", lastErr)
		if err := sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("%s: %w (after %v)", r.endpoint, err, lastErr)
		}
	}
}

// send performs one HTTP exchange with the given body.
func (c *Client) send(ctx context.Context, r request, body []byte, ctype string, stream io.Reader) (*http.Response, error) {
	u := c.resolve(r)
	var rd io.Reader
	switch {
	case stream != nil:
		rd = stream
	case body != nil:
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.endpoint, err)
	}
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	req.Header.Set("User-Agent", c.userAgent)
	reqID := newRequestID()
	req.Header.Set(HeaderRequestID, reqID)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if r.accept {
		req.Header.Set("Accept", "application/json")
	}
	hc := c.http
	if r.noRedirect {
		hc = c.noFollow
	}
	start := time.Now()
	resp, err := hc.Do(req)
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	if c.observe != nil {
		c.observe(r.endpoint, status, time.Since(start))
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.endpoint, scrubURLError(err))
	}
	if id := resp.Header.Get(HeaderRequestID); id != "" {
		reqID = id
	}
	c.log.Debug("api call", "endpoint", r.endpoint, "status", resp.StatusCode, "request_id", reqID,
		"duration", time.Since(start).Round(time.Millisecond))
	return resp, nil
}

func (c *Client) resolve(r request) *url.URL {
	base := c.base
	if r.base != nil {
		base = r.base
	}
	u := base.ResolveReference(&url.URL{Path: r.path})
	if len(r.query) > 0 {
		u.RawQuery = r.query.Encode()
	}
	return u
}

// decodeJSON decodes resp's body into v when its status is want and its media type is
// application/json, as gitlab-runner insists. It closes the body.
func decodeJSON(resp *http.Response, want int, op string, v any) error {
	defer resp.Body.Close()
	if resp.StatusCode != want {
		return &StatusError{Op: op, StatusCode: resp.StatusCode, Message: readMessage(resp)}
	}
	if !isJSON(resp.Header.Get("Content-Type")) {
		return fmt.Errorf("%s: answer %d has Content-Type %q, not application/json", op, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(v); err != nil {
		return fmt.Errorf("%s: decoding answer: %w", op, err)
	}
	return nil
}

func isJSON(ctype string) bool {
	mt, _, err := mime.ParseMediaType(ctype)
	return err == nil && mt == "application/json"
}

// drain reads a little of the body and closes it so the connection can be reused.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// scrubURLError removes credentials from URLs inside err (a url.Error carries the URL).
func scrubURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil && u.User != nil {
			return &url.Error{Op: ue.Op, URL: redactURL(u), Err: ue.Err}
		}
	}
	return err
}

func redactURL(u *url.URL) string {
	c := *u
	if c.User != nil {
		c.User = url.User("REDACTED")
	}
	return c.String()
}
