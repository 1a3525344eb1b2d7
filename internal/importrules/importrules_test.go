package importrules

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/kiln-ci/kiln/"

// Sides of the architecture, by package path prefix below the module.
var (
	// internal/demo drives a coordinator through its API, as a user would.
	coordinatorSide = []string{"internal/coordinator", "internal/store", "internal/git", "internal/api", "internal/web", "internal/demo"}
	// internal/localrun is kiln exec: the runner's lifecycle without a coordinator.
	runnerSide = []string{"internal/runner", "internal/executor", "internal/gpu", "internal/localrun"}
	// Shared packages may be imported by both sides and import neither.
	shared = []string{"internal/testenv", "internal/ci", "internal/jobspec", "internal/protocol", "internal/machine", "internal/version", "internal/dotenv"}
	// stdlibOnly packages import nothing outside the standard library and the module's
	// own stdlib-only packages.
	stdlibOnly = []string{"internal/jobspec", "internal/machine", "internal/version", "internal/dotenv"}
	// noIO packages may not reach the operating system: they get files as an fs.FS.
	noIO        = []string{"internal/ci"}
	ioPackages  = []string{"os", "os/exec", "os/signal", "net", "net/http", "io/ioutil", "syscall", "database/sql", "plugin", "unsafe"}
	e2eTestDirs = []string{"internal/e2e", "cmd/"}
	// sideless packages below internal/ wire or check both sides and hold no product
	// code: the end-to-end tests and these rules.
	sideless = []string{"internal/e2e", "internal/importrules"}
)

func under(pkg string, prefixes []string) bool {
	for _, p := range prefixes {
		if pkg == p || strings.HasPrefix(pkg, p+"/") || (strings.HasSuffix(p, "/") && strings.HasPrefix(pkg, p)) {
			return true
		}
	}
	return false
}

type file struct {
	pkg     string // directory relative to the module root
	path    string
	test    bool
	imports []string
}

func loadFiles(t *testing.T) []file {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	var files []file
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "tools") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		ff := file{pkg: filepath.ToSlash(rel), path: path, test: strings.HasSuffix(path, "_test.go")}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			ff.imports = append(ff.imports, p)
		}
		files = append(files, ff)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("found no Go files; is the test running from internal/importrules?")
	}
	return files
}

// directionViolations returns one message per import that crosses the architecture.
func directionViolations(files []file) []string {
	var out []string
	for _, f := range files {
		if f.test && under(f.pkg, e2eTestDirs) {
			continue // end-to-end tests wire both sides, as cmd does
		}
		for _, imp := range f.imports {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			dep := strings.TrimPrefix(imp, module)
			switch {
			case under(f.pkg, runnerSide) && under(dep, coordinatorSide):
				out = append(out, f.path+": runner side imports coordinator side "+dep)
			case under(f.pkg, coordinatorSide) && under(dep, runnerSide):
				out = append(out, f.path+": coordinator side imports runner side "+dep)
			case under(f.pkg, shared) && (under(dep, runnerSide) || under(dep, coordinatorSide)):
				out = append(out, f.path+": shared package imports "+dep+"; shared packages import neither side")
			case !under(f.pkg, []string{"cmd/"}) && strings.HasPrefix(dep, "cmd/"):
				out = append(out, f.path+": imports a command package "+dep)
			}
		}
	}
	return out
}

func TestImportDirection(t *testing.T) {
	for _, v := range directionViolations(loadFiles(t)) {
		t.Error(v)
	}
}

func TestImportDirectionCatchesViolations(t *testing.T) {
	bad := []file{
		{pkg: "internal/runner", path: "r.go", imports: []string{module + "internal/store"}},
		{pkg: "internal/api", path: "a.go", imports: []string{module + "internal/gpu/lease"}},
		{pkg: "internal/ci", path: "c.go", imports: []string{module + "internal/executor"}},
		{pkg: "internal/store", path: "s.go", imports: []string{module + "cmd/kiln"}},
	}
	if got := directionViolations(bad); len(got) != len(bad) {
		t.Errorf("found %d violations in %d bad files: %q", len(got), len(bad), got)
	}
	ok := []file{
		{pkg: "internal/runner", path: "r.go", imports: []string{module + "internal/jobspec", module + "internal/executor"}},
		{pkg: "internal/e2e", path: "e_test.go", test: true, imports: []string{module + "internal/runner", module + "internal/api"}},
		{pkg: "cmd/kiln", path: "main.go", imports: []string{module + "internal/runner", module + "internal/api"}},
	}
	if got := directionViolations(ok); len(got) != 0 {
		t.Errorf("allowed imports reported: %q", got)
	}
}

