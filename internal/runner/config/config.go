// Package config reads and writes the runner's config.toml, in gitlab-runner's spirit:
// global `concurrent` and `check_interval`, then one [[runners]] entry per registered
// runner with its URL, token, executor, directories, limits, environment, a
// [runners.docker] section and Kiln's own [runners.kiln] section (machine type, GPUs).
//
// Errors name the file and line (bad TOML, wrong types) or the runner and key (unknown
// keys, invalid values). Tokens never appear in errors or logs (Runner implements
// slog.LogValuer without them). The file is written 0600.
//
// It is on the runner side: the coordinator side must not import it.
package config

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Config is a whole config.toml.
type Config struct {
	// Concurrent bounds the jobs running at once across all runners (default 1).
	Concurrent int `toml:"concurrent"`
	// CheckInterval is the seconds between job requests when idle (default 3).
	CheckInterval int `toml:"check_interval"`
	// ShutdownTimeout is the seconds a graceful stop waits for running jobs (0: no bound).
	ShutdownTimeout int `toml:"shutdown_timeout,omitempty"`
	// LogLevel is debug, info, warn or error (default info); LogFormat text or json.
	LogLevel  string `toml:"log_level,omitempty"`
	LogFormat string `toml:"log_format,omitempty"`
	// ListenAddress serves /metrics (Prometheus) when set, e.g. "127.0.0.1:9252".
	ListenAddress string `toml:"listen_address,omitempty"`

	Runners []Runner `toml:"runners"`
}

// Runner is one [[runners]] entry.
type Runner struct {
	Name            string    `toml:"name"`
	URL             string    `toml:"url"`
	ID              int64     `toml:"id,omitempty"`
	Token           string    `toml:"token"`
	TokenObtainedAt time.Time `toml:"token_obtained_at,omitzero"`
	TokenExpiresAt  time.Time `toml:"token_expires_at,omitzero"`
	Executor        string    `toml:"executor"`
	Shell           string    `toml:"shell,omitempty"`
	BuildsDir       string    `toml:"builds_dir,omitempty"`
	CacheDir        string    `toml:"cache_dir,omitempty"`
	CloneURL        string    `toml:"clone_url,omitempty"`
	Environment     []string  `toml:"environment,omitempty"`
	// Limit bounds this runner's concurrent jobs (0: only `concurrent` applies).
	Limit int `toml:"limit,omitempty"`
	// RequestConcurrency bounds concurrent job requests (default 1).
	RequestConcurrency int `toml:"request_concurrency,omitempty"`
	// OutputLimit is the job log limit in kilobytes (default 4096), as in gitlab-runner.
	OutputLimit int `toml:"output_limit,omitempty"`

	Docker *Docker `toml:"docker,omitempty"`
	Kiln   *Kiln   `toml:"kiln,omitempty"`
}

// Docker is [runners.docker], gitlab-runner's keys.
type Docker struct {
	Host                   string     `toml:"host,omitempty"`
	Image                  string     `toml:"image,omitempty"`
	PullPolicy             StringList `toml:"pull_policy,omitempty"`
	AllowedPullPolicies    []string   `toml:"allowed_pull_policies,omitempty"`
	AllowedImages          []string   `toml:"allowed_images,omitempty"`
	AllowedServices        []string   `toml:"allowed_services,omitempty"`
	Privileged             bool       `toml:"privileged,omitempty"`
	Volumes                []string   `toml:"volumes,omitempty"`
	AllowDockerSocket      bool       `toml:"allow_docker_socket,omitempty"`
	ShmSize                int64      `toml:"shm_size,omitempty"`
	NetworkMode            string     `toml:"network_mode,omitempty"`
	WaitForServicesTimeout int        `toml:"wait_for_services_timeout,omitempty"`
	CapAdd                 []string   `toml:"cap_add,omitempty"`
	CapDrop                []string   `toml:"cap_drop,omitempty"`
	SecurityOpt            []string   `toml:"security_opt,omitempty"`
	DNS                    []string   `toml:"dns,omitempty"`
	ExtraHosts             []string   `toml:"extra_hosts,omitempty"`
	Runtime                string     `toml:"runtime,omitempty"`
}

