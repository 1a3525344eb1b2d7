package userapi

import (
	"errors"
	"net/http"
	"sort"

	"github.com/kiln-ci/kiln/internal/api/reply"
)

// fieldError is a record that failed validation: 400 {"message": {"field":
// ["problem", ...]}}, GitLab's shape for model errors. Problems never quote a
// secret value.
type fieldError struct {
	fields map[string][]string
}

func (e *fieldError) Error() string {
	keys := make([]string, 0, len(e.fields))
	for k := range e.fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := ""
	for _, k := range keys {
		for _, p := range e.fields[k] {
			if s != "" {
				s += "; "
			}
			s += k + " " + p
		}
	}
	return s
}

// fieldErr is a fieldError about one field.
func fieldErr(field, problem string) error {
	return &fieldError{fields: map[string][]string{field: {problem}}}
}

// baseErr is a fieldError about the record as a whole ({"message": {"base": [...]}}).
func baseErr(problems ...string) error {
	return &fieldError{fields: map[string][]string{"base": problems}}
}

// fail answers err in GitLab's shapes: a parameter problem as 400 {"error": ...}, a
// validation problem as 400 {"message": {field: [...]}}, and a coordinator error with
// its status and message (an internal error is logged, not shown).
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var pe *paramError
	var fe *fieldError
	switch {
	case errors.As(err, &pe):
		reply.JSON(w, http.StatusBadRequest, map[string]string{"error": pe.msg})
	case errors.As(err, &fe):
		reply.JSON(w, http.StatusBadRequest, map[string]any{"message": fe.fields})
	default:
		reply.Error(w, r, h.log, err)
	}
}

// notFound answers GitLab's 404 for a kind of record: {"message": "404 Project Not Found"}.
func notFound(w http.ResponseWriter, what string) {
	reply.Text(w, http.StatusNotFound, "404 "+what+" Not Found")
}

// forbidden answers 403 {"message": "403 Forbidden"}, with a reason when given.
func forbidden(w http.ResponseWriter, why string) {
	msg := "403 Forbidden"
	if why != "" {
		msg += " - " + why
	}
	reply.Text(w, http.StatusForbidden, msg)
}
