package git

import (
	"errors"
	"strings"
	"testing"
)

func TestValidatePathAcceptsGitLabSlugs(t *testing.T) {
	for _, p := range []string{
		"group/project",
		"group/sub/project",
		"Group/Project",
		"a/b",
		"gitlab-org/gitlab-runner",
		"my.group/api.service.v2",
		"user_1/docs_site_v3",
		"g/" + strings.Repeat("a", MaxSegmentLength),
		strings.Repeat("g/", MaxSegments-1) + "p",
	} {
		if err := ValidatePath(p); err != nil {
			t.Errorf("ValidatePath(%q) = %v, want nil", p, err)
		}
	}
}

func TestValidatePathRefusesWhatGitLabRefuses(t *testing.T) {
	for _, tc := range []struct{ path, why string }{
		{"", "empty"},
		{"project", "namespace and a project"},
		{"group/", `segment 2 "" is empty`},
		{"/group/project", `segment 1 "" is empty`},
		{"group//project", "is empty"},
		{"group/../project", "consecutive special characters"},
		{"../etc/passwd", "consecutive special characters"},
		{"group/./project", "must start and end with a letter or digit"},
		{"group/.hidden", "must start and end with a letter or digit"},
		{"group/-project", "must start and end with a letter or digit"},
		{"group/project_", "must start and end with a letter or digit"},
		{"group/pro--ject", "consecutive special characters"},
		{"group/pro._ject", "consecutive special characters"},
		{"group/project.git", "must not end in .git or .atom"},
		{"group/feed.atom", "must not end in .git or .atom"},
		{"group/pro ject", `contains ' '`},
		{"group/pro+ject", `contains '+'`},
		{"group\\x/project", `contains '\\'`},
		{"group/pro%2fject", `contains '%'`},
		{"group/pröject", "only letters, digits"},
		{"group/pro\x00ject", "only letters, digits"},
		{"g/" + strings.Repeat("a", MaxSegmentLength+1), "longer than 255"},
		{strings.Repeat("g/", MaxSegments) + "p", "segments, at most 22"},
	} {
		err := ValidatePath(tc.path)
		if !errors.Is(err, ErrInvalidPath) {
			t.Errorf("ValidatePath(%q) = %v, want ErrInvalidPath", tc.path, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.why) {
			t.Errorf("ValidatePath(%q) = %q, want it to say %q", tc.path, err, tc.why)
		}
	}
}

func TestValidateRefNameFollowsCheckRefFormat(t *testing.T) {
	for _, tc := range []struct {
		name     string
		oneLevel bool
		ok       bool
	}{
		{"refs/heads/main", false, true},
		{"refs/pipelines/42", false, true},
		{"refs/tags/v1.0.0", false, true},
		{"refs/heads/feature/x-y_z", false, true},
		{"main", true, true},
		{"main", false, false},
		{"heads/main", false, false},
		{"feature/x", true, true},
		{"HEAD", true, true},
		{"", true, false},
		{"@", true, false},
		{"-main", true, false},
		{"refs/heads/-x", false, true}, // only the whole name may not start with '-'
		{"refs/heads/a..b", false, false},
		{"refs/heads/a b", false, false},
		{"refs/heads/a~1", false, false},
		{"refs/heads/a^", false, false},
		{"refs/heads/a:b", false, false},
		{"refs/heads/a?", false, false},
		{"refs/heads/a*", false, false},
		{"refs/heads/a[", false, false},
		{"refs/heads/a\\b", false, false},
		{"refs/heads/a@{1}", false, false},
		{"refs/heads/.hidden", false, false},
		{"refs/heads/x.lock", false, false},
		{"refs/heads/x.", false, false},
		{"refs/heads/", false, false},
		{"/refs/heads/x", false, false},
		{"refs//heads", false, false},
		{"refs/heads/a\x7f", false, false},
		{"refs/heads/a\nb", false, false},
	} {
		err := ValidateRefName(tc.name, tc.oneLevel)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateRefName(%q, %v) = %v, want ok=%v", tc.name, tc.oneLevel, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidRef) {
			t.Errorf("ValidateRefName(%q) = %v, want ErrInvalidRef", tc.name, err)
		}
	}
}

func TestValidRevisionRefusesRevisionSyntax(t *testing.T) {
	for _, rev := range []string{"main~1", "main^", ":/fix", "HEAD@{1}", "main:file", "--all", "a..b"} {
		if validRevision(rev) == nil {
			t.Errorf("validRevision(%q) = nil, want an error", rev)
		}
	}
	for _, rev := range []string{"main", "refs/heads/main", "v1.0", "deadbeef", ZeroSHA, "HEAD"} {
		if err := validRevision(rev); err != nil {
			t.Errorf("validRevision(%q) = %v, want nil", rev, err)
		}
	}
}

func TestIsZeroSHA(t *testing.T) {
	if !IsZeroSHA(ZeroSHA) || !IsZeroSHA(strings.Repeat("0", 64)) {
		t.Error("zero SHAs not recognised")
	}
	if IsZeroSHA("0") || IsZeroSHA("") || IsZeroSHA(strings.Repeat("0", 39)+"1") {
		t.Error("non-zero SHA taken for zero")
	}
}
