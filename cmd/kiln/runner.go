package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/runner/agent"
	"github.com/kiln-ci/kiln/internal/runner/config"
)

const defaultRunnerConfig = "/etc/kiln/config.toml"

func newRunnerCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "runner",
		Short: "Run jobs for a coordinator (Kiln's or GitLab's) on this host",
		Long: `kiln runner is the GPU runner agent. It speaks GitLab's runner API, so it serves a
Kiln coordinator (kiln server) or any GitLab instance as a drop-in runner.

  kiln runner register --url https://gitlab.example.com --token glrt-... --executor docker
  kiln runner run

Its configuration is a config.toml in gitlab-runner's spirit (concurrent,
check_interval, [[runners]] with url, token, executor, builds_dir, cache_dir,
limit, output_limit, environment, [runners.docker] and [runners.kiln] with the
machine type it serves).`,
	}
	cmd.PersistentFlags().StringP("config", "c", defaultRunnerConfig, "the runner's config.toml")
	cmd.AddCommand(newRunnerRegisterCmd(), newRunnerRunCmd(), newRunnerVerifyCmd(), newRunnerUnregisterCmd(),
		newRunnerCreateCmd())
	return cmd
}

func newClient(url string, m *agent.Metrics) (*protocol.Client, error) {
	cfg := protocol.ClientConfig{URL: url}
	if m != nil {
		cfg.Observe = m.ObserveAPI
	}
	return protocol.NewClient(cfg)
}

type registerFlags struct {
	url, token, regToken, executor, name, tags, accessLevel, maintenanceNote string
	buildsDir, cacheDir, shell, cloneURL, machineType, dockerImage           string
	env                                                                      []string
	runUntagged, locked, paused, leaveRunner                                 bool
	outputLimit, limit, maxTimeout                                           int
}

