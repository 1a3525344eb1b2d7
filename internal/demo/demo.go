// Package demo is `kiln up --demo`'s scenario, played against a running Kiln server as
// any user could: through the user API (internal/api/client) with an administrator's
// personal access token and git over HTTP. It makes a group on a plan, then for each
// directory of an examples directory that holds a .gitlab-ci.yml a project of that
// name, pushes the directory's files to its default branch (the push creates the
// pipeline), follows the pipelines while printing every job status change, and ends
// with a summary of each pipeline and job, failure reasons and Kiln's messages
// included.
//
// It talks to the server only over HTTP, so it holds no part of the coordinator or of
// the runner; only cmd/kiln imports it.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/kiln-ci/kiln/internal/api/client"
	"github.com/kiln-ci/kiln/internal/api/entity"
)

// Defaults of Config.
const (
	DefaultGroup  = "demo"
	DefaultPlan   = "premium"
	DefaultBranch = "main"
	DefaultPoll   = 250 * time.Millisecond
)

// Config configures Run.
type Config struct {
	// URL is the server's base URL, e.g. http://127.0.0.1:8080 (required).
	URL string
	// Username and Token are an administrator's name and personal access token with
	// the api and write_repository scopes (required): the API calls and the git push
	// use them. The token never appears in output or errors.
	Username string
	Token    string
	// Examples is a directory whose subdirectories holding a .gitlab-ci.yml become
	// projects (required).
	Examples string
	// Group is the top-level group the projects go into (DefaultGroup); it is made on
	// Plan (DefaultPlan) when missing, and moved to Plan when on another.
	Group string
	Plan  string
	// Poll is how often pipelines are read while they run (DefaultPoll).
	Poll time.Duration
	// Git is the git program (default "git" from PATH).
	Git string
	// Out receives the progress lines and the summary; nil discards them.
	Out io.Writer
}

// Result is what happened to each example's pipeline.
type Result struct {
	Pipelines []Pipeline
}

// Pipeline is one example project's pipeline at the end of the demo (or when it was
// stopped).
type Pipeline struct {
	Project  string // full path, e.g. demo/cpu-demo
	Dir      string // the example directory
	Pipeline entity.Pipeline
	Jobs     []entity.Job
	// Errors holds, per failed job name, the last error line of its log.
	Errors map[string]string
}

// Job returns the pipeline's job named name (the last attempt), if any.
func (p Pipeline) Job(name string) (entity.Job, bool) {
	var found entity.Job
	ok := false
	for _, j := range p.Jobs {
		if j.Name == name && (!ok || j.ID > found.ID) {
			found, ok = j, true
		}
	}
	return found, ok
}

// Finished reports whether every pipeline reached a final status (or waits for a
// manual job).
func (r *Result) Finished() bool {
	for _, p := range r.Pipelines {
		if !final(p.Pipeline.Status) {
			return false
		}
	}
	return len(r.Pipelines) > 0
}

