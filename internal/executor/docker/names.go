package docker

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kiln-ci/kiln/internal/jobspec"
)

// allowed reports whether image matches one of patterns (all images when there are
// none). Patterns are globs over the image name as written in the job: * and ? match
// within one /-separated segment, ** matches any number of whole segments, so
// "registry.example.com/**/*:*" allows every tagged image of that registry.
func allowed(image string, patterns []string) bool {
	if len(patterns) == 0 {
		return true
	}
	name := strings.Split(image, "/")
	for _, p := range patterns {
		if matchSegments(strings.Split(p, "/"), name) {
			return true
		}
	}
	return false
}

func matchSegments(pat, name []string) bool {
	if len(pat) == 0 {
		return len(name) == 0
	}
	if pat[0] == "**" {
		for i := 0; i <= len(name); i++ {
			if matchSegments(pat[1:], name[i:]) {
				return true
			}
		}
		return false
	}
	if len(name) == 0 {
		return false
	}
	ok, err := path.Match(pat[0], name[0])
	return err == nil && ok && matchSegments(pat[1:], name[1:])
}

// serviceAliases returns the host names a service is reachable by on the job network,
// as gitlab-runner names them: the image path without registry port, tag or digest,
// with "/" replaced by "__" and, as a second alias, by "-" (postgres:15 → postgres;
// registry.example.com:5000/ns/db:1 → registry.example.com__ns__db and
// registry.example.com-ns-db), then the aliases the job gives, separated by commas or
// spaces.
func serviceAliases(s jobspec.Image) []string {
	name := s.Name
	if i := strings.IndexByte(name, '@'); i >= 0 {
		name = name[:i]
	}
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		name = name[:i]
	}
	segs := strings.Split(name, "/")
	if len(segs) > 1 {
		if host, _, ok := strings.Cut(segs[0], ":"); ok {
			segs[0] = host
		}
	}
	var aliases []string
	add := func(a string) {
		if a != "" && !slices.Contains(aliases, a) {
			aliases = append(aliases, a)
		}
	}
	add(strings.Join(segs, "__"))
	add(strings.Join(segs, "-"))
	for _, a := range strings.Fields(strings.ReplaceAll(s.Alias, ",", " ")) {
		add(a)
	}
	return aliases
}

// volumeSpec is one entry of Config.Volumes.
type volumeSpec struct {
	Host     string // empty for a per-job volume
	Guest    string
	ReadOnly bool
}

// parseVolume parses "HOST:GUEST[:ro|rw]" or "GUEST".
func parseVolume(s string) (volumeSpec, error) {
	parts := strings.Split(s, ":")
	var v volumeSpec
	switch len(parts) {
	case 1:
		v.Guest = parts[0]
	case 2, 3:
		v.Host, v.Guest = parts[0], parts[1]
		if len(parts) == 3 {
			switch parts[2] {
			case "ro":
				v.ReadOnly = true
			case "rw":
			default:
				return v, fmt.Errorf("docker executor: volume %q: unknown mode %q (want ro or rw)", s, parts[2])
			}
		}
		if !filepath.IsAbs(v.Host) {
			return v, fmt.Errorf("docker executor: volume %q: host path %q is not absolute", s, v.Host)
		}
	default:
		return v, fmt.Errorf("docker executor: volume %q: want HOST:GUEST[:ro|rw] or GUEST", s)
	}
	if !path.IsAbs(v.Guest) {
		return v, fmt.Errorf("docker executor: volume %q: container path %q is not absolute", s, v.Guest)
	}
	return v, nil
}

// defaultSockets are where a local daemon's socket usually is.
var defaultSockets = []string{"/var/run/docker.sock", "/run/docker.sock"}

// sockets returns the Docker socket paths to protect: the usual ones and the unix
// socket the executor's client talks to.
func sockets(host string) []string {
	socks := slices.Clone(defaultSockets)
	if p, ok := strings.CutPrefix(host, "unix://"); ok && p != "" {
		socks = append(socks, p)
	}
	return socks
}

// exposesSocket reports whether binding host path p into a container exposes one of
// socks: p is a socket path or a directory above one (after symlinks).
func exposesSocket(p string, socks []string) bool {
	cands := []string{filepath.Clean(p)}
	if r, err := filepath.EvalSymlinks(p); err == nil {
		cands = append(cands, r)
	}
	var targets []string
	for _, s := range socks {
		targets = append(targets, filepath.Clean(s))
		if r, err := filepath.EvalSymlinks(s); err == nil {
			targets = append(targets, r)
		}
	}
	for _, c := range cands {
		if filepath.Base(c) == "docker.sock" || c == "/" {
			return true
		}
		for _, s := range targets {
			if c == s || strings.HasPrefix(s, c+"/") {
				return true
			}
		}
	}
	return false
}

// checkSocketBinds refuses volumes that expose one of socks.
func checkSocketBinds(volumes, socks []string) error {
	for _, s := range volumes {
		v, err := parseVolume(s)
		if err != nil {
			return err
		}
		if v.Host != "" && exposesSocket(v.Host, socks) {
			return fmt.Errorf("docker executor: volume %q exposes the Docker socket, which the runner's configuration does not allow", s)
		}
	}
	return nil
}

// randomID returns 12 random hex digits.
func randomID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
