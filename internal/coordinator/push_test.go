package coordinator_test

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/kiln-ci/kiln/internal/coordinator"
	"github.com/kiln-ci/kiln/internal/coordinator/coordinatortest"
	"github.com/kiln-ci/kiln/internal/git"
	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/store"
)

// gitCmd runs git in dir with a fixed identity and no user configuration.
func gitCmd(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=Grace Hopper", "-c", "user.email=grace@example.com",
		"-c", "init.defaultBranch=main"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// clone clones a project over HTTP with the administrator's token.
func clone(t *testing.T, e *coordinatortest.Env, p *store.Project) string {
	t.Helper()
	u, _ := url.Parse(e.URL + "/" + p.FullPath + ".git")
	u.User = url.UserPassword("root", e.AdminToken)
	dir := filepath.Join(t.TempDir(), "work")
	gitCmd(t, filepath.Dir(dir), "clone", "--quiet", u.String(), dir)
	return dir
}

func commitFile(t *testing.T, dir, name, content, msg string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	gitCmd(t, dir, "add", name)
	gitCmd(t, dir, "commit", "--quiet", "-m", msg)
	return gitCmd(t, dir, "rev-parse", "HEAD")
}

func pipelinesOf(t *testing.T, e *coordinatortest.Env, p *store.Project) []store.Pipeline {
	t.Helper()
	pls, err := e.Store.Pipelines.ListPipelines(context.Background(), store.PipelineQuery{ProjectID: p.ID})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(pls) // oldest first
	return pls
}

const pushCI = `
build:
  script: [make]
docs:
  rules:
    - changes: [docs/**/*]
  script: [make docs]
`

func TestAPushOverHTTPCreatesAPipelineForTheBranchAndTheTag(t *testing.T) {
	coordinatortest.ForEachEngine(t, func(t *testing.T, engine string) {
		e, p := setup(t, engine, machine.PlanFree, pushCI)
		dir := clone(t, e, p)
		before := gitCmd(t, dir, "rev-parse", "HEAD")
		sha := commitFile(t, dir, "main.c", "int main(){}\n", "Add main")
		gitCmd(t, dir, "push", "--quiet", "origin", "main")
		gitCmd(t, dir, "tag", "-a", "v1.0", "-m", "release")
		gitCmd(t, dir, "push", "--quiet", "origin", "v1.0")

		pls := pipelinesOf(t, e, p)
		if len(pls) != 2 {
			t.Fatalf("%d pipelines after a branch and a tag push, want 2", len(pls))
		}
		branch, tag := pls[0], pls[1]
		if branch.Ref != "main" || branch.Tag || branch.SHA != sha || branch.BeforeSHA != before ||
			branch.Source != store.SourcePush || branch.UserID != e.Admin.ID || !branch.Protected {
			t.Errorf("branch pipeline %+v", branch)
		}
		if tag.Ref != "v1.0" || !tag.Tag || tag.SHA != sha || !tag.Protected {
			t.Errorf("tag pipeline %+v", tag)
		}
		// rules:changes saw the push's changed files: docs did not change.
		if got := e.Statuses(t, branch.ID); got != "build=pending" {
			t.Errorf("branch pipeline jobs %s", got)
		}
		// The persistent ref exists for runners' refspecs.
		repo, _ := e.Repos.Open(p.FullPath)
		for _, pl := range pls {
			if got, err := repo.ResolveRef(context.Background(), "refs/pipelines/"+itoa(pl.ID)); err != nil || got != sha {
				t.Errorf("refs/pipelines/%d = %s, %v", pl.ID, got, err)
			}
		}
	})
}

func TestAPushDeliveredTwiceMakesOnePipelineAndDeletionsMakeNone(t *testing.T) {
	e, p := setup(t, coordinatortest.SQLite, machine.PlanFree, pushCI)
	dir := clone(t, e, p)
	sha := commitFile(t, dir, "docs/index.md", "# Docs\n", "Docs")
	gitCmd(t, dir, "push", "--quiet", "origin", "main:feature")
	if n := len(pipelinesOf(t, e, p)); n != 1 {
		t.Fatalf("%d pipelines, want 1", n)
	}
	// A replay of the same push (delivery is at least once) changes nothing.
	err := e.Service.OnPush(context.Background(), git.Push{Project: p.FullPath, Pusher: coordinator.UserIdentity(e.Admin.ID),
		Updates: []git.RefUpdate{{Ref: "refs/heads/feature", OldSHA: git.ZeroSHA, NewSHA: sha}}})
	if err != nil || len(pipelinesOf(t, e, p)) != 1 {
		t.Fatalf("replay: %v, %d pipelines", err, len(pipelinesOf(t, e, p)))
	}
	pl := pipelinesOf(t, e, p)[0]
	if pl.Protected {
		t.Error("a pipeline of a non-default branch is protected")
	}
	// A new branch has no base to compare with: changes rules match, as in GitLab.
	if got := e.Statuses(t, pl.ID); got != "build=pending docs=pending" {
		t.Errorf("new-branch pipeline jobs %s", got)
	}
	gitCmd(t, dir, "push", "--quiet", "origin", "--delete", "feature")
	if n := len(pipelinesOf(t, e, p)); n != 1 {
		t.Errorf("%d pipelines after deleting a branch, want 1", n)
	}
}

func TestAPushWithAnInvalidConfigurationMakesAFailedPipelineShowingTheErrors(t *testing.T) {
	e, p := setup(t, coordinatortest.SQLite, machine.PlanFree, pushCI)
	dir := clone(t, e, p)
	commitFile(t, dir, ".gitlab-ci.yml", "build:\n  script: [make]\n  when: sometimes\n", "Break the pipeline")
	gitCmd(t, dir, "push", "--quiet", "origin", "main")
	pls := pipelinesOf(t, e, p)
	if len(pls) != 1 || pls[0].Status != store.StatusFailed || !strings.Contains(pls[0].YAMLErrors, ".gitlab-ci.yml:3") {
		t.Fatalf("pipelines %+v", pls)
	}
}

func TestProtectedVariablesReachOnlyProtectedRefsAndMaskedOnesAreMasked(t *testing.T) {
	e, p := setup(t, coordinatortest.SQLite, machine.PlanFree, "job:\n  script: [deploy]\n")
	ctx := context.Background()
	for _, v := range []*store.Variable{
		{Owner: store.Instance, Key: "LEVEL", Value: "instance"},
		{Owner: store.GroupOwner(p.NamespaceID), Key: "LEVEL", Value: "group"},
		{Owner: store.ProjectOwner(p.ID), Key: "DEPLOY_KEY", Value: "s3cr3t-deploy-key", Protected: true, Masked: true},
		{Owner: store.ProjectOwner(p.ID), Key: "CONFIG", Value: "a: b", VariableType: store.VariableFile},
	} {
		if err := e.Store.Variables.CreateVariable(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	r := small(t, e)
	dir := clone(t, e, p)
	gitCmd(t, dir, "push", "--quiet", "origin", "main:feature")
	feature := e.MustTake(t, r, nil)
	if _, ok := feature.Variables.Lookup("DEPLOY_KEY"); ok {
		t.Error("a protected variable reached a pipeline of an unprotected branch")
	}
	e.Succeed(t, feature)
	e.CreatePipeline(t, p, "main", store.PipelineVariable{Key: "LEVEL", Value: "pipeline"})
	main := e.MustTake(t, r, nil)
	key, ok := main.Variables.Find("DEPLOY_KEY")
	if !ok || key.Value != "s3cr3t-deploy-key" || !key.Masked || key.Public {
		t.Errorf("DEPLOY_KEY on main: %+v (present %v)", key, ok)
	}
	if cfg, _ := main.Variables.Find("CONFIG"); !cfg.File {
		t.Errorf("CONFIG is not a file variable: %+v", cfg)
	}
	if got := main.Variables.Get("LEVEL"); got != "pipeline" {
		t.Errorf("LEVEL = %q: pipeline variables win over project, group and instance ones", got)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
