package ci

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// wildcardRepo is GitLab's documented include:local wildcard example: .yml files in
// configs, in a subfolder of it and in a subfolder of that, each with one job named
// after its path.
func wildcardRepo(include string) fstest.MapFS {
	job := func(name string) string { return name + ":\n  script: x\n" }
	return repo(
		DefaultFile, include,
		"configs/a.yml", job("configs/a.yml"),
		"configs/readme.txt", "not yaml",
		"configs/sub/b.yml", job("configs/sub/b.yml"),
		"configs/sub/deeper/c.yml", job("configs/sub/deeper/c.yml"),
		"configs.yml", job("configs.yml"),
	)
}

// includedJobs loads fsys and returns the names of its jobs, sorted.
func includedJobs(t *testing.T, fsys fstest.MapFS) ([]string, Diagnostics) {
	t.Helper()
	cfg, diags := Load(fsys, DefaultFile, LoadOptions{})
	if diags.HasErrors() {
		t.Fatalf("Load: %v", diags)
	}
	var names []string
	for _, j := range cfg.Jobs {
		names = append(names, j.Name)
	}
	slices.Sort(names)
	return names, diags
}

func TestIncludeLocalWildcardsMatchAsGitLabsRepositorySearch(t *testing.T) {
	// Repository#search_files_by_wildcard_path: ** is any characters (slashes too),
	// * any characters but a slash, nothing else is special, and the pattern must
	// match the whole path.
	for _, tc := range []struct {
		include string
		want    []string
	}{
		{"include: 'configs/*.yml'", []string{"configs/a.yml"}},
		{"include: 'configs/**.yml'", []string{"configs/a.yml", "configs/sub/b.yml", "configs/sub/deeper/c.yml"}},
		{"include: 'configs/**/*.yml'", []string{"configs/sub/b.yml", "configs/sub/deeper/c.yml"}},
		{"include: 'configs/sub/**'", []string{"configs/sub/b.yml", "configs/sub/deeper/c.yml"}},
		{"include: '**/b.yml'", []string{"configs/sub/b.yml"}},
		{"include: 'config*.yml'", []string{"configs.yml"}},
		{"include: {local: '/configs/*.yml'}", []string{"configs/a.yml"}},
		{"include: [{local: 'configs/*/b.yml'}]", []string{"configs/sub/b.yml"}},
	} {
		got, _ := includedJobs(t, wildcardRepo(tc.include))
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s includes the jobs of %v, want %v", tc.include, got, tc.want)
		}
	}
}

func TestIncludeLocalOnlyStarIsAWildcard(t *testing.T) {
	// GitLab expands a location only when it holds "*"; ?, [ ] and { } are looked up
	// as part of the file name.
	for _, name := range []string{"ci/[ab]1.yml", "ci/?1.yml", "ci/{a,b}1.yml"} {
		fsys := repo(DefaultFile, "include: {local: '"+name+"'}\n", "ci/a1.yml", "a:\n  script: x\n", name, "literal:\n  script: x\n")
		if got, _ := includedJobs(t, fsys); !slices.Equal(got, []string{"literal"}) {
			t.Errorf("local: %s included %v, want only the file literally named so", name, got)
		}
	}
}

