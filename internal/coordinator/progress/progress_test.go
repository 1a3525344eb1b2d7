package progress

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/kiln-ci/kiln/internal/store"
)

// pipe is a pipeline written compactly: one job per entry, "name@stage:status[:when][!]"
// with ! for allow_failure, and DAG needs after "<" separated by commas ("<" alone
// for needs: []).
func pipe(t *testing.T, specs ...string) []Job {
	t.Helper()
	var jobs []Job
	for i, s := range specs {
		var j Job
		j.ID = int64(i + 1)
		if head, needs, ok := strings.Cut(s, "<"); ok {
			s = head
			j.DAG = true
			if needs != "" {
				j.Needs = strings.Split(needs, ",")
			}
		}
		if strings.HasSuffix(s, "!") {
			j.AllowFailure = true
			s = strings.TrimSuffix(s, "!")
		}
		name, rest, _ := strings.Cut(s, "@")
		parts := strings.Split(rest, ":")
		if len(parts) < 2 {
			t.Fatalf("bad job spec %q", s)
		}
		j.Name = name
		fmt.Sscan(parts[0], &j.StageIdx)
		j.Status = store.Status(parts[1])
		if len(parts) > 2 {
			j.When = parts[2]
		}
		jobs = append(jobs, j)
	}
	return jobs
}

// step applies Process once and returns the job statuses as "name=status" in order.
func step(jobs []Job) []string {
	changes := Process(jobs)
	for _, c := range changes {
		for i := range jobs {
			if jobs[i].ID == c.JobID {
				jobs[i].Status = c.To
			}
		}
	}
	var out []string
	for _, j := range jobs {
		out = append(out, j.Name+"="+string(j.Status))
	}
	return out
}

func set(jobs []Job, name string, s store.Status) {
	for i := range jobs {
		if jobs[i].Name == name {
			jobs[i].Status = s
		}
	}
}

func want(t *testing.T, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("statuses:\n got %v\nwant %v", got, want)
	}
}

func TestFirstStageJobsBecomePendingAndLaterStagesWait(t *testing.T) {
	jobs := pipe(t, "build@0:created", "test@1:created", "deploy@2:created")
	want(t, step(jobs), "build=pending", "test=created", "deploy=created")
	set(jobs, "build", store.StatusSuccess)
	want(t, step(jobs), "build=success", "test=pending", "deploy=created")
}

func TestAFailedStageSkipsOnSuccessJobsAndRunsOnFailureAndAlwaysJobs(t *testing.T) {
	jobs := pipe(t, "build@0:failed", "test@1:created", "cleanup@1:created:on_failure", "report@2:created:always")
	want(t, step(jobs), "build=failed", "test=skipped", "cleanup=pending", "report=created")
	set(jobs, "cleanup", store.StatusSuccess)
	want(t, step(jobs), "build=failed", "test=skipped", "cleanup=success", "report=pending")
}

func TestOnFailureJobsAreSkippedWhenEverythingPassed(t *testing.T) {
	jobs := pipe(t, "build@0:success", "notify@1:created:on_failure")
	want(t, step(jobs), "build=success", "notify=skipped")
}

func TestAFailureAllowedToFailCountsAsSuccess(t *testing.T) {
	jobs := pipe(t, "lint@0:failed!", "test@1:created")
	want(t, step(jobs), "lint=failed", "test=pending")
	st, warn := Status(jobs[:1])
	if st != store.StatusSuccess || !warn {
		t.Errorf("status of a failure allowed to fail = %s (warnings %v), want success with warnings", st, warn)
	}
}

func TestManualJobsWaitAndDoNotBlockWhenAllowedToFail(t *testing.T) {
	jobs := pipe(t, "build@0:created", "deploy@1:created:manual!", "after@2:created")
	want(t, step(jobs), "build=pending", "deploy=created", "after=created")
	set(jobs, "build", store.StatusSuccess)
	// The manual job is ignored: the next stage runs in the same pass.
	want(t, step(jobs), "build=success", "deploy=manual", "after=pending")
	set(jobs, "after", store.StatusSuccess)
	if st, _ := Status(jobs); st != store.StatusSuccess {
		t.Errorf("pipeline with an unplayed optional manual job = %s, want success", st)
	}
}

func TestABlockingManualJobHoldsLaterStagesAndThePipelineIsManual(t *testing.T) {
	jobs := pipe(t, "build@0:success", "approve@1:created:manual", "deploy@2:created")
	want(t, step(jobs), "build=success", "approve=manual", "deploy=created")
	want(t, step(jobs), "build=success", "approve=manual", "deploy=created")
	if st, _ := Status(jobs); st != store.StatusManual {
		t.Errorf("pipeline blocked by a manual job = %s, want manual", st)
	}
}

func TestDelayedJobsAreScheduled(t *testing.T) {
	jobs := pipe(t, "build@0:success", "later@1:created:delayed")
	want(t, step(jobs), "build=success", "later=scheduled")
	if st, _ := Status(jobs); st != store.StatusScheduled {
		t.Errorf("pipeline waiting for a delayed job = %s, want scheduled", st)
	}
}

