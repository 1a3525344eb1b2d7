package docker

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/kiln-ci/kiln/internal/executor"
	"github.com/kiln-ci/kiln/internal/jobspec"
)

func TestAllowListGlobsMatchLikeGitLabRunner(t *testing.T) {
	for _, tc := range []struct {
		image    string
		patterns []string
		want     bool
	}{
		{"ruby", nil, true},
		{"ruby", []string{"*"}, true},
		{"ruby:2.1", []string{"*"}, true},
		{"library/ruby:2.1", []string{"*/*"}, true},
		{"library/ruby:2.1", []string{"*/*:*"}, true},
		{"my.registry.tld/library/ruby:2.1", []string{"my.registry.tld/*/*:*"}, true},
		{"my.registry.tld/group/subgroup/ruby", []string{"my.registry.tld/*/*/*"}, true},
		{"ruby", []string{"**/*"}, true},
		{"library/ruby:2.1", []string{"**/*:*"}, true},
		{"my.registry.tld/group/subgroup/ruby:2.1", []string{"my.registry.tld/**/*:*"}, true},
		{"nvcr.io/nvidia/cuda:12.1.1-base-ubuntu22.04", []string{"nvcr.io/nvidia/cuda:12.*"}, true},
		{"library/ruby", []string{"*"}, false},
		{"my.registry.tld/ruby:2.1", []string{"*"}, false},
		{"library/ruby", []string{"*/*:*"}, false},
		{"my.registry.tld/group/subgroup/ruby", []string{"my.registry.tld/*/*"}, false},
		{"library/ruby", []string{"**/*:*"}, false},
		{"evil.tld/nvidia/cuda:12.1", []string{"nvcr.io/**/*"}, false},
		{"ruby:2.1", []string{"alpine:*", "ruby:*"}, true},
	} {
		if got := allowed(tc.image, tc.patterns); got != tc.want {
			t.Errorf("allowed(%q, %q) = %v, want %v", tc.image, tc.patterns, got, tc.want)
		}
	}
}

func TestServiceAliasesFollowGitLabRunner(t *testing.T) {
	for _, tc := range []struct {
		name, alias string
		want        []string
	}{
		{"postgres:15", "", []string{"postgres"}},
		{"postgres", "db", []string{"postgres", "db"}},
		{"namespace/service:version", "", []string{"namespace__service", "namespace-service"}},
		{"domain.tld:8080/namespace/service:version", "", []string{"domain.tld__namespace__service", "domain.tld-namespace-service"}},
		{"registry.example.com/ns/img@sha256:abcd", "", []string{"registry.example.com__ns__img", "registry.example.com-ns-img"}},
		{"redis:7", "cache, queue store", []string{"redis", "cache", "queue", "store"}},
	} {
		got := serviceAliases(jobspec.Image{Name: tc.name, Alias: tc.alias})
		if !slices.Equal(got, tc.want) {
			t.Errorf("aliases of %q (alias %q) = %q, want %q", tc.name, tc.alias, got, tc.want)
		}
	}
}

func TestVolumesParseAndRefuseTheDockerSocket(t *testing.T) {
	for _, tc := range []struct {
		volume string
		want   string // error substring; empty for none
	}{
		{"/cache", ""},
		{"/srv/data:/data:ro", ""},
		{"/srv/data:/data:rw", ""},
		{"relative:/data", `host path "relative" is not absolute`},
		{"/srv:data", `container path "data" is not absolute`},
		{"/srv:/data:zz", `unknown mode "zz"`},
		{"/var/run/docker.sock:/var/run/docker.sock", "exposes the Docker socket"},
		{"/run/docker.sock:/d.sock", "exposes the Docker socket"},
		{"/var/run:/host-run", "exposes the Docker socket"},
		{"/:/host", "exposes the Docker socket"},
		{"/srv/dockerd:/d", "exposes the Docker socket"},
		{"/srv/data/docker.sock:/d.sock", "exposes the Docker socket"},
	} {
		err := checkSocketBinds([]string{tc.volume}, sockets("unix:///srv/dockerd/api.sock"))
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("volume %q: error %v, want %q", tc.volume, err, tc.want)
		}
	}
}