func TestIncludeLocalWildcardFilesAreMergedInGitsOrder(t *testing.T) {
	// git ls-tree -r lists paths in byte order: a-b.yml before a/x.yml (a directory
	// walk would visit a/ first). The later file wins a merge.
	fsys := repo(DefaultFile, "include: '**.yml'\n",
		"a/x.yml", "variables: {WHO: a/x.yml}\njob:\n  script: x\n",
		"a-b.yml", "variables: {WHO: a-b.yml}\n")
	cfg, diags := Load(fsys, DefaultFile, LoadOptions{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if i := slices.IndexFunc(cfg.Variables, func(v Variable) bool { return v.Key == "WHO" }); i < 0 || cfg.Variables[i].Value != "a/x.yml" {
		t.Errorf("variables %v: want WHO from a/x.yml, merged last", cfg.Variables)
	}
}

func TestIncludeLocalWildcardMatchingNoFileIncludesNothingWithAWarning(t *testing.T) {
	got, diags := includedJobs(t, repo(DefaultFile, "include: 'missing/*.yml'\njob:\n  script: x\n"))
	if !slices.Equal(got, []string{"job"}) {
		t.Errorf("jobs %v", got)
	}
	wantError(t, messages(diags.Warnings()), "include:local `missing/*.yml` matches no file, so nothing is included")
}

func TestIncludeLocalWildcardMatchingAFileWithoutYAMLExtensionIsAnError(t *testing.T) {
	msgs := messages(mustNotLoad(t, wildcardRepo("include: 'configs/*'\n")))
	wantError(t, msgs, "Included file `configs/readme.txt` does not have YAML extension!")
}

func TestIncludeLocalWildcardVariablesAreSearchedForAsWritten(t *testing.T) {
	// GitLab's mapper expands a local: wildcard before it expands variables (a plain
	// string include is expanded first, to tell remote from local).
	vars := "variables: {DIR: configs}\n"
	got, diags := includedJobs(t, wildcardRepo(vars+"include: {local: '$DIR/*.yml'}\njob:\n  script: x\n"))
	if !slices.Equal(got, []string{"job"}) {
		t.Errorf("local: $DIR/*.yml included %v; GitLab searches for a folder named $DIR", got)
	}
	wantError(t, messages(diags.Warnings()), "searched for as written")
	got, _ = includedJobs(t, wildcardRepo(vars+"include: '$DIR/*.yml'\n"))
	if !slices.Equal(got, []string{"configs/a.yml"}) {
		t.Errorf("include: '$DIR/*.yml' included %v, want configs/a.yml", got)
	}
}

func TestIncludeLocalWildcardInAnIncludedFileSkipsThatFile(t *testing.T) {
	// LocationExpander leaves out the included file that holds the wildcard; without
	// that, ci/base.yml would include itself until the include limit.
	fsys := repo(DefaultFile, "include: ci/base.yml\n",
		"ci/base.yml", "include: 'ci/*.yml'\nbase:\n  script: x\n",
		"ci/other.yml", "other:\n  script: x\n")
	if got, _ := includedJobs(t, fsys); !slices.Equal(got, []string{"base", "other"}) {
		t.Errorf("jobs %v, want base and other", got)
	}
}

func TestIncludeLocalPathsAreLookedUpAsWritten(t *testing.T) {
	// File::Local removes leading slashes and nothing else; Gitaly finds no blob at a
	// path with . or .. segments or doubled slashes.
	files := []string{"ci/a.yml", "a:\n  script: x\n"}
	for _, local := range []string{"ci/a.yml", "/ci/a.yml", "//ci/a.yml"} {
		fsys := repo(append([]string{DefaultFile, "include: {local: '" + local + "'}\n"}, files...)...)
		if got, _ := includedJobs(t, fsys); !slices.Equal(got, []string{"a"}) {
			t.Errorf("local: %s included %v, want ci/a.yml's job", local, got)
		}
	}
	for local, shown := range map[string]string{
		"./ci/a.yml":     "./ci/a.yml",
		"/./ci/a.yml":    "./ci/a.yml",
		"ci/./a.yml":     "ci/./a.yml",
		"ci//a.yml":      "ci//a.yml",
		"x/../ci/a.yml":  "x/../ci/a.yml",
		"../main/a.yml":  "../main/a.yml",
		"../../ci/a.yml": "../../ci/a.yml",
	} {
		fsys := repo(append([]string{DefaultFile, "include: {local: '" + local + "'}\njob:\n  script: x\n"}, files...)...)
		msgs := messages(mustNotLoad(t, fsys))
		wantError(t, msgs, "Local file `"+shown+"` does not exist!")
	}
}

// mustNotLoad loads fsys and returns its errors, failing when there is none.
func mustNotLoad(t *testing.T, fsys fstest.MapFS) Diagnostics {
	t.Helper()
	cfg, diags := Load(fsys, DefaultFile, LoadOptions{})
	if cfg != nil || !diags.HasErrors() {
		t.Fatalf("Load accepted the configuration; want an error (diagnostics: %v)", diags)
	}
	return diags.Errors()
}

func TestIncludeWildcardRegexpIsGitLabs(t *testing.T) {
	for pattern, want := range map[string]string{
		"configs/**.yml":   `^configs/.*?\.yml$`,
		"configs/**/*.yml": `^configs/.*?/[^/]*?\.yml$`,
		"a+b/(c)*.yml":     `^a\+b/\(c\)[^/]*?\.yml$`,
	} {
		re, err := includeWildcardRE(pattern)
		if err != nil || re.String() != want {
			t.Errorf("includeWildcardRE(%q) = %v, %v; want %s", pattern, re, err, want)
		}
	}
	if strings.Contains(localIncludePath("//a/b.yml/"), "/b.yml/") || localIncludePath("//a/b.yml/") != "a/b.yml" {
		t.Errorf("localIncludePath should strip leading and trailing slashes: %q", localIncludePath("//a/b.yml/"))
	}
}
