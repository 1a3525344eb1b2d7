package cache

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/runner/fileset"
)

func TestSanitizeKeysLikeGitLabRunner(t *testing.T) {
	cases := []struct {
		in, want string
		changed  bool
		bad      bool
	}{
		{"main", "main", false, false},
		{"build/main", "build/main", false, false},
		{"../../etc/passwd", "etc/passwd", true, false},
		{"a%2Fb%2e%2E", "a/b..", true, false},
		{`win\path\key`, "win/path/key", true, false},
		{"key/  ", "key", true, false},
		{"trailing space ", "trailing space", true, false},
		{"/", "", false, true},
		{"..", "", false, true},
		{"", "", false, true},
	}
	for _, c := range cases {
		got, warn, err := Sanitize(c.in)
		if c.bad {
			if err == nil {
				t.Errorf("Sanitize(%q) = %q, want an error", c.in, got)
			}
			continue
		}
		if err != nil || got != c.want || (warn != "") != c.changed {
			t.Errorf("Sanitize(%q) = %q, %q, %v; want %q (changed %v)", c.in, got, warn, err, c.want, c.changed)
		}
	}
}

func TestDefaultKeyIsJobNameAndRef(t *testing.T) {
	k, _, err := Key("", "build", "main", nil)
	if err != nil || k != "build/main" {
		t.Errorf("Key = %q, %v", k, err)
	}
	k, _, _ = Key("deps-$CI_COMMIT_REF_SLUG", "build", "main", func(s string) string {
		return strings.ReplaceAll(s, "$CI_COMMIT_REF_SLUG", "main")
	})
	if k != "deps-main" {
		t.Errorf("expanded key = %q", k)
	}
}

func TestPolicies(t *testing.T) {
	for _, c := range []struct {
		policy, when string
		ok           bool
		pull, push   bool
	}{
		{"", "", true, true, true},
		{"pull-push", "on_success", true, true, true},
		{"pull", "", false, true, false},
		{"push", "", true, false, true},
		{"push", "on_failure", true, false, false},
		{"push", "always", false, false, true},
	} {
		pull, _ := Pulls(c.policy)
		push, _ := Pushes(c.policy, c.when, c.ok)
		if pull != c.pull || push != c.push {
			t.Errorf("policy %q when %q succeeded %v: pull %v push %v; want %v %v", c.policy, c.when, c.ok, pull, push, c.pull, c.push)
		}
	}
	if _, err := Pulls("pul"); err == nil || !strings.Contains(err.Error(), `"pul"`) {
		t.Errorf("unknown policy error = %v", err)
	}
}

func TestFallbackKeysRefuseProtectedGlobalFallback(t *testing.T) {
	keys, warns := FallbackKeys(jobspec.Cache{FallbackKeys: []string{"fb-1", "fb-2"}}, "main-protected", nil)
	if strings.Join(keys, ",") != "fb-1,fb-2" || len(warns) != 1 || !strings.Contains(warns[0], "-protected") {
		t.Errorf("keys %q warnings %q", keys, warns)
	}
	keys, _ = FallbackKeys(jobspec.Cache{}, "main-non_protected", nil)
	if strings.Join(keys, ",") != "main-non_protected" {
		t.Errorf("keys %q", keys)
	}
}

func TestSaveAndRestoreRoundTripWithFallback(t *testing.T) {
	s := NewStore(t.TempDir())
	proj := t.TempDir()
	os.MkdirAll(filepath.Join(proj, "vendor/lib"), 0o755)
	os.WriteFile(filepath.Join(proj, "vendor/lib/x.go"), []byte("package lib"), 0o644)
	sel, err := s.Save(context.Background(), proj, "deps-main", fileset.Spec{Paths: []string{"vendor"}})
	if err != nil || len(sel.Entries) != 3 {
		t.Fatalf("Save = %+v, %v", sel, err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), "deps-main", "cache.zip")); err != nil {
		t.Fatalf("archive not at <dir>/<key>/cache.zip: %v", err)
	}
	fresh := t.TempDir()
	used, err := s.Restore(context.Background(), fresh, []string{"deps-feature", "deps-main"})
	if err != nil || used != "deps-main" {
		t.Fatalf("Restore = %q, %v", used, err)
	}
	if b, _ := os.ReadFile(filepath.Join(fresh, "vendor/lib/x.go")); string(b) != "package lib" {
		t.Errorf("restored content %q", b)
	}
	if _, err := s.Restore(context.Background(), fresh, []string{"nope"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing key: %v, want ErrNotFound", err)
	}
}