// Kiln is [runners.kiln]: what Kiln adds to a runner.
type Kiln struct {
	// MachineType is the tag of the machine type this runner serves; its limits and
	// GPUs apply to every job. Empty means none (a self-managed runner).
	MachineType string `toml:"machine_type,omitempty"`
	// GPUs says which of the host's GPUs the runner may lease: "all" (default when the
	// machine type has GPUs), "none", or a comma-separated list of indices or UUIDs.
	GPUs string `toml:"gpus,omitempty"`
	// StateDir keeps GPU leases and quarantine across restarts (default: the
	// KILN_GPU_STATE_DIR environment variable, else /var/lib/kiln/gpu, where
	// `kiln gpu list` looks). Runners sharing GPUs must share it.
	StateDir string `toml:"state_dir,omitempty"`
	// Injection is how a container job gets its GPUs: "cdi" (default: the runner
	// applies CDI edits itself, from the operator's specs or one it generates) or
	// "nvidia-runtime" (Docker's device requests to the NVIDIA runtime). The shell
	// executor takes no setting: it sets CUDA_VISIBLE_DEVICES and NVIDIA_VISIBLE_DEVICES.
	Injection string `toml:"injection,omitempty"`
	// CDISpecDirs are the operator's CDI spec directories (default /etc/cdi and
	// /var/run/cdi).
	CDISpecDirs []string `toml:"cdi_spec_dirs,omitempty"`
	// TelemetryInterval is how often a job's GPUs are sampled, a duration such as
	// "1s" (the default) or "500ms".
	TelemetryInterval string `toml:"telemetry_interval,omitempty"`
	// ServicesGPUs also gives a job's GPUs to its services (off by default).
	ServicesGPUs bool `toml:"services_gpus,omitempty"`
}

// Selection returns the GPUs the runner may lease as a list of indices or UUIDs: nil
// for all, an empty list for none.
func (k *Kiln) Selection() []string {
	if k == nil {
		return nil
	}
	switch g := strings.TrimSpace(k.GPUs); g {
	case "", "all":
		return nil
	case "none":
		return []string{}
	default:
		var out []string
		for _, e := range strings.Split(g, ",") {
			if e = strings.TrimSpace(e); e != "" {
				out = append(out, e)
			}
		}
		return out
	}
}

// Interval returns TelemetryInterval as a duration (0 when unset).
func (k *Kiln) Interval() time.Duration {
	if k == nil {
		return 0
	}
	d, _ := time.ParseDuration(k.TelemetryInterval)
	return d
}

// validate checks the section of runner r; bad reports an error about r.
func (k *Kiln) validate(r *Runner, dir string, bad func(format string, args ...any) error) error {
	if k.StateDir != "" {
		k.StateDir = absUnder(dir, k.StateDir, "state")
	}
	switch g := strings.TrimSpace(k.GPUs); {
	case g == "" || g == "all" || g == "none":
	case strings.Trim(g, ", ") == "":
		return bad("kiln.gpus %q lists no GPU", k.GPUs)
	}
	switch k.Injection {
	case "", "cdi", "nvidia-runtime":
	default:
		return bad("kiln.injection %q is not cdi or nvidia-runtime", k.Injection)
	}
	if k.Injection != "" && r.Executor == "shell" {
		return bad("kiln.injection %q does not apply to the shell executor, whose jobs get CUDA_VISIBLE_DEVICES and NVIDIA_VISIBLE_DEVICES; remove it", k.Injection)
	}
	for i, d := range k.CDISpecDirs {
		if !filepath.IsAbs(d) {
			return bad("kiln.cdi_spec_dirs[%d] %q must be an absolute path", i, d)
		}
	}
	if k.TelemetryInterval != "" {
		if d, err := time.ParseDuration(k.TelemetryInterval); err != nil || d < 10*time.Millisecond {
			return bad("kiln.telemetry_interval %q is not a duration of at least 10ms such as \"1s\"", k.TelemetryInterval)
		}
	}
	return nil
}

