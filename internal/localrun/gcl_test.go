package localrun_test

// gitlab-ci-local's test cases (../shared/conformance/gitlab-ci-local), run through
// kiln exec's code path (localrun.New + Run with the real shell or Docker executor).
//
// Each case folder is copied to a temporary directory at test time and made a git
// repository the way gitlab-ci-local's git mocks describe it (branch master, origin
// git@gitlab.com:gcl/test-project.git whose HEAD is main, user Testersen
// <test@test.com>), so the predefined variables the assertions depend on match.
// The expectations in gcl_cases_*_test.go are derived from each integration*.test.ts:
// a gitlab-ci-local line `<job> > <text>` is a line <text> in the job's output here; a
// "no FAIL" assertion is the pipeline's success; files gitlab-ci-local finds in its
// state directory are the job's artifacts or cache archives here. Where a test
// asserts something about gitlab-ci-local itself (its CLI options, output format,
// state files, --shell-isolation, comment directives), the run's gclOnly says so and
// that assertion is skipped, not the GitLab part. Where gitlab-ci-local departs from
// GitLab, differs says how, and the run asserts GitLab's behaviour.

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/executor"
	"github.com/kiln-ci/kiln/internal/localrun"
	"github.com/kiln-ci/kiln/internal/testenv"
)

// gclRun is one handler({...}) call of an integration test and what it asserts.
type gclRun struct {
	name      string   // the test's name
	file      string   // --file
	jobs      []string // job: [...] (GitLab's job names)
	needs     bool
	manual    []string
	variables []string
	// concurrency is --concurrency; 0 means 4.
	concurrency int
	// setup changes the case's repository before the run (e.g. what origin has).
	setup func(t *testing.T, dir string)
	// twice runs the pipeline a second time with the same state directory and checks
	// the expectations on the second run's output (after first on the first's).
	twice bool
	first *gclExpect

	gclExpect
	// gclOnly names assertions about gitlab-ci-local itself, skipped here.
	gclOnly string
	// differs says where gitlab-ci-local departs from GitLab; the run asserts GitLab.
	differs string
	// skip skips the whole run, saying why.
	skip string
	// gap skips a run that fails because of a known gap in another part of Kiln
	// (named, with GitLab's behaviour); the run's expectations are GitLab's.
	gap string
}

// gclExpect is what a run asserts.
type gclExpect struct {
	// err: New or Run fails with an error containing this.
	err string
	// lines: each job's output holds these lines (in any order, as arrayContaining).
	lines map[string][]string
	// seq: each job's output holds these lines one after another (toContain of a
	// joined block).
	seq map[string][]string
	// exact: a job's output lines that start with a prefix are exactly these.
	exact []exactLines
	// contains / absent: the whole output holds, or never holds, each string.
	contains, absent []string
	// count: how many output lines contain a string.
	count map[string]int
	// status: jobs' final statuses; ran / notRan: jobs that ran or never started.
	status       map[string]string
	ran, notRan  []string
	pipeline     string // the pipeline's status
	artifacts    map[string][]string
	noArtifacts  map[string][]string
	cacheFiles   map[string][]string // cache key → files its archive holds
	noCacheFiles map[string][]string // cache key → files its archive lacks (or no archive)
	// noLines: each job's output never holds these lines.
	noLines map[string][]string
	// check is any further assertion; dir is the case's working tree.
	check         func(t *testing.T, res *localrun.Result, out, dir string)
	allowFailures map[string]bool // jobs' effective allow_failure
}

// exactLines: the lines of job's output that start with prefix are exactly want.
// sorted compares them in sorted order (e.g. `env` output, whose order is the
// shell's).
type exactLines struct {
	job, prefix string
	want        []string
	sorted      bool
}

type gclCase struct {
	dir  string
	star bool
	runs []gclRun
	// docker: the case needs containers; images maps the case's image names to the
	// locally built ones where the image is not essential to what is asserted.
	docker bool
	images map[string]string
	// replace maps exact text of the case's YAML files to what it becomes here (an
	// image name a script writes into a dotenv report, say).
	replace map[string]string
	// remote is the origin remote gitlab-ci-local's mocks give the case, when it is
	// not git@gitlab.com:gcl/test-project.git.
	remote string
}

// counts of runs, reported at the end.
var gclPassed, gclFailed, gclSkipped, gclGaps, starPassed, starRuns atomic.Int32

func TestGitLabCILocalCases(t *testing.T) {
	root := testenv.ConformanceDir(t, "gitlab-ci-local")
	cases := slices.Concat(gclShellCases, gclShellCases2, gclShellCases3, gclErrorCases, gclDockerCases)
	t.Cleanup(func() {
		t.Logf("gitlab-ci-local cases through kiln exec: %d runs passed, %d failed, %d skipped as gitlab-ci-local-only or not applicable, %d skipped for known gaps elsewhere in Kiln; of the recommended (★) cases' %d runs, %d passed",
			gclPassed.Load(), gclFailed.Load(), gclSkipped.Load()-gclGaps.Load(), gclGaps.Load(), starRuns.Load(), starPassed.Load())
	})
	for _, c := range cases {
		t.Run(c.dir, func(t *testing.T) {
			src := filepath.Join(root, c.dir)
			if _, err := os.Stat(src); err != nil {
				t.Fatalf("case folder missing: %v", err)
			}
			for _, r := range c.runs {
				t.Run(r.name, func(t *testing.T) {
					t.Parallel()
					runGCL(t, c, r, src)
				})
			}
		})
	}
}

