package localrun_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-ci/kiln/internal/localrun"
)

// Why some of gitlab-ci-local's assertions do not apply here.
const (
	isolation = "--shell-isolation: kiln exec always runs a job in its own copy of the working tree, as a GitLab runner does"
	format    = "gitlab-ci-local's own output format (PASS/FAIL/WARN banners, padding, colours)"
	copyBack  = "gitlab-ci-local copies artifacts back into the working tree; kiln exec, like GitLab, never writes there"
	offline   = "Kiln works offline: include:remote, :project and :template are refused with a clear error (internal/ci)"
)

const (
	success  = localrun.StatusSuccess
	failed   = localrun.StatusFailed
	skipped  = localrun.StatusSkipped
	manual   = localrun.StatusManual
	canceled = localrun.StatusCanceled
)

var gclShellCases = []gclCase{
	{dir: "ansi-sections", runs: []gclRun{{name: "ansi-sections <test-job>", jobs: []string{"test-job"},
		gclOnly: "gitlab-ci-local renders a section as 'my_section_started' and '… took Nms' lines; GitLab shows the section's header",
		gclExpect: gclExpect{pipeline: success, lines: map[string][]string{"test-job": {"My Section Title", "inside section"}},
			exact: []exactLines{{job: "test-job", prefix: "section_"}}}}}},

	{dir: "artifacts-exclude", star: true, runs: []gclRun{{name: "artifacts-exclude <consume-artifacts> --needs --exclude",
		jobs: []string{"consume-artifacts"}, needs: true, gclOnly: isolation,
		differs: `GitLab's runner matches an exclude pattern dir/** against the directory itself as well (doublestar v4), so the emptied ` +
			`directory "foo/qux/qu ux" is not archived and the consumer's [ -e "foo/qux/qu ux" ] fails; gitlab-ci-local keeps the ` +
			`directory. Every other exclusion and check of the case holds`,
		gclExpect: gclExpect{pipeline: failed, status: map[string]string{"produce-artifacts": success, "consume-artifacts": failed},
			artifacts: map[string][]string{"produce-artifacts": {"ux/q", "foo/a", "foo/qux/qu"}},
			noArtifacts: map[string][]string{"produce-artifacts": {"foo/d", "foo/bar", "foo/bar/w", "foo/bar/baz/m",
				"foo/qux/qu ux", "foo/qux/qu ux/g", "foo/bar/baz/.xyzzy/.e"}},
			seq: map[string][]string{"consume-artifacts": {`$ [ -e "foo/qux/qu" ]`, `$ [ -e "foo/qux/qu ux" ]`,
				"Cleaning up project directory and file based variables", "ERROR: Job failed: exit code 1"}}}}}},

	{dir: "artifacts-globstar", runs: []gclRun{
		{name: "artifacts-globstar <test-job> --needs --shell-isolation", jobs: []string{"test-job"}, needs: true, gclOnly: isolation,
			gclExpect: gclExpect{pipeline: success, lines: map[string][]string{"test-job": {"Pre something"}}}},
		{name: "artifacts-globstar <no-match> --shell-isolation", jobs: []string{"no-match"}, gclOnly: isolation,
			differs: "gitlab-ci-local prints '!! no artifacts was copied !!'; GitLab's runner warns that the path matched nothing",
			gclExpect: gclExpect{pipeline: success, lines: map[string][]string{"no-match": {
				"WARNING: */target: no matching files. Ensure that the artifact path is relative to the working directory"}}}},
	}},

	{dir: "artifacts-many-paths", runs: []gclRun{{name: "artifacts-many-paths --shell-isolation 9000 artifacts via --files-from",
		gclOnly: isolation + "; 'exported artifacts' is gitlab-ci-local's log line",
		gclExpect: gclExpect{pipeline: success, artifacts: map[string][]string{"produce-artifacts": {"output_dir/result.txt"}},
			check: func(t *testing.T, res *localrun.Result, _, _ string) {
				j, _ := res.Job("produce-artifacts")
				n := 0
				for _, a := range j.Artifacts {
					if strings.HasPrefix(a, "artifact_") {
						n++
					}
				}
				if n != 9000 {
					t.Errorf("produce-artifacts uploaded %d artifact_* files, want 9000", n)
				}
			}}}}},

	{dir: "artifacts-no-shell-out", runs: []gclRun{{name: "artifacts-no-shell-out <produce> --no-shell-isolation", jobs: []string{"produce"},
		gclOnly: "gitlab-ci-local's state directory layout (.gitlab-ci-local*/artifacts/produce/...)",
		gclExpect: gclExpect{pipeline: success, artifacts: map[string][]string{"produce": {"path/file1"}},
			noArtifacts: map[string][]string{"produce": {"path/file2"}}}}}},

	{dir: "artifacts-reports-dotenv", runs: []gclRun{
		{name: "artifacts-reports-dotenv <deploy-shell-iso> --needs", jobs: []string{"deploy-shell-iso"}, needs: true, gclOnly: isolation,
			gclExpect: gclExpect{pipeline: success, status: map[string]string{"build-shell-iso": success, "deploy-shell-iso": success}}},
		{name: "artifacts-reports-dotenv <deploy-shell-noiso> --needs", jobs: []string{"deploy-shell-noiso"}, needs: true,
			gclExpect: gclExpect{pipeline: success, status: map[string]string{"build-shell-noiso": success, "deploy-shell-noiso": success}}},
		{name: "artifacts-reports-dotenv <test-multi-dotenv> --needs", file: ".gitlab-ci-issue-1160.yml", jobs: []string{"test-multi-dotenv"}, needs: true,
			gclExpect: gclExpect{pipeline: success, lines: map[string][]string{"test-multi-dotenv": {"true"}}}},
		{name: "artifacts-reports-dotenv <test-multi-dotenv-with-missing-file> --needs", file: ".gitlab-ci-issue-1160.yml",
			jobs: []string{"test-multi-dotenv-with-missing-file"}, needs: true,
			differs: "gitlab-ci-local stops with \"artifact reports dotenv 'multi4.env' could not be found\"; GitLab's runner warns that the path matched nothing and uploads the report files that exist",
			gclExpect: gclExpect{pipeline: failed,
				status: map[string]string{"multi-dotenv-with-missing-file": success, "test-multi-dotenv-with-missing-file": failed},
				lines: map[string][]string{"multi-dotenv-with-missing-file": {"WARNING: multi4.env: no matching files. Ensure that the artifact path is relative to the working directory"},
					"test-multi-dotenv-with-missing-file": {"123"}},
				contains: []string{"TEST_MULTI_2: unbound variable"}}},
	}},

	{dir: "artifacts-sequence", star: true, runs: []gclRun{
		{name: "artifacts-sequence --shell-isolation artifacts copied to next stages", gclOnly: isolation,
			gclExpect: gclExpect{pipeline: success, status: map[string]string{"consume-artifacts": success}}},
		{name: "artifacts-sequence --shell-isolation parallel matrix artifacts copied to next stages", file: ".gitlab-ci-parallel.yml", gclOnly: isolation,
			gclExpect: gclExpect{pipeline: success, ran: []string{"produce-artifacts: [file3]", "produce-artifacts: [file4]"},
				status: map[string]string{"consume-artifacts": success}}},
	}},

	{dir: "artifacts-shell", star: true, runs: []gclRun{
		{name: "artifacts-shell <consume> --needs --shell-isolation", jobs: []string{"produce", "consume"},
			gclOnly: isolation + "; " + copyBack + " (path/file1 in the case folder); consume declares no needs:, so both jobs are named here",
			gclExpect: gclExpect{pipeline: success, status: map[string]string{"consume": success},
				artifacts: map[string][]string{"produce": {"path/file1"}}, noArtifacts: map[string][]string{"produce": {"path/file2"}}}},
		{name: "artifacts-shell --file .gitlab-ci-when-never.yml --shell-isolation", file: ".gitlab-ci-when-never.yml", gclOnly: isolation,
			gclExpect: gclExpect{pipeline: success, status: map[string]string{"deploy": success}, notRan: []string{"build"}}},
		{name: "artifacts-shell <deploy> --file .gitlab-ci-when-never.yml --shell-isolation --no-shell-executor-no-image",
			file: ".gitlab-ci-when-never.yml", jobs: []string{"deploy"},
			gclOnly:   "the warning about --shell-isolation with --no-shell-executor-no-image is about gitlab-ci-local's options",
			gclExpect: gclExpect{pipeline: success, lines: map[string][]string{"deploy": {"Getting artifacts from all producers"}}}},
	}},

	{dir: "artifacts-shell-fail", star: true, runs: []gclRun{{name: "artifacts-shell-fail <build|test|deploy> --shell-isolation",
		jobs: []string{"build", "test", "deploy"}, gclOnly: isolation,
		differs: "gitlab-ci-local says '!! no artifacts was copied !!' and 'artifacts from build was empty'; GitLab's runner warns that build.log matched nothing, uploads nothing, and deploy downloads nothing",
		gclExpect: gclExpect{pipeline: failed, status: map[string]string{"build": success, "test": failed, "deploy": success},
			lines: map[string][]string{"build": {"WARNING: build.log: no matching files. Ensure that the artifact path is relative to the working directory"}},
			check: func(t *testing.T, res *localrun.Result, out, _ string) {
				for _, l := range jobLines(out, "deploy") {
					if strings.Contains(l, "Downloading artifacts") {
						t.Errorf("deploy downloaded artifacts: %q", l)
					}
				}
			}}}}},

	{dir: "artifacts-to-source-no", runs: []gclRun{
		{name: "artifacts-to-source-no <produce> --needs --shell-isolation", jobs: []string{"produce"}, needs: true,
			gclOnly:   "the # @NoArtifactsToSource directive; " + copyBack,
			gclExpect: gclExpect{pipeline: success, check: notInTree("path/file-descriptor")}},
		{name: "artifacts-to-source-no <produce-global> --needs --shell-isolation", jobs: []string{"produce-global"}, needs: true,
			gclOnly:   "--artifacts-to-source=false; " + copyBack,
			gclExpect: gclExpect{pipeline: success, check: notInTree("path/file-global")}},
	}},

	{dir: "before-script", runs: []gclRun{{name: "before-script <test-job>", jobs: []string{"test-job"},
		gclExpect: gclExpect{pipeline: success, seq: map[string][]string{"test-job": {`$ echo "Before test"`, "Before test", `$ echo "Test something"`}}}}}},

	{dir: "before-script-default", star: true, runs: []gclRun{{name: "before-script-default <test-job>", jobs: []string{"test-job"},
		gclExpect: gclExpect{pipeline: success, lines: map[string][]string{"test-job": {"Before test"}}}}}},

	{dir: "cache-conditional-policy", runs: []gclRun{{name: "cache-conditional-policy <test-job>", jobs: []string{"test-job"}, gclOnly: format,
		gclExpect: gclExpect{pipeline: success, status: map[string]string{"test-job": success}}}}},

	{dir: "cache-directives", runs: []gclRun{{name: "cache-directives <test-job> --shell-isolation --needs", jobs: []string{"test-job"},
		gclOnly: isolation + "; the cache folder layout .gitlab-ci-local/cache/default/ (Kiln keeps GitLab's key default-non_protected as an archive)",
		differs: "gitlab-ci-local's line reads 'found 1 artifact files and directories'; GitLab's runner says 'found 1 matching artifact files and directories'",
		gclExpect: gclExpect{pipeline: success, cacheFiles: map[string][]string{"default-non_protected": {"cache/file1.txt"}},
			lines: map[string][]string{"test-job": {"cache/**.txt: found 1 matching artifact files and directories"}}}}}},

	{dir: "cache-double-run", runs: []gclRun{{name: "cache-double-run <test-job> --shell-isolation", jobs: []string{"test-job"}, twice: true,
		gclOnly: isolation + "; gitlab-ci-local's stdout/stderr split (kiln exec shows a job's log as GitLab does, both streams in order)",
		first:   &gclExpect{pipeline: success, lines: map[string][]string{"test-job": {"Cache not warm"}}},
		gclExpect: gclExpect{pipeline: success, lines: map[string][]string{"test-job": {"Cache warm"}},
			cacheFiles: map[string][]string{"global-non_protected": {"cache/file1.txt"}}}}}},

	{dir: "cache-paths-undefined-array", runs: []gclRun{
		{name: "cache-paths-undefined-array <test-job>", jobs: []string{"test-job"}, gclOnly: format,
			gclExpect: gclExpect{pipeline: success, status: map[string]string{"test-job": success}}},
		{name: "cache-paths-empty-object <test-job>", jobs: []string{"test-empty-cache-object"}, gclOnly: format,
			gclExpect: gclExpect{pipeline: success, status: map[string]string{"test-empty-cache-object": success}}},
	}},

	{dir: "cache-shell", runs: []gclRun{{name: "cache-shell <consume-cache> --shell-isolation --needs", jobs: []string{"consume-cache"}, needs: true,
		gclOnly: isolation, gclExpect: gclExpect{pipeline: success, status: map[string]string{"produce-cache": success, "consume-cache": success}}}}},

	{dir: "cache-shell-fail", runs: []gclRun{{name: "cache-shell-fail <consume-cache> --shell-isolation --needs", jobs: []string{"consume-cache"}, needs: true,
		gclOnly: isolation, gclExpect: gclExpect{pipeline: success, status: map[string]string{"consume-cache": success},
			lines: map[string][]string{"produce-cache": {"WARNING: cache/**/*: no matching files. Ensure that the artifact path is relative to the working directory"}}}}}},

	{dir: "cache-when", runs: []gclRun{
		{name: "cache:when = on_success", jobs: []string{"on_success_without_error", "on_success_with_error"}, gclOnly: isolation,
			gclExpect: gclExpect{pipeline: failed,
				cacheFiles:   map[string][]string{"on_success_without_error-non_protected": {"cache/file1.txt"}},
				noCacheFiles: map[string][]string{"on_success_with_error-non_protected": {"cache/file1.txt"}}}},
		{name: "cache:when = on_failure", jobs: []string{"on_failure_without_error", "on_failure_with_error"}, gclOnly: isolation,
			gclExpect: gclExpect{pipeline: failed,
				cacheFiles:   map[string][]string{"on_failure_with_error-non_protected": {"cache/file1.txt"}},
				noCacheFiles: map[string][]string{"on_failure_without_error-non_protected": {"cache/file1.txt"}}}},
		{name: "cache:when = always", jobs: []string{"always_without_error", "always_with_error"}, gclOnly: isolation,
			gclExpect: gclExpect{pipeline: failed, cacheFiles: map[string][]string{
				"always_without_error-non_protected": {"cache/file1.txt"}, "always_with_error-non_protected": {"cache/file1.txt"}}}},
	}},

	{dir: "cli-option-variables", runs: []gclRun{
		{name: `cli-option-variables <test-job> --variable "CLI_VAR=hello world"`, jobs: []string{"test-job"},
			variables: []string{"CLI_VAR=hello world", "CLI_VAR_DOT=dotdot", "CLI_MULTILINE=This is a multi\nline string"},
			gclExpect: gclExpect{pipeline: success, lines: map[string][]string{"test-job": {"hello world", "dotdot", "This is a multi", "line string"}}}},
		{name: "cli-option-variables --variable with semicolons in value preserves them", jobs: []string{"test-job"},
			variables: []string{"CLI_VAR=host=db;port=5432", "CLI_VAR_DOT=dotdot", "CLI_MULTILINE=This is a multi\nline string"},
			gclExpect: gclExpect{pipeline: success, lines: map[string][]string{"test-job": {"host=db;port=5432", "dotdot", "This is a multi", "line string"}}}},
	}},

	{dir: "concurrency", runs: []gclRun{
		{name: "--concurrency 1 - should run sequentially", concurrency: 1,
			gclOnly:   "'starting'/'finished' are gitlab-ci-local's lines; kiln exec's progress lines say started and success",
			gclExpect: gclExpect{pipeline: success, check: order("==> one: success", "==> two: started")}},
		{name: "--concurrency not set", gclOnly: "'starting'/'finished' are gitlab-ci-local's lines; kiln exec's progress lines say started and success",
			gclExpect: gclExpect{pipeline: success, check: order("==> two: started", "==> one: success")}},
	}},

	{dir: "coverage", runs: []gclRun{
		{name: "coverage <test-job>", jobs: []string{"test-job"}, gclOnly: format, gclExpect: gclExpect{pipeline: success, check: coverage("test-job", 78.46)}},
		{name: "coverage <import.meta.jest>", jobs: []string{"import.meta.jest"}, gclOnly: format, gclExpect: gclExpect{pipeline: success, check: coverage("import.meta.jest", 97.91)}},
		{name: "coverage <pcre regex>", jobs: []string{"pcre regex"}, gclOnly: format, gclExpect: gclExpect{pipeline: success, check: coverage("pcre regex", 100)}},
	}},

	{dir: "dotenv", runs: []gclRun{{name: "dotenv <test-job>", jobs: []string{"test-job"}, file: "doctor-strange.yml",
		variables: []string{"HELLO=world", "SOME_ACTION=doh"},
		gclOnly:   "the .gitlab-ci-local-env file (gitlab-ci-local's options from a file) and its STATE_DIR; its FILE and VARIABLE values are given here as --file and --variable",
		gclExpect: gclExpect{pipeline: success, lines: map[string][]string{"test-job": {"world", "doh"}}}}}},

	{dir: "duplicated-keys", star: true, runs: []gclRun{
		{name: "duplicated-keys <duplicated-keys>", jobs: []string{"duplicated-keys"},
			differs: "the warning's words: js-yaml's 'duplicated mapping key detected', Kiln's names the duplicated key",
			gclExpect: gclExpect{pipeline: success, contains: []string{"warning:", "variables"},
				seq: map[string][]string{"duplicated-keys": {`$ echo "$FOO"`, "", `$ echo "$BAR"`, "2"}}}},
		{name: "duplicated-keys <duplicated-keys variables overwritten>", jobs: []string{"duplicated-keys variables overwritten"},
			gclExpect: gclExpect{pipeline: success,
				seq: map[string][]string{"duplicated-keys variables overwritten": {`$ echo "$FOO"`, "", `$ echo "$BAR"`, "2"}}}},
		{name: "duplicated-keys <duplicated-keys anchor tag can still be referenced>", jobs: []string{"duplicated-keys anchor tag can still be referenced"},
			gclExpect: gclExpect{pipeline: success,
				seq: map[string][]string{"duplicated-keys anchor tag can still be referenced": {`$ echo "$FOO"`, "1", `$ echo "$BAR"`, "2"}}}},
	}},

	{dir: "environment", star: true, runs: []gclRun{
		{name: "environment <deploy-dev-job>", jobs: []string{"deploy-dev-job"},
			gclOnly:   "'environment: { name: … }' is gitlab-ci-local's line; kiln exec names the environment in the job's progress line",
			gclExpect: gclExpect{pipeline: success, contains: []string{"==> deploy-dev-job: started (stage deploy, environment dev-domain)"}}},
		{name: "environment <deploy-stage-job>", jobs: []string{"deploy-stage-job"},
			gclOnly: "'environment: { name: … }' is gitlab-ci-local's line",
			gclExpect: gclExpect{pipeline: success, contains: []string{"environment Stage Domain)"},
				lines: map[string][]string{"deploy-stage-job": {"stage-domain-ip33nk", "Stage Domain", "http://stage.domain.com", "stop", "production"}}}},
		{name: "environment <deploy-stage-job-with-expansion>", jobs: []string{"deploy-stage-job-with-expansion"},
			gclOnly: "'environment: { name: … }' is gitlab-ci-local's line",
			gclExpect: gclExpect{pipeline: success, contains: []string{"environment stage-domain-foobar-long-string)"},
				lines: map[string][]string{"deploy-stage-job-with-expansion": {"stage-domain-foob-yafktx", "stage-domain-foobar-long-string"}}}},
	}},
}

// notInTree checks that a job never wrote the file into the working tree.
func notInTree(rel string) func(*testing.T, *localrun.Result, string, string) {
	return func(t *testing.T, _ *localrun.Result, _, dir string) {
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(rel))); err == nil {
			t.Errorf("%s appeared in the working tree", rel)
		}
	}
}

// order checks that the output has first before second.
func order(first, second string) func(*testing.T, *localrun.Result, string, string) {
	return func(t *testing.T, _ *localrun.Result, out, _ string) {
		i, j := strings.Index(out, first), strings.Index(out, second)
		if i < 0 || j < 0 || i > j {
			t.Errorf("want %q (at %d) before %q (at %d)", first, i, second, j)
		}
	}
}

// coverage checks a job's coverage.
func coverage(job string, want float64) func(*testing.T, *localrun.Result, string, string) {
	return func(t *testing.T, res *localrun.Result, _, _ string) {
		j, _ := res.Job(job)
		if j.Coverage == nil || *j.Coverage != want {
			t.Errorf("%s's coverage = %v, want %v", job, j.Coverage, want)
		}
	}
}
