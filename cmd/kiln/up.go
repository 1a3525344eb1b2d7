package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/kiln-ci/kiln/internal/api/client"
	"github.com/kiln-ci/kiln/internal/coordinator"
	"github.com/kiln-ci/kiln/internal/demo"
	"github.com/kiln-ci/kiln/internal/executor/docker"
	"github.com/kiln-ci/kiln/internal/gpu"
)

// upConfig is `kiln up`'s configuration (flags).
type upConfig struct {
	DataDir     string
	Listen      string
	Executor    string // auto, docker or shell
	DockerImage string
	// Concurrent is how many untagged (CPU) jobs run at once; GPU jobs add one per
	// GPU that fits the GPU machine type.
	Concurrent int
	LogLevel   string

	Demo        bool
	Keep        bool
	Examples    string
	DemoGroup   string
	DemoTimeout time.Duration
}

// Executor choices of kiln up.
const (
	upExecutorAuto = "auto"
	upAdminUser    = "root" // the first administrator kiln server's bootstrap creates
)

func newUpCmd() *cobra.Command {
	cfg := upConfig{}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run Kiln on this machine: the coordinator and a runner in one process",
		Long: `Run all of Kiln on this machine, in one process: the coordinator (SQLite, hosted
repositories, the web UI and the API) on 127.0.0.1 and a runner that serves it over
HTTP on loopback, as any runner does. The runner uses the Docker executor when a Docker
daemon answers (images are pulled only when missing: there may be no registry), the
shell executor otherwise.

It serves the untagged machine type (saas-linux-small-amd64) and, when this host has
GPUs that fit it, the GPU machine type (saas-linux-medium-amd64-gpu-standard) with one
job per GPU. Its runners are all there is, so a job whose machine type none of them
serves fails at once saying so, instead of waiting for a runner as a stuck job: on a
host without GPUs, a GPU job fails with "no GPU of machine type ... is available".

The first start creates the administrator, root, with a personal access token, and
registers the runners; the token (admin-token, mode 0600) and the runners'
config.toml are kept in --data, so a restart serves the same data with the same token.
It prints the web UI's URL, the token, and how to push a project and use the client
commands. Ctrl-C stops it: running jobs are stopped and reported, then the server
finishes its requests.

--demo makes a group "demo" on the Premium plan and, for each directory of --examples
holding a .gitlab-ci.yml, a project of that name; it pushes the directory (the push
creates the pipeline), prints every job status change until all pipelines have ended,
prints a summary and exits (with --keep it goes on serving). The demo's exit status
is 0 when every pipeline ran to its end, whatever their outcome; the summary says
what happened.`,
		Example: `  kiln up
  kiln up --data ~/kiln --listen 127.0.0.1:9090 --executor shell
  kiln up --demo --examples examples --docker-image kiln-test/debian:bookworm`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runUp(cmd.Context(), cfg, upDeps{openHost: gpu.OpenHost, docker: dockerAnswers},
				cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data", defaultUpDataDir(), "data directory: database, repositories, artifacts, the admin token, the runners' config.toml")
	f.StringVar(&cfg.Listen, "listen", "127.0.0.1:8080", "address to serve on (host:port; port 0 picks a free one)")
	f.StringVar(&cfg.Executor, "executor", upExecutorAuto, "auto (docker when a daemon answers, else shell), docker or shell")
	f.StringVar(&cfg.DockerImage, "docker-image", "debian:bookworm", "docker executor: the image of jobs that name none")
	f.IntVar(&cfg.Concurrent, "concurrent", runtime.NumCPU(), "how many untagged jobs run at once")
	f.StringVar(&cfg.LogLevel, "log-level", "warn", "log level of the server and the runner: debug, info, warn or error")
	f.BoolVar(&cfg.Demo, "demo", false, "run the pipelines of --examples, print a summary and exit")
	f.BoolVar(&cfg.Keep, "keep", false, "with --demo: keep serving after the demo (until Ctrl-C)")
	f.StringVar(&cfg.Examples, "examples", "examples", "with --demo: the directory whose subdirectories become projects")
	f.StringVar(&cfg.DemoGroup, "demo-group", demo.DefaultGroup, "with --demo: the group the projects go into")
	f.DurationVar(&cfg.DemoTimeout, "demo-timeout", 15*time.Minute, "with --demo: stop waiting for the pipelines after this long")
	return cmd
}

// defaultUpDataDir is $XDG_DATA_HOME/kiln/up, else ~/.local/share/kiln/up.
func defaultUpDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "kiln", "up")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "kiln", "up")
	}
	return filepath.Join(".kiln", "up")
}

