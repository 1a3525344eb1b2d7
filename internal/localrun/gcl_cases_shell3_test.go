package localrun_test

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/kiln-ci/kiln/internal/localrun"
)

const (
	gclFiles = "gitlab-ci-local's variables files (.gitlab-ci-local-variables.yml, ~/.gitlab-ci-local/variables.yml, --variables-file) with environment scopes; kiln exec has --variable only"
	noImage  = "the image is not essential to what is asserted: the shell executor ignores image:, as GitLab's does"
)

// matrixPartial is why needs-parallel-matrix-expressions is refused, as GitLab refuses it.
const matrixPartial = "gitlab-ci-local lets linux:test-mixed's needs:parallel:matrix name only PROVIDER and selects every " +
	"STACK; GitLab's Config::Normalizer names the needed instance from the selector's values alone ('linux:build: [aws]'), " +
	"which no job has, so GitLab refuses the whole file: 'undefined need'"

// matrixExpressionRuns are needs-parallel-matrix-expressions' runs. gitlab-ci-local
// runs each consumer permutation with the producer permutations its
// $[[ matrix.X ]] select; GitLab creates no pipeline from the file (matrixPartial),
// and neither does Kiln.
func matrixExpressionRuns() []gclRun {
	run := func(name, job string) gclRun {
		return gclRun{name: name, jobs: []string{job}, needs: true, differs: matrixPartial,
			gclExpect: gclExpect{err: "linux:test-mixed: [aws, monitoring] job: undefined need: linux:build: [aws]"}}
	}
	return []gclRun{
		run("needs-parallel-matrix-expressions <linux:test: [aws,monitoring]> array-form expression resolves 1:1", "linux:test: [aws, monitoring]"),
		run("needs-parallel-matrix-expressions <linux:test: [gcp,app1]> a different permutation resolves 1:1", "linux:test: [gcp, app1]"),
		run("needs-parallel-matrix-expressions <linux:test-array: [aws,monitoring]> array-form expression resolves 1:1", "linux:test-array: [aws, monitoring]"),
		run("needs-parallel-matrix-expressions <test-hyphen: [foo]> hyphenated matrix identifier resolves correctly", "test-hyphen: [foo]"),
		run("needs-parallel-matrix-expressions <test-concat: [aws,monitoring]> multiple expressions concatenated in one string resolve correctly", "test-concat: [aws, monitoring]"),
		run("needs-parallel-matrix-expressions <test-whitespace: [aws,monitoring]> whitespace variations parse equivalently", "test-whitespace: [aws, monitoring]"),
		run("needs-parallel-matrix-expressions <linux:test-mixed: [aws,monitoring]> mixed literal+expression keeps PROVIDER bound, broadens STACK", "linux:test-mixed: [aws, monitoring]"),
	}
}

