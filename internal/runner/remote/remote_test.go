package remote_test

import (
	"context"
	"fmt"
	"hash/crc32"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/executor/shell"
	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/protocol/protocoltest"
	"github.com/kiln-ci/kiln/internal/runner"
	"github.com/kiln-ci/kiln/internal/runner/remote"
)

type env struct {
	t      *testing.T
	server *protocoltest.Server
	runner *protocoltest.Runner
	client *protocol.Client
	lc     *runner.Lifecycle
}

func newEnv(t *testing.T) *env {
	t.Helper()
	s := protocoltest.New(t, protocoltest.Options{})
	r := s.AddRunner("glrt-remote-test-token")
	c, err := protocol.NewClient(protocol.ClientConfig{URL: s.URL, Retry: protocol.RetryPolicy{Base: time.Millisecond, Max: 20 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	lc, err := runner.NewLifecycle(runner.Config{Name: "remote-test", Token: r.Token, SystemID: "s_0123456789ab",
		Executor: shell.New(shell.Config{}), BuildsDir: t.TempDir(), CacheDir: t.TempDir(),
		BaseEnvironment: []string{"PATH=" + os.Getenv("PATH")}, Grace: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, server: s, runner: r, client: c, lc: lc}
}

func job(script []string, after ...string) jobspec.Job {
	j := jobspec.Job{
		JobInfo:   jobspec.JobInfo{Name: "test", Stage: "test", ProjectID: 1},
		Variables: jobspec.Variables{{Key: "GIT_STRATEGY", Value: "none"}},
		Steps:     []jobspec.Step{{Name: "script", Script: script}},
	}
	if len(after) > 0 {
		j.Steps = append(j.Steps, jobspec.Step{Name: "after_script", Script: after, When: "always"})
	}
	return j
}

// hooks steer one run.
type hooks struct {
	beforeRequest func(id int64) // after Enqueue, before the runner takes the job
	afterStart    func(id int64) // after the running PUT
	tweak         func(*remote.Config)
}

// run enqueues spec, takes it as a runner would and runs it through the lifecycle.
func (e *env) run(spec jobspec.Job, h hooks) (runner.Outcome, protocoltest.Job) {
	e.t.Helper()
	id := e.server.Enqueue(spec)
	if h.beforeRequest != nil {
		h.beforeRequest(id)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	j, err := e.client.RequestJob(ctx, protocol.JobRequest{Token: e.runner.Token})
	if err != nil || j == nil {
		e.t.Fatalf("RequestJob: %v %v", j, err)
	}
	jobCtx, abort := context.WithCancelCause(ctx)
	defer abort(nil)
	cfg := remote.Config{Client: e.client, Info: protocol.Info{Name: "kiln-runner"}, Job: j, Abort: abort,
		TraceDir: e.t.TempDir(), UpdateInterval: 30 * time.Millisecond,
		FinalBackoff: protocol.RetryPolicy{Base: time.Millisecond, Max: 10 * time.Millisecond}}
	if h.tweak != nil {
		h.tweak(&cfg)
	}
	ch, err := remote.Start(ctx, cfg)
	if err != nil {
		e.t.Fatalf("remote.Start: %v", err)
	}
	if h.afterStart != nil {
		h.afterStart(id)
	}
	o := e.lc.Run(jobCtx, j, runner.Slot{}, ch)
	rec, _ := e.server.Job(id)
	return o, rec
}

func (e *env) requests(method, suffix string) []protocoltest.Request {
	var out []protocoltest.Request
	for _, r := range e.server.Requests() {
		if r.Method == method && strings.HasSuffix(r.Path, suffix) {
			out = append(out, r)
		}
	}
	return out
}

func checksum(b []byte) string { return fmt.Sprintf("crc32:%08x", crc32.ChecksumIEEE(b)) }

func TestWholeJobFlowOverHTTP(t *testing.T) {
	e := newEnv(t)
	spec := job([]string{"mkdir -p out", "echo hello > out/a.txt", "echo done"})
	spec.Artifacts = []jobspec.Artifact{{Name: "build-out", Paths: []string{"out/"}, When: "on_success", ArtifactType: "archive", ArtifactFormat: "zip", ExpireIn: "1 day"}}
	o, rec := e.run(spec, hooks{})
	if o.Kind != runner.Success || rec.State != protocol.StateSuccess {
		t.Fatalf("outcome %+v, server state %s\n%s", o, rec.State, rec.Trace)
	}
	if !rec.ChecksumOK || rec.TraceMismatch != 0 {
		t.Errorf("final PUT checksum/bytesize did not match the stored trace (%d mismatches)", rec.TraceMismatch)
	}
	if rec.Final.Output.Checksum != checksum(rec.Trace) || rec.Final.Output.Bytesize != int64(len(rec.Trace)) || rec.Final.Checksum != rec.Final.Output.Checksum {
		t.Errorf("final output %+v for a %d-byte trace", rec.Final.Output, len(rec.Trace))
	}
	if !strings.HasSuffix(string(rec.Trace), "Job succeeded\x1b[0;m\n") || !strings.Contains(string(rec.Trace), "\ndone\n") {
		t.Errorf("trace:\n%s", rec.Trace)
	}
	if len(rec.Artifacts) != 1 || rec.Artifacts[0].FileName != "build-out.zip" || rec.Artifacts[0].ExpireIn != "1 day" {
		t.Errorf("artifacts %+v", rec.Artifacts)
	}
	// Order: running PUT first, final PUT last, every PATCH between with Content-Range.
	var seq []string
	for _, r := range e.server.Requests() {
		if strings.Contains(r.Path, "/jobs/"+strconv.FormatInt(rec.Spec.ID, 10)) {
			seq = append(seq, r.Method)
		}
	}
	if seq[0] != http.MethodPut || seq[len(seq)-1] != http.MethodPut {
		t.Errorf("request order %v", seq)
	}
	if first := rec.Updates[0]; first.State != protocol.StateRunning {
		t.Errorf("first update %+v, want state running", first)
	}
	var offset int64
	for _, p := range e.requests(http.MethodPatch, "/trace") {
		want := fmt.Sprintf("%d-%d", offset, offset+int64(p.BodyLen)-1)
		if p.Header.Get("Content-Range") != want || p.Header.Get("Job-Token") != rec.Spec.Token {
			t.Errorf("patch Content-Range %q, want %q", p.Header.Get("Content-Range"), want)
		}
		offset += int64(p.BodyLen)
	}
}

func TestDebugTraceIsSaidOnEveryPatch(t *testing.T) {
	e := newEnv(t)
	spec := job([]string{"echo traced"})
	spec.Variables = append(spec.Variables, jobspec.Variable{Key: "CI_DEBUG_TRACE", Value: "true"})
	o, rec := e.run(spec, hooks{})
	if o.Kind != runner.Success || !strings.Contains(string(rec.Trace), "+ echo traced") {
		t.Fatalf("outcome %+v; set -x output missing:\n%s", o, rec.Trace)
	}
	for _, p := range e.requests(http.MethodPatch, "/trace") {
		if p.Query != "debug_trace=true" {
			t.Errorf("patch query %q", p.Query)
		}
	}
}

func TestTraceRangeMismatchIsResentFromTheServersOffset(t *testing.T) {
	e := newEnv(t)
	o, rec := e.run(job([]string{"echo one", "sleep 0.3", "echo two"}), hooks{beforeRequest: func(id int64) {
		e.server.Inject(protocoltest.Fault{Method: http.MethodPatch, Path: fmt.Sprintf("/api/v4/jobs/%d/trace", id),
			Status: 416, Header: map[string]string{"Range": "0-0"}})
	}})
	if o.Kind != runner.Success || !rec.ChecksumOK {
		t.Fatalf("outcome %+v, checksum ok %v", o, rec.ChecksumOK)
	}
	patches := e.requests(http.MethodPatch, "/trace")
	if patches[0].Status != 416 || !strings.HasPrefix(patches[1].Header.Get("Content-Range"), "0-") {
		t.Errorf("after a forced 416 with Range 0-0 the next patch was %q", patches[1].Header.Get("Content-Range"))
	}
	if strings.Count(string(rec.Trace), "Running with kiln") != 1 {
		t.Errorf("stored trace duplicated or lost its start:\n%s", rec.Trace)
	}
}

func TestCancelViaJobStatusRunsAfterScriptAsCanceledAndReportsFailed(t *testing.T) {
	e := newEnv(t)
	ids := make(chan int64, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		id := <-ids
		e.server.Wait(ctx, id, func(j protocoltest.Job) bool { return strings.Contains(string(j.Trace), "started") })
		e.server.Cancel(id)
	}()
	o, rec := e.run(job([]string{"echo started", "sleep 60"}, `echo "after: $CI_JOB_STATUS"`), hooks{beforeRequest: func(i int64) { ids <- i }, tweak: quietTouch})
	if o.Kind != runner.Canceled {
		t.Fatalf("outcome %+v", o)
	}
	if rec.State != protocol.StateCanceled || rec.Final.State != protocol.StateFailed || rec.Final.FailureReason != protocol.FailureUnknown {
		t.Errorf("server state %s, final %+v; want canceled after a failed/unknown_failure PUT", rec.State, rec.Final)
	}
	if !strings.Contains(string(rec.Trace), "after: canceled") || !rec.ChecksumOK {
		t.Errorf("trace (checksum ok %v):\n%s", rec.ChecksumOK, rec.Trace)
	}
}

func TestCanceledJobStatusAbortsWithoutAfterScript(t *testing.T) {
	e := newEnv(t)
	ids := make(chan int64, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		id := <-ids
		e.server.Wait(ctx, id, func(j protocoltest.Job) bool { return strings.Contains(string(j.Trace), "started") })
		e.server.Abort(id)
	}()
	start := time.Now()
	o, rec := e.run(job([]string{"echo started", "sleep 60"}, "echo AFTER-RAN"), hooks{beforeRequest: func(i int64) { ids <- i }, tweak: quietTouch})
	if o.Kind != runner.Canceled || !strings.Contains(o.Message, "aborted") {
		t.Fatalf("outcome %+v", o)
	}
	if time.Since(start) > 20*time.Second {
		t.Errorf("abort took %v", time.Since(start))
	}
	if strings.Contains(string(rec.Trace), "AFTER-RAN") {
		t.Error("after_script ran after an abort")
	}
}

// quietTouch makes a quiet job's touch PUT (which carries Job-Status) come quickly;
// gitlab-runner's 30 s would make a quiet job notice a cancel only that late.
func quietTouch(c *remote.Config) { c.ForceSendInterval = 200 * time.Millisecond }

func finalUpdates(rec protocoltest.Job) int {
	n := 0
	for _, u := range rec.Updates {
		if u.State != protocol.StateRunning {
			n++
		}
	}
	return n
}

func TestTraceResetAfter412ResendsTheWholeTrace(t *testing.T) {
	e := newEnv(t)
	o, rec := e.run(job([]string{"echo payload-line"}), hooks{
		afterStart: func(id int64) {
			e.server.Inject(protocoltest.Fault{Method: http.MethodPut, Path: fmt.Sprintf("/api/v4/jobs/%d", id), Status: 412, ResetTrace: true})
		},
	})
	if o.Kind != runner.Success || rec.State != protocol.StateSuccess || !rec.ChecksumOK {
		t.Fatalf("outcome %+v, server %s, checksum ok %v", o, rec.State, rec.ChecksumOK)
	}
	if n := finalUpdates(rec); n != 1 {
		t.Errorf("%d final updates recorded past the fault, want 1", n)
	}
	patches := e.requests(http.MethodPatch, "/trace")
	last := patches[len(patches)-1]
	if !strings.HasPrefix(last.Header.Get("Content-Range"), "0-") || strings.Count(string(rec.Trace), "payload-line\n") != 1 {
		t.Errorf("after the 412 the trace was not resent from 0 (last Content-Range %q):\n%s", last.Header.Get("Content-Range"), rec.Trace)
	}
}

func TestTwoPhaseCommitRepeatsTheFinalUpdate(t *testing.T) {
	e := newEnv(t)
	o, rec := e.run(job([]string{"echo hi"}), hooks{afterStart: func(id int64) {
		e.server.Inject(protocoltest.Fault{Method: http.MethodPut, Path: fmt.Sprintf("/api/v4/jobs/%d", id), Status: 202, Times: 2})
	}})
	if o.Kind != runner.Success || rec.State != protocol.StateSuccess || !rec.ChecksumOK {
		t.Fatalf("outcome %+v, server %s", o, rec.State)
	}
	puts := e.requests(http.MethodPut, fmt.Sprintf("/jobs/%d", rec.Spec.ID))
	if n := len(puts); n != 4 { // running + 202 + 202 + 200
		t.Errorf("%d PUTs, want 4", n)
	}
}

func TestRetriesServerErrorsOnTraceAndFinalUpdate(t *testing.T) {
	e := newEnv(t)
	o, rec := e.run(job([]string{"echo hi"}), hooks{afterStart: func(id int64) {
		e.server.Inject(protocoltest.Fault{Method: http.MethodPatch, Path: fmt.Sprintf("/api/v4/jobs/%d/trace", id), Status: 502, Times: 7})
		e.server.Inject(protocoltest.Fault{Method: http.MethodPut, Path: fmt.Sprintf("/api/v4/jobs/%d", id), Status: 503, Times: 6})
	}})
	if o.Kind != runner.Success || rec.State != protocol.StateSuccess || !rec.ChecksumOK {
		t.Fatalf("outcome %+v, server %s, checksum ok %v", o, rec.State, rec.ChecksumOK)
	}
}

func TestQuietJobIsTouchedAndNoticesCancelThroughIt(t *testing.T) {
	e := newEnv(t)
	ids := make(chan int64, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		id := <-ids
		e.server.Wait(ctx, id, func(j protocoltest.Job) bool {
			n := 0
			for _, u := range j.Updates {
				if u.State == protocol.StateRunning && u.Output.Bytesize > 0 {
					n++
				}
			}
			return n >= 2
		})
		e.server.Cancel(id)
	}()
	o, rec := e.run(job([]string{"echo started", "sleep 60"}), hooks{
		beforeRequest: func(i int64) { ids <- i },
		tweak:         func(c *remote.Config) { c.ForceSendInterval = 100 * time.Millisecond },
	})
	if o.Kind != runner.Canceled {
		t.Fatalf("outcome %+v", o)
	}
	touch := rec.Updates[1]
	if touch.State != protocol.StateRunning || touch.Output.Checksum == "" || touch.Output.Bytesize == 0 {
		t.Errorf("touch update %+v", touch)
	}
}

func TestRunningUpdateAnsweredCancelingFailsTheJobAtOnce(t *testing.T) {
	e := newEnv(t)
	o, rec := e.run(job([]string{"echo SHOULD-NOT-RUN"}), hooks{beforeRequest: func(id int64) {
		e.server.Inject(protocoltest.Fault{Method: http.MethodPut, Path: fmt.Sprintf("/api/v4/jobs/%d", id), Status: 200, JobStatus: "canceling"})
	}})
	if o.Kind != runner.Canceled || strings.Contains(string(rec.Trace), "SHOULD-NOT-RUN\n") {
		t.Errorf("outcome %+v\n%s", o, rec.Trace)
	}
}

func TestStartDropsAJobTheCoordinatorNoLongerHas(t *testing.T) {
	e := newEnv(t)
	id := e.server.Enqueue(job([]string{"true"}))
	j, _ := e.client.RequestJob(context.Background(), protocol.JobRequest{Token: e.runner.Token})
	e.server.Abort(id)
	e.server.Inject(protocoltest.Fault{Method: http.MethodPut, Path: fmt.Sprintf("/api/v4/jobs/%d", id), Status: 403})
	_, err := remote.Start(context.Background(), remote.Config{Client: e.client, Job: j})
	if err != remote.ErrJobGone {
		t.Errorf("Start = %v, want ErrJobGone", err)
	}
}

func TestFailureReasonIsMappedToWhatTheCoordinatorAccepts(t *testing.T) {
	e := newEnv(t)
	spec := job([]string{"exit 4"})
	_, rec := e.run(spec, hooks{})
	if rec.Final.FailureReason != protocol.FailureScript || rec.Final.ExitCode != 4 || rec.Final.Kiln == nil || rec.Final.Kiln.Message != "exit code 4" {
		t.Errorf("final %+v", rec.Final)
	}
	for reason, accepted := range map[string][]string{
		protocol.FailureImagePull:        nil,
		protocol.FailureOutOfMemory:      nil,
		protocol.FailureCUDAIncompatible: nil,
	} {
		got := protocol.MapFailureReason(reason, accepted)
		want := map[string]string{protocol.FailureImagePull: protocol.FailureRunnerSystem,
			protocol.FailureOutOfMemory: protocol.FailureScript, protocol.FailureCUDAIncompatible: protocol.FailureScript}[reason]
		if got != want {
			t.Errorf("MapFailureReason(%s) = %s, want %s", reason, got, want)
		}
	}
	if got := protocol.MapFailureReason(protocol.FailureOutOfMemory, []string{protocol.FailureOutOfMemory}); got != protocol.FailureOutOfMemory {
		t.Errorf("an accepted reason was mapped to %s", got)
	}
	if got := protocol.MapFailureReason(protocol.FailureJobCanceled, nil); got != protocol.FailureUnknown {
		t.Errorf("job_canceled mapped to %s, want unknown_failure", got)
	}
}
