package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/kiln-ci/kiln/internal/api"
	"github.com/kiln-ci/kiln/internal/api/auth"
	"github.com/kiln-ci/kiln/internal/coordinator"
	"github.com/kiln-ci/kiln/internal/coordinator/quota"
	"github.com/kiln-ci/kiln/internal/git"
	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/store/engine"
)

// serverConfig is `kiln server`'s configuration (flags, and KILN_BOOTSTRAP_TOKEN).
type serverConfig struct {
	Listen      string
	DataDir     string
	DatabaseURL string
	// ExternalURL is how runners and people reach the server; default http://<listen>.
	ExternalURL    string
	BootstrapToken string
	// RegistrationToken, when set, is an instance-wide registration token for legacy
	// runner registration (kept across restarts; KILN_REGISTRATION_TOKEN).
	RegistrationToken string
	LongPoll          time.Duration
	StuckTimeout      time.Duration
	MaxArtifactSize   int64
	ShutdownTimeout   time.Duration
	LogLevel          string
	LogFormat         string
	// MachineTypes is a TOML file of [[machine_types]] added to the default catalog
	// (an entry with a default's tag replaces it); "" keeps the defaults.
	MachineTypes string
	// ComputeQuotas maps a plan to its monthly compute minutes (-1: unlimited);
	// plans not given keep GitLab's defaults.
	ComputeQuotas  map[string]string
	OverrunMinutes float64

	// Set by kiln up, not by flags. Configure adjusts the coordinator's configuration
	// before it starts; Ready is called once, with the external URL, when the server
	// accepts connections and the first administrator exists; it must not block.
	Configure func(*coordinator.Config)
	Ready     func(externalURL string)
}

func newServerCmd() *cobra.Command {
	var cfg serverConfig
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the coordinator: hosted repositories, pipelines, the runner API",
		Long: `Run Kiln's coordinator: it hosts git repositories (push over HTTP), turns pushes and
API calls into pipelines, and hands jobs to runners over GitLab's runner API, so
kiln runner and the real gitlab-runner can both serve it.

State lives in --data (a SQLite database, artifacts and repositories), or in
PostgreSQL with --database postgres://... (artifacts and repositories stay in
--data); several servers may share one PostgreSQL.

On a fresh server, KILN_BOOTSTRAP_TOKEN (or --bootstrap-token) creates the first
administrator, root, with that personal access token, so that automation can drive
it at once. KILN_REGISTRATION_TOKEN (or --registration-token) is a registration
token for legacy runner registration (gitlab-runner register --registration-token):
runners it registers serve the whole instance. /-/health, /-/readiness and /metrics (Prometheus) are served beside
/api/v4. SIGINT or SIGTERM stop it gracefully: long polls end at once, other
requests get --shutdown-timeout to finish.`,
		Example: `  export KILN_BOOTSTRAP_TOKEN=$(openssl rand -hex 20)   # root's token: keep it
  kiln server --listen :8080 --data /var/lib/kiln
  kiln server --listen 0.0.0.0:8080 --external-url https://ci.example.com --data /var/lib/kiln \
    --database postgres://kiln@db/kiln?sslmode=verify-full`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.BootstrapToken == "" {
				cfg.BootstrapToken = os.Getenv("KILN_BOOTSTRAP_TOKEN")
			}
			if cfg.RegistrationToken == "" {
				cfg.RegistrationToken = os.Getenv("KILN_REGISTRATION_TOKEN")
			}
			return runServer(cmd.Context(), cfg, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Listen, "listen", "127.0.0.1:8080", "address to listen on (host:port)")
	f.StringVar(&cfg.DataDir, "data", "", "data directory: database, artifacts, repositories (required)")
	f.StringVar(&cfg.DatabaseURL, "database", "", "PostgreSQL URL (postgres://...); default SQLite in --data")
	f.StringVar(&cfg.ExternalURL, "external-url", "", "URL runners and users reach the server at (default http://<listen>)")
	f.StringVar(&cfg.BootstrapToken, "bootstrap-token", "", "personal access token of the first administrator on a fresh server (or KILN_BOOTSTRAP_TOKEN)")
	f.StringVar(&cfg.RegistrationToken, "registration-token", "", "instance-wide registration token for legacy runner registration (or KILN_REGISTRATION_TOKEN)")
	f.DurationVar(&cfg.LongPoll, "long-poll", coordinator.DefaultLongPoll, "how long jobs/request waits for a job")
	f.DurationVar(&cfg.StuckTimeout, "stuck-timeout", coordinator.DefaultStuckTimeout, "fail a running job whose runner is silent this long")
	f.Int64Var(&cfg.MaxArtifactSize, "max-artifact-size", coordinator.DefaultMaxArtifactBytes, "largest artifact upload in bytes")
	f.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "how long requests may finish after a stop signal")
	f.StringVar(&cfg.LogLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&cfg.LogFormat, "log-format", "text", "text or json")
	f.StringVar(&cfg.MachineTypes, "machine-types", "", "TOML file of [[machine_types]] to add to (or replace in) the default catalog")
	f.StringToStringVar(&cfg.ComputeQuotas, "compute-quota", nil, "monthly compute minutes per plan, e.g. free=400,premium=10000,ultimate=-1 (-1: unlimited)")
	f.Float64Var(&cfg.OverrunMinutes, "quota-overrun", quota.DefaultOverrunMinutes, "minutes running jobs may go past a spent quota before they are canceled")
	cmd.MarkFlagRequired("data")
	return cmd
}

