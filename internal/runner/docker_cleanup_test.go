package runner_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/kiln-ci/kiln/internal/executor/docker"
	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/runner"
	"github.com/kiln-ci/kiln/internal/runner/local"
	"github.com/kiln-ci/kiln/internal/testenv"
)

// Whatever way a Docker job ends, when Run returns nothing labelled with its job is
// left: no container (build, service, sandbox), no network, no volume.
func TestDockerJobsLeaveNothingBehindWhateverTheirOutcome(t *testing.T) {
	mt := machine.Type{Tag: "tiny", VCPU: 1, MemoryBytes: 200 * machine.GB / 1000}
	cases := []struct {
		name   string
		script []string
		image  jobspec.Image
		setup  func(*jobspec.Job)
		during func(t *testing.T, cancel context.CancelCauseFunc) func(*local.Channel, *testenv.Buffer)
		want   runner.Kind
		says   string // the log holds this
	}{
		{name: "success", script: []string{"echo fine"}, want: runner.Success},
		{name: "script failure", script: []string{"exit 3"}, want: runner.ScriptFailure, says: "exit code 3"},
		{name: "timeout", script: []string{"echo started", "sleep 60"}, want: runner.Timeout, says: "after: failed",
			setup: func(j *jobspec.Job) { j.RunnerInfo.Timeout = 2 }},
		{name: "graceful cancel", script: []string{"echo started", "sleep 60"}, want: runner.Canceled, says: "after: canceled",
			during: func(t *testing.T, _ context.CancelCauseFunc) func(*local.Channel, *testenv.Buffer) {
				return func(ch *local.Channel, out *testenv.Buffer) { waitFor(t, out, "started\n"); ch.Cancel() }
			}},
		{name: "abort", script: []string{"echo started", "sleep 60"}, want: runner.Canceled, says: "Job aborted",
			during: func(t *testing.T, cancel context.CancelCauseFunc) func(*local.Channel, *testenv.Buffer) {
				return func(_ *local.Channel, out *testenv.Buffer) {
					waitFor(t, out, "started\n")
					cancel(errors.New("stop now"))
				}
			}},
		{name: "out of memory", script: []string{"dd if=/dev/zero of=/dev/null bs=600M count=1"}, want: runner.OutOfMemory,
			says: "out of memory (limit 0.2 GB)"},
		{name: "image pull failure", script: []string{"true"}, want: runner.ImagePullFailure,
			image: jobspec.Image{Name: "kiln-test/does-not-exist:1", PullPolicy: []string{jobspec.PullNever}}},
		{name: "service and script failure", script: []string{"exit 4"}, want: runner.ScriptFailure,
			setup: func(j *jobspec.Job) {
				j.Services = []jobspec.Image{{Name: debianImage, Alias: "db", Command: []string{"sleep", "600"}}}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			systemID := fmt.Sprintf("s_cleanup%d", time.Now().UnixNano())
			h := dockerHarness(t, func(cfg *runner.Config) {
				cfg.SystemID = systemID
				cfg.MachineType = &mt
				cfg.Grace = time.Second
			})
			job := h.job(c.script, `echo "after: $CI_JOB_STATUS"`)
			job.Image = jobspec.Image{Name: debianImage}
			if c.image.Name != "" {
				job.Image = c.image
			}
			if c.setup != nil {
				c.setup(job)
			}
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			var during func(*local.Channel, *testenv.Buffer)
			if c.during != nil {
				during = c.during(t, cancel)
			}
			o, log := h.runCtx(ctx, job, during)
			if o.Kind != c.want {
				t.Fatalf("outcome %v (%s), want %v\n%s", o.Kind, o.Message, c.want, log)
			}
			if c.says != "" && !strings.Contains(log, c.says) {
				t.Errorf("log lacks %q:\n%s", c.says, log)
			}
			if left := dockerLeftovers(t, systemID, job.ID); len(left) > 0 {
				t.Errorf("after Run returned, left behind: %s", strings.Join(left, "; "))
			}
		})
	}
}

// dockerLeftovers lists the containers, networks and volumes labelled with the runner
// and job.
func dockerLeftovers(t *testing.T, runnerID string, jobID int64) []string {
	t.Helper()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	left, err := docker.Leftovers(context.Background(), cli, runnerID, jobID)
	if err != nil {
		t.Fatal(err)
	}
	return left
}