func runGCL(t *testing.T, c gclCase, r gclRun, src string) {
	defer func() {
		if c.star {
			starRuns.Add(1)
		}
		switch {
		case t.Skipped():
			gclSkipped.Add(1)
		case t.Failed():
			gclFailed.Add(1)
		default:
			gclPassed.Add(1)
			if c.star {
				starPassed.Add(1)
			}
		}
	}()
	if r.skip != "" {
		t.Skip(r.skip)
	}
	if r.gap != "" {
		gclGaps.Add(1)
		t.Skip("known gap: " + r.gap)
	}
	if r.gclOnly != "" {
		t.Logf("assertions about gitlab-ci-local itself, skipped: %s", r.gclOnly)
	}
	if r.differs != "" {
		t.Logf("gitlab-ci-local departs from GitLab here; asserting GitLab: %s", r.differs)
	}
	ex := shellExecutor(t)
	base := hostEnv()
	if c.docker {
		ex = dockerExecutor(t)
		base = nil
	}
	dir := gclRepo(t, src, c)
	if r.setup != nil {
		r.setup(t, dir)
	}
	state := filepath.Join(t.TempDir(), "state")
	conc := r.concurrency
	if conc == 0 {
		conc = 4
	}
	exec := func() (*localrun.Result, string, error) {
		out := &testenv.Buffer{}
		opts := localrun.Options{Dir: dir, File: r.file, Variables: r.variables, Jobs: r.jobs, Needs: r.needs,
			Manual: r.manual, Executor: ex, BaseEnvironment: base, StateDir: state, Output: out, Concurrency: conc}
		return runPipeline(opts, out)
	}
	if r.twice {
		res, out, err := exec()
		r.first.verify(t, "first run", res, out, err, state, dir)
	}
	res, out, err := exec()
	r.gclExpect.verify(t, "run", res, out, err, state, dir)
	if t.Failed() {
		lines := strings.Split(out, "\n")
		t.Logf("output (last 60 lines):\n%s", strings.Join(lines[max(0, len(lines)-60):], "\n"))
	}
}

func runPipeline(opts localrun.Options, out *testenv.Buffer) (*localrun.Result, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	p, err := localrun.New(ctx, opts)
	if err != nil {
		return nil, out.String(), err
	}
	defer p.Close()
	res, err := p.Run(ctx)
	return res, out.String(), err
}

// gclRepo copies a case folder into a new git repository shaped like
// gitlab-ci-local's git mocks, rewriting image names as images says.
func gclRepo(t *testing.T, src string, c gclCase) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), filepath.Base(src))
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dir, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if strings.HasPrefix(d.Name(), "integration") && strings.HasSuffix(d.Name(), ".test.ts") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.HasSuffix(p, ".yml") {
			b = []byte(rewriteImages(string(b), c.images))
			for from, to := range c.replace {
				b = []byte(strings.ReplaceAll(string(b), from, to))
			}
		}
		info, _ := d.Info()
		return os.WriteFile(target, b, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
	git(t, dir, "init", "-q", "-b", "master")
	git(t, dir, "config", "user.name", "Testersen")
	git(t, dir, "config", "user.email", "test@test.com")
	remote := c.remote
	if remote == "" {
		remote = "git@gitlab.com:" + gclProject + ".git"
	}
	git(t, dir, "remote", "add", "origin", remote)
	git(t, dir, "add", "-A", "-f")
	git(t, dir, "commit", "-q", "--allow-empty", "-m", "Commit Title")
	git(t, dir, "update-ref", "refs/remotes/origin/main", "HEAD")
	git(t, dir, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main")
	return dir
}

// rewriteImages replaces image references (after "image:", "name:" or a list dash)
// by the locally built image they map to.
func rewriteImages(yml string, images map[string]string) string {
	lines := strings.Split(yml, "\n")
	for i, l := range lines {
		for from, to := range images {
			for _, key := range []string{"image: ", "name: ", "- "} {
				for _, q := range []string{"", `"`, "'"} {
					old := key + q + from + q
					if strings.HasSuffix(strings.TrimRight(l, " "), old) {
						lines[i] = strings.Replace(l, old, key+to, 1)
					}
				}
			}
		}
	}
	return strings.Join(lines, "\n")
}

// dockerExecutor is the real Docker executor as kiln exec configures it, or a skip
// (a failure when the docker tier is required) without a daemon or the test images.
func dockerExecutor(t *testing.T) executor.Executor {
	t.Helper()
	return newDockerExecutor(t)
}
