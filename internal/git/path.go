package git

import (
	"fmt"
	"strings"
)

// GitLab's limits on project full paths.
const (
	// MaxSegmentLength is the longest group or project path segment GitLab accepts.
	MaxSegmentLength = 255
	// MaxSegments bounds a full path: a top-level group, at most 20 levels of
	// subgroups (GitLab's limit), and the project.
	MaxSegments = 22
)

// ValidatePath checks a project full path (`group/sub/project`) against GitLab's rules
// for group and project slugs: at least a namespace and a project; every segment made
// of ASCII letters, digits, `_`, `.` and `-`, starting and ending with a letter or
// digit, with no two special characters in a row, not ending in `.git` or `.atom`, at
// most 255 characters; at most 22 segments. It does no I/O, so a path that fails here
// never reaches the disk. The error wraps ErrInvalidPath and names the bad segment.
//
// GitLab's reserved route names (`api`, `-`, ...) are the routing layer's concern and
// are not checked here.
func ValidatePath(fullPath string) error {
	if fullPath == "" {
		return fmt.Errorf("%w: empty", ErrInvalidPath)
	}
	segs := strings.Split(fullPath, "/")
	if len(segs) < 2 {
		return fmt.Errorf("%w %q: a project path needs a namespace and a project (group/project)", ErrInvalidPath, fullPath)
	}
	if len(segs) > MaxSegments {
		return fmt.Errorf("%w %q: %d segments, at most %d allowed", ErrInvalidPath, fullPath, len(segs), MaxSegments)
	}
	for i, s := range segs {
		if msg := segmentProblem(s); msg != "" {
			return fmt.Errorf("%w %q: segment %d %q %s", ErrInvalidPath, fullPath, i+1, s, msg)
		}
	}
	return nil
}

func segmentProblem(s string) string {
	switch {
	case s == "":
		return "is empty"
	case len(s) > MaxSegmentLength:
		return fmt.Sprintf("is longer than %d characters", MaxSegmentLength)
	case strings.HasSuffix(s, ".git") || strings.HasSuffix(s, ".atom"):
		return "must not end in .git or .atom"
	}
	prevSpecial := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		special := c == '_' || c == '.' || c == '-'
		if !special && !isAlnum(c) {
			return fmt.Sprintf("contains %q: only letters, digits, '_', '.' and '-' are allowed", rune(c))
		}
		if special && prevSpecial {
			return "contains consecutive special characters"
		}
		prevSpecial = special
	}
	if !isAlnum(s[0]) || !isAlnum(s[len(s)-1]) {
		return "must start and end with a letter or digit"
	}
	return ""
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// diskPath is the repository directory of a valid full path, relative to the root.
// GitLab resolves paths case-insensitively, so repositories are stored lowercased:
// `Group/Project` and `group/project` are the same repository.
func diskPath(fullPath string) string {
	return strings.ToLower(fullPath) + ".git"
}

// ZeroSHA is git's all-zero object name: the old value of a created ref and the new
// value of a deleted one, and GitLab's CI_COMMIT_BEFORE_SHA when there is none.
const ZeroSHA = "0000000000000000000000000000000000000000"

// IsZeroSHA reports whether sha is a full object name of zeros (SHA-1 or SHA-256).
func IsZeroSHA(sha string) bool {
	return (len(sha) == 40 || len(sha) == 64) && strings.Trim(sha, "0") == ""
}

// isFullSHA reports whether s is a full lowercase hexadecimal object name.
func isFullSHA(s string) bool {
	return (len(s) == 40 || len(s) == 64) && isHex(s)
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// ValidateRefName checks name against git's ref name rules (git-check-ref-format).
// It takes full names under `refs/` (`refs/heads/main`) and, when oneLevel is true,
// short names too (`main`, `feature/x`). Names starting with `-` are refused too, so a name can never be taken
// for a git option. The error wraps ErrInvalidRef.
func ValidateRefName(name string, oneLevel bool) error {
	if msg := refNameProblem(name, oneLevel); msg != "" {
		return fmt.Errorf("%w %q: %s", ErrInvalidRef, name, msg)
	}
	return nil
}

func refNameProblem(name string, oneLevel bool) string {
	switch {
	case name == "":
		return "is empty"
	case name == "@":
		return `is "@"`
	case strings.HasPrefix(name, "-"):
		return "starts with '-'"
	case strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/"):
		return "starts or ends with '/'"
	case strings.HasSuffix(name, "."):
		return "ends with '.'"
	case strings.Contains(name, ".."):
		return `contains ".."`
	case strings.Contains(name, "@{"):
		return `contains "@{"`
	case strings.Contains(name, "//"):
		return `contains "//"`
	case !oneLevel && !strings.HasPrefix(name, "refs/"):
		return "is not a full ref name (refs/...)"
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c < 0x20 || c == 0x7f || strings.IndexByte(" ~^:?*[\\", c) >= 0 {
			return fmt.Sprintf("contains %q", rune(c))
		}
	}
	for _, comp := range strings.Split(name, "/") {
		if strings.HasPrefix(comp, ".") {
			return fmt.Sprintf("component %q starts with '.'", comp)
		}
		if strings.HasSuffix(comp, ".lock") {
			return fmt.Sprintf("component %q ends with .lock", comp)
		}
	}
	return ""
}

// validRevision accepts what the read functions take as a revision: a hexadecimal
// object name (abbreviated to at least 4 digits, or full) or a ref name, short or full.
// Git's revision syntax (`main~2`, `:/text`, `@{1}`) is refused.
func validRevision(rev string) error {
	if len(rev) >= 4 && len(rev) <= 64 && isHex(rev) {
		return nil
	}
	return ValidateRefName(rev, true)
}