var gclShellCases3 = []gclCase{
	{dir: "plain", star: true, runs: []gclRun{
		{name: "plain", gclOnly: format + " (its line counts); --json-schema-validation; its builds folders",
			gclExpect: gclExpect{pipeline: success, lines: map[string][]string{
				"build-job": {"whatwhatwhat", "Build something"}, "test-job": {"Hello, error!", `"`}}}},
		{name: "plain <test-job> <test-job>", jobs: []string{"test-job", "test-job"},
			gclOnly:   "gitlab-ci-local counts stderr lines; here the echoed command and its output are the job's two lines holding the text",
			gclExpect: gclExpect{pipeline: success, count: map[string]int{"Hello, error!": 2}}},
		{name: "plain <notfound>", jobs: []string{"notfound"}, gclExpect: gclExpect{err: `job "notfound" could not be found`}},
		{name: "plain <build-job> --unset-variable", skip: "about gitlab-ci-local's --unset-variable option only"},
		{name: "plain --stage", skip: "about gitlab-ci-local's --stage option only"},
	}},

	{dir: "predefined-variables", remote: "git@gitlab.com:GCL/predefined-variables.git", runs: []gclRun{
		{name: "predefined-variables normal", jobs: []string{"test-job"},
			gclOnly: noImage + "; the values gitlab-ci-local mocks or invents (job id 123, dates, CI_PROJECT_ID 1217, CI_REGISTRY*, " +
				"CI_DEPENDENCY_PROXY*, GITLAB_USER_ID/LOGIN from `id -u`, CI_PIPELINE_URL without /-/, GCL_PROJECT_DIR_ON_HOST)",
			differs: "GitLab sets GITLAB_CI=true (gitlab-ci-local false) and CI_COMMIT_MESSAGE to the whole message",
			gclExpect: gclExpect{pipeline: success, lines: map[string][]string{"test-job": {
				"CI=true", "GITLAB_CI=true", "CI_COMMIT_BRANCH=master", "CI_COMMIT_REF_NAME=master", "CI_COMMIT_REF_PROTECTED=false",
				"CI_COMMIT_REF_SLUG=master", "CI_COMMIT_TITLE=Commit Title", "CI_COMMIT_MESSAGE=Commit Title", "CI_COMMIT_DESCRIPTION=",
				"CI_DEFAULT_BRANCH=main", "CI_JOB_NAME=test-job", "CI_JOB_NAME_SLUG=test-job", "CI_JOB_STAGE=test", "CI_JOB_STATUS=running", "CI_NODE_TOTAL=1",
				"CI_PIPELINE_SOURCE=push", "CI_PROJECT_NAME=predefined-variables", "CI_PROJECT_NAMESPACE=GCL",
				"CI_PROJECT_PATH=GCL/predefined-variables", "CI_PROJECT_PATH_SLUG=gcl-predefined-variables", "CI_PROJECT_ROOT_NAMESPACE=GCL",
				"CI_PROJECT_URL=https://gitlab.com/GCL/predefined-variables", "CI_SERVER_HOST=gitlab.com", "CI_SERVER_URL=https://gitlab.com",
				"GITLAB_USER_EMAIL=test@test.com", "GITLAB_USER_NAME=Testersen"}},
				check: predefinedFromRepo}},
		{name: "predefined-variables <shell-isolation> --shell-isolation", jobs: []string{"shell-isolation"},
			gclOnly: "the path gitlab-ci-local gives (its builds folder); a runner's is <builds_dir>/<token>/<concurrent id>/<namespace>/<project>",
			gclExpect: gclExpect{pipeline: success, check: func(t *testing.T, _ *localrun.Result, out, _ string) {
				for _, l := range jobLines(out, "shell-isolation") {
					if strings.HasPrefix(l, "/") && strings.HasSuffix(l, "/local/0/GCL/predefined-variables") {
						return
					}
				}
				t.Errorf("no CI_PROJECT_DIR line ending in /local/0/GCL/predefined-variables:\n%s", strings.Join(jobLines(out, "shell-isolation"), "\n"))
			}}},
		{name: "predefined-variables custom ports", skip: "about gitlab-ci-local's variables file and its CI_SERVER_PORT handling"},
	}},

	{dir: "project-ignores-file", runs: []gclRun{{name: "project-ignores-file", skip: "about gitlab-ci-local's --ignores-file option only"}}},
	{dir: "remote-variables-file", runs: []gclRun{{name: "remote-variables-file", skip: "about gitlab-ci-local's --remote-variables option only"}}},
	{dir: "project-variables-file", runs: []gclRun{{name: "project-variables-file", skip: gclFiles}}},
	{dir: "custom-home", runs: []gclRun{{name: "custom-home", skip: gclFiles}}},
	{dir: "force-shell-executor", runs: []gclRun{{name: "force-shell-executor", skip: "about gitlab-ci-local's --force-shell-executor option only"}}},
	{dir: "shell-executor-no-image", runs: []gclRun{{name: "shell-executor-no-image", skip: "about gitlab-ci-local's --shell-executor-no-image and --default-image options only"}}},
	{dir: "parent-child", runs: []gclRun{{name: "parent-child", skip: "trigger: (child pipelines) is parsed but not carried out by Kiln (internal/ci)"}}},
	{dir: "trigger", runs: []gclRun{{name: "trigger", skip: "trigger: (child and multi-project pipelines) is parsed but not carried out by Kiln (internal/ci)"}}},

	{dir: "rules-exists", star: true, runs: []gclRun{{name: "rules-exists",
		gclExpect: gclExpect{pipeline: success,
			contains: []string{"File Executed!", "Directory Executed!", "Directory Recursive Executed!", "rules:exists:paths works!",
				"existsDir/existDirNested/recursive.file successfully found, even though dir value was found via variable"},
			absent: []string{"File Skipped!", "Directory Skipped!", "Directory Recursive Skipped!", "rule-exist-empty-string Executed!"}}}}},

	{dir: "script-failures", star: true, runs: []gclRun{
		{name: "script-failures <test-job>", jobs: []string{"test-job"}, gclOnly: format,
			gclExpect: gclExpect{pipeline: failed, status: map[string]string{"test-job": failed},
				lines: map[string][]string{"test-job": {"Test something", "That fails", "Something in the log", "ERROR: Job failed: exit code 1"}}}},
		{name: "script-failures <test-job-after-script>", jobs: []string{"test-job-after-script"}, gclOnly: format,
			gclExpect: gclExpect{pipeline: failed, status: map[string]string{"test-job-after-script": failed},
				lines: map[string][]string{"test-job-after-script": {"WARNING: after_script failed, but job will continue unaffected: exit code 1"}}}},
		{name: "script-failures <allow-failure-job>", jobs: []string{"allow-failure-job"}, gclOnly: format,
			gclExpect: gclExpect{pipeline: success, status: map[string]string{"allow-failure-job": failed},
				allowFailures: map[string]bool{"allow-failure-job": true},
				lines:         map[string][]string{"allow-failure-job": {"This is printed right before the failure"}}}},
		{name: "script-failures <allow-failure-after-script>", jobs: []string{"allow-failure-after-script"}, gclOnly: format,
			gclExpect: gclExpect{pipeline: success, allowFailures: map[string]bool{"allow-failure-after-script": true},
				lines: map[string][]string{"allow-failure-after-script": {"WARNING: after_script failed, but job will continue unaffected: exit code 1"}}}},
		{name: "script-failures <deploy-job> --needs", jobs: []string{"deploy-job"}, needs: true,
			gclExpect: gclExpect{pipeline: failed, status: map[string]string{"test-job": failed, "deploy-job": skipped},
				lines: map[string][]string{"test-job": {"Test something"}}, count: map[string]int{"Deploy something": 0}}},
		{name: "script-failures <exit_code[number] allowed>", jobs: []string{"exit_code[number] allowed"}, gclOnly: format,
			gclExpect: gclExpect{pipeline: success, status: map[string]string{"exit_code[number] allowed": failed},
				allowFailures: map[string]bool{"exit_code[number] allowed": true}}},
		{name: "script-failures <exit_code[number[]] allowed>", jobs: []string{"exit_code[number[]] allowed"}, gclOnly: format,
			gclExpect: gclExpect{pipeline: success, allowFailures: map[string]bool{"exit_code[number[]] allowed": true}}},
		{name: "script-failures <exit_code[number] not allowed>", jobs: []string{"exit_code[number] not allowed"}, gclOnly: format,
			gclExpect: gclExpect{pipeline: failed, allowFailures: map[string]bool{"exit_code[number] not allowed": false}}},
		{name: "script-failures <exit_code[number[]] not allowed>", jobs: []string{"exit_code[number[]] not allowed"}, gclOnly: format,
			gclExpect: gclExpect{pipeline: failed, allowFailures: map[string]bool{"exit_code[number[]] not allowed": false}}},
		{name: "script-failures <rules:allow_failure precedence>", jobs: []string{"rules:allow_failure precedence"}, gclOnly: format + "; " + noImage,
			gclExpect: gclExpect{pipeline: failed, allowFailures: map[string]bool{"rules:allow_failure precedence": false}}},
		{name: "script-failures <rules:without allow_failure>", jobs: []string{"rules:without allow_failure"}, gclOnly: format,
			gclExpect: gclExpect{pipeline: success, status: map[string]string{"rules:without allow_failure": failed},
				allowFailures: map[string]bool{"rules:without allow_failure": true}}},
	}},

	{dir: "scripts-as-string", star: true, runs: []gclRun{{name: "scripts-as-string <test-job>", jobs: []string{"test-job"},
		gclExpect: gclExpect{pipeline: success, lines: map[string][]string{"test-job": {"Before test", "Test something", "After test"}}}}}},

	{dir: "hang-forever", runs: []gclRun{{name: "hang-forever <test-shell>", jobs: []string{"test-shell"},
		gclExpect: gclExpect{pipeline: success, lines: map[string][]string{"test-shell": {"File content"}}}}}},

	{dir: "cache-key-files", runs: []gclRun{
		{name: "cache-key-files <consume-cache> --shell-isolation --needs", jobs: []string{"consume-cache"}, needs: true, gclOnly: isolation,
			gclExpect: gclExpect{pipeline: success, status: map[string]string{"produce-cache": success, "consume-cache": success}}},
		{name: "cache-key-files <cache-key-file referencing $CI_PROJECT_DIR>", jobs: []string{"cache-key-file referencing $CI_PROJECT_DIR"},
			gclOnly:   noImage + "; the cache key's digest and folder are gitlab-ci-local's (Kiln digests the files' contents, see internal/ci)",
			gclExpect: gclExpect{pipeline: success, contains: []string{"Created cache"}}},
		{name: "cache-key-files <cache-key-file file dont exist>", jobs: []string{"cache-key-file file dont exist"},
			gclOnly:   noImage + "; the cache folder is gitlab-ci-local's",
			gclExpect: gclExpect{pipeline: success, contains: []string{"Creating cache default-non_protected..."}}},
		{name: "cache-key-files file containing `*` should not crash", file: ".gitlab-ci-1.yml", gclOnly: noImage,
			gclExpect: gclExpect{pipeline: success, lines: map[string][]string{"test": {"Wiiiii"}}}},
		{name: "cache-key-files file containing `'` should not crash", file: ".gitlab-ci-2.yml", gclOnly: noImage,
			gclExpect: gclExpect{pipeline: success, lines: map[string][]string{"test": {"Wiiiii"}}}},
	}},

	{dir: "validate-dependency-chain", runs: []gclRun{
		{name: "validate-dependency-chain should pass when all dependencies are valid",
			skip: "needs its images (kaniko, nginx-unprivileged) whose users and files are what the jobs stat; the check itself is gitlab-ci-local's --validate-dependency-chain"},
		{name: "validate-dependency-chain should fail when dependency chain is broken due to a non-existent job", variables: []string{"RUN_SINGLE=alpine-root"},
			gclOnly:   "--validate-dependency-chain and its words; GitLab refuses to create such a pipeline with its own error",
			gclExpect: gclExpect{err: "'alpine-root' job needs 'kaniko-root' job, but 'kaniko-root' does not exist in the pipeline"}},
		{name: "validate-dependency-chain should fail when dependency chain is broken due to a job that never runs", variables: []string{"RUN_SINGLE=alpine-guest"},
			gclOnly:   "--validate-dependency-chain and its words; GitLab refuses to create such a pipeline with its own error",
			gclExpect: gclExpect{err: "'alpine-guest' job needs 'alpine-root' job, but 'alpine-root' does not exist in the pipeline"}},
		{name: "validate-dependency-chain should fail when dependencies keyword references missing artifact jobs",
			skip: "gitlab-ci-local's own --validate-dependency-chain check of dependencies:; the case does not say what GitLab does"},
	}},

	{dir: "rules-changes", runs: []gclRun{
		{name: "rules:changes (has changes))", setup: pushed("foo"), gclOnly: noImage,
			gclExpect: gclExpect{pipeline: success, lines: map[string][]string{"alpine": {"Job is running"}, "matrix: [foo]": {"Job is running"}}}},
		{name: "rules:changes:paths (has changes)", file: ".gitlab-ci-2.yml", setup: pushed("foo"), gclOnly: noImage,
			gclExpect: gclExpect{pipeline: success, lines: map[string][]string{"alpine": {"Job is running"}, "matrix: [foo]": {"Job is running"}}}},
		{name: "rules:changes (no changes)", setup: pushed("bar"), differs: noJobs,
			gclExpect: gclExpect{err: "Pipeline will not run for the selected trigger"}},
		{name: "rules:changes:paths (no changes)", file: ".gitlab-ci-2.yml", setup: pushed("bar"), differs: noJobs,
			gclExpect: gclExpect{err: "Pipeline will not run for the selected trigger"}},
		{name: "rules:changes --no-evaluate-rule-changes (no changes)", skip: "about gitlab-ci-local's --no-evaluate-rule-changes option only"},
	}},

	{dir: "variable-escaping", star: true, runs: []gclRun{{name: "variable-escaping <test $ character in CI/CD variable>", jobs: []string{"test $ character in CI/CD variable"},
		gclExpect: gclExpect{pipeline: success, seq: map[string][]string{"test $ character in CI/CD variable": {`$ echo "$LS_CMD"`, `ls "-al" $TMP_DIR`}}}}}},

	{dir: "variable-expansion", star: true, runs: []gclRun{
		{name: "variable-expansion <test ${URL_${ENV}}>", jobs: []string{"test ${URL_${ENV}}"},
			gclExpect: gclExpect{pipeline: success, seq: map[string][]string{"test ${URL_${ENV}}": {"$ echo $URL", "url-dev"}}}},
		{name: "variable-expansion <test ${${ENV}_URL}>", jobs: []string{"test ${${ENV}_URL}"},
			gclExpect: gclExpect{pipeline: success, seq: map[string][]string{"test ${${ENV}_URL}": {"$ echo $URL", "dev-url"}}}},
		{name: "variable-expansion <docker-executor services variables with '>", jobs: []string{"docker-executor services variables with '"},
			gclOnly: noImage + " (nor its service)",
			gclExpect: gclExpect{pipeline: success, seq: map[string][]string{"docker-executor services variables with '": {
				"$ echo $CI_JOB_NAME", "docker-executor services variables with '"}}}},
		{name: "variable-expansion <docker-executor variables with '>", jobs: []string{"docker-executor variables with '"}, gclOnly: noImage,
			gclExpect: gclExpect{pipeline: success, seq: map[string][]string{"docker-executor variables with '": {
				"$ echo $CI_JOB_NAME", "docker-executor variables with '"}}}},
		{name: "should expand predefined variables in environment", file: ".gitlab-ci-1.yml",
			gclOnly:   "'job environment: { name: … }' is gitlab-ci-local's line; kiln exec names the environment in the job's progress line",
			gclExpect: gclExpect{pipeline: success, contains: []string{"==> job: started (stage test, environment review/test/deploy)"}}},
		{name: "should expand rule variables in environment", file: ".gitlab-ci-2.yml", gclOnly: noImage + "; 'job environment: …' is gitlab-ci-local's line",
			gclExpect: gclExpect{pipeline: success, contains: []string{"==> job: started (stage test, environment test)"},
				lines: map[string][]string{"job": {"test"}}}},
		{name: "should expand variables referencing dotenv artifact variables", file: ".gitlab-ci-3.yml", gclOnly: noImage,
			gclExpect: gclExpect{pipeline: success, seq: map[string][]string{"job2": {"$ echo $REF", "latest"}}}},
		{name: "should support variables:expand", file: ".gitlab-ci-4.yml", gclOnly: noImage,
			gclExpect: gclExpect{pipeline: success, seq: map[string][]string{"job": {"$ echo $DEFAULT_VAR_1", "1",
				"$ echo $DEFAULT_VAR_2", "2 $DEFAULT_VAR_1", "$ echo $DEFAULT_VAR_3", "3 1",
				"$ echo $DEFAULT_VAR_4", "4 1", "$ echo $JOB_VAR_1", "1", "$ echo $JOB_VAR_2", "2 $JOB_VAR_1",
				"$ echo $JOB_VAR_3", "3 1", "$ echo $JOB_VAR_4", "4 1"}}}},
	}},

	{dir: "variable-order", star: true, runs: []gclRun{{name: "variable-order <test-job> --needs", jobs: []string{"test-job"},
		variables: []string{"HOME_VARIABLE=home-value", "PROJECT_VARIABLE=home-value", "PROJECT_VARIABLE=project-value"},
		gclOnly: "the home variables file (~/.gitlab-ci-local/variables.yml) is gitlab-ci-local's: its global values are given as --variable " +
			"before the project's; its prod-scoped PROD_ONLY_VARIABLE does not apply to environment notprod, so it is not given",
		gclExpect: gclExpect{pipeline: success,
			seq: map[string][]string{"test-job": {
				`$ echo "PIPELINE_VARIABLE=${PIPELINE_VARIABLE}"`, "PIPELINE_VARIABLE=pipeline-value",
				`$ echo "JOB_VARIABLE=${JOB_VARIABLE}"`, "JOB_VARIABLE=job-value",
				`$ echo "OVERRIDDEN_BY_JOB=${OVERRIDDEN_BY_JOB}"`, "OVERRIDDEN_BY_JOB=job-value",
				`$ echo "CI_PIPELINE_ID=${CI_PIPELINE_ID}"`, "CI_PIPELINE_ID=pipeline-value",
				`$ echo "CI_JOB_ID=${CI_JOB_ID}"`, "CI_JOB_ID=job-value",
				`$ echo "HOME_VARIABLE=${HOME_VARIABLE}"`, "HOME_VARIABLE=home-value",
				`$ echo "PROJECT_VARIABLE=${PROJECT_VARIABLE}"`, "PROJECT_VARIABLE=project-value",
				`$ echo "PROD_ONLY_VARIABLE=${PROD_ONLY_VARIABLE}"`, "PROD_ONLY_VARIABLE=notprod"}}}}}},
}

