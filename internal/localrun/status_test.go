package localrun

import "testing"

func TestCompositeFollowsGitLabsStatusRules(t *testing.T) {
	m := func(status string, allow bool) member { return member{status, allow} }
	cases := []struct {
		name string
		ms   []member
		dag  bool
		want string
	}{
		{"nothing before the job", nil, false, StatusSuccess},
		{"all passed", []member{m(StatusSuccess, false), m(StatusSuccess, false)}, false, StatusSuccess},
		{"a failure", []member{m(StatusSuccess, false), m(StatusFailed, false)}, false, StatusFailed},
		{"a failure that may fail passes with warnings", []member{m(StatusSuccess, false), m(StatusFailed, true)}, false, StatusSuccess},
		{"skipped jobs do not hold stages back", []member{m(StatusSuccess, false), m(StatusSkipped, false)}, false, StatusSuccess},
		{"only skipped jobs", []member{m(StatusSkipped, false)}, false, StatusSkipped},
		{"a job still running", []member{m(StatusSuccess, false), m(StatusRunning, false)}, false, StatusRunning},
		{"a job not yet processed", []member{m(StatusSuccess, false), m(StatusCreated, false)}, false, StatusRunning},
		{"a blocking manual job", []member{m(StatusSuccess, false), m(StatusManual, false)}, false, StatusManual},
		{"a manual job that may fail is ignored", []member{m(StatusSuccess, false), m(StatusManual, true)}, false, StatusSuccess},
		{"a cancel", []member{m(StatusSuccess, false), m(StatusCanceled, false)}, false, StatusCanceled},
		{"a cancel and a failure", []member{m(StatusCanceled, false), m(StatusFailed, false)}, false, StatusFailed},
		{"a delayed job", []member{m(StatusScheduled, false)}, false, StatusScheduled},
		{"DAG: a need did not run", []member{m(StatusSuccess, false), m(StatusSkipped, false)}, true, StatusSkipped},
		{"DAG: a need is a manual job that may fail", []member{m(StatusManual, true)}, true, StatusSkipped},
		{"DAG: a need is a blocking manual job", []member{m(StatusManual, false)}, true, StatusPending},
		{"DAG: a need still runs", []member{m(StatusRunning, false)}, true, StatusPending},
		{"DAG: a need failed", []member{m(StatusFailed, false)}, true, StatusFailed},
		{"DAG: no needs", nil, true, StatusSuccess},
	}
	for _, c := range cases {
		if got := composite(c.ms, c.dag); got != c.want {
			t.Errorf("%s: composite = %s, want %s", c.name, got, c.want)
		}
	}
}

func TestDecideIsGitLabsProcessingOfACreatedJob(t *testing.T) {
	cases := []struct {
		when string
		dag  bool
		prev string
		want action
	}{
		{"on_success", false, StatusRunning, actWait},
		{"on_success", false, StatusManual, actWait},
		{"on_success", false, StatusSuccess, actRun},
		{"on_success", false, StatusSkipped, actRun},
		{"on_success", true, StatusSkipped, actSkip},
		{"on_success", false, StatusFailed, actSkip},
		{"on_success", false, StatusCanceled, actSkip},
		{"on_failure", false, StatusFailed, actRun},
		{"on_failure", false, StatusSuccess, actSkip},
		{"always", false, StatusFailed, actRun},
		{"always", false, StatusSkipped, actRun},
		{"always", false, StatusCanceled, actSkip},
		{"manual", false, StatusSuccess, actManual},
		{"manual", false, StatusFailed, actSkip},
		{"delayed", false, StatusSuccess, actSchedule},
		{"delayed", true, StatusFailed, actSkip},
	}
	for _, c := range cases {
		if got := decide(c.when, c.dag, c.prev); got != c.want {
			t.Errorf("decide(%s, dag=%v, %s) = %v, want %v", c.when, c.dag, c.prev, got, c.want)
		}
	}
}
