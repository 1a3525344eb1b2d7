package localrun_test

// gitlab-ci-local's cases that need containers run on the real Docker executor. There
// is no registry here: a case's image is mapped to one built by scripts/test-images.sh
// (busybox, Debian) only where the image is not essential to what the case asserts
// (a shell, coreutils, ping); cases whose images are the point (dind, nginx and redis
// services queried with dnsutils' host, kaniko, images with their own entrypoint or
// user ids) are skipped, saying so.

import (
	"testing"

	"github.com/kiln-ci/kiln/internal/localrun"
)

// Image mappings.
var (
	alpineToBusybox = map[string]string{"docker.io/library/alpine": busyboxImage, "alpine": busyboxImage, "busybox": busyboxImage}
	toBusybox       = map[string]string{"busybox": busyboxImage}
)

const (
	mapped      = "its image is mapped to a locally built one (no registry here): the image is not essential to what is asserted"
	essential   = "its images are essential to what it asserts and cannot be built here without a registry"
	gclDockerOp = "about a gitlab-ci-local option for containers only"
)

var gclDockerCases = []gclCase{
	{dir: "after-script", docker: true, images: map[string]string{"busybox": debianImage}, runs: []gclRun{
		{name: "after-script <test-job>", jobs: []string{"test-job"}, gclOnly: mapped,
			differs: "gitlab-ci-local runs script and after_script in one container, so /tmp/cache is still there; GitLab's runner " +
				"starts a new container for after_script: `rm /tmp/cache` fails, after_script stops there with a warning and the job passes",
			gclExpect: gclExpect{pipeline: success, noLines: map[string][]string{"test-job": {"Cleanup after test"}},
				lines: map[string][]string{"test-job": {"Test something", "WARNING: after_script failed, but job will continue unaffected: exit code 1"}}}},
		{name: "after-script <build-job> (default)", jobs: []string{"build-job"}, gclOnly: mapped,
			gclExpect: gclExpect{pipeline: success, lines: map[string][]string{"build-job": {"Build something", "Cleanup after test"}}}},
		{name: "after-script <deploy-job>", jobs: []string{"deploy-job"}, gclOnly: mapped,
			gclExpect: gclExpect{pipeline: success, lines: map[string][]string{"deploy-job": {"running", "success"}}}},
		{name: "after-script <post-job>", jobs: []string{"post-job"}, gclOnly: mapped,
			gclExpect: gclExpect{pipeline: failed, lines: map[string][]string{"post-job": {"failed"}}}},
	}},

	{dir: "artifacts-docker", docker: true, images: alpineToBusybox, runs: []gclRun{{name: "artifacts-docker <consume artifacts> --needs",
		jobs: []string{"consume artifacts 🏗️"}, needs: true, gclOnly: mapped + "; gitlab-ci-local's artifacts folder",
		gclExpect: gclExpect{pipeline: success, status: map[string]string{"consume artifacts 🏗️": success},
			lines: map[string][]string{"produce artifacts 📝": {"CI_PROJECT_DIR=/builds/gcl/test-project"}},
			artifacts: map[string][]string{"produce artifacts 📝": {"file2", "path/to/deep/folder/file3",
				"another-path/to/deep/empty-folder"}}}}}},

	{dir: "artifacts-docker-readonly-permissions", docker: true, images: toBusybox, runs: []gclRun{{
		name:      "artifacts-docker-readonly-permissions should successfully export artifacts with read-only directories",
		gclOnly:   mapped + "; 'exported artifacts' is gitlab-ci-local's line",
		gclExpect: gclExpect{pipeline: success, artifacts: map[string][]string{"produce-artifacts": {"readonly-dir/subdir/file.txt"}}}}}},

	{dir: "artifacts-dotenv", docker: true, images: alpineToBusybox,
		replace: map[string]string{"BUILD_IMAGE_REF=alpine": "BUILD_IMAGE_REF=" + debianImage}, runs: []gclRun{
			{name: "artifacts-dotenv <use-image-ref> --needs", jobs: []string{"use-image-ref"}, needs: true,
				gclOnly: mapped + " (the image the dotenv report names, too: the local Debian image, which has /etc/os-release)",
				gclExpect: gclExpect{pipeline: success, status: map[string]string{"build-image-ref": success, "use-image-ref": success},
					lines: map[string][]string{"use-image-ref": {`PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"`}}}},
			{name: "artifacts-dotenv <use-service-ref> --needs", skip: essential + " (a redis service queried with dnsutils' host)"},
		}},

	{dir: "artifacts-reports-dotenv", docker: true, images: alpineToBusybox, runs: []gclRun{
		{name: "artifacts-reports-dotenv <deploy-image> --needs", jobs: []string{"deploy-image"}, needs: true, gclOnly: mapped,
			gclExpect: gclExpect{pipeline: success, status: map[string]string{"build-image": success, "deploy-image": success}}},
	}},

	{dir: "artifacts-with-cache", docker: true, images: alpineToBusybox, runs: []gclRun{{name: "artifacts-with-cache <test-job> --needs",
		jobs: []string{"test-job"}, needs: true, gclOnly: mapped + "; --mount-cache (gitlab-ci-local's cache volumes)",
		gclExpect: gclExpect{pipeline: success, status: map[string]string{"pre-job": success, "test-job": success}}}}},

	{dir: "cache-docker", docker: true, images: toBusybox, runs: []gclRun{{name: "cache-docker",
		gclOnly: mapped + "; gitlab-ci-local's cache folder",
		differs: "gitlab-ci-local counts 'found N artifact files'; GitLab's runner says 'found N matching artifact files and directories', " +
			"and for .cache/** GitLab counts 7 (the directory is matched and walked, and its files matched again; gitlab-ci-local's note), " +
			"which is not asserted here. The runner's own words for /tmp, outside the project, differ from gitlab-runner's",
		gclExpect: gclExpect{pipeline: success, status: map[string]string{"consume-cache": success},
			lines: map[string][]string{"produce-cache": {
				".cache: found 4 matching artifact files and directories",
				".cache/: found 4 matching artifact files and directories",
				".cache/*: found 3 matching artifact files and directories",
				".cache2/*/bar: found 4 matching artifact files and directories",
				".cache2/**/bar: found 4 matching artifact files and directories",
				"WARNING: .cache3: no matching files. Ensure that the artifact path is relative to the working directory",
				"WARNING: /tmp: path is outside the project directory and is ignored"}},
			cacheFiles:   map[string][]string{"maven-non_protected": {".cache/.hiddenfile", ".cache2/foo/bar/file2"}},
			noCacheFiles: map[string][]string{"maven-non_protected": {".cache2/a", ".cache2/foo/bazz/a"}}}}}},

	{dir: "cache-docker-readonly-permissions", docker: true, images: toBusybox, runs: []gclRun{{
		name: "cache-docker-readonly-permissions should successfully export cache with read-only directories", gclOnly: mapped,
		gclExpect: gclExpect{pipeline: success, cacheFiles: map[string][]string{"default-non_protected": {".readonly-cache/subdir/file.txt"}}}}}},

	{dir: "cache-key-prefix", docker: true, images: toBusybox, runs: []gclRun{
		{name: "cache-key-prefix should produce prepand a string to the cache keys", file: ".gitlab-ci-1.yml",
			gclOnly: mapped + "; gitlab-ci-local's key digest of files that do not exist (GitLab's key is then <prefix>-default)",
			gclExpect: gclExpect{pipeline: success, contains: []string{"cached/: found 2 matching artifact files and directories",
				"Creating cache production-default-non_protected...", "Creating cache development-default-non_protected..."}}},
		{name: "cache-key-prefix should support variable expansion", file: ".gitlab-ci-2.yml", gclOnly: mapped,
			gclExpect: gclExpect{pipeline: success, contains: []string{"Creating cache rspec-default-non_protected..."}}},
	}},

	{dir: "hang-forever", docker: true, images: map[string]string{"docker.io/library/debian:stable-slim": debianImage, "docker.io/library/alpine": busyboxImage}, runs: []gclRun{
		{name: "hang-forever <test-debian>", jobs: []string{"test-debian"}, gclOnly: mapped,
			gclExpect: gclExpect{pipeline: success, lines: map[string][]string{"test-debian": {"File content"}}}},
		{name: "hang-forever <test-alpine>", jobs: []string{"test-alpine"}, gclOnly: mapped,
			gclExpect: gclExpect{pipeline: success, lines: map[string][]string{"test-alpine": {"File content"}}}},
	}},

	{dir: "image", docker: true, images: map[string]string{"alpine": debianImage}, runs: []gclRun{
		{name: "image <test job>", jobs: []string{"test job"}, variables: []string{"DEBIAN_IMAGE_URL=" + debianImage},
			gclOnly: "its .gitlab-ci-local-variables.yml (a gitlab-ci-local file) gives DEBIAN_IMAGE_URL, given here as --variable naming the local Debian image; " +
				"GCL_PROJECT_DIR_ON_HOST is gitlab-ci-local's own variable",
			gclExpect: gclExpect{pipeline: success, lines: map[string][]string{"test job": {"Test something "}}}},
		{name: "image <image-user>", jobs: []string{"image-user"}, gclOnly: mapped,
			gclExpect: gclExpect{pipeline: success, lines: map[string][]string{"image-user": {"65534"}}}},
		{name: "image <image-platform>", jobs: []string{"image-platform"}, gclOnly: mapped + "; the 'pulled' line (no registry here)",
			gclExpect: gclExpect{pipeline: success, lines: map[string][]string{"image-platform": {"x86_64"}}}},
		{name: "no variable substitution in entrpoint", jobs: []string{"image-entrypoint-with-variables"}, gclOnly: mapped,
			gclExpect: gclExpect{pipeline: success, lines: map[string][]string{"image-entrypoint-with-variables": {"success"}}}},
		{name: "pull invalid image", file: ".gitlab-ci-invalid-image.yml",
			differs:   "gitlab-ci-local stops with the pull command's error; on GitLab the job fails with failure reason image_pull_failure",
			gclExpect: gclExpect{pipeline: failed, check: failureReason("test-job", "image_pull_failure")}},
		{name: "image <test-entrypoint>", skip: essential + " (firecow/gitlab-ci-local-test-image's entrypoint)"},
		{name: "image <test-entrypoint-override>", skip: essential + " (an image whose entrypoint exits)"},
		{name: "image <test-from-scratch>", skip: essential + " (kaniko)"},
		{name: "image <issue-206>", skip: essential + " (hugo)"},
		{name: "image <test-ignore-regression>", skip: essential + " (firecow/gitlab-ci-local-test-image's entrypoint)"},
	}},

	{dir: "network-alias-build", docker: true, images: alpineToBusybox,
		replace: map[string]string{"services: [docker.io/library/alpine]": "services: [" + busyboxImage + "]"}, runs: []gclRun{
			{name: "succesfull-ping", jobs: []string{"test-job"}, gclOnly: mapped + "; " + format,
				gclExpect: gclExpect{pipeline: success, status: map[string]string{"test-job": success}}},
			{name: "unsuccesfull-ping", jobs: []string{"test-job-failure"}, gclOnly: mapped,
				gclExpect: gclExpect{pipeline: failed, lines: map[string][]string{"test-job-failure": {"failed"}}}},
		}},

	{dir: "inherit", docker: true, images: toBusybox, runs: []gclRun{
		{name: "inherit:variables list of specific variables should only inheritance the respective global variables (docker)",
			file: ".gitlab-ci-inherit-variables.yml", jobs: []string{"job2"}, gclOnly: mapped,
			gclExpect: gclExpect{pipeline: success, exact: []exactLines{{job: "job2", prefix: "GCL_TESTS", sorted: true,
				want: []string{"GCL_TESTS_VAR1=This is variable 1", "GCL_TESTS_VAR2=This is variable 2"}}}}},
	}},

	{dir: "predefined-variables", docker: true, images: toBusybox, remote: "git@gitlab.com:GCL/predefined-variables.git", runs: []gclRun{
		{name: "predefined-variables normal (docker)", jobs: []string{"test-job"}, gclOnly: mapped,
			gclExpect: gclExpect{pipeline: success, lines: map[string][]string{"test-job": {"CI_BUILDS_DIR=/builds",
				"CI_PROJECT_DIR=/builds/GCL/predefined-variables", "CI_JOB_NAME=test-job", "CI_PROJECT_PATH=GCL/predefined-variables",
				"CI_DISPOSABLE_ENVIRONMENT=true"}}}},
	}},

	{dir: "script-failures", docker: true, images: map[string]string{"nginx:alpine": busyboxImage}, runs: []gclRun{
		{name: "script-failures <rules:allow_failure precedence> (docker)", jobs: []string{"rules:allow_failure precedence"}, gclOnly: mapped,
			gclExpect: gclExpect{pipeline: failed, allowFailures: map[string]bool{"rules:allow_failure precedence": false},
				check: exitStatus("rules:allow_failure precedence", 137)}},
	}},

	{dir: "variable-expansion", docker: true, images: map[string]string{"alpine": busyboxImage, "nginx": busyboxImage, "busybox": busyboxImage}, runs: []gclRun{
		{name: "variable-expansion <docker-executor variables with '> (docker)", jobs: []string{"docker-executor variables with '"}, gclOnly: mapped,
			gclExpect: gclExpect{pipeline: success, seq: map[string][]string{"docker-executor variables with '": {
				"$ echo $CI_JOB_NAME", "docker-executor variables with '"}}}},
		{name: "should expand variables referencing dotenv artifact variables (docker)", file: ".gitlab-ci-3.yml", gclOnly: mapped,
			gclExpect: gclExpect{pipeline: success, seq: map[string][]string{"job2": {"$ echo $REF", "latest"}}}},
	}},

	{dir: "services", runs: []gclRun{{name: "services", skip: essential + " (nginx, redis and mysql services queried with dnsutils' host)"}}},
	{dir: "dind-no-tls", runs: []gclRun{{name: "dind-no-tls", skip: essential + " (docker:dind, privileged)"}}},
	{dir: "dind-tls", runs: []gclRun{{name: "dind-tls", skip: essential + " (docker:dind, privileged)"}}},
	{dir: "umask", runs: []gclRun{{name: "umask", skip: "about gitlab-ci-local's --umask option, with images whose user ids are the point"}}},
	{dir: "dependency-proxy", runs: []gclRun{{name: "dependency-proxy", skip: "needs GitLab's dependency proxy and registry logins"}}},
	{dir: "cache-docker-mount", runs: []gclRun{{name: "cache-docker-mount", skip: gclDockerOp + " (--mount-cache)"}}},
	{dir: "cache-docker-mount-globstar", runs: []gclRun{{name: "cache-docker-mount-globstar", skip: gclDockerOp + " (--mount-cache)"}}},
	{dir: "container-executable", runs: []gclRun{{name: "container-executable", skip: gclDockerOp + " (--container-executable)"}}},
	{dir: "custom-ca-cert", runs: []gclRun{{name: "custom-ca-cert", skip: gclDockerOp + " (--ca-file)"}}},
	{dir: "extra-host", runs: []gclRun{{name: "extra-host", skip: gclDockerOp + " (--extra-host)"}}},
	{dir: "gitlab-runner-emulation", runs: []gclRun{{name: "gitlab-runner-emulation", skip: gclDockerOp + " (--container-emulate)"}}},
	{dir: "interactive-image", runs: []gclRun{{name: "interactive-image", skip: gclDockerOp + " (@Interactive)"}}},
	{dir: "local-registry", runs: []gclRun{{name: "local-registry", skip: gclDockerOp + " (--registry)"}}},
	{dir: "mac-address", runs: []gclRun{{name: "mac-address", skip: gclDockerOp + " (--container-mac-address)"}}},
	{dir: "network-arg", runs: []gclRun{{name: "network-arg", skip: gclDockerOp + " (--network)"}}},
	{dir: "pull-policy", runs: []gclRun{{name: "pull-policy", skip: gclDockerOp + " (--pull-policy)"}}},
	{dir: "shm-size", runs: []gclRun{{name: "shm-size", skip: gclDockerOp + " (--shm-size)"}}},
}

// failureReason checks a job's failure reason.
func failureReason(job, want string) func(*testing.T, *localrun.Result, string, string) {
	return func(t *testing.T, res *localrun.Result, _, _ string) {
		if j, _ := res.Job(job); j.Status != failed || j.FailureReason != want {
			t.Errorf("%s: status %s, failure reason %q; want failed, %q", job, j.Status, j.FailureReason, want)
		}
	}
}

// exitStatus checks a failed job's exit code.
func exitStatus(job string, want int) func(*testing.T, *localrun.Result, string, string) {
	return func(t *testing.T, res *localrun.Result, _, _ string) {
		if j, _ := res.Job(job); j.ExitCode != want {
			t.Errorf("%s: exit code %d, want %d", job, j.ExitCode, want)
		}
	}
}
