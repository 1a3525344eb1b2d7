package config

import (
	"bytes"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sample = `
concurrent = 4
check_interval = 2

[[machine_types]]
  tag = "gpu-a100-80gb"
  vcpu = 16
  memory_bytes = 128000000000
  cost_factor = 20
  [machine_types.gpu]
    count = 1
    model = "A100"

[[runners]]
  name = "gpu-1"
  url = "https://gitlab.example.com/"
  id = 7
  token = "glrt-supersecrettoken123"
  executor = "docker"
  limit = 2
  output_limit = 8192
  environment = ["LANG=C.UTF-8"]
  [runners.docker]
    image = "debian:bookworm"
    pull_policy = "if-not-present"
    allowed_images = ["nvcr.io/nvidia/*"]
  [runners.kiln]
    machine_type = "saas-linux-medium-amd64-gpu-standard"
    gpus = "all"

[[runners]]
  url = "http://127.0.0.1:8080"
  token = "legacy-token-abcdef"
  executor = "shell"
  builds_dir = "/srv/builds"
  [runners.docker]
    pull_policy = ["always", "if-not-present"]
`

func write(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadReadsGitLabRunnerStyleConfigAndFillsDefaults(t *testing.T) {
	p := write(t, sample)
	f, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if f.Concurrent != 4 || f.CheckInterval != 2 || len(f.Runners) != 2 {
		t.Fatalf("config %+v", f.Config)
	}
	r := f.Runners[0]
	if r.Docker == nil || len(r.Docker.PullPolicy) != 1 || r.Docker.PullPolicy[0] != "if-not-present" || r.OutputLimit != 8192 {
		t.Errorf("runner 0 %+v", r)
	}
	if got := f.Runners[1].Docker.PullPolicy; len(got) != 2 || got[1] != "if-not-present" {
		t.Errorf("pull_policy list = %q", got)
	}
	if r.BuildsDir != filepath.Join(filepath.Dir(p), "builds") || f.Runners[1].BuildsDir != "/srv/builds" {
		t.Errorf("builds dirs %q %q", r.BuildsDir, f.Runners[1].BuildsDir)
	}
	if f.Runners[1].Name != "kiln-runner-legacy-to" {
		t.Errorf("default name %q", f.Runners[1].Name)
	}
	mt, ok := f.MachineType(r)
	if !ok || mt.GPU.Count != 1 || mt.MemoryBytes != 15_000_000_000 {
		t.Errorf("machine type %+v %v", mt, ok)
	}
	if _, ok := f.MachineTypes.Get("gpu-a100-80gb"); !ok {
		t.Error("the file's own machine type is missing from the catalog")
	}
}

func TestLoadErrorsNameTheFileLineAndKey(t *testing.T) {
	cases := map[string]struct {
		text string
		want string
	}{
		"bad toml":         {"concurrent = 4\ncheck_interval = = 3\n", "config.toml:2:"},
		"wrong type":       {"concurrent = \"four\"\n", "config.toml:1:"},
		"unknown key":      {"concurrent = 1\n[[runners]]\n  url = \"http://x\"\n  token = \"t\"\n  executor = \"shell\"\n  colour = \"red\"\n", "config.toml:6: unknown key runners.colour"},
		"unknown executor": {"[[runners]]\n url = \"http://x\"\n token = \"t\"\n executor = \"ssh\"\n", `runners[0]: executor "ssh" is not one of shell, docker`},
		"bad url":          {"[[runners]]\n url = \"x\"\n token = \"t\"\n executor = \"shell\"\n", "runners[0]: url must be an http(s) URL"},
		"no token":         {"[[runners]]\n url = \"http://x\"\n executor = \"shell\"\n", "token is empty"},
		"bad environment":  {"[[runners]]\n url = \"http://x\"\n token = \"t\"\n executor = \"shell\"\n environment = [\"NOVALUE\"]\n", "environment[0] is not KEY=VALUE"},
		"unknown machine":  {"[[runners]]\n url = \"http://x\"\n token = \"t\"\n executor = \"shell\"\n [runners.kiln]\n machine_type = \"huge\"\n", `kiln.machine_type "huge" is not a known machine type`},
		"a machine type twice": {"[[machine_types]]\n tag = \"saas-linux-small-amd64\"\n vcpu = 1\n[[machine_types]]\n tag = \"saas-linux-small-amd64\"\n vcpu = 2\n",
			`machine type "saas-linux-small-amd64" is defined twice`},
		"bad pull policy": {"[[runners]]\n url = \"http://x\"\n token = \"t\"\n executor = \"docker\"\n [runners.docker]\n pull_policy = 3\n", "config.toml:"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Load(write(t, c.text))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestErrorsAndLogsNeverShowTheToken(t *testing.T) {
	_, err := Load(write(t, "[[runners]]\n url = \"http://user:pw@x\"\n token = \"glrt-dontleakthis\"\n executor = \"shell\"\n"))
	if err == nil || strings.Contains(err.Error(), "dontleakthis") || strings.Contains(err.Error(), "pw@") {
		t.Errorf("error = %v", err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("runner", "runner", Runner{Name: "a", Token: "glrt-dontleakthis"})
	if strings.Contains(buf.String(), "dontleakthis") {
		t.Errorf("log shows the token: %s", buf.String())
	}
}

func TestSaveRoundTripsAndIsPrivate(t *testing.T) {
	p := write(t, sample)
	f, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	f.Runners[0].Token = "glrt-rotated"
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	g, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if g.Runners[0].Token != "glrt-rotated" || g.Runners[0].Docker.AllowedImages[0] != "nvcr.io/nvidia/*" {
		t.Errorf("reloaded %+v", g.Runners[0])
	}
	if _, ok := g.MachineTypes.Get("gpu-a100-80gb"); !ok {
		t.Error("Save dropped the file's machine types")
	}
}

func TestSaveRefusesWhatWouldNotLoadAndLeavesTheFileAsItWas(t *testing.T) {
	p := write(t, sample)
	before, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	f.Runners = append(f.Runners, f.Runners[0]) // a second runner of the same name
	if err := f.Save(); err == nil || !strings.Contains(err.Error(), "is used twice") {
		t.Errorf("Save of two runners of one name: %v", err)
	}
	if after, _ := os.ReadFile(p); !bytes.Equal(after, before) {
		t.Errorf("a refused Save changed the file:\n%s", after)
	}
	if _, err := Load(p); err != nil {
		t.Errorf("the file no longer loads: %v", err)
	}

	fresh := filepath.Join(t.TempDir(), "config.toml")
	g, err := LoadOrEmpty(fresh)
	if err != nil {
		t.Fatal(err)
	}
	g.Runners = []Runner{{Name: "r", URL: "http://x", Token: "glrt-t", Executor: "kubernetes"}}
	if err := g.Save(); err == nil || !strings.Contains(err.Error(), `executor "kubernetes"`) {
		t.Errorf("Save of an unknown executor: %v", err)
	}
	if _, err := os.Stat(fresh); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused Save created the file: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(fresh), ".config-*")); len(left) > 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

func TestSystemIDIsCreatedOnceBesideTheConfig(t *testing.T) {
	p := filepath.Join(t.TempDir(), "config.toml")
	a, err := SystemID(p)
	if err != nil || len(a) != 14 || !strings.HasPrefix(a, "s_") {
		t.Fatalf("SystemID = %q, %v", a, err)
	}
	b, _ := SystemID(p)
	if a != b {
		t.Errorf("system id changed: %s then %s", a, b)
	}
}
