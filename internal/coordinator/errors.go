package coordinator

import (
	"errors"
	"fmt"

	"github.com/kiln-ci/kiln/internal/store"
)

// Kind classifies an error for the API: each kind has one HTTP status.
type Kind int

// Error kinds.
const (
	KindInternal     Kind = iota // 500: a bug or a broken dependency; logged
	KindInvalid                  // 400: bad input; the message names what is wrong; nothing changed
	KindUnauthorized             // 401: no or unknown credentials
	KindForbidden                // 403: known caller, not allowed
	KindNotFound                 // 404
	KindConflict                 // 409: the record is not in a state that allows it
	KindTooLarge                 // 413
	KindUnavailable              // 503: try again
)

// Error is an error with a Kind and a message safe to show to the caller (it never
// contains a secret).
type Error struct {
	Kind    Kind
	Message string
	Err     error // the cause, for logs; may be nil
}

func (e *Error) Error() string {
	if e.Err != nil && e.Message == "" {
		return e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

func newError(kind Kind, err error, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...), Err: err}
}

// KindOf returns the kind of err: the Kind of an *Error in its chain, or the kind a
// store sentinel stands for, or KindInternal.
func KindOf(err error) Kind {
	var e *Error
	switch {
	case err == nil:
		return KindInternal
	case errors.As(err, &e):
		return e.Kind
	case errors.Is(err, store.ErrNotFound):
		return KindNotFound
	case errors.Is(err, store.ErrConflict):
		return KindConflict
	case errors.Is(err, store.ErrInvalid):
		return KindInvalid
	}
	return KindInternal
}

// notFound wraps a store lookup error: ErrNotFound becomes a KindNotFound error
// naming what was looked for; anything else passes through with context.
func notFound(err error, what string, id any) error {
	if errors.Is(err, store.ErrNotFound) {
		return newError(KindNotFound, err, "%s %v not found", what, id)
	}
	return fmt.Errorf("reading %s %v: %w", what, id, err)
}

// LookupError wraps the error of a store lookup for a handler: ErrNotFound becomes
// a KindNotFound error saying "<what> <id> not found".
func LookupError(err error, what string, id any) error { return notFound(err, what, id) }