// upDeps are what kiln up reads of the host, replaceable in tests.
type upDeps struct {
	openHost hostOpener
	docker   func(ctx context.Context) error // nil when a Docker daemon answers
}

// runUp runs the coordinator and the runners until ctx ends (or, with --demo and
// without --keep, until the demo has ended), then stops the runners and the server in
// that order.
func runUp(ctx context.Context, cfg upConfig, deps upDeps, stdout, stderr io.Writer) error {
	if cfg.DataDir == "" {
		return errors.New("--data is required")
	}
	if cfg.Concurrent < 1 {
		return fmt.Errorf("--concurrent %d: want at least 1", cfg.Concurrent)
	}
	if cfg.Demo {
		if _, err := demo.Examples(cfg.Examples); err != nil {
			return fmt.Errorf("--examples: %w", err)
		}
	}
	log, err := serverLogger(stderr, cfg.LogLevel, "text")
	if err != nil {
		return err
	}
	if cfg.DataDir, err = filepath.Abs(cfg.DataDir); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("creating the data directory: %w", err)
	}
	executorName, err := chooseExecutor(ctx, cfg.Executor, deps.docker)
	if err != nil {
		return err
	}
	token, err := loadOrCreateToken(filepath.Join(cfg.DataDir, adminTokenFile))
	if err != nil {
		return err
	}
	plan, err := planRunners(ctx, deps.openHost, log, cfg.Concurrent)
	if err != nil {
		return err
	}

	// The server runs on a context of its own, canceled only after the runners have
	// stopped, so that they can report their jobs' end.
	serverCtx, stopServer := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServer()
	ready := make(chan string, 1)
	server := goBackground(func() error {
		return runServer(serverCtx, serverConfig{
			Listen: cfg.Listen, DataDir: cfg.DataDir, BootstrapToken: token,
			LongPoll: coordinator.DefaultLongPoll, StuckTimeout: coordinator.DefaultStuckTimeout,
			MaxArtifactSize: coordinator.DefaultMaxArtifactBytes, ShutdownTimeout: 10 * time.Second,
			LogLevel: cfg.LogLevel, LogFormat: "text",
			Configure: func(c *coordinator.Config) { c.FailUnserved, c.UnservedHint = true, plan.hint() },
			Ready:     func(url string) { ready <- url },
		}, io.Discard, stderr)
	})
	var url string
	select {
	case url = <-ready:
	case <-server.done:
		return server.err
	case <-ctx.Done(): // Ctrl-C while starting
		stopServer()
		return server.wait()
	}
	runnerCtx, stopRunner := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRunner()
	var runner *background
	// stop stops the runner (its running jobs are stopped and reported), then the server.
	stop := func(err error) error {
		if runner != nil {
			stopRunner()
			if rerr := runner.wait(); rerr != nil && !errors.Is(rerr, context.Canceled) {
				err = errors.Join(err, fmt.Errorf("runner: %w", rerr))
			}
		}
		stopServer()
		return errors.Join(err, server.wait())
	}

	api, err := client.New(url, token, nil)
	if err != nil {
		return stop(err)
	}
	if _, err := api.CurrentUser(ctx); err != nil {
		return stop(fmt.Errorf("the administrator token in %s does not work on the data in %s (was the file changed?): %w",
			filepath.Join(cfg.DataDir, adminTokenFile), cfg.DataDir, err))
	}
	runnerConfig := filepath.Join(cfg.DataDir, "runner", "config.toml")
	served, err := ensureRunners(ctx, api, runnerSetup{path: runnerConfig, url: url, executor: executorName,
		dockerImage: cfg.DockerImage, gpuStateDir: filepath.Join(cfg.DataDir, "gpu"), logLevel: cfg.LogLevel, plan: plan})
	if err != nil {
		return stop(fmt.Errorf("registering the runners: %w", err))
	}
	if ctx.Err() != nil { // Ctrl-C while registering
		return stop(nil)
	}
	runner = goBackground(func() error { return runRunnerWith(runnerCtx, runnerConfig, deps.openHost) })

	in := instructions{url: url, token: token, dataDir: cfg.DataDir, executor: executorName, runners: served,
		plan: plan, self: selfCommand()}
	if executorName == docker.Name && !dockerImageHere(ctx, cfg.DockerImage) {
		in.missingImage = cfg.DockerImage
	}
	printInstructions(stdout, in)

	if cfg.Demo {
		err := runDemo(ctx, cfg, url, token, stdout, runner)
		if !cfg.Keep || err != nil {
			return stop(err)
		}
		fmt.Fprintln(stdout, "\nKiln keeps serving (--keep); Ctrl-C stops it.")
	}
	select {
	case <-ctx.Done():
		fmt.Fprintln(stdout, "Stopping Kiln...")
		return stop(nil)
	case <-runner.done:
		if runner.err == nil { // SIGQUIT: it finished its jobs
			fmt.Fprintln(stdout, "The runners stopped; stopping Kiln...")
			return stop(nil)
		}
		return stop(fmt.Errorf("the runner stopped: %w", runner.err))
	case <-server.done:
		return stop(fmt.Errorf("the server stopped: %w", server.err))
	}
}

