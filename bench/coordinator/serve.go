package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/kiln-ci/kiln/internal/api"
	"github.com/kiln-ci/kiln/internal/api/auth"
	"github.com/kiln-ci/kiln/internal/coordinator"
	"github.com/kiln-ci/kiln/internal/git"
	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/store"
	"github.com/kiln-ci/kiln/internal/store/engine"
	"github.com/kiln-ci/kiln/internal/store/postgres"
	"github.com/kiln-ci/kiln/internal/store/sqlite"
)

// serveConfig is the coordinator process's configuration.
type serveConfig struct {
	data, database, schema, listen string
	sync                           string // SQLite's synchronous: full (the server's default) or normal
	longPoll                       time.Duration
}

// serve runs a coordinator wired as `kiln server` wires it, plus two control routes
// for the load generator: POST /bench/setup (a project and runners) and POST
// /bench/pipeline (one pipeline, created inside this process as the API does). It
// prints "ready <url>" when it accepts connections.
func serve(ctx context.Context, cfg serveConfig) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return err
	}
	url := "http://" + ln.Addr().String()
	ecfg := engine.Config{DataDir: cfg.data, Logger: log}
	var st *store.Store
	if cfg.database != "" {
		st, err = postgres.Open(ctx, postgres.Config{DSN: cfg.database, Schema: cfg.schema, Logger: log})
	} else {
		st, err = sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(cfg.data, engine.DatabaseFile), Synchronous: cfg.sync, Logger: log})
	}
	if err != nil {
		return err
	}
	defer st.Close()
	blobs, err := engine.Blobs(ecfg)
	if err != nil {
		return err
	}
	repos, err := git.NewManager(ctx, git.Config{Root: filepath.Join(cfg.data, "repositories")})
	if err != nil {
		return err
	}
	svc, err := coordinator.New(coordinator.Config{Store: st, Blobs: blobs, Repos: repos, ExternalURL: url,
		LongPoll: cfg.longPoll, Logger: log})
	if err != nil {
		return err
	}
	authn := auth.New(st.Users, log)
	ctl := &control{svc: svc, st: st, repos: repos}
	h, err := api.New(api.Config{Service: svc, Auth: authn, Logger: log, Mounts: []func(*http.ServeMux){ctl.register}})
	if err != nil {
		return err
	}
	go svc.Run(ctx)
	srv := &http.Server{Handler: h, BaseContext: func(net.Listener) context.Context { return ctx }}
	go func() { <-ctx.Done(); srv.Close() }()
	fmt.Println("ready", url)
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}

type control struct {
	svc     *coordinator.Service
	st      *store.Store
	repos   *git.Manager
	project *store.Project
}

func (c *control) register(mux *http.ServeMux) {
	mux.HandleFunc("POST /bench/setup", c.setup)
	mux.HandleFunc("POST /bench/pipeline", c.pipeline)
}

// setup creates a group (Ultimate) with one project whose pipeline has `jobs` trivial
// jobs, and `runners` runners of the small machine type; it answers their tokens.
func (c *control) setup(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	runners, _ := strconv.Atoi(r.URL.Query().Get("runners"))
	jobs, _ := strconv.Atoi(r.URL.Query().Get("jobs"))
	if err := c.createProject(ctx, max(jobs, 1)); err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	tokens := make([]string, 0, runners)
	for range runners {
		_, token, err := c.svc.CreateRunner(ctx, coordinator.CreateRunnerRequest{RunUntagged: true, MachineType: machine.TagSmall})
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		tokens = append(tokens, token)
	}
	json.NewEncoder(w).Encode(tokens)
}

func (c *control) createProject(ctx context.Context, jobs int) error {
	admin := &store.User{Username: "bench", Name: "Bench", Admin: true}
	if err := c.st.Users.CreateUser(ctx, admin); err != nil {
		return err
	}
	g := &store.Namespace{Name: "load", Path: "load", Plan: machine.PlanUltimate, OwnerID: admin.ID}
	if err := c.st.Namespaces.CreateGroup(ctx, g); err != nil {
		return err
	}
	p := &store.Project{NamespaceID: g.ID, Name: "app", Path: "app", CreatorID: admin.ID}
	if err := c.st.Projects.CreateProject(ctx, p); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "bench-src-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ci := ""
	for i := range jobs {
		ci += fmt.Sprintf("job%d:\n  script: [\"true\"]\n", i)
	}
	if err := os.WriteFile(filepath.Join(dir, ".gitlab-ci.yml"), []byte(ci), 0o644); err != nil {
		return err
	}
	if _, _, err := c.repos.CreateFromDir(ctx, p.FullPath, dir, git.InitialCommit{AuthorName: "Bench", AuthorEmail: "bench@example.com"}); err != nil {
		return err
	}
	c.project = p
	return nil
}

// pipeline creates one pipeline and answers when its jobs became pending
// (unix nanoseconds of the first job's queued_at).
func (c *control) pipeline(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	pl, err := c.svc.CreatePipeline(ctx, coordinator.CreatePipelineRequest{ProjectID: c.project.ID, Ref: "main"})
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	jobs, err := c.st.Jobs.ListJobs(ctx, store.JobQuery{PipelineID: pl.ID})
	if err != nil || len(jobs) == 0 {
		http.Error(w, fmt.Sprint("listing jobs: ", err), 500)
		return
	}
	json.NewEncoder(w).Encode(map[string]int64{"pipeline": pl.ID, "queued_at": jobs[0].QueuedAt.UnixNano()})
}
