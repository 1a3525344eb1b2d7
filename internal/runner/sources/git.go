package sources

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Git gets sources with real git over HTTP(S), as gitlab-runner does
// (runner-protocol.md §8): git init with a template, origin without credentials, the
// job token in a url.<authed>.insteadOf rule kept in a file in the job's temporary
// directory (included by .git/config, never written into it), fetch of the payload's
// refspecs, checkout of the sha, clean, LFS and submodules.
//
// Variables honoured: GIT_STRATEGY, GIT_DEPTH (else git_info.depth), GIT_CHECKOUT,
// GIT_CLEAN_FLAGS, GIT_FETCH_EXTRA_FLAGS, GIT_SUBMODULE_STRATEGY,
// GIT_SUBMODULE_DEPTH, GIT_LFS_SKIP_SMUDGE, GET_SOURCES_ATTEMPTS.
type Git struct {
	// Git is the git program; empty means "git" from PATH.
	Git string
	// CloneURL, when set, replaces the payload's repo URL by
	// <CloneURL>/<CI_PROJECT_PATH>.git (gitlab-runner's clone_url).
	CloneURL string
	// UserAgent is git's http.userAgent; empty means git's own.
	UserAgent string
}

const extConfigName = "kiln-git.ext.conf"

// Get implements Sources.
func (g Git) Get(ctx context.Context, req Request) error {
	strategy, err := Strategy(req.Job, req.Vars)
	if err != nil {
		return err
	}
	if done, err := skipOrEmpty(strategy, req); done {
		return err
	}
	plain, authed, err := g.remote(req)
	if err != nil {
		return err
	}
	depth := req.Job.GitInfo.Depth
	if v := req.Vars.Get("GIT_DEPTH"); v != "" {
		if depth, err = strconv.Atoi(v); err != nil || depth < 0 {
			return fmt.Errorf("GIT_DEPTH=%q: want a whole number", v)
		}
	}
	r := gitRun{g: g, req: req, env: gitEnv(req)}
	if strategy == StrategyClone {
		if err := os.RemoveAll(req.Dir); err != nil {
			return fmt.Errorf("removing the previous clone: %w", err)
		}
	}
	ext, tmpl, err := r.setupConfig(ctx, plain, authed)
	if err != nil {
		return err
	}
	if depth > 0 {
		req.Log.Noticef("Fetching changes with git depth set to %d...", depth)
	} else {
		req.Log.Noticef("Fetching changes...")
	}
	if err := os.MkdirAll(req.Dir, 0o755); err != nil {
		return fmt.Errorf("creating the project directory: %w", err)
	}
	if err := r.run(ctx, req.Log, "", "init", req.Dir, "--template", tmpl); err != nil {
		return err
	}
	removeStaleLocks(req.Dir)
	if r.quiet(ctx, req.Dir, "remote", "add", "origin", plain) == nil {
		req.Log.Noticef("Created fresh repository.")
	} else {
		if err := r.run(ctx, req.Log, req.Dir, "remote", "set-url", "origin", plain); err != nil {
			return err
		}
		if err := r.run(ctx, req.Log, req.Dir, "config", "--file", filepath.Join(".git", "config"),
			"--replace-all", "include.path", ext, regexp.QuoteMeta(extConfigName)+"$"); err != nil {
			return err
		}
	}
	if err := r.fetch(ctx, depth); err != nil {
		return err
	}
	if err := r.checkout(ctx); err != nil {
		return err
	}
	return r.submodules(ctx, ext)
}

