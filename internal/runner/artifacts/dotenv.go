package artifacts

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/kiln-ci/kiln/internal/jobspec"
)

// DotenvLimits are GitLab's application limits on dotenv reports.
type DotenvLimits struct {
	// MaxBytes: a report must be smaller than this; GitLab's default is 5 KB.
	MaxBytes int
	// MaxVariables: at most this many variables; GitLab's default for self-managed
	// instances is 20 (GitLab.com: 50 on Free, 100 on paid plans).
	MaxVariables int
}

// DefaultDotenvLimits are GitLab's defaults.
var DefaultDotenvLimits = DotenvLimits{MaxBytes: 5 * 1024, MaxVariables: 20}

var (
	dotenvLine = regexp.MustCompile(`^(.*?)=(.*)$`)
	dotenvKey  = regexp.MustCompile(`^[a-zA-Z0-9_]+$`)
)

// ParseDotenv reads dotenv reports as GitLab does (Ci::ParseDotenvArtifactService):
//
//   - each report must be smaller than MaxBytes; UTF-16 (with a byte order mark) is
//     converted and a UTF-8 byte order mark dropped;
//   - every line is KEY=VALUE, split at the first "=", both sides trimmed; an empty
//     line, a comment-only line or a line without "=" is "Invalid Format";
//   - keys contain only letters, digits and "_"; values are taken as they are: quotes
//     stay, "#" starts no comment, $VAR is not expanded;
//   - a later key overrides an earlier one, and at most MaxVariables remain.
//
// Errors use GitLab's messages. The variables are public and unmasked, as GitLab passes
// them to dependent jobs.
func ParseDotenv(reports [][]byte, lim DotenvLimits) (jobspec.Variables, error) {
	if lim.MaxBytes <= 0 {
		lim.MaxBytes = DefaultDotenvLimits.MaxBytes
	}
	if lim.MaxVariables <= 0 {
		lim.MaxVariables = DefaultDotenvLimits.MaxVariables
	}
	index := map[string]int{}
	var vars jobspec.Variables
	for _, raw := range reports {
		if len(raw) >= lim.MaxBytes {
			return nil, fmt.Errorf("Dotenv Artifact Too Big. Maximum Allowable Size: %d", lim.MaxBytes)
		}
		text := toUTF8(raw)
		for _, line := range splitLines(text) {
			m := dotenvLine.FindStringSubmatch(line)
			if m == nil {
				return nil, fmt.Errorf("Invalid Format")
			}
			key, value := strings.TrimSpace(m[1]), strings.TrimSpace(m[2])
			switch {
			case key == "":
				return nil, fmt.Errorf("Validation failed: Key can't be blank")
			case len(key) > 255:
				return nil, fmt.Errorf("Validation failed: Key is too long (maximum is 255 characters)")
			case !dotenvKey.MatchString(key):
				return nil, fmt.Errorf("Validation failed: Key can contain only letters, digits and '_'.")
			}
			if i, ok := index[key]; ok {
				vars[i].Value = value
				continue
			}
			index[key] = len(vars)
			vars = append(vars, jobspec.Variable{Key: key, Value: value, Public: true})
		}
	}
	if len(vars) > lim.MaxVariables {
		return nil, fmt.Errorf("Dotenv files cannot have more than %d variables", lim.MaxVariables)
	}
	return vars, nil
}

// splitLines splits like Ruby's each_line: on "\n", the last line needing none, with
// no empty element after a final newline.
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
