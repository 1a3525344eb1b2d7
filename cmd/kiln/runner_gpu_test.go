package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/gpu"
	"github.com/kiln-ci/kiln/internal/gpu/device"
	"github.com/kiln-ci/kiln/internal/gpu/lease"
	"github.com/kiln-ci/kiln/internal/gpu/nvmlhost"
	"github.com/kiln-ci/kiln/internal/gpu/nvmltest"
	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/protocol/protocoltest"
)

// gpuRunner is `kiln runner run` on a fake 8-GPU host against a fake coordinator.
type gpuRunner struct {
	gpus    *nvmltest.Server
	coord   *protocoltest.Server
	state   string
	metrics string // the /metrics URL
	stop    func() error
}

// gpuConfig is a config.toml for one shell runner serving a 1-GPU machine type;
// extra lines go into its [runners.kiln] section.
const gpuConfig = `concurrent = 8
check_interval = 1
log_level = "warn"
listen_address = "%s"

[[machine_types]]
  tag = "gpu-a100-test"
  vcpu = 2
  memory_bytes = 8000000000
  [machine_types.gpu]
    count = 1

[[runners]]
  name = "gpu-host"
  url = "%s"
  token = "%s"
  executor = "shell"
  [runners.kiln]
    machine_type = "gpu-a100-test"
    state_dir = "%s"
    telemetry_interval = "50ms"
%s
`

// startGPURunner writes the config and runs `kiln runner run` until the test ends;
// before, if set, prepares the state directory and the fake host.
func startGPURunner(t *testing.T, kilnLines string, before func(r *gpuRunner)) *gpuRunner {
	t.Helper()
	r := &gpuRunner{gpus: nvmltest.NewDGXA100(), coord: protocoltest.New(t, protocoltest.Options{}), state: t.TempDir()}
	if before != nil {
		before(r)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r.metrics = "http://" + addr + "/metrics"
	token := r.coord.AddRunner("glrt-gpu-runner-run-token").Token
	path := filepath.Join(t.TempDir(), "config.toml")
	text := fmt.Sprintf(gpuConfig, addr, r.coord.URL, token, r.state, kilnLines)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	open := func(context.Context, *slog.Logger) (device.Host, error) { return nvmlhost.Open(r.gpus, nil) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runRunnerWith(ctx, path, open) }()
	var once bool
	var runErr error
	r.stop = func() error {
		if !once {
			once = true
			cancel()
			runErr = <-done
		}
		return runErr
	}
	t.Cleanup(func() { r.stop() })
	return r
}

func (r *gpuRunner) final(t *testing.T, ids ...int64) []protocoltest.Job {
	t.Helper()
	return r.coord.Finals(t, 90*time.Second, ids...)
}

func (r *gpuRunner) enqueue(script string, vars ...jobspec.Variable) int64 {
	return r.coord.Enqueue(jobspec.Job{JobInfo: jobspec.JobInfo{Name: "gpu-job", ProjectID: 5, ProjectFullPath: "ml/train"},
		Variables: append(jobspec.Variables{{Key: "GIT_STRATEGY", Value: "none"}}, vars...),
		Steps:     []jobspec.Step{{Name: "script", Script: []string{script}, When: "on_success"}}})
}

// gpuSeries counts the kiln_gpu_memory_used_bytes series of runner gpu-host on /metrics.
func gpuSeries(url string) (int, string) {
	res, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "kiln_gpu_memory_used_bytes{") && strings.Contains(line, `runner="gpu-host"`) && strings.Contains(line, `project="ml/train"`) {
			n++
		}
	}
	return n, string(b)
}

// eightAtOnce holds each job until 8 hold a GPU of their own, then until the test
// has read /metrics.
const eightAtOnce = `mkdir "$DIR/locks/$CUDA_VISIBLE_DEVICES" || { echo "SHARED $CUDA_VISIBLE_DEVICES"; exit 3; }
echo "GPU=$CUDA_VISIBLE_DEVICES"
i=0; while [ "$(ls "$DIR/locks" | wc -l)" -lt 8 ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done
echo "busy=$(ls "$DIR/locks" | wc -l)"
i=0; while [ ! -e "$DIR/metrics-read" ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done
`

