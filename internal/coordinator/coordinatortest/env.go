// Package coordinatortest runs a real coordinator for tests: a store (SQLite in a
// temporary directory, or PostgreSQL in a schema of its own), artifact blobs on disk,
// git repositories driven by the real git, the Service with its background work, and
// the whole HTTP surface on an httptest server. Helpers create groups, projects with
// repositories and commits, runners and pipelines.
//
// Only tests (and benchmarks) import this package.
package coordinatortest

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kiln-ci/kiln/internal/api"
	"github.com/kiln-ci/kiln/internal/api/auth"
	"github.com/kiln-ci/kiln/internal/coordinator"
	"github.com/kiln-ci/kiln/internal/git"
	"github.com/kiln-ci/kiln/internal/store"
	"github.com/kiln-ci/kiln/internal/store/blobfs"
	"github.com/kiln-ci/kiln/internal/store/postgres"
	"github.com/kiln-ci/kiln/internal/store/sqlite"
	"github.com/kiln-ci/kiln/internal/testenv"
)

// Engines a test may run on.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Options configure New.
type Options struct {
	// Engine is SQLite (default) or Postgres (skipped unless a test DSN is set).
	Engine string
	// Now is the clock of the store and the service; nil is the real clock.
	Now func() time.Time
	// Configure adjusts the service's configuration before it starts.
	Configure func(*coordinator.Config)
	// NoRun leaves the background work (wake-ups, reaper) stopped.
	NoRun bool
	// Logger; nil logs to the test at warn level and above.
	Logger *slog.Logger
	// Schema, with Engine Postgres, is the store's schema (replicas of one
	// coordinator, or a restarted one, share it); empty gives the test its own.
	Schema string
	// Dir is the data directory (SQLite database, artifacts, repositories); empty
	// gives the test its own. A restarted coordinator reuses its predecessor's.
	Dir string
}

// Engines are the store engines coordinator tests run on.
var Engines = []string{SQLite, Postgres}

// ForEachEngine runs test once per engine as a subtest (PostgreSQL skips, or fails
// in CI, without a test database).
func ForEachEngine(t *testing.T, test func(t *testing.T, engine string)) {
	for _, engine := range Engines {
		t.Run(engine, func(t *testing.T) { test(t, engine) })
	}
}

// Env is a running coordinator.
type Env struct {
	Store   *store.Store
	Service *coordinator.Service
	Repos   *git.Manager
	Blobs   store.ArtifactBlobs
	Server  *httptest.Server
	Metrics *prometheus.Registry
	// URL is the server's base URL, e.g. http://127.0.0.1:41234.
	URL string
	// Admin is the first administrator; AdminToken its personal access token.
	Admin      *store.User
	AdminToken string
	// Schema is the PostgreSQL schema (Engine Postgres).
	Schema string
	Dir    string

	stop     func()
	stopOnce sync.Once
}

// Stop stops the coordinator (the test's cleanup does it too): the server closes, the
// background work ends and the store is closed, as when the process exits.
func (e *Env) Stop() { e.stopOnce.Do(e.stop) }