// remote returns the repository URL without and with credentials.
func (g Git) remote(req Request) (plain, authed string, err error) {
	raw := req.Job.GitInfo.RepoURL
	if g.CloneURL != "" {
		p := req.Vars.Get("CI_PROJECT_PATH")
		if p == "" {
			return "", "", fmt.Errorf("clone_url is set but the job has no CI_PROJECT_PATH")
		}
		raw = strings.TrimRight(g.CloneURL, "/") + "/" + p + ".git"
	}
	if raw == "" {
		return "", "", fmt.Errorf("the job has no git_info.repo_url to fetch sources from; set GIT_STRATEGY=none to run without them")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", "", fmt.Errorf("git_info.repo_url is not an http(s) URL")
	}
	if len(req.Job.GitInfo.Sha) < 8 {
		return "", "", fmt.Errorf("git_info.sha %q is not a commit (at least 8 hex digits are needed)", req.Job.GitInfo.Sha)
	}
	user, pass := "gitlab-ci-token", req.Job.Token
	if u.User != nil {
		user = u.User.Username()
		if p, ok := u.User.Password(); ok {
			pass = p
		}
	}
	a := *u
	a.User = url.UserPassword(user, pass)
	u.User = nil
	return u.String(), a.String(), nil
}

// setupConfig writes the external config with the credentials (0600, in TmpDir) and a
// git template whose config includes it. It returns both paths.
func (r gitRun) setupConfig(ctx context.Context, plain, authed string) (ext, tmpl string, err error) {
	if err := os.MkdirAll(r.req.TmpDir, 0o700); err != nil {
		return "", "", fmt.Errorf("creating the job's temporary directory: %w", err)
	}
	ext = filepath.Join(r.req.TmpDir, extConfigName)
	if err := os.WriteFile(ext, nil, 0o600); err != nil {
		return "", "", fmt.Errorf("writing git credentials config: %w", err)
	}
	pu, _ := url.Parse(plain)
	au, _ := url.Parse(authed)
	base, abase := *pu, *au
	base.Path, base.RawPath, abase.Path, abase.RawPath = "", "", "", ""
	rules := [][2]string{{authed, plain}}
	if base.String() != plain {
		rules = append(rules, [2]string{abase.String(), base.String()})
	}
	for _, rule := range rules {
		if err := r.quiet(ctx, "", "config", "--file", ext, "--add", "url."+rule[0]+".insteadOf", rule[1]); err != nil {
			return "", "", errors.New("writing git credentials config failed")
		}
	}
	tmpl = filepath.Join(r.req.TmpDir, "git-template")
	if err := os.MkdirAll(tmpl, 0o700); err != nil {
		return "", "", fmt.Errorf("creating git template: %w", err)
	}
	tc := filepath.Join(tmpl, "config")
	for _, kv := range [][2]string{{"init.defaultBranch", "none"}, {"fetch.recurseSubmodules", "false"},
		{"credential.interactive", "never"}, {"gc.autoDetach", "false"}, {"include.path", ext}} {
		if err := r.quiet(ctx, "", "config", "--file", tc, kv[0], kv[1]); err != nil {
			return "", "", fmt.Errorf("writing git template: %w", err)
		}
	}
	return ext, tmpl, nil
}

func (r gitRun) fetch(ctx context.Context, depth int) error {
	args := []string{"fetch", "origin", "--no-recurse-submodules"}
	if r.g.UserAgent != "" {
		args = append([]string{"-c", "http.userAgent=" + r.g.UserAgent}, args...)
	}
	args = append(args, r.req.Job.GitInfo.Refspecs...)
	if depth > 0 {
		args = append(args, "--depth", strconv.Itoa(depth))
	}
	extra := "--prune --quiet"
	if v, ok := r.req.Vars.Lookup("GIT_FETCH_EXTRA_FLAGS"); ok {
		extra = v
	}
	args = append(args, strings.Fields(extra)...)
	if _, err := os.Stat(filepath.Join(r.req.Dir, ".git", "shallow")); err == nil && depth <= 0 {
		args = append(args, "--unshallow")
	}
	attempts := attemptsOf(r.req.Vars.Get("GET_SOURCES_ATTEMPTS"))
	var err error
	for i := 1; i <= attempts; i++ {
		if err = r.run(ctx, r.req.Log, r.req.Dir, args...); err == nil || ctx.Err() != nil {
			return err
		}
		if i < attempts {
			r.req.Log.Warningf("Retrying fetch (attempt %d of %d)...", i+1, attempts)
		}
	}
	return err
}

