// Package dotenv reads a job's artifacts:reports:dotenv report as GitLab does
// (Ci::ParseDotenvArtifactService): every line KEY=VALUE with both sides trimmed, no
// comments, no blank lines, no quoting rules, a later key overriding an earlier one,
// and limits on size and number of variables. The variables pass to the jobs that
// depend on the reporting job. Only internal/coordinator imports it.
package dotenv

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"unicode/utf8"
)

// GitLab's default limits (plan_limits dotenv_size and dotenv_variables).
const (
	DefaultMaxBytes     = 5 * 1024
	DefaultMaxVariables = 20
)

// Limits bound a report; zero fields take the defaults.
type Limits struct {
	MaxBytes     int
	MaxVariables int
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxVariables <= 0 {
		l.MaxVariables = DefaultMaxVariables
	}
	return l
}

// Variable is one KEY=VALUE of a report.
type Variable struct {
	Key, Value string
}

// ErrInvalid marks a report that breaks the format or its limits.
var ErrInvalid = errors.New("invalid dotenv report")

var keyPattern = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

// Parse reads an uncompressed report, in order of first appearance (a repeated key
// keeps its first position and takes its last value). Errors wrap ErrInvalid and
// name the line, never a value.
func Parse(data []byte, limits Limits) ([]Variable, error) {
	limits = limits.withDefaults()
	if len(data) >= limits.MaxBytes {
		return nil, fmt.Errorf("%w: dotenv report of %d bytes is too big; the maximum is %d bytes", ErrInvalid, len(data), limits.MaxBytes-1)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(data) {
		data = []byte(strings.ToValidUTF8(string(data), "\uFFFD"))
	}
	var out []Variable
	index := map[string]int{}
	lines := strings.SplitAfter(string(data), "\n")
	for n, line := range lines {
		if line == "" { // after a final newline
			continue
		}
		line = strings.TrimRight(line, "\r\n")
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%w: line %d is not KEY=VALUE", ErrInvalid, n+1)
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if !keyPattern.MatchString(key) || len(key) > 255 {
			return nil, fmt.Errorf("%w: line %d: key %q must be 1 to 255 letters, digits or '_'", ErrInvalid, n+1, truncate(key))
		}
		if i, seen := index[key]; seen {
			out[i].Value = value
			continue
		}
		index[key] = len(out)
		out = append(out, Variable{Key: key, Value: value})
	}
	if len(out) > limits.MaxVariables {
		return nil, fmt.Errorf("%w: dotenv files cannot have more than %d variables (this one has %d)", ErrInvalid, limits.MaxVariables, len(out))
	}
	return out, nil
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// ParseGzip reads a report as the runner uploads it (artifact_format gzip; several
// concatenated members are read as one stream).
func ParseGzip(r io.Reader, limits Limits) ([]Variable, error) {
	limits = limits.withDefaults()
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("%w: not a gzip stream: %v", ErrInvalid, err)
	}
	defer zr.Close()
	data, err := io.ReadAll(io.LimitReader(zr, int64(limits.MaxBytes)+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading the gzip stream: %v", ErrInvalid, err)
	}
	return Parse(data, limits)
}
