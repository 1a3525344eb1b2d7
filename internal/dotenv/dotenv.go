// Package dotenv reads a job's artifacts:reports:dotenv reports as GitLab does
// (Ci::ParseDotenvArtifactService), so that their variables pass to the jobs that
// depend on the reporting job:
//
//   - every line is KEY=VALUE, split at the first "=", both sides trimmed; an empty
//     line, a comment line or a line without "=" is "Invalid Format";
//   - keys are 1 to 255 letters, digits and "_"; values are taken as they are: quotes
//     stay, "#" starts no comment, $VAR is not expanded;
//   - UTF-16 with a byte order mark is converted, a UTF-8 byte order mark dropped;
//   - a later key overrides an earlier one, in the same report or a later one;
//   - the reports together must be smaller than Limits.MaxBytes and hold at most
//     Limits.MaxVariables variables.
//
// Errors use GitLab's messages, say where (report and line), and never show a line's
// text, which may hold a secret.
//
// It is shared by both sides: the runner reads the reports a job wrote (kiln exec
// passes their variables on; kiln runner run refuses a bad report before it uploads
// it), the coordinator reads the reports it is sent. It imports only the standard
// library.
package dotenv

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// GitLab's default limits (plan_limits dotenv_size and dotenv_variables; GitLab.com
// allows 50 variables on Free and 100 on paid plans).
const (
	DefaultMaxBytes     = 5 * 1024
	DefaultMaxVariables = 20
)

// Limits bound the reports of one job; zero fields take the defaults.
type Limits struct {
	// MaxBytes: the reports together must be smaller than this.
	MaxBytes int
	// MaxVariables: at most this many variables, once later keys have overridden
	// earlier ones.
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

// Report is one dotenv file: its name, which errors use (it may be empty), and its
// contents.
type Report struct {
	Name string
	Data []byte
}

// ErrInvalid matches (errors.Is) every error about a report that breaks the format or
// the limits.
var ErrInvalid = errors.New("invalid dotenv report")

// invalid is a report's fault, in GitLab's words.
type invalid struct{ msg string }

func (e invalid) Error() string        { return e.msg }
func (e invalid) Is(target error) bool { return target == ErrInvalid }

func invalidf(format string, args ...any) error { return invalid{fmt.Sprintf(format, args...)} }

var (
	linePattern = regexp.MustCompile(`^(.*?)=(.*)$`)
	keyPattern  = regexp.MustCompile(`^[A-Za-z0-9_]+$`)
)

// Parse reads one report; see ParseReports.
func Parse(data []byte, limits Limits) ([]Variable, error) {
	return ParseReports([]Report{{Data: data}}, limits)
}

// ParseReports reads the reports of one job, in order, as one list of variables in
// order of first appearance (a repeated key keeps its first position and takes its
// last value).
func ParseReports(reports []Report, limits Limits) ([]Variable, error) {
	limits = limits.withDefaults()
	size := 0
	for _, r := range reports {
		size += len(r.Data)
	}
	if size >= limits.MaxBytes {
		return nil, invalidf("Dotenv Artifact Too Big. Maximum Allowable Size: %d", limits.MaxBytes)
	}
	var out []Variable
	index := map[string]int{}
	for i, r := range reports {
		for n, line := range splitLines(toUTF8(r.Data)) {
			m := linePattern.FindStringSubmatch(line)
			if m == nil {
				return nil, invalidf("%s: Invalid Format (not KEY=VALUE)", where(reports, i, n))
			}
			key, value := strings.TrimSpace(m[1]), strings.TrimSpace(m[2])
			switch {
			case key == "":
				return nil, invalidf("%s: Validation failed: Key can't be blank", where(reports, i, n))
			case len(key) > 255:
				return nil, invalidf("%s: Validation failed: Key is too long (maximum is 255 characters)", where(reports, i, n))
			case !keyPattern.MatchString(key):
				return nil, invalidf("%s: Validation failed: Key can contain only letters, digits and '_'.", where(reports, i, n))
			}
			if k, seen := index[key]; seen {
				out[k].Value = value
				continue
			}
			index[key] = len(out)
			out = append(out, Variable{Key: key, Value: value})
		}
	}
	if len(out) > limits.MaxVariables {
		return nil, invalidf("Dotenv files cannot have more than %d variables", limits.MaxVariables)
	}
	return out, nil
}

// where names line n (from 0) of report i: "line 3", or "build.env line 3" (or
// "report 2 line 3") when there are several reports.
func where(reports []Report, i, n int) string {
	switch {
	case len(reports) == 1:
		return fmt.Sprintf("line %d", n+1)
	case reports[i].Name != "":
		return fmt.Sprintf("%s line %d", reports[i].Name, n+1)
	}
	return fmt.Sprintf("report %d line %d", i+1, n+1)
}

// ParseReader reads one report from r (artifact_format raw), no further than the size
// limit allows; see ParseReports.
func ParseReader(r io.Reader, limits Limits) ([]Variable, error) {
	limits = limits.withDefaults()
	data, err := io.ReadAll(io.LimitReader(r, int64(limits.MaxBytes)))
	if err != nil {
		return nil, fmt.Errorf("reading a dotenv report: %w", err)
	}
	return Parse(data, limits)
}

// ParseGzip reads reports as a runner uploads them (artifact_format gzip): one gzip
// member per report, named by its header; an empty stream holds none, as in GitLab. It
// reads no more than the size limit allows.
func ParseGzip(r io.Reader, limits Limits) ([]Variable, error) {
	limits = limits.withDefaults()
	br := bufio.NewReader(r) // a ByteReader: each member ends where the next begins
	zr, err := gzip.NewReader(br)
	if err == io.EOF {
		return nil, nil // no member: no report (the runner skips files that are not regular)
	}
	if err != nil {
		return nil, invalidf("not a gzip stream: %v", err)
	}
	defer zr.Close()
	zr.Multistream(false)
	var reports []Report
	left := int64(limits.MaxBytes) // one byte more than the reports may hold together
	for {
		data, err := io.ReadAll(io.LimitReader(zr, left))
		if err != nil {
			return nil, invalidf("reading the gzip stream: %v", err)
		}
		reports = append(reports, Report{Name: zr.Name, Data: data})
		if left -= int64(len(data)); left == 0 {
			break // too big: ParseReports says so
		}
		if err := zr.Reset(br); err == io.EOF {
			break
		} else if err != nil {
			return nil, invalidf("reading the gzip stream: %v", err)
		}
		zr.Multistream(false)
	}
	return ParseReports(reports, limits)
}

// splitLines splits like Ruby's each_line: on "\n", the last line needing none, with
// no empty element after a final newline. The "\n" is dropped; a "\r" before it is
// trimmed with the value.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\n")
	}
	return lines
}

// toUTF8 converts UTF-16 with a byte order mark to UTF-8 and drops a UTF-8 byte order
// mark; invalid UTF-8 becomes the replacement character.
func toUTF8(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte{0xFF, 0xFE}) || bytes.HasPrefix(b, []byte{0xFE, 0xFF}):
		le := b[0] == 0xFF
		b = b[2:]
		u := make([]uint16, 0, len(b)/2)
		for i := 0; i+1 < len(b); i += 2 {
			if le {
				u = append(u, uint16(b[i])|uint16(b[i+1])<<8)
			} else {
				u = append(u, uint16(b[i])<<8|uint16(b[i+1]))
			}
		}
		return string(utf16.Decode(u))
	case bytes.HasPrefix(b, []byte{0xEF, 0xBB, 0xBF}):
		b = b[3:]
	}
	if !utf8.Valid(b) {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	return string(b)
}
