package ci

import (
	"io/fs"
	"path"
	"strings"
)

// globMatch reports whether name (a slash-separated path relative to the repository
// root) matches pattern as GitLab matches rules:changes, rules:exists and
// cache:key:files (Ruby's File.fnmatch with FNM_PATHNAME | FNM_DOTMATCH |
// FNM_EXTGLOB): *, ? and [a-z] (or [!a-z]) classes stop at slashes, "**/" matches
// any number of directories, a "**" not followed by a slash is a "*", and {a,b}
// alternatives work. A leading slash is ignored (a Kiln convenience: fnmatch would
// match nothing). include:local wildcards match differently: see
// includeWildcardRE.
func globMatch(pattern, name string) bool {
	pattern = strings.TrimPrefix(pattern, "/")
	name = strings.TrimPrefix(name, "/")
	for _, alt := range expandBraces(pattern, 0) {
		if matchSegments(strings.Split(alt, "/"), strings.Split(name, "/")) {
			return true
		}
	}
	return false
}

func matchSegments(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" && len(pat) > 1 {
			// "**/": zero or more whole directories.
			for i := 0; i < len(name); i++ {
				if matchSegments(pat[1:], name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 || !matchSegment(pat[0], name[0]) {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}

// matchSegment matches one path segment as fnmatch does: path.Match, with Ruby's
// [!...] negation spelled as Go's [^...].
func matchSegment(pat, name string) bool {
	if strings.Contains(pat, "[!") {
		b := []byte(pat)
		for i := 0; i+1 < len(b); i++ {
			switch {
			case b[i] == '\\':
				i++
			case b[i] == '[' && b[i+1] == '!':
				b[i+1] = '^'
			}
		}
		pat = string(b)
	}
	ok, err := path.Match(pat, name)
	return err == nil && ok
}

// maxBraceAlternatives bounds {a,b} expansion.
const maxBraceAlternatives = 256

// expandBraces turns "a{b,c}d" into ["abd", "acd"].
func expandBraces(p string, depth int) []string {
	open := strings.IndexByte(p, '{')
	if open < 0 || depth > 8 {
		return []string{p}
	}
	level, end := 0, -1
	var commas []int
	for i := open; i < len(p) && end < 0; i++ {
		switch p[i] {
		case '{':
			level++
		case '}':
			level--
			if level == 0 {
				end = i
			}
		case ',':
			if level == 1 {
				commas = append(commas, i)
			}
		}
	}
	if end < 0 {
		return []string{p}
	}
	var parts []string
	start := open + 1
	for _, c := range commas {
		parts = append(parts, p[start:c])
		start = c + 1
	}
	parts = append(parts, p[start:end])
	var out []string
	for _, part := range parts {
		for _, rest := range expandBraces(part+p[end+1:], depth+1) {
			out = append(out, p[:open]+rest)
			if len(out) >= maxBraceAlternatives {
				return out
			}
		}
	}
	return out
}

// hasGlob reports whether p uses wildcards.
func hasGlob(p string) bool { return strings.ContainsAny(p, "*?[{") }

// maxGlobFiles bounds how many repository files a wildcard looks at (GitLab stops
// rules:exists after 10,000).
const maxGlobFiles = 10000

// walkRepo calls visit with the path of every file of fsys, and with dirs of every
// folder below the root too, in lexical order, leaving .git folders out. It stops
// when visit returns false or after maxGlobFiles files, and returns the walk's
// first error. Every search of the repository's files goes through it.
func walkRepo(fsys fs.FS, dirs bool, visit func(path string) (more bool)) error {
	seen := 0
	return fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case !d.IsDir():
			if seen++; seen > maxGlobFiles {
				return fs.SkipAll
			}
		case p == ".":
			return nil
		case d.Name() == ".git":
			return fs.SkipDir
		case !dirs:
			return nil
		}
		if !visit(p) {
			return fs.SkipAll
		}
		return nil
	})
}

// globFiles returns the regular files of fsys matching pattern, in lexical order.
func globFiles(fsys fs.FS, pattern string) ([]string, error) {
	var out []string
	err := walkRepo(fsys, false, func(p string) bool {
		if globMatch(pattern, p) {
			out = append(out, p)
		}
		return true
	})
	return out, err
}

// fileExists reports whether a path, or any file or folder matching a wildcard (as
// GitLab's exists matches folders too), exists in fsys.
func fileExists(fsys fs.FS, pattern string) bool {
	if fsys == nil {
		return false
	}
	if !hasGlob(pattern) {
		name := cleanRepoPath(pattern)
		if name == "" {
			return false
		}
		_, err := fs.Stat(fsys, name)
		return err == nil
	}
	found := false
	_ = walkRepo(fsys, true, func(p string) bool {
		found = globMatch(pattern, p)
		return !found
	})
	return found
}

// cleanRepoPath turns a path as written in .gitlab-ci.yml ("/a/b.yml", "./a/b.yml")
// into an fs.FS name ("a/b.yml"), or "" when it leaves the repository.
func cleanRepoPath(p string) string {
	p = path.Clean("/" + strings.TrimSpace(p))
	p = strings.TrimPrefix(p, "/")
	if p == "" || p == "." || !fs.ValidPath(p) {
		return ""
	}
	return p
}
