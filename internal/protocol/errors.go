package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
)

// Sentinels a caller branches on; a *StatusError matches them with errors.Is.
var (
	// ErrForbidden: 403, a bad or revoked token. For jobs/request it makes the runner
	// unhealthy; for a job it means the job is gone and must be aborted.
	ErrForbidden = errors.New("forbidden")
	// ErrNotFound: 404.
	ErrNotFound = errors.New("not found")
	// ErrUnauthorized: 401.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrTooLarge: 413, an artifact over the coordinator's limit.
	ErrTooLarge = errors.New("too large")
	// ErrConflict: 409, the coordinator could not hand out a job just now.
	ErrConflict = errors.New("conflict")
	// ErrUnavailable: 503, the coordinator is down for a while.
	ErrUnavailable = errors.New("unavailable")
)

// StatusError is an answer with a status the call did not expect.
type StatusError struct {
	Op         string // the endpoint, e.g. "jobs/request"
	StatusCode int
	// Message is the server's {"message": ...} in one line, if it sent one.
	Message string
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("%s: %d %s", e.Op, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Is matches the sentinels above by status code.
func (e *StatusError) Is(target error) bool {
	switch target {
	case ErrForbidden:
		return e.StatusCode == http.StatusForbidden
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	case ErrTooLarge:
		return e.StatusCode == http.StatusRequestEntityTooLarge
	case ErrConflict:
		return e.StatusCode == http.StatusConflict
	case ErrUnavailable:
		return e.StatusCode == http.StatusServiceUnavailable
	}
	return false
}

// Unhealthy reports whether err from RequestJob should count against the runner's
// health, as gitlab-runner counts it: a 403 or a transport failure, never a 409 or 503.
func Unhealthy(err error) bool {
	if err == nil {
		return false
	}
	var se *StatusError
	if errors.As(err, &se) {
		return se.StatusCode == http.StatusForbidden
	}
	return true
}

// readMessage extracts GitLab's error message, {"message": "..."} or
// {"message": {"field": ["error", ...]}}, from an error answer, in one short line.
func readMessage(resp *http.Response) string {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<10))
	var m struct {
		Message json.RawMessage `json:"message"`
		Error   string          `json:"error"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return ""
	}
	var s string
	if json.Unmarshal(m.Message, &s) == nil {
		return oneLine(s)
	}
	var fields map[string][]string
	if json.Unmarshal(m.Message, &fields) == nil {
		keys := make([]string, 0, len(fields))
		for k := range fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			parts = append(parts, k+" "+strings.Join(fields[k], ", "))
		}
		return oneLine(strings.Join(parts, "; "))
	}
	return oneLine(m.Error)
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
