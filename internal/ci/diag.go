package ci

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Severity says whether a diagnostic makes the configuration invalid.
type Severity uint8

// Severities.
const (
	SeverityError Severity = iota
	SeverityWarning
)

func (s Severity) String() string {
	if s == SeverityWarning {
		return "warning"
	}
	return "error"
}

// MarshalText writes "error" or "warning".
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads "error" or "warning".
func (s *Severity) UnmarshalText(b []byte) error {
	switch string(b) {
	case "error":
		*s = SeverityError
	case "warning":
		*s = SeverityWarning
	default:
		return fmt.Errorf("unknown severity %q", b)
	}
	return nil
}

// Pos is a place in a configuration file. Line and Column count from 1; zero means
// unknown (for example a key that comes from a default rather than from a file).
type Pos struct {
	File   string `json:"file"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
}

func (p Pos) String() string {
	switch {
	case p.File == "":
		return ""
	case p.Line == 0:
		return p.File
	case p.Column == 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column)
}

// Diagnostic is one finding about a configuration. Message uses GitLab's wording where
// GitLab has one, e.g. "jobs:build script can't be blank".
type Diagnostic struct {
	Severity Severity `json:"severity"`
	Pos
	Message string `json:"message"`
}

// String formats the diagnostic as "file:line:col: error: message".
func (d Diagnostic) String() string {
	if p := d.Pos.String(); p != "" {
		return p + ": " + d.Severity.String() + ": " + d.Message
	}
	return d.Severity.String() + ": " + d.Message
}

// Diagnostics is a list of findings in the order they were made.
type Diagnostics []Diagnostic

// HasErrors reports whether any diagnostic is an error.
func (ds Diagnostics) HasErrors() bool {
	for _, d := range ds {
		if d.Severity == SeverityError {
			return true
		}
	}
	return false
}

// Errors returns the errors only.
func (ds Diagnostics) Errors() Diagnostics { return ds.filter(SeverityError) }

// Warnings returns the warnings only.
func (ds Diagnostics) Warnings() Diagnostics { return ds.filter(SeverityWarning) }

func (ds Diagnostics) filter(s Severity) Diagnostics {
	var out Diagnostics
	for _, d := range ds {
		if d.Severity == s {
			out = append(out, d)
		}
	}
	return out
}

// Err returns nil when there is no error, or an error listing every error (one per
// line), which errors.As turns back into Diagnostics through *DiagnosticsError.
func (ds Diagnostics) Err() error {
	errs := ds.Errors()
	if len(errs) == 0 {
		return nil
	}
	return &DiagnosticsError{Diagnostics: errs}
}

// DiagnosticsError is the error form of a list of error diagnostics.
type DiagnosticsError struct{ Diagnostics Diagnostics }

func (e *DiagnosticsError) Error() string {
	lines := make([]string, len(e.Diagnostics))
	for i, d := range e.Diagnostics {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

// AsDiagnostics returns the diagnostics carried by err, or one error diagnostic with
// err's text.
func AsDiagnostics(err error) Diagnostics {
	var de *DiagnosticsError
	if errors.As(err, &de) {
		return de.Diagnostics
	}
	return Diagnostics{{Severity: SeverityError, Message: err.Error()}}
}

// diags collects diagnostics; methods keep call sites short.
type diags struct{ list Diagnostics }

func (d *diags) errorf(p Pos, format string, args ...any) {
	d.list = append(d.list, Diagnostic{Severity: SeverityError, Pos: p, Message: fmt.Sprintf(format, args...)})
}

func (d *diags) warnf(p Pos, format string, args ...any) {
	d.list = append(d.list, Diagnostic{Severity: SeverityWarning, Pos: p, Message: fmt.Sprintf(format, args...)})
}

func (d *diags) add(more ...Diagnostic) { d.list = append(d.list, more...) }

func (d *diags) hasErrors() bool { return d.list.HasErrors() }

// tidy drops repeated diagnostics (parallel instances repeat their job's) and sorts
// the rest by file (in the order files were read), line and column; diagnostics
// without a place come first.
func (ds Diagnostics) tidy(files []string) Diagnostics {
	seen := make(map[Diagnostic]bool, len(ds))
	out := make(Diagnostics, 0, len(ds))
	for _, d := range ds {
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	rank := func(f string) int {
		if f == "" {
			return -1
		}
		if i := slices.Index(files, f); i >= 0 {
			return i
		}
		return len(files)
	}
	slices.SortStableFunc(out, func(a, b Diagnostic) int {
		return cmp.Or(cmp.Compare(rank(a.File), rank(b.File)), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
	return out
}
