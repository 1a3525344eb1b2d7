// Package reply writes the API's responses in GitLab's shapes: JSON bodies with
// Content-Type application/json (gitlab-runner ignores a JSON body without it), and
// errors as {"message": "..."} with the status a coordinator error kind stands for.
// Internal errors are logged and answered without their details.
//
// The coordinator side's HTTP packages (internal/api/...) import it; nothing else
// should.
package reply

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/kiln-ci/kiln/internal/coordinator"
)

// JSON writes v as JSON with status.
func JSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"message":"500 Internal Server Error"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

// Message is GitLab's error body.
type Message struct {
	Message string `json:"message"`
}

// Status writes GitLab's plain error body for status, e.g. {"message":"403 Forbidden"}.
func Status(w http.ResponseWriter, status int) {
	JSON(w, status, Message{Message: statusLine(status)})
}

// Text writes a message with status.
func Text(w http.ResponseWriter, status int, msg string) {
	JSON(w, status, Message{Message: msg})
}

// statusLine is GitLab's "403 Forbidden".
func statusLine(status int) string {
	return strconv.Itoa(status) + " " + http.StatusText(status)
}

// StatusOf maps a coordinator error to its HTTP status.
func StatusOf(err error) int {
	switch coordinator.KindOf(err) {
	case coordinator.KindInvalid:
		return http.StatusBadRequest
	case coordinator.KindUnauthorized:
		return http.StatusUnauthorized
	case coordinator.KindForbidden:
		return http.StatusForbidden
	case coordinator.KindNotFound:
		return http.StatusNotFound
	case coordinator.KindConflict:
		return http.StatusConflict
	case coordinator.KindTooLarge:
		return http.StatusRequestEntityTooLarge
	case coordinator.KindUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// Error answers err: its status and message, or, for an internal error, a 500 whose
// details go to the log only.
func Error(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	status := StatusOf(err)
	if status == http.StatusInternalServerError {
		log.Error("request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		Status(w, status)
		return
	}
	var ce *coordinator.Error
	msg := err.Error()
	if errors.As(err, &ce) && ce.Message != "" {
		msg = ce.Message
	}
	Text(w, status, msg)
}