// noJobs: when rules leave no job, GitLab creates no pipeline.
const noJobs = "the rules leave no job: GitLab creates no pipeline ('Pipeline will not run for the selected trigger'); gitlab-ci-local runs nothing"

// pushed makes origin have the branch as committed and adds an uncommitted file: the
// files a push would change (gitlab-ci-local's mocked `git diff origin/main`) are
// exactly that one.
func pushed(file string) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		git(t, dir, "update-ref", "refs/remotes/origin/master", "HEAD")
		if err := os.WriteFile(filepath.Join(dir, file), []byte("changed\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// predefinedFromRepo checks the commit's predefined variables against the repository.
func predefinedFromRepo(t *testing.T, res *localrun.Result, out, dir string) {
	sha := git(t, dir, "rev-parse", "HEAD")
	lines := jobLines(out, "test-job")
	for _, want := range []string{"CI_COMMIT_SHA=" + sha, "CI_COMMIT_SHORT_SHA=" + sha[:8]} {
		if !slices.Contains(lines, want) {
			t.Errorf("test-job's environment lacks %s", want)
		}
	}
	j, _ := res.Job("test-job")
	wantURL := "CI_JOB_URL=https://gitlab.com/GCL/predefined-variables/-/jobs/" + strconv.FormatInt(j.ID, 10)
	if !slices.Contains(lines, wantURL) {
		t.Errorf("test-job's environment lacks %s", wantURL)
	}
}