func (r gitRun) checkout(ctx context.Context) error {
	gi := r.req.Job.GitInfo
	if v := r.req.Vars.Get("GIT_CHECKOUT"); v == "false" {
		r.req.Log.Noticef("Skipping Git checkout")
		return nil
	}
	r.req.Log.Noticef("Checking out %s as detached HEAD (ref is %s)...", gi.Sha[:8], gi.Ref)
	if err := r.run(ctx, r.req.Log, r.req.Dir, "-c", "submodule.recurse=false", "checkout", "-f", "-q", gi.Sha); err != nil {
		return err
	}
	flags := "-ffdx"
	if v, ok := r.req.Vars.Lookup("GIT_CLEAN_FLAGS"); ok && v != "" {
		flags = v
	}
	if flags != "none" {
		if err := r.run(ctx, r.req.Log, r.req.Dir, append([]string{"clean"}, strings.Fields(flags)...)...); err != nil {
			return err
		}
	}
	if r.req.Vars.Get("GIT_LFS_SKIP_SMUDGE") != "1" && r.quiet(ctx, r.req.Dir, "lfs", "version") == nil {
		return r.run(ctx, r.req.Log, r.req.Dir, "lfs", "pull")
	}
	return nil
}

func (r gitRun) submodules(ctx context.Context, ext string) error {
	switch s := r.req.Vars.Get("GIT_SUBMODULE_STRATEGY"); s {
	case "", "none":
		r.req.Log.Noticef("Skipping Git submodules setup")
		return nil
	case "normal", "recursive":
		r.req.Log.Noticef("Updating/initializing submodules%s...", map[bool]string{true: " recursively", false: ""}[s == "recursive"])
		update := []string{"-c", "include.path=" + ext, "submodule", "update", "--init"}
		sync := []string{"submodule", "sync"}
		if s == "recursive" {
			update, sync = append(update, "--recursive"), append(sync, "--recursive")
		}
		if d := r.req.Vars.Get("GIT_SUBMODULE_DEPTH"); d != "" {
			update = append(update, "--depth", d)
		}
		for _, args := range [][]string{{"submodule", "init"}, sync, update} {
			if err := r.run(ctx, r.req.Log, r.req.Dir, args...); err != nil {
				return err
			}
		}
		return nil
	default:
		return fmt.Errorf("unknown GIT_SUBMODULE_STRATEGY %q (want none, normal or recursive)", s)
	}
}

// gitRun runs git for one job.
type gitRun struct {
	g   Git
	req Request
	env []string
}

func gitEnv(req Request) []string {
	home := filepath.Join(req.TmpDir, "home")
	_ = os.MkdirAll(home, 0o700)
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "LANG=C.UTF-8",
		"GIT_TERMINAL_PROMPT=0", "GCM_INTERACTIVE=Never", "GIT_CONFIG_NOSYSTEM=1", "GIT_LFS_SKIP_SMUDGE=1"}
}

func (r gitRun) command(ctx context.Context, dir string, args ...string) *exec.Cmd {
	prog := r.g.Git
	if prog == "" {
		prog = "git"
	}
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Dir, cmd.Env = dir, r.env
	return cmd
}

// run runs git with its output in the log; the error names the git subcommand only
// (arguments may hold URLs).
func (r gitRun) run(ctx context.Context, out io.Writer, dir string, args ...string) error {
	cmd := r.command(ctx, dir, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("git %s: %w", subcommand(args), err)
	}
	return nil
}

func (r gitRun) quiet(ctx context.Context, dir string, args ...string) error {
	return r.command(ctx, dir, args...).Run()
}

func subcommand(args []string) string {
	for i := 0; i < len(args); i++ {
		if args[i] == "-c" {
			i++
			continue
		}
		return args[i]
	}
	return ""
}

func attemptsOf(v string) int {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 1
	}
	return min(n, 10)
}

// removeStaleLocks removes lock files a killed git may have left.
func removeStaleLocks(dir string) {
	g := filepath.Join(dir, ".git")
	for _, f := range []string{"index.lock", "shallow.lock", "HEAD.lock", "config.lock", "hooks/post-checkout"} {
		_ = os.Remove(filepath.Join(g, f))
	}
	_ = filepath.WalkDir(filepath.Join(g, "refs"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".lock") {
			_ = os.Remove(p)
		}
		return nil
	})
}