func TestConfigIsValidated(t *testing.T) {
	for name, tc := range map[string]struct {
		cfg  Config
		want string
	}{
		"pull policy":     {Config{PullPolicy: []string{"sometimes"}}, `unknown pull policy "sometimes"`},
		"allowed policy":  {Config{AllowedPullPolicies: []string{"Always"}}, `unknown pull policy "Always"`},
		"pattern":         {Config{AllowedImages: []string{"ruby:[2"}}, `bad allow-list pattern "ruby:[2"`},
		"builds dir":      {Config{BuildsDir: "builds"}, `builds_dir "builds" is not an absolute path`},
		"volume":          {Config{Volumes: []string{"a:b:c:d"}}, `want HOST:GUEST[:ro|rw] or GUEST`},
		"volume relative": {Config{Volumes: []string{"data:/data"}}, `host path "data" is not absolute`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestNewEnvironmentRefusesWhatTheRunnerDoesNotAllow(t *testing.T) {
	ex, err := New(Config{
		Image:           "kiln-test/busybox:latest",
		AllowedImages:   []string{"kiln-test/*:*"},
		AllowedServices: []string{"postgres:*"},
		PullPolicy:      []string{jobspec.PullIfNotPresent},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	dir := t.TempDir()
	for name, tc := range map[string]struct {
		spec     executor.Spec
		want     string
		sentinel error
	}{
		"image off the list": {executor.Spec{HostDir: dir, Image: jobspec.Image{Name: "ruby:3"}},
			`the "ruby:3" image is not on the runner's list of allowed images (kiln-test/*:*)`, executor.ErrImageNotAllowed},
		"service off the list": {executor.Spec{HostDir: dir, Services: []jobspec.Image{{Name: "redis:7"}}},
			`the "redis:7" service is not on the runner's list of allowed services (postgres:*)`, executor.ErrImageNotAllowed},
		"pull policy not allowed": {executor.Spec{HostDir: dir, Image: jobspec.Image{Name: "kiln-test/debian:bookworm", PullPolicy: []string{"always"}}},
			`pull policy "always" is not allowed by the runner (allowed: if-not-present)`, nil},
		"unknown pull policy": {executor.Spec{HostDir: dir, Services: []jobspec.Image{{Name: "postgres:15", PullPolicy: []string{"often"}}}},
			`service postgres:15: unknown pull policy "often"`, nil},
		"service without name": {executor.Spec{HostDir: dir, Services: []jobspec.Image{{Alias: "db"}}},
			"service 0 has no name", nil},
		"relative job directory": {executor.Spec{HostDir: "builds"}, `HostDir "builds" is not an absolute path`, nil},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ex.NewEnvironment(tc.spec)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if tc.sentinel != nil && !errors.Is(err, tc.sentinel) {
				t.Errorf("error %v does not wrap %v", err, tc.sentinel)
			}
		})
	}
	// The configured default image is the runner's choice, not the job's: it is trusted.
	if _, err := ex.NewEnvironment(executor.Spec{HostDir: dir}); err != nil {
		t.Errorf("default image: %v", err)
	}
}

func TestNoImageAnywhereIsAnError(t *testing.T) {
	ex, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	_, err = ex.NewEnvironment(executor.Spec{HostDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "the job has no image and the runner's configuration sets no default image") {
		t.Errorf("error %v", err)
	}
}

func TestServicesNeedThePerJobNetwork(t *testing.T) {
	ex, err := New(Config{Image: "x", NetworkMode: "host"})
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	_, err = ex.NewEnvironment(executor.Spec{HostDir: t.TempDir(), Services: []jobspec.Image{{Name: "postgres"}}})
	if err == nil || !strings.Contains(err.Error(), `network_mode is "host"`) {
		t.Errorf("error %v", err)
	}
}

func TestGuestPathMapsTheJobDirectoryUnderBuilds(t *testing.T) {
	ex, err := New(Config{Image: "x"})
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	env, err := ex.NewEnvironment(executor.Spec{HostDir: "/var/lib/kiln/builds/r1/42"})
	if err != nil {
		t.Fatal(err)
	}
	for host, guest := range map[string]string{
		"/var/lib/kiln/builds/r1/42":                     "/builds",
		"/var/lib/kiln/builds/r1/42/group/project":       "/builds/group/project",
		"/var/lib/kiln/builds/r1/42/project.tmp/KUBECFG": "/builds/project.tmp/KUBECFG",
	} {
		if got := env.GuestPath(host); got != guest {
			t.Errorf("GuestPath(%q) = %q, want %q", host, got, guest)
		}
	}
}
