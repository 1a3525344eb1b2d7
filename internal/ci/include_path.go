package ci

import (
	"io/fs"
	"regexp"
	"slices"
	"strings"
)

// include:local paths are looked up the way GitLab looks them up, which is not the
// way rules:changes and rules:exists match (those use Ruby's File.fnmatch; see
// globMatch):
//
//   - File::Local removes the leading slashes and asks Gitaly for the blob at the
//     path as written. Gitaly's tree lookup compares whole entry paths, so a path
//     with "." or ".." segments or doubled slashes ("./ci.yml", "../ci.yml",
//     "a//b.yml") names no file: "Local file `./ci.yml` does not exist!".
//   - A path holding "*" is a wildcard (no other character is special):
//     Repository#search_files_by_wildcard_path escapes it as an RE2 regular
//     expression, turns "**" into ".*?" (any characters, slashes included) and "*"
//     into "[^/]*?", anchors it, and Gitaly matches it against every file path of
//     the commit (git ls-tree -r, in git's order). So configs/**.yml matches the
//     .yml files of configs and of every folder below it, and configs/**/*.yml
//     only those in folders below configs.

// localIncludePath is the repository path GitLab reads for an include:local
// location: leading slashes removed (File::Local), trailing ones too (Gitaly trims
// them). Nothing else is cleaned.
func localIncludePath(p string) string {
	p = strings.TrimLeft(p, "/")
	return strings.TrimRight(p, "/")
}

// isIncludeWildcard reports whether an include:local location is a wildcard: GitLab
// expands it only when it contains "*".
func isIncludeWildcard(p string) bool { return strings.Contains(p, "*") }

// includeWildcardRE compiles an include:local wildcard as GitLab does.
func includeWildcardRE(pattern string) (*regexp.Regexp, error) {
	re := regexp.QuoteMeta(pattern)
	re = strings.ReplaceAll(re, `\*\*`, `.*?`)
	re = strings.ReplaceAll(re, `\*`, `[^/]*?`)
	return regexp.Compile("^" + re + "$")
}

// includeWildcardFiles returns the files of fsys that an include:local wildcard
// names, in git's order (byte order of the whole path), leaving out skip: GitLab
// does not let a wildcard in an included file include that file itself.
func includeWildcardFiles(fsys fs.FS, pattern, skip string) ([]string, error) {
	re, err := includeWildcardRE(localIncludePath(pattern))
	if err != nil {
		return nil, err
	}
	var out []string
	err = walkRepo(fsys, false, func(p string) bool {
		if p != skip && re.MatchString(p) {
			out = append(out, p)
		}
		return true
	})
	slices.Sort(out)
	return out, err
}