// background is a goroutine's end, which any number of callers may wait for.
type background struct {
	done chan struct{}
	err  error // set before done is closed
}

func goBackground(f func() error) *background {
	b := &background{done: make(chan struct{})}
	go func() {
		defer close(b.done)
		b.err = f()
	}()
	return b
}

func (b *background) wait() error {
	<-b.done
	return b.err
}

// runDemo plays the demo against the server. It fails when the runner stops, the
// demo cannot run, or the pipelines do not end within cfg.DemoTimeout; Ctrl-C ends it
// with exit status 130 after the summary of where things stand.
func runDemo(ctx context.Context, cfg upConfig, url, token string, out io.Writer, runner *background) error {
	dctx, cancel := context.WithTimeout(ctx, cfg.DemoTimeout)
	defer cancel()
	fmt.Fprintln(out)
	var res *demo.Result
	played := goBackground(func() error {
		var err error
		res, err = demo.Run(dctx, demo.Config{URL: url, Username: upAdminUser, Token: token, Examples: cfg.Examples,
			Group: cfg.DemoGroup, Out: out})
		return err
	})
	select {
	case <-played.done:
	case <-runner.done:
		cancel()
		played.wait()
		if runner.err == nil {
			return errors.New("the runners were stopped (SIGQUIT) during the demo")
		}
		return fmt.Errorf("the runner stopped during the demo: %w", runner.err)
	}
	switch err := played.err; {
	case ctx.Err() != nil:
		fmt.Fprintln(out, "\nThe demo was stopped.")
		return exitError{code: exitCanceled}
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("the demo's pipelines did not end within --demo-timeout %s", cfg.DemoTimeout)
	case err != nil:
		return fmt.Errorf("demo: %w", err)
	}
	fmt.Fprintf(out, "\nThe demo ran %d pipeline(s) to their end.\n", len(res.Pipelines))
	return nil
}
