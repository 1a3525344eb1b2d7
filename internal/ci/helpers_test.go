package ci

import (
	"io/fs"
	"os"
	"strings"
	"testing"
	"testing/fstest"
)

// repo builds an in-memory repository from file contents. A single string is the
// .gitlab-ci.yml.
func repo(files ...string) fstest.MapFS {
	fsys := fstest.MapFS{}
	if len(files) == 1 {
		fsys[DefaultFile] = &fstest.MapFile{Data: []byte(files[0])}
		return fsys
	}
	for i := 0; i+1 < len(files); i += 2 {
		fsys[files[i]] = &fstest.MapFile{Data: []byte(files[i+1])}
	}
	return fsys
}

// mustLoad loads yaml as .gitlab-ci.yml and fails on any error.
func mustLoad(t *testing.T, yaml string) *Config {
	t.Helper()
	cfg, diags := Load(repo(yaml), DefaultFile, LoadOptions{})
	if cfg == nil || diags.HasErrors() {
		t.Fatalf("Load failed:\n%v", diags)
	}
	return cfg
}

// loadErrors loads yaml and returns its error messages, failing when there is none.
func loadErrors(t *testing.T, yaml string) []string {
	t.Helper()
	cfg, diags := Load(repo(yaml), DefaultFile, LoadOptions{})
	if cfg != nil || !diags.HasErrors() {
		t.Fatalf("Load accepted the configuration; want an error")
	}
	var out []string
	for _, d := range diags.Errors() {
		out = append(out, d.Message)
	}
	return out
}

// wantError fails unless one of msgs contains want.
func wantError(t *testing.T, msgs []string, want string) {
	t.Helper()
	for _, m := range msgs {
		if strings.Contains(m, want) {
			return
		}
	}
	t.Errorf("no error contains %q; got:\n  %s", want, strings.Join(msgs, "\n  "))
}

// mustCompile compiles cfg in ctx and fails on error.
func mustCompile(t *testing.T, cfg *Config, ctx Context) *Pipeline {
	t.Helper()
	p, err := cfg.Compile(ctx)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return p
}

// pipelineOf loads and compiles yaml for a push to main.
func pipelineOf(t *testing.T, yaml string) *Pipeline {
	t.Helper()
	return mustCompile(t, mustLoad(t, yaml), pushToMain())
}

func pushToMain() Context {
	return Context{Ref: "main", SHA: "0123456789abcdef0123456789abcdef01234567", DefaultBranch: "main", Source: SourcePush}
}

func jobNames(p *Pipeline) []string {
	var out []string
	for _, j := range p.Jobs {
		out = append(out, j.Name)
	}
	return out
}

func jobOf(t *testing.T, p *Pipeline, name string) *Job {
	t.Helper()
	for _, j := range p.Jobs {
		if j.Name == name {
			return j
		}
	}
	t.Fatalf("pipeline has no job %q; it has %v", name, jobNames(p))
	return nil
}

// varOf returns the value a job's runner receives for key (the last entry wins).
func varOf(j *Job, key string) (string, bool) { return j.Spec.Variables.Lookup(key) }

// osDir is a directory of this repository as an fs.FS.
func osDir(t *testing.T, dir string) fs.FS {
	t.Helper()
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
	return os.DirFS(dir)
}

func messages(ds Diagnostics) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Message
	}
	return out
}
