// Package joblog renders a CI job's log as HTML the way GitLab shows it: ANSI colours
// and styles become CSS classes, GitLab's collapsible sections
// ("section_start:<unix>:<name>[collapsed=true]\r\e[0K<header>" …
// "section_end:<unix>:<name>\r\e[0K") become header lines with a toggle and the lines
// they hold, carriage returns overwrite a line as a terminal does, and every byte of
// the log is escaped: a log can never inject markup.
//
// A log is rendered in chunks as it grows (follow mode): Render takes the bytes after
// the last rendered offset and a State, renders the complete lines, and returns how far
// it got; the State carries what the next chunk needs (the current style, the open
// sections, the line number). It travels to the browser and back as an opaque token
// (State.Encode, Decode), as GitLab's trace.json does, and Decode checks every field,
// since it comes from the client.
//
// The package is pure (no I/O beyond the io.Writer it is given). Only internal/web
// imports it.
package joblog

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
)

// Limits on a decoded State: a client cannot make the server hold or render more.
const (
	// MaxOpenSections is how deeply sections may nest; deeper starts are shown as text.
	MaxOpenSections = 32
	maxTokenLength  = 8192
)

// sectionName is GitLab's section name alphabet.
var sectionName = regexp.MustCompile(`^[A-Za-z0-9_.\-]{1,100}$`)

// State is what rendering the next chunk of a log needs to know of the chunks before
// it. The zero value is the start of a log.
type State struct {
	// Style is the ANSI style in effect at the end of the last rendered line.
	Style Style `json:"style,omitzero"`
	// Open are the sections open at that point, outermost first.
	Open []Section `json:"open,omitempty"`
	// Sections counts the sections started so far; section ids are "s1", "s2", ...
	Sections int `json:"sections,omitempty"`
	// Lines counts the lines rendered so far (the last line's number).
	Lines int `json:"lines,omitempty"`
}

// Section is an open section.
type Section struct {
	ID    int    `json:"id"`   // rendered as "s<ID>"
	Name  string `json:"name"` // as the log names it
	Start int64  `json:"start"`
	// Header is the line number of the section's header line.
	Header int `json:"header"`
	// HideDuration is the section's hide_duration=true option.
	HideDuration bool `json:"hide,omitempty"`
}

// Encode returns the state as an opaque URL-safe token.
func (s State) Encode() string {
	b, err := json.Marshal(s)
	if err != nil { // cannot happen: the fields are plain values
		panic(fmt.Sprintf("joblog: encoding a state: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// ErrBadState is wrapped by Decode's errors.
var ErrBadState = errors.New("bad log state")

// Decode reads a token made by Encode; "" is the start of a log. Any field out of
// range is an error wrapping ErrBadState that names it.
func Decode(token string) (State, error) {
	var s State
	if token == "" {
		return s, nil
	}
	if len(token) > maxTokenLength {
		return State{}, fmt.Errorf("%w: the token is longer than %d characters", ErrBadState, maxTokenLength)
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return State{}, fmt.Errorf("%w: the token is not base64url", ErrBadState)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return State{}, fmt.Errorf("%w: the token is not a state", ErrBadState)
	}
	if err := s.check(); err != nil {
		return State{}, fmt.Errorf("%w: %v", ErrBadState, err)
	}
	return s, nil
}

func (s State) check() error {
	if s.Lines < 0 || s.Sections < 0 {
		return errors.New("negative line or section count")
	}
	if len(s.Open) > MaxOpenSections {
		return fmt.Errorf("%d open sections, at most %d", len(s.Open), MaxOpenSections)
	}
	for _, o := range s.Open {
		if o.ID <= 0 || o.ID > s.Sections || o.Header <= 0 || o.Header > s.Lines {
			return fmt.Errorf("open section %d is out of range", o.ID)
		}
		if !sectionName.MatchString(o.Name) {
			return fmt.Errorf("open section %d has an invalid name", o.ID)
		}
	}
	return s.Style.check()
}