// runServer runs the coordinator until ctx ends. It prints the URL it serves on
// stdout once it accepts connections.
func runServer(ctx context.Context, cfg serverConfig, stdout, stderr io.Writer) error {
	log, err := serverLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return err
	}
	if cfg.DataDir == "" {
		return errors.New("--data is required")
	}
	catalog, err := loadCatalog(cfg.MachineTypes)
	if err != nil {
		return err
	}
	quotas, err := quotaConfig(cfg.ComputeQuotas, cfg.OverrunMinutes)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", cfg.Listen, err)
	}
	defer ln.Close()
	if cfg.ExternalURL == "" {
		cfg.ExternalURL = "http://" + reachable(ln.Addr().(*net.TCPAddr))
	}

	ecfg := engine.Config{DataDir: cfg.DataDir, DatabaseURL: cfg.DatabaseURL, MaxArtifactSize: cfg.MaxArtifactSize, Logger: log}
	st, err := engine.Open(ctx, ecfg)
	if err != nil {
		return err
	}
	defer st.Close()
	blobs, err := engine.Blobs(ecfg)
	if err != nil {
		return err
	}
	repos, err := git.NewManager(ctx, git.Config{Root: filepath.Join(cfg.DataDir, "repositories"), Logger: log})
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ccfg := coordinator.Config{
		Store: st, Blobs: blobs, Repos: repos, Catalog: catalog, Quota: quotas, ExternalURL: cfg.ExternalURL, LongPoll: cfg.LongPoll,
		StuckTimeout: cfg.StuckTimeout, MaxArtifactBytes: cfg.MaxArtifactSize, Metrics: reg,
		Logger: log.With("component", "coordinator"),
	}
	if cfg.Configure != nil {
		cfg.Configure(&ccfg)
	}
	svc, err := coordinator.New(ccfg)
	if err != nil {
		return err
	}
	if cfg.BootstrapToken != "" {
		// The coordinator logs the administrator it creates.
		if _, err := svc.Bootstrap(ctx, cfg.BootstrapToken); err != nil {
			return fmt.Errorf("bootstrapping the first administrator: %w", err)
		}
	}
	if cfg.RegistrationToken != "" {
		if _, err := svc.EnsureRegistrationToken(ctx, cfg.RegistrationToken); err != nil {
			return fmt.Errorf("--registration-token: %w", err)
		}
	}
	authn := auth.New(st.Users, log)
	gitHandler, err := git.NewHandler(git.HandlerConfig{Repos: repos, Authorizer: auth.GitAuthorizer(st, authn),
		OnPush: svc.OnPush, Logger: log.With("component", "git")})
	if err != nil {
		return err
	}
	handler, err := api.New(api.Config{Service: svc, Auth: authn, Git: gitHandler,
		Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), Mounts: serverMounts(svc, authn, cfg.DataDir, log),
		Logger: log.With("component", "http")})
	if err != nil {
		return err
	}

	// Long polls and git transfers see baseCtx: canceling it on shutdown ends the long
	// polls at once (they answer 204) while uploads get the shutdown timeout.
	baseCtx, stopRequests := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRequests()
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 30 * time.Second,
		BaseContext: func(net.Listener) context.Context { return baseCtx }}
	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	runDone := make(chan error, 1)
	go func() { runDone <- svc.Run(runCtx) }()
	go func() {
		if n, err := gitHandler.ReplayPushes(runCtx); n > 0 || err != nil {
			log.Info("replayed pushes recorded before the last stop", "delivered", n, "error", err)
		}
	}()
	serveDone := make(chan error, 1)
	go func() { serveDone <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "Kiln coordinator listening on %s (external URL %s)\n", ln.Addr(), cfg.ExternalURL)
	log.Info("listening", "address", ln.Addr().String(), "external_url", cfg.ExternalURL, "engine", st.Engine)
	if cfg.Ready != nil {
		cfg.Ready(cfg.ExternalURL)
	}

	select {
	case err := <-serveDone:
		stopRun()
		<-runDone
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	log.Info("stopping: finishing requests", "timeout", cfg.ShutdownTimeout)
	stopRequests()
	shutCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	err = srv.Shutdown(shutCtx)
	stopRun()
	if rerr := <-runDone; rerr != nil {
		err = errors.Join(err, rerr)
	}
	if err != nil {
		return fmt.Errorf("stopping: %w", err)
	}
	log.Info("stopped")
	return nil
}