func TestNeedsRunAJobAsSoonAsItsNeedsSucceeded(t *testing.T) {
	jobs := pipe(t, "a@0:created", "slow@0:created", "b@1:created<a", "c@2:created<")
	want(t, step(jobs), "a=pending", "slow=pending", "b=created", "c=pending")
	set(jobs, "a", store.StatusSuccess)
	want(t, step(jobs), "a=success", "slow=pending", "b=pending", "c=pending")
}

func TestADAGJobIsSkippedWhenANeedWasSkippedOrFailed(t *testing.T) {
	jobs := pipe(t, "a@0:skipped", "b@0:failed", "x@1:created<a", "y@1:created<b", "z@1:created:on_failure<b")
	want(t, step(jobs), "a=skipped", "b=failed", "x=skipped", "y=skipped", "z=pending")
}

func TestADAGJobWaitsForANeededManualJobAllowedToFail(t *testing.T) {
	// GitLab skips it; playing the manual job resets it to created (Dependents).
	jobs := pipe(t, "deploy@0:manual:manual!", "smoke@1:created<deploy")
	want(t, step(jobs), "deploy=manual", "smoke=skipped")
	if got := Dependents(jobs, []string{"deploy"}); !slices.Equal(got, []int64{2}) {
		t.Errorf("Dependents = %v, want [2]", got)
	}
}

func TestNeedsWithinAStageAreProcessedInOrder(t *testing.T) {
	jobs := pipe(t, "second@0:created<first", "first@0:created<")
	want(t, step(jobs), "second=created", "first=pending")
	set(jobs, "first", store.StatusFailed)
	want(t, step(jobs), "second=skipped", "first=failed")
}

func TestAnOptionalNeedThatWasNotCreatedIsIgnored(t *testing.T) {
	jobs := pipe(t, "b@1:created<missing")
	want(t, step(jobs), "b=pending")
}

func TestCanceledPredecessorsSkipAlwaysJobs(t *testing.T) {
	jobs := pipe(t, "build@0:canceled", "always@1:created:always")
	want(t, step(jobs), "build=canceled", "always=skipped")
}

func TestPipelineStatus(t *testing.T) {
	for _, tc := range []struct {
		jobs []string
		want store.Status
	}{
		{[]string{"a@0:created", "b@1:created"}, store.StatusCreated},
		{[]string{"a@0:pending", "b@1:created"}, store.StatusPending},
		{[]string{"a@0:running", "b@1:created"}, store.StatusRunning},
		{[]string{"a@0:success", "b@1:created"}, store.StatusRunning},
		{[]string{"a@0:success", "b@1:success"}, store.StatusSuccess},
		{[]string{"a@0:success", "b@1:skipped"}, store.StatusSuccess},
		{[]string{"a@0:skipped", "b@1:skipped"}, store.StatusSkipped},
		{[]string{"a@0:failed", "b@1:skipped"}, store.StatusFailed},
		{[]string{"a@0:failed!", "b@1:success"}, store.StatusSuccess},
		{[]string{"a@0:canceled", "b@1:success"}, store.StatusCanceled},
		{[]string{"a@0:canceled", "b@1:failed"}, store.StatusFailed},
		{[]string{"a@0:canceling", "b@1:canceled"}, store.StatusCanceling},
		{[]string{"a@0:success", "b@1:manual:manual"}, store.StatusManual},
		{[]string{"a@0:success", "b@1:scheduled:delayed"}, store.StatusScheduled},
	} {
		st, _ := Status(pipe(t, tc.jobs...))
		if st != tc.want {
			t.Errorf("Status(%v) = %s, want %s", tc.jobs, st, tc.want)
		}
	}
}

func TestEffectiveAllowFailureFollowsExitCodes(t *testing.T) {
	code := func(c int) *int { return &c }
	for _, tc := range []struct {
		job  store.Job
		want bool
	}{
		{store.Job{AllowFailure: true}, true},
		{store.Job{AllowFailure: false}, false},
		{store.Job{AllowFailure: true, AllowFailureExitCodes: []int{137, 255}, ExitCode: code(137)}, true},
		{store.Job{AllowFailure: true, AllowFailureExitCodes: []int{137, 255}, ExitCode: code(1)}, false},
		{store.Job{AllowFailure: true, AllowFailureExitCodes: []int{137}}, false},
	} {
		if got := EffectiveAllowFailure(&tc.job); got != tc.want {
			t.Errorf("EffectiveAllowFailure(%+v) = %v, want %v", tc.job, got, tc.want)
		}
	}
}

func TestDependentsFollowStagesAndNeeds(t *testing.T) {
	jobs := pipe(t, "build@0:failed", "test@1:skipped", "deploy@2:skipped", "other@0:success", "dag@1:skipped<other")
	got := Dependents(jobs, []string{"build"})
	if !slices.Equal(got, []int64{2, 3}) {
		t.Errorf("Dependents(build) = %v, want [2 3] (later stages, not the DAG job needing another)", got)
	}
}
