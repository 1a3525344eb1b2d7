package ci

import (
	"testing"
	"time"
)

func TestParseDurationReadsGitLabsHumanDurations(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"1h 30m":                90 * time.Minute,
		"1h30m":                 90 * time.Minute,
		"3 hours":               3 * time.Hour,
		"3 hours 30 minutes":    3*time.Hour + 30*time.Minute,
		"1 hour and 30 minutes": 90 * time.Minute,
		"2.5h":                  150 * time.Minute,
		"10 min":                10 * time.Minute,
		"1 day":                 24 * time.Hour,
		"1 week":                7 * 24 * time.Hour,
		"1 month":               30 * 24 * time.Hour,
		"90":                    90 * time.Second,
		"01:30:00":              90 * time.Minute,
		"  45 seconds ":         45 * time.Second,
		"1 hour, 5 minutes":     65 * time.Minute,
	} {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}

func TestParseDurationRefusesWhatIsNotADuration(t *testing.T) {
	for _, in := range []string{"", "soon", "1 fortnight", "h", "1:2:3:4", "-5m"} {
		if d, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", in, d)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{90 * time.Minute: "1h 30m", 7 * 24 * time.Hour: "1w", 0: "0s"} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestGlobMatchFollowsGitLabsFnmatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, name string
		want          bool
	}{
		{"*.md", "README.md", true},
		{"*.md", "docs/a.md", false},
		{"docs/**/*.md", "docs/a.md", true},
		{"docs/**/*.md", "docs/x/y/a.md", true},
		{"**/*.go", "main.go", true},
		{"**/*.go", "cmd/kiln/main.go", true},
		{"src/**", "src/a", true},
		{"src/**", "src/a/b", false}, // a ** not followed by / is a *
		{"configs/**.yml", "configs/a.yml", true},
		{"configs/**.yml", "configs/sub/a.yml", false},
		{"configs/**/*.yml", "configs/sub/a.yml", true},
		{"a/**/b", "a/b", true},
		{"a/**/b", "a/x/y/b", true},
		{"**", "a/b", false},
		{"**/.env", "a/.env", true},
		{"[!a].txt", "b.txt", true},
		{"[!a].txt", "a.txt", false},
		{`a\*b`, "a*b", true},
		{`a\*b`, "axb", false},
		{"/Dockerfile", "Dockerfile", true},
		{"{api,web}/**/*.ts", "web/x.ts", true},
		{"{api,web}/**/*.ts", "cli/x.ts", false},
		{"file?.txt", "file1.txt", true},
		{"[ab].txt", "c.txt", false},
		{".*", ".env", true},
	} {
		if got := globMatch(tc.pattern, tc.name); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tc.pattern, tc.name, got, tc.want)
		}
	}
}

func TestSlugIsGitLabsRefSlug(t *testing.T) {
	for in, want := range map[string]string{"main": "main", "feature/Add-GPU_2": "feature-add-gpu-2", "-x-": "x"} {
		if got := Slug(in); got != want {
			t.Errorf("Slug(%q) = %q, want %q", in, got, want)
		}
	}
	if len(Slug(string(make([]byte, 100))+"a")) > 63 {
		t.Errorf("slugs are at most 63 bytes")
	}
}
