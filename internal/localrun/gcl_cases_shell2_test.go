package localrun_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/kiln-ci/kiln/internal/localrun"
)

// includeLocalVar is the project variable include-local's .gitlab-ci-local-variables.yml
// sets (gitlab-ci-local's project-variables file), given here as --variable.
var includeLocalVar = []string{"CI_INCLUDE_LOCAL=/.gitlab-ci-base.yml"}

// onlyPre: GitLab creates no pipeline whose jobs are all in .pre (or .post).
const onlyPre = "every job of the file is in stage .pre: GitLab creates no pipeline from it ('Pipeline will not run for the selected trigger'); gitlab-ci-local runs the jobs"

const includeLocalVars = "its .gitlab-ci-local-variables.yml (gitlab-ci-local's project-variables file) is given as --variable CI_INCLUDE_LOCAL=/.gitlab-ci-base.yml"

var gclShellCases2 = []gclCase{
	{dir: "include-local", star: true, runs: []gclRun{
		{name: "include-local <build-job>", jobs: []string{"build-job"}, variables: includeLocalVar, gclOnly: includeLocalVars,
			gclExpect: gclExpect{pipeline: success, lines: map[string][]string{"build-job": {"Build something"}}}},
		{name: "include-local <test-job> (short-list)", file: ".gitlab-ci-short-list.yml", jobs: []string{"test-job"}, variables: includeLocalVar,
			gclExpect: gclExpect{pipeline: success, lines: map[string][]string{"test-job": {"Test something"}}}},
		{name: "include-local <deploy-job> (short-single)", file: ".gitlab-ci-short-single.yml", jobs: []string{"deploy-job"}, variables: includeLocalVar,
			gclExpect: gclExpect{pipeline: success, lines: map[string][]string{"deploy-job": {"Deploy something"}}}},
		{name: "include-local invalid config (directory traversal)", file: ".gitlab-ci-invalid-config-directory-traversal.yml", variables: includeLocalVar,
			gclOnly:   "the words of gitlab-ci-local's own check; GitLab refuses the include because no such file exists in the repository",
			gclExpect: gclExpect{err: "does not exist"}},
		{name: "include-local invalid config (relative path)", file: ".gitlab-ci-invalid-config-relative-path.yml", variables: includeLocalVar,
			gclOnly:   "the words of gitlab-ci-local's own check; GitLab looks the path up as written and finds no file: 'Local file `./.gitlab-ci.yml` does not exist!'",
			gclExpect: gclExpect{err: "Local file `./.gitlab-ci.yml` does not exist!"}},
	}},

	{dir: "include-local-wildcard", runs: []gclRun{
		{name: "include-local-wildcard <build-job>",
			gclExpect: gclExpect{pipeline: success, contains: []string{"build-images executed!", "cache-repo executed!", "docs executed!"}}},
		{name: "expect `configs/**.yml` to match all `.yml` files in `configs` and any subfolder in it.", file: ".gitlab-ci-1.yml",
			gclOnly: "--preview's merged YAML; the jobs it lists are the ones that run here",
			gclExpect: gclExpect{pipeline: success,
				ran: []string{"configs/.gitlab-ci.yml", "configs/subfolder/.gitlab-ci.yml", "configs/subfolder/subfolder/.gitlab-ci.yml"}}},
		{name: "expect `configs/**/*.yml` to match files only in subfolders of `configs`", file: ".gitlab-ci-2.yml",
			gclOnly: "--preview's merged YAML; the jobs it lists are the ones that run here",
			gclExpect: gclExpect{pipeline: success, ran: []string{"configs/subfolder/.gitlab-ci.yml", "configs/subfolder/subfolder/.gitlab-ci.yml"},
				notRan: []string{"configs/.gitlab-ci.yml"}}},
		{name: "expect `configs/*.yml` to match only `.yml` files in `configs`.", file: ".gitlab-ci-3.yml",
			gclOnly: "--preview's merged YAML; the jobs it lists are the ones that run here",
			gclExpect: gclExpect{pipeline: success, ran: []string{"configs/.gitlab-ci.yml"},
				notRan: []string{"configs/subfolder/.gitlab-ci.yml", "configs/subfolder/subfolder/.gitlab-ci.yml"}}},
	}},

	{dir: "include-project-file-ref-with-inner-local", runs: []gclRun{{name: "include-project-file-ref-with-inner-local", skip: offline}}},
	{dir: "include-project-file-with-variable", runs: []gclRun{{name: "include-project-file-with-variable", skip: offline}}},
	{dir: "include-remote", runs: []gclRun{{name: "include-remote <test-job|build-job>", skip: offline}}},
	{dir: "include-template", runs: []gclRun{{name: "include-template <test-job>", skip: offline}}},

	{dir: "include-rules", star: true, runs: []gclRun{{name: "include-rules <build-job>", jobs: []string{"build-job", "test-job"},
		variables: []string{"CI_COMMIT_TAG=1.0.0"},
		differs: `gitlab-ci-local sets GITLAB_CI=false; GitLab sets GITLAB_CI=true, so the rule $GITLAB_CI == "true" includes ` +
			`.gitlab-ci-not-to-be-added.yml and the rule $GITLAB_CI == "false" leaves .gitlab-ci-to-be-added.yml out`,
		gclExpect: gclExpect{pipeline: success, lines: map[string][]string{
			"build-job": {"This should not appear"},
			"test-job":  {"This should appear, because of CI_COMMIT_TAG variable"}},
			noLines: map[string][]string{"build-job": {"This should appear"}}}}}},

	{dir: "inherit", runs: []gclRun{
		{name: "inherit:variables false should disable inheritance of all global variables", file: ".gitlab-ci-inherit-variables.yml", jobs: []string{"job1"},
			gclOnly: "the default image (busybox) is not needed: the shell executor ignores images, as GitLab's does",
			gclExpect: gclExpect{exact: []exactLines{{job: "job1", prefix: "GCL_TESTS", sorted: true}},
				// env | grep finds nothing, so grep's exit status fails the job, as on GitLab.
				status: map[string]string{"job1": failed}}},
		{name: "inherit:variables list of specific variables should only inheritance the respective global variables", file: ".gitlab-ci-inherit-variables.yml", jobs: []string{"job2"},
			gclOnly: "the default image (busybox) is not needed: the shell executor ignores images, as GitLab's does",
			gclExpect: gclExpect{pipeline: success, exact: []exactLines{{job: "job2", prefix: "GCL_TESTS", sorted: true,
				want: []string{"GCL_TESTS_VAR1=This is variable 1", "GCL_TESTS_VAR2=This is variable 2"}}}}},
		{name: "inherit:default", file: ".gitlab-ci-inherit-default.yml",
			gclOnly: "--preview's merged YAML; what it shows each job inherits is what runs here",
			gclExpect: gclExpect{pipeline: success,
				lines: map[string][]string{
					"inherit-default-true":                    {"default before script", "script", "default after script"},
					"inherit-default-before_script_and_image": {"default before script", "script"}},
				noLines: map[string][]string{
					"inherit-default-false":                   {"default before script", "default after script"},
					"inherit-default-before_script_and_image": {"default after script"}}}},
	}},

	{dir: "interactive", runs: []gclRun{
		{name: "interactive <fake-shell-job>", jobs: []string{"fake-shell-job"},
			gclOnly:   "the # @Interactive directive (an interactive terminal) is gitlab-ci-local's; the manual job named on the command line runs",
			gclExpect: gclExpect{pipeline: success, lines: map[string][]string{"fake-shell-job": {"About to enter interactive mode", "Exited interactive mode"}}}},
		{name: "interactive <fake-shell-job> --no-shell-executor-no-image", skip: "about gitlab-ci-local's @Interactive directive and --no-shell-executor-no-image option only"},
	}},

	{dir: "log-padding", runs: []gclRun{
		{name: "logs - maxJobNamePadding unset", gclOnly: "the padding of names is gitlab-ci-local's output format", differs: onlyPre,
			gclExpect: gclExpect{err: "Pipeline will not run for the selected trigger"}},
		{name: "logs - log padding should only take needs and targeted jobs into account", jobs: []string{"short-name with needs"}, needs: true,
			gclOnly: "the padding of names is gitlab-ci-local's output format", differs: onlyPre,
			gclExpect: gclExpect{err: "Pipeline will not run for the selected trigger"}},
		{name: "logs - log padding should only take targeted jobs into account", jobs: []string{"short-name"}, needs: true,
			gclOnly: "the padding of names is gitlab-ci-local's output format", differs: onlyPre,
			gclExpect: gclExpect{err: "Pipeline will not run for the selected trigger"}},
		{name: "logs - maxJobNamePadding set", skip: "about gitlab-ci-local's --max-job-name-padding option only"},
	}},
	{dir: "log-timestamps", runs: []gclRun{{name: "log-timestamps", skip: "about gitlab-ci-local's --timestamps option only"}}},

	{dir: "long-running-silent-build-job", runs: []gclRun{{name: "long-running-silent-build-job <build-job>", jobs: []string{"build-job"},
		gclExpect: gclExpect{pipeline: success, seq: map[string][]string{"build-job": longRunning()}}}}},
	{dir: "long-running-silent-test-job", runs: []gclRun{{name: "long-running-silent-test-job <test-job>", jobs: []string{"test-job"},
		gclOnly:   "the '> still running...' heartbeat is gitlab-ci-local's",
		gclExpect: gclExpect{pipeline: success, lines: map[string][]string{"test-job": {"Test something"}}}}}},

	{dir: "manual", star: true, runs: []gclRun{
		{name: "manual --manual <build-job> --manual <pre-job>", manual: []string{"build-job", "pre-job"},
			gclExpect: gclExpect{pipeline: success, lines: map[string][]string{
				"pre-job": {"im a rules variable", "Hello, pre job manual!"}, "build-job": {"Hello, build job manual!"}}}},
		{name: "manual --manual <build-job> --manual <build-job> --manual <pre-job>", manual: []string{"build-job", "build-job", "pre-job"},
			gclOnly:   "gitlab-ci-local prints the echoed command and the output on separate streams; both are counted here, as the job ran once",
			gclExpect: gclExpect{pipeline: success, count: map[string]int{"Hello, build job manual!": 2}}},
		{name: "manual <deploy-job>", jobs: []string{"deploy-job"},
			gclExpect: gclExpect{pipeline: success, absent: []string{"Hello, build job manual!", "Test something"},
				lines: map[string][]string{"deploy-job": {"Deploy something"}}}},
		{name: "manual <deploy-job> --needs", jobs: []string{"deploy-job"}, needs: true,
			gclExpect: gclExpect{pipeline: success, absent: []string{"Hello, pre job manual!", "Hello, build job manual!", "Test something"},
				lines: map[string][]string{"deploy-job": {"Deploy something"}}}},
		{name: "manual <build-job>", jobs: []string{"build-job"},
			gclExpect: gclExpect{pipeline: success, lines: map[string][]string{"build-job": {"Hello, build job manual!"}}}},
		{name: "manual <test-job> --needs --manual <pre-job>", jobs: []string{"test-job"}, needs: true, manual: []string{"pre-job"},
			gclExpect: gclExpect{pipeline: success, lines: map[string][]string{"pre-job": {"Hello, pre job manual!"}, "test-job": {"Test something"}}}},
		{name: "manual --manual <pre-job>", manual: []string{"pre-job"},
			differs: "build-job is manual by rules:when with no allow_failure, a blocking manual job: on GitLab the pipeline stops at its stage, " +
				"so deploy-job (stage test, no needs) never starts, while test-job, which needs only pre-job, runs; gitlab-ci-local runs deploy-job",
			gclExpect: gclExpect{pipeline: manual, lines: map[string][]string{"pre-job": {"Hello, pre job manual!"}, "test-job": {"Test something"}},
				status: map[string]string{"build-job": manual, "deploy-job": skipped}, notRan: []string{"build-job", "deploy-job"}}},
		{name: "manual",
			differs: "gitlab-ci-local refuses to start ('pre-job is when:manual, its needed by test-job, and not specified in --manual'); " +
				"GitLab creates the pipeline and it waits at the blocking manual job pre-job",
			gclExpect: gclExpect{pipeline: manual, status: map[string]string{"pre-job": manual},
				notRan: []string{"pre-job", "build-job", "test-job", "deploy-job"}}},
	}},

	{dir: "needs-artifacts", star: true, runs: []gclRun{{name: "needs-artifacts <test-job> --needs --shell-isolation", jobs: []string{"test-job"}, needs: true,
		gclOnly:   isolation + "; the test's one.txt planted in gitlab-ci-local's builds folder",
		gclExpect: gclExpect{pipeline: success, status: map[string]string{"one": success, "two": success, "test-job": success}}}}},
	{dir: "needs-empty", star: true, runs: []gclRun{{name: "needs-empty <deploy-job> --shell-isolation", jobs: []string{"deploy-job"}, gclOnly: isolation,
		gclExpect: gclExpect{pipeline: success, status: map[string]string{"deploy-job": success}}}}},
	{dir: "needs-optional", star: true, runs: []gclRun{{name: "needs-optional", needs: true,
		gclExpect: gclExpect{pipeline: success, contains: []string{"Job executed!"}, absent: []string{"Job skipped!"}}}}},
	{dir: "needs-optional-complex", star: true, runs: []gclRun{{name: "needs-optional-complex", needs: true,
		gclExpect: gclExpect{pipeline: success, contains: []string{"Validated!", "Job executed!"}, absent: []string{"Job skipped!"}}}}},

	{dir: "needs-parallel", star: true, runs: []gclRun{
		{name: "needs-parallel <build-job> --needs", jobs: []string{"build-job"}, needs: true,
			gclExpect: gclExpect{pipeline: success, lines: map[string][]string{"pre-job": {"Pre something"}, "build-job": {"Build something"}}}},
		{name: "needs-parallel <deploy-job> --needs", jobs: []string{"deploy-job"}, needs: true,
			gclExpect: gclExpect{pipeline: success, count: map[string]int{"Pre something": 2}, lines: map[string][]string{
				"pre-job": {"Pre something"}, "build-job": {"Build something"}, "test-job": {"Test something"}, "deploy-job": {"Deploy something"}}}},
		{name: "needs-parallel",
			gclExpect: gclExpect{pipeline: success, lines: map[string][]string{
				"pre-job": {"Pre something"}, "build-job": {"Build something"}, "test-job": {"Test something"}, "deploy-job": {"Deploy something"}}}},
	}},

	{dir: "needs-parallel-matrix-artifacts", star: true, runs: []gclRun{{name: "needs-parallel-matrix-artifacts cascades only the matching producer's artifacts to each consumer permutation",
		gclOnly: isolation,
		gclExpect: gclExpect{pipeline: success, lines: map[string][]string{"test: [aws]": {"aws-data"}, "test: [gcp]": {"gcp-data"}},
			noLines: map[string][]string{"test: [aws]": {"gcp-data"}, "test: [gcp]": {"aws-data"}}}}}},

	{dir: "needs-parallel-matrix-expressions", runs: matrixExpressionRuns()},

	{dir: "needs-pipeline", runs: []gclRun{{name: "needs-pipeline", needs: true,
		differs:   "the warning's words: Kiln says needs from another pipeline or project are not supported and the need is ignored",
		gclExpect: gclExpect{pipeline: success, contains: []string{"Job executed!", "needs from another pipeline or project (other-pipeline-job)"}}}}},
	{dir: "needs-same-stage", star: true, runs: []gclRun{{name: "needs-same-stage <test-job> --needs", jobs: []string{"test-job"}, needs: true,
		gclExpect: gclExpect{pipeline: success, lines: map[string][]string{"build-job": {"Build something"}, "test-job": {"Test something"}},
			check: order("==> build-job: success", "==> test-job: started")}}}},

	{dir: "needs-sequence", star: true, runs: []gclRun{
		{name: "needs-sequence <deploy-job>", jobs: []string{"deploy-job"},
			gclExpect: gclExpect{pipeline: success, lines: map[string][]string{"deploy-job": {"Deploy something"}}, count: map[string]int{"Pre something": 0}}},
		{name: "needs-sequence <deploy-job> --needs", jobs: []string{"deploy-job"}, needs: true,
			differs: "the warning's words: Kiln says needs from another pipeline or project are not supported and the need is ignored",
			gclExpect: gclExpect{pipeline: success, count: map[string]int{"NoNeeds something": 0},
				contains: []string{"needs from another pipeline or project (release_version)"},
				lines:    map[string][]string{"pre-job": {"Pre something"}, "build-job": {"Build something"}, "test-job": {"Test something"}, "deploy-job": {"Deploy something"}},
				check:    order("==> test-job: success", "==> deploy-job: started")}},
		{name: "needs-sequence <no-needs-job> --needs", jobs: []string{"no-needs-job"}, needs: true,
			differs: "no-needs-job has no needs:, so on GitLab and with kiln exec --needs it needs nothing and runs alone; " +
				"gitlab-ci-local also runs the jobs of earlier stages (pre-job, build-job)",
			gclExpect: gclExpect{pipeline: success, lines: map[string][]string{"no-needs-job": {"NoNeeds something"}},
				count: map[string]int{"Test something": 0, "Deploy something": 0}}},
		{name: "needs-sequence",
			gclExpect: gclExpect{pipeline: success, lines: map[string][]string{"pre-job": {"Pre something"}, "build-job": {"Build something"},
				"test-job": {"Test something"}, "no-needs-job": {"NoNeeds something"}, "deploy-job": {"Deploy something"},
				"premium-job": {"I'm utilizing premium feature"}}}},
	}},

	{dir: "never", star: true, runs: []gclRun{
		{name: "never", gclExpect: gclExpect{pipeline: success, absent: []string{"Should never be seen"}}},
		{name: "never <test-job>", jobs: []string{"test-job"},
			gclExpect: gclExpect{pipeline: success, lines: map[string][]string{"test-job": {"Test something"}}, absent: []string{"Should never be seen"}}},
		{name: "never <test-job> --needs", jobs: []string{"test-job"}, needs: true,
			gclExpect: gclExpect{pipeline: success, lines: map[string][]string{"test-job": {"Test something"}}, absent: []string{"Should never be seen"}}},
	}},

	{dir: "parallel", star: true, runs: []gclRun{
		{name: "parallel <test-job>", jobs: []string{"test-job"}, gclOnly: isolation,
			differs:   "GitLab names parallel: N instances 'test-job 1/2'; gitlab-ci-local names them 'test-job: [1/2]'",
			gclExpect: gclExpect{pipeline: success, lines: map[string][]string{"test-job 1/2": {"1/2"}, "test-job 2/2": {"2/2"}}}},
		{name: "parallel 'test-job [1/2]'", jobs: []string{"test-job 1/2"}, gclOnly: isolation,
			differs: "GitLab's instance name is 'test-job 1/2'",
			gclExpect: gclExpect{pipeline: success, lines: map[string][]string{"test-job 1/2": {"1/2"}}, notRan: []string{"test-job 2/2"},
				count: map[string]int{"2/2": 0}}},
		{name: "parallel 'single-job'", jobs: []string{"single-job"}, gclOnly: isolation,
			differs:   "GitLab's instance name is 'single-job 1/1'",
			gclExpect: gclExpect{pipeline: success, lines: map[string][]string{"single-job 1/1": {"1/1"}}}},
	}},

	{dir: "parallel-matrix-environment", runs: []gclRun{
		{name: "parallel-matrix-environment - each job gets correct environment name", jobs: []string{"run-all-clusters"},
			gclOnly: "'environment: { name: … }' is gitlab-ci-local's line, and CI_ENVIRONMENT_URL comes from its environment-scoped variables file, which kiln exec has no counterpart of",
			gclExpect: gclExpect{pipeline: success, contains: []string{
				"==> run-all-clusters: [cluster-a]: started (stage test, environment cluster-a)",
				"==> run-all-clusters: [cluster-b]: started (stage test, environment cluster-b)",
				"==> run-all-clusters: [cluster-c]: started (stage test, environment cluster-c)"},
				lines: map[string][]string{"run-all-clusters: [cluster-b]": {"CLUSTER=cluster-b"}}}},
		{name: "parallel-matrix-environment - unit tests of gitlab-ci-local's job.ts", skip: "three tests exercise gitlab-ci-local's own source (job.ts) and parser objects"},
	}},

	{dir: "parallel-matrix-long-name", runs: []gclRun{{name: "parallel-matrix-long-name - completes without ENAMETOOLONG", gclOnly: isolation,
		gclExpect: gclExpect{pipeline: success, status: map[string]string{"build-job: [short]": success},
			check: func(t *testing.T, res *localrun.Result, _, _ string) {
				for _, j := range res.Jobs {
					if strings.HasPrefix(j.Name, "build-job: [my-app-controller,") && j.Status == success {
						return
					}
				}
				t.Errorf("the long-named instance did not succeed: %+v", res.Jobs)
			}}}}},
}

func longRunning() []string {
	var out []string
	for i := 1; i <= 11; i++ {
		out = append(out, "$ sleep 1", "$ echo "+strconv.Itoa(i), strconv.Itoa(i))
	}
	return out
}