// New starts a coordinator for t and stops it when t ends.
func New(t testing.TB, opts Options) *Env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dir := opts.Dir
	if dir == "" {
		dir = t.TempDir()
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	e := &Env{Dir: dir, Metrics: prometheus.NewRegistry()}
	var err error
	switch opts.Engine {
	case "", SQLite:
		e.Store, err = sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "kiln.db"), Synchronous: "normal", Now: opts.Now})
	case Postgres:
		dsn := testenv.PostgresDSN(t)
		e.Schema = opts.Schema
		if e.Schema == "" {
			e.Schema = "coord_" + strings.ToLower(rand.Text()[:10])
		}
		e.Store, err = postgres.Open(ctx, postgres.Config{DSN: dsn, Schema: e.Schema, Now: opts.Now})
	default:
		t.Fatalf("coordinatortest: unknown engine %q", opts.Engine)
	}
	if err != nil {
		t.Fatalf("opening the %s store: %v", opts.Engine, err)
	}
	blobs, err := blobfs.New(blobfs.Config{Dir: filepath.Join(dir, "artifacts")})
	if err != nil {
		t.Fatal(err)
	}
	e.Blobs = blobs
	if e.Repos, err = git.NewManager(ctx, git.Config{Root: filepath.Join(dir, "repos")}); err != nil {
		t.Fatal(err)
	}
	e.Server = httptest.NewUnstartedServer(nil)
	e.URL = "http://" + e.Server.Listener.Addr().String()
	cfg := coordinator.Config{
		Store: e.Store, Blobs: e.Blobs, Repos: e.Repos, ExternalURL: e.URL, Metrics: e.Metrics,
		Logger: log, Now: opts.Now, LongPoll: 2 * time.Second, ReapInterval: time.Hour,
	}
	if opts.Configure != nil {
		opts.Configure(&cfg)
	}
	if e.Service, err = coordinator.New(cfg); err != nil {
		t.Fatal(err)
	}
	authn := auth.New(e.Store.Users, log)
	gitHandler, err := git.NewHandler(git.HandlerConfig{Repos: e.Repos, Authorizer: auth.GitAuthorizer(e.Store, authn),
		OnPush: e.Service.OnPush, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	handler, err := api.New(api.Config{Service: e.Service, Auth: authn, Git: gitHandler,
		Metrics: promhttp.HandlerFor(e.Metrics, promhttp.HandlerOpts{}), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	e.Server.Config.Handler = handler
	e.Server.Start()
	done := make(chan error, 1)
	if !opts.NoRun {
		go func() { done <- e.Service.Run(ctx) }()
	} else {
		done <- nil
	}
	e.stop = func() {
		cancel()
		e.Server.CloseClientConnections()
		e.Server.Close()
		if err := <-done; err != nil {
			t.Errorf("coordinator Run: %v", err)
		}
		e.Store.Close()
	}
	t.Cleanup(e.Stop)
	token := "glpat-" + rand.Text()
	created, err := e.Service.Bootstrap(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	if created { // a restarted coordinator (Options.Dir) keeps its first administrator
		e.AdminToken = token
	}
	if e.Admin, err = e.Store.Users.UserByUsername(ctx, "root"); err != nil {
		t.Fatal(err)
	}
	return e
}

// testWriter sends log lines to the test's log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Group creates a top-level group owned by the administrator, on plan.
func (e *Env) Group(t testing.TB, path, plan string) *store.Namespace {
	t.Helper()
	n := &store.Namespace{Name: path, Path: path, Plan: plan, OwnerID: e.Admin.ID}
	if err := e.Store.Namespaces.CreateGroup(context.Background(), n); err != nil {
		t.Fatalf("creating group %s: %v", path, err)
	}
	return n
}

// Project creates a project in namespace ns with a repository whose main branch
// holds files (path → content) in one commit.
func (e *Env) Project(t testing.TB, ns *store.Namespace, path string, files map[string]string) *store.Project {
	t.Helper()
	ctx := context.Background()
	p := &store.Project{NamespaceID: ns.ID, Name: path, Path: path, CreatorID: e.Admin.ID}
	if err := e.Store.Projects.CreateProject(ctx, p); err != nil {
		t.Fatalf("creating project %s: %v", path, err)
	}
	src := t.TempDir()
	writeFiles(t, src, files)
	if _, _, err := e.Repos.CreateFromDir(ctx, p.FullPath, src, git.InitialCommit{AuthorName: "Ada Lovelace",
		AuthorEmail: "ada@example.com", Message: "Add the pipeline\n\nWith a description."}); err != nil {
		t.Fatalf("creating the repository of %s: %v", p.FullPath, err)
	}
	return p
}

func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// CreatePipeline creates a pipeline of p at ref through the service, as the API does.
func (e *Env) CreatePipeline(t testing.TB, p *store.Project, ref string, vars ...store.PipelineVariable) *store.Pipeline {
	t.Helper()
	pl, err := e.Service.CreatePipeline(context.Background(), coordinator.CreatePipelineRequest{
		ProjectID: p.ID, Ref: ref, Source: store.SourceAPI, UserID: e.Admin.ID, Variables: vars})
	if err != nil {
		t.Fatalf("creating a pipeline of %s at %s: %v", p.FullPath, ref, err)
	}
	return pl
}

// Runner creates a runner and returns it with its token.
func (e *Env) Runner(t testing.TB, req coordinator.CreateRunnerRequest) (*store.Runner, string) {
	t.Helper()
	if req.CreatorID == 0 {
		req.CreatorID = e.Admin.ID
	}
	r, token, err := e.Service.CreateRunner(context.Background(), req)
	if err != nil {
		t.Fatalf("creating a runner: %v", err)
	}
	return r, token
}

// Jobs returns a pipeline's current jobs by name.
func (e *Env) Jobs(t testing.TB, pipelineID int64) map[string]store.Job {
	t.Helper()
	jobs, err := e.Store.Jobs.ListJobs(context.Background(), store.JobQuery{PipelineID: pipelineID, Page: store.Page{Limit: store.MaxPageLimit}})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]store.Job{}
	for _, j := range jobs {
		out[j.Name] = j
	}
	return out
}

// Statuses returns a pipeline's current jobs as "name=status", by name.
func (e *Env) Statuses(t testing.TB, pipelineID int64) string {
	t.Helper()
	jobs := e.Jobs(t, pipelineID)
	names := make([]string, 0, len(jobs))
	for n := range jobs {
		names = append(names, n)
	}
	slices.Sort(names)
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%s", n, jobs[n].Status)
	}
	return b.String()
}

// Pipeline reads a pipeline.
func (e *Env) Pipeline(t testing.TB, id int64) *store.Pipeline {
	t.Helper()
	pl, err := e.Store.Pipelines.Pipeline(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return pl
}

// Trace reads a job's trace.
func (e *Env) Trace(t testing.TB, jobID int64) string {
	t.Helper()
	b, err := e.Store.Traces.ReadTrace(context.Background(), jobID, 0)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