func TestRunnerRunRecoversLeasesThenRunsOneJobPerGPU(t *testing.T) {
	var leftover *exec.Cmd
	r := startGPURunner(t, "", func(r *gpuRunner) {
		// A previous runner process died while its job held GPU 0, leaving a process on it.
		store, err := lease.Open(r.state)
		if err != nil {
			t.Fatal(err)
		}
		dead := lease.Owner{Runner: "gpu-host", PID: 1 << 22, Start: 1} // above pid_max: never alive
		uuid := r.gpus.UUIDs()[0]
		if _, err := store.Acquire(lease.Job{ID: 77}, dead, []string{uuid}, 1, map[string]uint64{uuid: nvmltest.IdleMemoryBytes}); err != nil {
			t.Fatal(err)
		}
		leftover = exec.Command("sleep", "300")
		if err := leftover.Start(); err != nil {
			t.Fatal(err)
		}
		r.gpus.GPU(0).StartRealProcess(leftover.Process.Pid, 4<<30)
	})
	exited := make(chan struct{})
	go func() { leftover.Wait(); close(exited) }()
	t.Cleanup(func() { leftover.Process.Kill() })

	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "locks"), 0o755); err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for range 8 {
		ids = append(ids, r.enqueue(eightAtOnce, jobspec.Variable{Key: "DIR", Value: dir}))
	}
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Fatal("the leftover process of the gone job was not killed at start-up")
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		n, text := gpuSeries(r.metrics)
		if n == 8 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics shows %d GPU series of running jobs, want 8:\n%s", n, text)
		}
		time.Sleep(50 * time.Millisecond)
	}
	os.WriteFile(filepath.Join(dir, "metrics-read"), nil, 0o644)
	seen := map[string]bool{}
	gpuLine := regexp.MustCompile(`GPU=(\S+)`)
	for _, j := range r.final(t, ids...) {
		trace := string(j.Trace)
		m := gpuLine.FindStringSubmatch(trace)
		if j.Final.State != protocol.StateSuccess || m == nil || !strings.Contains(trace, "busy=8") || !strings.Contains(trace, "GPU telemetry (") {
			t.Fatalf("job %d: %s\n%s", j.Spec.ID, j.Final.State, trace)
		}
		seen[m[1]] = true
	}
	if len(seen) != 8 {
		t.Errorf("8 jobs ran on %d distinct GPUs", len(seen))
	}
	if !seen[r.gpus.UUIDs()[0]] {
		t.Error("the recovered GPU 0 never ran a job")
	}
	// Every job request told the coordinator the machine type and the 8 GPUs.
	for _, req := range r.coord.Requests() {
		if req.Path != "/api/v4/jobs/request" {
			continue
		}
		var body protocol.JobRequest
		if err := json.Unmarshal(req.Body, &body); err != nil || body.Info.Kiln == nil || body.Info.Kiln.MachineType != "gpu-a100-test" || len(body.Info.Kiln.GPUs) != 8 {
			t.Fatalf("job request info.kiln = %+v (%v)", body.Info.Kiln, err)
		}
	}
	if err := r.stop(); err != nil {
		t.Errorf("kiln runner run: %v", err)
	}
	st, _ := readGPUState(r.state)
	if len(st.Leases) != 0 || len(st.Quarantined) != 0 {
		t.Errorf("state after the run: %+v", st)
	}
}