func newRunnerRegisterCmd() *cobra.Command {
	var f registerFlags
	cmd := &cobra.Command{
		Use:   "register",
		Short: "Register this host as a runner and add it to config.toml",
		Long: `Register this host with a coordinator and add a [[runners]] entry to config.toml.

With a runner authentication token (glrt-..., created in the UI or with
POST /user/runners) the token is verified; its tags, lock and access level were set
when it was created, so --tag-list, --locked, --access-level, --run-untagged,
--maximum-timeout, --paused and --maintenance-note are refused. With a legacy
registration token (--registration-token) the runner is registered and gets its own
token. If anything fails after registration, the runner is unregistered again unless
--leave-runner is given.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, _ := cmd.Flags().GetString("config")
			return runRegister(cmd, path, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.url, "url", "u", "", "the coordinator's URL, e.g. https://gitlab.example.com (or CI_SERVER_URL)")
	fl.StringVarP(&f.token, "token", "t", "", "runner authentication token (glrt-...)")
	fl.StringVarP(&f.regToken, "registration-token", "r", "", "legacy registration token")
	fl.StringVar(&f.executor, "executor", "", "shell or docker")
	fl.StringVar(&f.name, "name", "", "the runner's name (default: the host name)")
	fl.StringVar(&f.name, "description", "", "alias of --name")
	fl.StringVar(&f.tags, "tag-list", "", "comma-separated tags (registration tokens only)")
	fl.BoolVar(&f.runUntagged, "run-untagged", false, "also run untagged jobs (registration tokens only)")
	fl.BoolVar(&f.locked, "locked", true, "lock the runner to its project (registration tokens only)")
	fl.BoolVar(&f.paused, "paused", false, "register paused (registration tokens only)")
	fl.StringVar(&f.accessLevel, "access-level", "", "not_protected or ref_protected (registration tokens only)")
	fl.StringVar(&f.maintenanceNote, "maintenance-note", "", "note for maintainers (registration tokens only)")
	fl.IntVar(&f.maxTimeout, "maximum-timeout", 0, "maximum job timeout in seconds (registration tokens only)")
	fl.StringVar(&f.buildsDir, "builds-dir", "", "where job directories go (default: builds beside config.toml)")
	fl.StringVar(&f.cacheDir, "cache-dir", "", "where local caches go (default: cache beside config.toml)")
	fl.StringVar(&f.shell, "shell", "", "shell for the shell executor (default bash, else sh)")
	fl.StringVar(&f.cloneURL, "clone-url", "", "fetch sources from this URL instead of the job's repo URL")
	fl.StringArrayVar(&f.env, "env", nil, "KEY=VALUE added to every job's environment (repeatable)")
	fl.IntVar(&f.outputLimit, "output-limit", 0, "job log limit in kilobytes (default 4096)")
	fl.IntVar(&f.limit, "limit", 0, "most jobs this runner runs at once (0: only concurrent applies)")
	fl.StringVar(&f.machineType, "machine-type", "", "the machine type this runner serves, e.g. saas-linux-medium-amd64-gpu-standard")
	fl.StringVar(&f.dockerImage, "docker-image", "", "default image for jobs without one (docker executor)")
	fl.BoolVar(&f.leaveRunner, "leave-runner", false, "do not unregister the runner if saving the configuration fails")
	fl.Bool("non-interactive", true, "accepted for gitlab-runner compatibility; kiln never prompts")
	return cmd
}

func runRegister(cmd *cobra.Command, path string, f registerFlags) error {
	ctx := cmd.Context()
	if f.url == "" {
		return errors.New("--url is required (the coordinator's URL)")
	}
	token := f.token
	legacy := false
	switch {
	case token != "" && f.regToken != "":
		return errors.New("give either --token or --registration-token, not both")
	case token == "" && strings.HasPrefix(f.regToken, protocol.CreatedRunnerTokenPrefix):
		token = f.regToken // gitlab-runner accepts a glrt- token through -r as well
	case token == "" && f.regToken != "":
		legacy = true
	case token == "":
		return errors.New("--token (glrt-...) or --registration-token is required")
	}
	if f.executor != "shell" && f.executor != "docker" {
		return fmt.Errorf("--executor %q: want shell or docker", f.executor)
	}
	if !legacy && f.token != "" {
		for _, name := range []string{"tag-list", "locked", "access-level", "run-untagged", "maximum-timeout", "paused", "maintenance-note"} {
			if cmd.Flags().Changed(name) {
				return fmt.Errorf("--%s cannot be used with a runner authentication token: it was set when the runner was created", name)
			}
		}
	}
	file, err := config.LoadOrEmpty(path)
	if err != nil {
		return err
	}
	if f.name == "" {
		f.name, _ = os.Hostname()
	}
	if slices.ContainsFunc(file.Runners, func(r config.Runner) bool { return r.Name == f.name }) {
		return fmt.Errorf("%s already has a runner named %q; give this one another --name", path, f.name)
	}
	systemID, err := config.SystemID(path)
	if err != nil {
		return err
	}
	client, err := newClient(f.url, nil)
	if err != nil {
		return err
	}
	info := agent.Info(f.executor, f.shell, f.machineType)
	var id int64
	if legacy {
		res, err := client.Register(ctx, protocol.RegisterRunnerRequest{Description: f.name, MaintenanceNote: f.maintenanceNote,
			Tags: f.tags, RunUntagged: f.runUntagged || f.tags == "", Locked: f.locked, AccessLevel: f.accessLevel,
			MaximumTimeout: f.maxTimeout, Paused: f.paused, Info: protocol.Info{Features: info.Features}, Token: f.regToken})
		if errors.Is(err, protocol.ErrForbidden) {
			return errors.New("registering the runner: forbidden (check the registration token)")
		}
		if err != nil {
			return fmt.Errorf("registering the runner: %w", err)
		}
		id, token = res.ID, res.Token
	} else {
		res, err := client.Verify(ctx, protocol.VerifyRunnerRequest{Info: info, Token: token, SystemID: systemID})
		if errors.Is(err, protocol.ErrForbidden) {
			return errors.New("verifying the runner: forbidden (the token is invalid or the runner was removed)")
		}
		if err != nil {
			return fmt.Errorf("verifying the runner: %w", err)
		}
		if res.ID == 0 && protocol.IsCreatedRunnerToken(token) {
			return errors.New("verifying the runner: the coordinator returned no runner id")
		}
		id = res.ID
	}
	r := config.Runner{Name: f.name, URL: f.url, ID: id, Token: token, TokenObtainedAt: time.Now().UTC().Truncate(time.Second),
		Executor: f.executor, Shell: f.shell, BuildsDir: f.buildsDir, CacheDir: f.cacheDir, CloneURL: f.cloneURL,
		Environment: f.env, Limit: f.limit, OutputLimit: f.outputLimit}
	if f.machineType != "" {
		r.Kiln = &config.Kiln{MachineType: f.machineType}
	}
	if f.executor == "docker" && f.dockerImage != "" {
		r.Docker = &config.Docker{Image: f.dockerImage}
	}
	file.Runners = append(file.Runners, r)
	if err := file.Save(); err != nil { // refused when the entry would not load: bad flags
		if legacy && !f.leaveRunner {
			uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if uerr := client.Unregister(uctx, token, systemID); uerr != nil {
				err = errors.Join(err, fmt.Errorf("unregistering again: %w", uerr))
			}
		}
		return fmt.Errorf("saving %s: %w", path, err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "Runner registered successfully (id %d). Start it with: kiln runner run --config %s\n", id, path)
	return nil
}

func newRunnerVerifyCmd() *cobra.Command {
	var name string
	var del bool
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check that the configured runners' tokens are still valid",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, _ := cmd.Flags().GetString("config")
			file, err := config.Load(path)
			if err != nil {
				return err
			}
			systemID, err := config.SystemID(path)
			if err != nil {
				return err
			}
			kept := file.Runners[:0]
			var failed error
			for _, r := range file.Runners {
				if name != "" && r.Name != name {
					kept = append(kept, r)
					continue
				}
				client, err := newClient(r.URL, nil)
				if err != nil {
					return err
				}
				_, err = client.Verify(cmd.Context(), protocol.VerifyRunnerRequest{Info: agent.Info(r.Executor, r.Shell, ""), Token: r.Token, SystemID: systemID})
				word := "is alive"
				if protocol.IsCreatedRunnerToken(r.Token) {
					word = "is valid"
				}
				switch {
				case err == nil:
					fmt.Fprintf(cmd.OutOrStdout(), "Verifying runner... %s (%s %s)\n", word, r.Name, r.ShortToken())
					kept = append(kept, r)
				case errors.Is(err, protocol.ErrForbidden) && del:
					fmt.Fprintf(cmd.OutOrStdout(), "Verifying runner... is removed (%s %s); deleting it from the configuration\n", r.Name, r.ShortToken())
				default:
					fmt.Fprintf(cmd.OutOrStdout(), "Verifying runner... failed (%s %s): %v\n", r.Name, r.ShortToken(), err)
					failed = errors.Join(failed, fmt.Errorf("runner %s: %w", r.Name, err))
					kept = append(kept, r)
				}
			}
			if len(kept) != len(file.Runners) {
				file.Runners = kept
				if err := file.Save(); err != nil {
					return err
				}
			}
			return failed
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "verify only this runner")
	cmd.Flags().BoolVar(&del, "delete", false, "delete runners the coordinator no longer knows from the configuration")
	return cmd
}

func newRunnerUnregisterCmd() *cobra.Command {
	var name, token string
	var all bool
	cmd := &cobra.Command{
		Use:   "unregister",
		Short: "Unregister runners and remove them from config.toml",
		Long: `Unregister a runner (--name or --token) or all of them (--all-runners) and remove
them from config.toml. A glrt- token removes only this machine's runner manager
(DELETE /runners/managers); the runner stays in the coordinator for other hosts.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" && token == "" && !all {
				return errors.New("say which runner: --name, --token or --all-runners")
			}
			path, _ := cmd.Flags().GetString("config")
			file, err := config.Load(path)
			if err != nil {
				return err
			}
			systemID, err := config.SystemID(path)
			if err != nil {
				return err
			}
			kept := file.Runners[:0]
			found := false
			var failed error
			for _, r := range file.Runners {
				if !all && r.Name != name && (token == "" || r.Token != token) {
					kept = append(kept, r)
					continue
				}
				found = true
				client, err := newClient(r.URL, nil)
				if err == nil {
					err = client.Unregister(cmd.Context(), r.Token, systemID)
				}
				if err != nil && !errors.Is(err, protocol.ErrForbidden) {
					failed = errors.Join(failed, fmt.Errorf("unregistering %s: %w", r.Name, err))
					kept = append(kept, r)
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Unregistering runner %s (%s)... succeeded\n", r.Name, r.ShortToken())
			}
			if !found {
				return fmt.Errorf("no such runner in %s", path)
			}
			file.Runners = kept
			if err := file.Save(); err != nil {
				return err
			}
			return failed
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "the runner's name")
	cmd.Flags().StringVarP(&token, "token", "t", "", "the runner's token")
	cmd.Flags().BoolVar(&all, "all-runners", false, "unregister every runner in the configuration")
	return cmd
}