// StringList is a TOML string or array of strings (pull_policy takes both).
type StringList []string

// UnmarshalTOML accepts "x" or ["x", "y"].
func (l *StringList) UnmarshalTOML(v any) error {
	switch t := v.(type) {
	case string:
		*l = StringList{t}
	case []any:
		out := make(StringList, 0, len(t))
		for _, e := range t {
			s, ok := e.(string)
			if !ok {
				return fmt.Errorf("want a string or a list of strings, found %T in the list", e)
			}
			out = append(out, s)
		}
		*l = out
	default:
		return fmt.Errorf("want a string or a list of strings, found %T", v)
	}
	return nil
}

// Executors a runner may name.
var Executors = []string{"shell", "docker"}

// ShortToken is the runner's token as shown to people: 9 characters after glrt-.
func (r Runner) ShortToken() string {
	t := strings.TrimPrefix(r.Token, "glrt-")
	if len(t) > 9 {
		t = t[:9]
	}
	return t
}

// LogValue shows the runner without its token.
func (r Runner) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", r.Name), slog.String("url", r.URL),
		slog.String("executor", r.Executor), slog.String("token", r.ShortToken()+"…"))
}

// validate checks one runner; i is its index for messages.
func (r *Runner) validate(i int, dir string) error {
	where := fmt.Sprintf("runners[%d]", i)
	if r.Name != "" {
		where += fmt.Sprintf(" (%q)", r.Name)
	}
	bad := func(format string, args ...any) error { return fmt.Errorf(where+": "+format, args...) }
	u, err := url.Parse(r.URL)
	if r.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return bad("url must be an http(s) URL of the coordinator")
	}
	if u.User != nil {
		return bad("url must not carry credentials")
	}
	if r.Token == "" {
		return bad("token is empty; run `kiln runner register`")
	}
	if !contains(Executors, r.Executor) {
		return bad("executor %q is not one of %s", r.Executor, strings.Join(Executors, ", "))
	}
	if r.Limit < 0 || r.OutputLimit < 0 || r.RequestConcurrency < 0 {
		return bad("limit, output_limit and request_concurrency must not be negative")
	}
	for j, kv := range r.Environment {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return bad("environment[%d] is not KEY=VALUE", j)
		}
	}
	if r.Name == "" {
		r.Name = "kiln-runner-" + r.ShortToken()
	}
	r.BuildsDir = absUnder(dir, r.BuildsDir, "builds")
	r.CacheDir = absUnder(dir, r.CacheDir, "cache")
	if r.Kiln != nil {
		return r.Kiln.validate(r, dir, bad)
	}
	return nil
}

func absUnder(dir, p, def string) string {
	if p == "" {
		p = def
	}
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(dir, p)
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// SystemIDFile is the file beside config.toml that holds the machine's system id.
const SystemIDFile = ".runner_system_id"

// SystemID reads the system id beside configPath ("s_" and 12 hex digits), creating
// it on first use, as gitlab-runner does.
func SystemID(configPath string) (string, error) {
	p := filepath.Join(filepath.Dir(configPath), SystemIDFile)
	b, err := os.ReadFile(p)
	if err == nil {
		id := strings.TrimSpace(string(b))
		if len(id) == 14 && strings.HasPrefix(id, "s_") {
			return id, nil
		}
		return "", fmt.Errorf("%s: %q is not a system id (s_ and 12 hex digits)", p, id)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("reading system id: %w", err)
	}
	var r [6]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", err
	}
	id := "s_" + hex.EncodeToString(r[:])
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return "", fmt.Errorf("creating %s: %w", filepath.Dir(p), err)
	}
	if err := os.WriteFile(p, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("writing system id: %w", err)
	}
	return id, nil
}