func TestRunnerRunRequeuesAJobWhoseGPUFailsAndGPUListShowsTheQuarantine(t *testing.T) {
	r := startGPURunner(t, `    gpus = "3"`, func(r *gpuRunner) { r.gpus.GPU(3).SetTemperature(95) })
	bad := r.gpus.UUIDs()[3]
	j := r.final(t, r.enqueue("echo never"))[0]
	if j.Final.State != protocol.StateFailed || j.Final.Kiln == nil || !j.Final.Kiln.Requeue || j.Final.FailureReason == protocol.FailureScript ||
		!strings.Contains(j.Final.Kiln.Message, "failed its health check") {
		t.Fatalf("final update %+v, kiln %+v; want a requeue\n%s", j.Final, j.Final.Kiln, j.Trace)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	out, err := runKiln(t, "gpu", "list", "--json", "--state-dir", r.state)
	if err != nil {
		t.Fatalf("kiln gpu list: %v\n%s", err, out)
	}
	var l gpu.Listing
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(l.Quarantined, func(q lease.Quarantine) bool {
		return q.UUID == bad && q.JobID == j.Spec.ID && strings.Contains(q.Reason, "temperature")
	}) {
		t.Errorf("kiln gpu list --json shows quarantined %+v; want %s for its temperature", l.Quarantined, bad)
	}
	text, _ := runKiln(t, "gpu", "list", "--state-dir", r.state)
	if !strings.Contains(text, bad) || !strings.Contains(text, "kiln gpu release-quarantine UUID") {
		t.Errorf("kiln gpu list does not show the quarantine:\n%s", text)
	}
}

// twoGPURunners is a config.toml with two shell runners serving one 1-GPU machine type;
// each %s pair is a runner's GPU selection and state directory.
const twoGPURunners = `concurrent = 8
log_level = "error"

[[machine_types]]
  tag = "gpu-a100-test"
  vcpu = 2
  memory_bytes = 8000000000
  [machine_types.gpu]
    count = 1
` + `
[[runners]]
  name = "left"
  url = "%[1]s"
  token = "%[2]s"
  executor = "shell"
  [runners.kiln]
    machine_type = "gpu-a100-test"
    gpus = "%[3]s"
    state_dir = "%[4]s"

[[runners]]
  name = "right"
  url = "%[1]s"
  token = "%[2]s"
  executor = "shell"
  [runners.kiln]
    machine_type = "gpu-a100-test"
    gpus = "%[5]s"
    state_dir = "%[6]s"
`

// runTwoGPURunners runs the two runners for a moment and returns why they stopped
// (nil when they ran until told to stop).
func runTwoGPURunners(t *testing.T, leftGPUs, leftState, rightGPUs, rightState string) error {
	t.Helper()
	coord := protocoltest.New(t, protocoltest.Options{})
	token := coord.AddRunner("glrt-two-gpu-runners-token").Token
	path := filepath.Join(t.TempDir(), "config.toml")
	text := fmt.Sprintf(twoGPURunners, coord.URL, token, leftGPUs, leftState, rightGPUs, rightState)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	host := nvmltest.NewDGXA100()
	open := func(context.Context, *slog.Logger) (device.Host, error) { return nvmlhost.Open(host, nil) }
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	err := runRunnerWith(ctx, path, open)
	if ctx.Err() != nil && (err == nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) {
		return nil
	}
	return err
}

func TestRunnersThatMayLeaseOneGPUMustShareTheirStateDirectory(t *testing.T) {
	shared := t.TempDir()
	if err := runTwoGPURunners(t, "all", shared, "all", shared); err != nil {
		t.Errorf("two runners sharing a state directory: %v", err)
	}
	if err := runTwoGPURunners(t, "0,1,2,3", t.TempDir(), "4,5,6,7", t.TempDir()); err != nil {
		t.Errorf("two runners with their own GPUs and state directories: %v", err)
	}
	left, right := t.TempDir(), t.TempDir()
	err := runTwoGPURunners(t, "0,1", left, "1,2", right)
	if err == nil {
		t.Fatal("two runners that may both lease GPU 1 with leases in different directories were allowed to run")
	}
	for _, want := range []string{`runner right`, `GPU 1`, `"left"`, left, right, "state_dir"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal does not name %q: %v", want, err)
		}
	}
}