// Run plays the demo until every pipeline has finished, then prints the summary. When
// ctx ends first, it prints the summary of where things stand and returns ctx's error
// with the partial result. Pipelines that fail are a result, not an error.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.URL == "" || cfg.Token == "" || cfg.Username == "" || cfg.Examples == "" {
		return nil, errors.New("demo: Config needs URL, Username, Token and Examples")
	}
	if cfg.Group == "" {
		cfg.Group = DefaultGroup
	}
	if cfg.Plan == "" {
		cfg.Plan = DefaultPlan
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.Git == "" {
		cfg.Git = "git"
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	dirs, err := Examples(cfg.Examples)
	if err != nil {
		return nil, err
	}
	c, err := client.New(cfg.URL, cfg.Token, nil)
	if err != nil {
		return nil, err
	}
	group, err := ensureGroup(ctx, c, cfg.Group, cfg.Plan)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(cfg.Out, "Demo: group %s on the %s plan, one project per example in %s\n", group.FullPath, cfg.Plan, cfg.Examples)
	res := &Result{}
	for _, dir := range dirs {
		p, err := startExample(ctx, c, cfg, group, dir)
		if err != nil {
			return res, err
		}
		res.Pipelines = append(res.Pipelines, *p)
	}
	werr := follow(ctx, c, cfg, res)
	summarize(ctx, c, cfg.Out, res)
	return res, werr
}

// Examples returns the subdirectories of dir that hold a .gitlab-ci.yml, by name.
func Examples(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading the examples: %w", err)
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		d := filepath.Join(dir, e.Name())
		if _, err := os.Stat(filepath.Join(d, ".gitlab-ci.yml")); err == nil {
			out = append(out, d)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("the examples directory %s has no subdirectory with a .gitlab-ci.yml", dir)
	}
	slices.Sort(out)
	return out, nil
}

// ensureGroup returns the demo's group, made on plan when missing.
func ensureGroup(ctx context.Context, c *client.Client, path, plan string) (*entity.Namespace, error) {
	ns, err := c.Namespace(ctx, path)
	if client.IsNotFound(err) {
		if _, err := c.CreateGroup(ctx, client.CreateGroupOptions{Name: path, Path: path, Plan: plan}); err != nil {
			return nil, fmt.Errorf("creating the group %s: %w", path, err)
		}
		ns, err = c.Namespace(ctx, path)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the group %s: %w", path, err)
	}
	if ns.Kind != "group" {
		return nil, fmt.Errorf("%s is a user's namespace, not a group; choose another demo group", path)
	}
	if ns.Plan != plan {
		if ns, err = c.SetPlan(ctx, path, plan); err != nil {
			return nil, fmt.Errorf("putting the group %s on the %s plan: %w", path, plan, err)
		}
	}
	return ns, nil
}

// startExample makes (or reuses) the example's project, pushes the directory and
// returns the pipeline the push created.
func startExample(ctx context.Context, c *client.Client, cfg Config, group *entity.Namespace, dir string) (*Pipeline, error) {
	name := filepath.Base(dir)
	full := group.FullPath + "/" + name
	proj, err := c.Project(ctx, full)
	if client.IsNotFound(err) {
		proj, err = c.CreateProject(ctx, client.CreateProjectOptions{Name: name, Path: name, NamespaceID: group.ID,
			DefaultBranch: DefaultBranch, Description: "Kiln's example " + name})
	}
	if err != nil {
		return nil, fmt.Errorf("project %s: %w", full, err)
	}
	branch := proj.DefaultBranch
	if branch == "" {
		branch = DefaultBranch
	}
	remote := strings.TrimRight(cfg.URL, "/") + "/" + proj.PathWithNamespace + ".git"
	sha, err := push(ctx, pushRequest{git: cfg.Git, remote: remote, user: cfg.Username, token: cfg.Token, dir: dir,
		branch: branch, message: "Kiln demo: " + name})
	if err != nil {
		return nil, fmt.Errorf("pushing %s to %s: %w", dir, proj.PathWithNamespace, err)
	}
	pl, err := pipelineOf(ctx, c, proj.PathWithNamespace, branch, sha)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(cfg.Out, "%-20s pushed %s to %s: pipeline #%d %s\n", proj.PathWithNamespace, short(sha), branch, pl.ID, pl.WebURL)
	return &Pipeline{Project: proj.PathWithNamespace, Dir: dir, Pipeline: entity.Pipeline{PipelineBasic: *pl}}, nil
}

// pipelineOf waits (up to 30 s) for the pipeline a push of sha to branch created.
func pipelineOf(parent context.Context, c *client.Client, project, branch, sha string) (*entity.PipelineBasic, error) {
	ctx, cancel := context.WithTimeout(parent, 30*time.Second)
	defer cancel()
	for {
		pls, _, err := c.Pipelines(ctx, project, client.PipelineListOptions{Ref: branch, ListOptions: client.ListOptions{PerPage: 20}})
		if err != nil {
			return nil, fmt.Errorf("listing the pipelines of %s: %w", project, err)
		}
		for _, pl := range pls {
			if pl.SHA == sha {
				return &pl, nil
			}
		}
		select {
		case <-ctx.Done():
			if parent.Err() != nil {
				return nil, parent.Err()
			}
			return nil, fmt.Errorf("the push of %s to %s made no pipeline within 30 s", short(sha), project)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func short(sha string) string {
	if len(sha) > 8 {
		return sha[:8]
	}
	return sha
}
