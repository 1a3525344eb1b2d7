package localrun_test

// errorWords: these cases' configurations are invalid; kiln exec refuses them before
// any job runs, with GitLab's wording, where gitlab-ci-local has its own.
const errorWords = "the words: kiln exec refuses the configuration with GitLab's message, gitlab-ci-local with its own"

// gclErrorCases are the ★ cases whose configuration GitLab refuses: kiln exec must
// refuse to start, naming the job and what is wrong.
var gclErrorCases = []gclCase{
	{dir: "dependencies-not-found", star: true, runs: []gclRun{{name: "dependencies-not-found", differs: errorWords,
		gclExpect: gclExpect{err: "test-job job: undefined dependency: invalid"}}}},
	{dir: "needs-contains-dependencies", star: true, runs: []gclRun{{name: "needs-contains-dependencies", differs: errorWords,
		gclExpect: gclExpect{err: "jobs:test-job dependencies the two should be part of needs"}}}},
	{dir: "needs-unspecified-job", star: true, runs: []gclRun{{name: "needs-unspecified-job", differs: errorWords,
		gclExpect: gclExpect{err: "test-job job: undefined need: invalid"}}}},
	{dir: "stage-not-found", star: true, runs: []gclRun{{name: "stage-not-found", differs: errorWords,
		gclExpect: gclExpect{err: "test-job job: chosen stage invalid does not exist"}}}},
	{dir: "when", star: true, runs: []gclRun{{name: "when", differs: errorWords,
		gclExpect: gclExpect{err: "when:never can only be used in a rules section or workflow:rules"}}}},
}