// reachable is host:port for the default external URL: an unspecified listen
// address (":8080", "0.0.0.0:8080") is reached on 127.0.0.1.
func reachable(a *net.TCPAddr) string {
	if a.IP == nil || a.IP.IsUnspecified() {
		return net.JoinHostPort("127.0.0.1", fmt.Sprint(a.Port))
	}
	return a.String()
}

func serverLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// loadCatalog reads --machine-types: the default catalog with the file's
// [[machine_types]] added, an entry with a default's tag replacing it. Fields are
// machine.Type's (tag, vcpu, memory_bytes, disk_bytes, cost_factor, plans, untagged,
// max_timeout such as "3h", [machine_types.gpu] count/model/memory_min_bytes).
func loadCatalog(path string) (*machine.Catalog, error) {
	if path == "" {
		return machine.DefaultCatalog(), nil
	}
	var file struct {
		MachineTypes []machine.Type `toml:"machine_types"`
	}
	md, err := toml.DecodeFile(path, &file)
	if err != nil {
		return nil, fmt.Errorf("--machine-types %s: %w", path, err)
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		return nil, fmt.Errorf("--machine-types %s: unknown key %s", path, undecoded[0])
	}
	c, err := machine.WithDefaults(file.MachineTypes)
	if err != nil {
		return nil, fmt.Errorf("--machine-types %s: %w", path, err)
	}
	return c, nil
}

// quotaConfig reads --compute-quota and --quota-overrun over GitLab's defaults.
func quotaConfig(plans map[string]string, overrun float64) (quota.Config, error) {
	c := quota.DefaultConfig()
	c.OverrunMinutes = overrun
	for plan, v := range plans {
		minutes, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return c, fmt.Errorf("--compute-quota %s=%q: want a number of minutes, or -1 for unlimited", plan, v)
		}
		c.Plans[plan] = minutes
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("--compute-quota: %w", err)
	}
	return c, nil
}
