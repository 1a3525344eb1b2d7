package config

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const kilnSection = `
[[runners]]
  name = "gpu"
  url = "http://127.0.0.1:8080"
  token = "glrt-kilnsection-token"
  executor = "docker"
  [runners.kiln]
    machine_type = "saas-linux-medium-amd64-gpu-standard"
    gpus = "0, 2,GPU-abc"
    state_dir = "gpu-state"
    injection = "nvidia-runtime"
    cdi_spec_dirs = ["/etc/cdi"]
    telemetry_interval = "250ms"
    services_gpus = true
`

func TestKilnSectionReadsTheGPUSettings(t *testing.T) {
	p := write(t, kilnSection)
	f, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	k := f.Runners[0].Kiln
	if k.StateDir != filepath.Join(filepath.Dir(p), "gpu-state") {
		t.Errorf("state_dir = %q, want it beside config.toml", k.StateDir)
	}
	if got := k.Selection(); !slices.Equal(got, []string{"0", "2", "GPU-abc"}) {
		t.Errorf("Selection = %q", got)
	}
	if k.Injection != "nvidia-runtime" || !k.ServicesGPUs || k.Interval() != 250*time.Millisecond || k.CDISpecDirs[0] != "/etc/cdi" {
		t.Errorf("kiln section %+v", k)
	}
}

func TestKilnSelectionAllNoneAndUnset(t *testing.T) {
	for gpus, want := range map[string][]string{"": nil, "all": nil, "none": {}} {
		got := (&Kiln{GPUs: gpus}).Selection()
		if (got == nil) != (want == nil) || len(got) != 0 {
			t.Errorf("gpus %q: Selection = %#v, want %#v", gpus, got, want)
		}
	}
	if (*Kiln)(nil).Selection() != nil || (*Kiln)(nil).Interval() != 0 {
		t.Error("a runner without [runners.kiln] does not lease all GPUs at the default interval")
	}
}

func TestKilnSectionErrorsNameTheRunnerAndKey(t *testing.T) {
	base := "[[runners]]\n name = \"r\"\n url = \"http://x\"\n token = \"t\"\n executor = \"%s\"\n [runners.kiln]\n %s\n"
	cases := map[string]struct{ executor, line, want string }{
		"unknown injection":       {"docker", `injection = "magic"`, `runners[0] ("r"): kiln.injection "magic" is not cdi or nvidia-runtime`},
		"injection on shell":      {"shell", `injection = "cdi"`, `kiln.injection "cdi" does not apply to the shell executor`},
		"relative cdi spec dir":   {"docker", `cdi_spec_dirs = ["cdi"]`, `kiln.cdi_spec_dirs[0] "cdi" must be an absolute path`},
		"bad telemetry interval":  {"shell", `telemetry_interval = "often"`, `kiln.telemetry_interval "often" is not a duration`},
		"tiny telemetry interval": {"shell", `telemetry_interval = "1ms"`, `at least 10ms`},
		"empty gpu list":          {"shell", `gpus = " , "`, `kiln.gpus " , " lists no GPU`},
		"unknown kiln key":        {"shell", `gpu_count = 2`, "unknown key runners.kiln.gpu_count"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Load(write(t, strings.Replace(strings.Replace(base, "%s", c.executor, 1), "%s", c.line, 1)))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error = %v, want it to contain %q", err, c.want)
			}
		})
	}
}