// stdlibViolations returns one message per import of a stdlib-only package that is
// neither the standard library nor another stdlib-only package.
func stdlibViolations(files []file) []string {
	var out []string
	for _, f := range files {
		if f.test || !under(f.pkg, stdlibOnly) {
			continue
		}
		for _, imp := range f.imports {
			first := strings.Split(imp, "/")[0]
			if strings.HasPrefix(imp, module) {
				if !under(strings.TrimPrefix(imp, module), stdlibOnly) {
					out = append(out, f.path+": stdlib-only package imports "+imp)
				}
				continue
			}
			if strings.Contains(first, ".") {
				out = append(out, f.path+": stdlib-only package imports third-party "+imp)
			}
		}
	}
	return out
}

// ioViolations returns one message per import by which internal/ci could reach the
// operating system or a Kiln package that is not stdlib-only.
func ioViolations(files []file) []string {
	var out []string
	for _, f := range files {
		if f.test || !under(f.pkg, noIO) {
			continue
		}
		for _, imp := range f.imports {
			if slices.Contains(ioPackages, imp) {
				out = append(out, f.path+": imports "+imp+"; internal/ci reads only the files it is given (fs.FS)")
			}
			if strings.HasPrefix(imp, module) && !under(strings.TrimPrefix(imp, module), append(slices.Clone(noIO), stdlibOnly...)) {
				out = append(out, f.path+": imports "+imp+"; internal/ci may import only stdlib-only Kiln packages")
			}
		}
	}
	return out
}

func TestStdlibOnlyPackages(t *testing.T) {
	for _, v := range stdlibViolations(loadFiles(t)) {
		t.Error(v)
	}
}

func TestCompilerDoesNoIO(t *testing.T) {
	for _, v := range ioViolations(loadFiles(t)) {
		t.Error(v)
	}
}

func TestStdlibAndIORulesCatchViolations(t *testing.T) {
	bad := []file{
		{pkg: "internal/jobspec", path: "j.go", imports: []string{"gopkg.in/yaml.v3"}},
		{pkg: "internal/machine", path: "m.go", imports: []string{module + "internal/ci"}},
	}
	if got := stdlibViolations(bad); len(got) != len(bad) {
		t.Errorf("found %d violations in %d bad stdlib-only files: %q", len(got), len(bad), got)
	}
	bad = []file{
		{pkg: "internal/ci", path: "c.go", imports: []string{"os"}},
		{pkg: "internal/ci/expr", path: "e.go", imports: []string{"net/http"}},
		{pkg: "internal/ci", path: "p.go", imports: []string{module + "internal/protocol"}},
	}
	if got := ioViolations(bad); len(got) != len(bad) {
		t.Errorf("found %d violations in %d bad compiler files: %q", len(got), len(bad), got)
	}
	ok := []file{
		{pkg: "internal/ci", path: "c.go", imports: []string{"io/fs", module + "internal/jobspec", module + "internal/ci/expr", "gopkg.in/yaml.v3"}},
		{pkg: "internal/ci", path: "c_test.go", test: true, imports: []string{"os"}},
		{pkg: "internal/jobspec", path: "j.go", imports: []string{"encoding/json", module + "internal/machine"}},
	}
	if got := append(stdlibViolations(ok), ioViolations(ok)...); len(got) != 0 {
		t.Errorf("allowed imports reported: %q", got)
	}
}

// TestRulesSeeThePackages guards the rules themselves: a renamed package must not
// make them vacuous, so every package they name exists.
func TestRulesSeeThePackages(t *testing.T) {
	present := map[string]bool{}
	for _, f := range loadFiles(t) {
		present[f.pkg] = true
	}
	for _, list := range [][]string{coordinatorSide, runnerSide, shared, stdlibOnly, noIO, sideless} {
		for _, p := range list {
			if !present[p] {
				t.Errorf("package %s not found; update the import rules", p)
			}
		}
	}
	if _, err := os.Stat("../../go.mod"); err != nil {
		t.Errorf("module root not where expected: %v", err)
	}
}

// TestEveryPackageHasAPlace makes a new package below internal/ say where it stands:
// on the coordinator side, on the runner side, shared, or sideless. Otherwise no rule
// would look at its imports.
func TestEveryPackageHasAPlace(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range loadFiles(t) {
		if seen[f.pkg] || !strings.HasPrefix(f.pkg, "internal/") {
			continue
		}
		seen[f.pkg] = true
		if !under(f.pkg, coordinatorSide) && !under(f.pkg, runnerSide) && !under(f.pkg, shared) && !under(f.pkg, sideless) {
			t.Errorf("package %s is on no side; add it to a list in %s", f.pkg, "importrules_test.go")
		}
	}
}
