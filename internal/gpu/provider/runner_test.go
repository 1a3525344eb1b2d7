package provider_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/executor"
	"github.com/kiln-ci/kiln/internal/executor/shell"
	"github.com/kiln-ci/kiln/internal/gpu/lease"
	"github.com/kiln-ci/kiln/internal/gpu/nvmltest"
	"github.com/kiln-ci/kiln/internal/gpu/provider"
	"github.com/kiln-ci/kiln/internal/gpu/scrub"
	"github.com/kiln-ci/kiln/internal/gpu/telemetry"
	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/protocol/protocoltest"
	"github.com/kiln-ci/kiln/internal/runner"
	"github.com/kiln-ci/kiln/internal/runner/agent"
	"github.com/kiln-ci/kiln/internal/runner/remote"
)

// rig is a runner serving the machine type oneGPU with a GPU provider on a fake 8-GPU
// host, asking a fake coordinator for jobs.
type rig struct {
	gpus  *nvmltest.Server
	coord *protocoltest.Server
	p     *provider.Provider
	state string
	// stop stops the runner and waits for it: for every job's end, its environment's
	// cleanup included. The test's end calls it too.
	stop func()
}

type rigOptions struct {
	gpus       *nvmltest.Server  // default: a fake DGX A100
	executor   executor.Executor // default: the shell executor
	concurrent int               // default 1
	systemID   string
	tweak      func(*provider.Config)
}

func newRig(t *testing.T, o rigOptions) *rig {
	t.Helper()
	if o.gpus == nil {
		o.gpus = nvmltest.NewDGXA100()
	}
	r := &rig{gpus: o.gpus, coord: protocoltest.New(t, protocoltest.Options{}), state: t.TempDir()}
	cfg := config(r.gpus, r.state)
	cfg.SampleInterval = 50 * time.Millisecond
	if o.executor == nil {
		o.executor = shell.New(shell.Config{AllowUnenforcedLimits: true})
	} else {
		cfg.Executor = o.executor.Name()
	}
	if o.tweak != nil {
		o.tweak(&cfg)
	}
	if o.systemID == "" {
		o.systemID = "s_0123456789ab"
	}
	r.p = open(t, openHost(t, r.gpus), cfg)
	token := r.coord.AddRunner("glrt-provider-rig-token").Token
	client, err := protocol.NewClient(protocol.ClientConfig{URL: r.coord.URL,
		Retry: protocol.RetryPolicy{Base: time.Millisecond, Max: 10 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	mt := oneGPU
	lcfg := runner.Config{Name: "gpu-rig", Token: token, SystemID: o.systemID, Executor: o.executor,
		BuildsDir: t.TempDir(), CacheDir: t.TempDir(), MachineType: &mt, Devices: r.p, Grace: 2 * time.Second}
	if o.executor.Name() == provider.ExecutorShell {
		lcfg.BaseEnvironment = []string{"PATH=" + os.Getenv("PATH")}
	}
	lc, err := runner.NewLifecycle(lcfg)
	if err != nil {
		t.Fatal(err)
	}
	w := agent.Worker{Name: "gpu-rig", Token: token, SystemID: o.systemID, Client: client,
		Info: agent.Info(o.executor.Name(), "", mt.Tag), Kiln: r.p.KilnInfo, Admit: r.p.Admit, Lifecycle: lc,
		TraceDir: t.TempDir(), Remote: remote.Config{UpdateInterval: 50 * time.Millisecond}}
	a, err := agent.New(agent.Config{Concurrent: max(o.concurrent, 1), CheckInterval: 20 * time.Millisecond, Workers: []agent.Worker{w}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	r.stop = func() { cancel(); <-done }
	t.Cleanup(r.stop)
	return r
}

// enqueue queues a job of the script, with extra variables.
func (r *rig) enqueue(script string, vars ...jobspec.Variable) int64 {
	return r.coord.Enqueue(jobspec.Job{JobInfo: jobspec.JobInfo{Name: "gpu-job", ProjectID: 5, ProjectFullPath: "ml/train"},
		Variables: append(jobspec.Variables{{Key: "GIT_STRATEGY", Value: "none"}}, vars...),
		Steps:     []jobspec.Step{{Name: "script", Script: []string{script}, When: "on_success"}}})
}

func (r *rig) final(t *testing.T, ids ...int64) []protocoltest.Job {
	t.Helper()
	return r.coord.Finals(t, 90*time.Second, ids...)
}

var visible = regexp.MustCompile(`GPU=(\S*) NVIDIA=(\S*)`)

// barrier makes each job take its GPU as a lock directory (failing if another job
// holds it) and wait until 8 jobs hold GPUs at once, or one already saw that.
const barrier = `locks=$LOCKS
mkdir "$locks/$CUDA_VISIBLE_DEVICES" || { echo "SHARED $CUDA_VISIBLE_DEVICES"; exit 3; }
echo "GPU=$CUDA_VISIBLE_DEVICES NVIDIA=$NVIDIA_VISIBLE_DEVICES"
i=0
while [ "$(ls "$locks" | wc -l)" -lt 8 ] && [ ! -e "$locks.seen" ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done
echo "busy=$(ls "$locks" | wc -l)"
touch "$locks.seen"
sleep 0.2
rmdir "$locks/$CUDA_VISIBLE_DEVICES"
`

func TestEightConcurrentJobsEachSeeTheirOwnGPU(t *testing.T) {
	r := newRig(t, rigOptions{concurrent: 16})
	locks := filepath.Join(t.TempDir(), "locks")
	if err := os.Mkdir(locks, 0o755); err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for range 9 {
		ids = append(ids, r.enqueue(barrier, jobspec.Variable{Key: "LOCKS", Value: locks}))
	}
	jobs := r.final(t, ids...)
	sawEight := false
	for _, j := range jobs {
		trace := string(j.Trace)
		if j.Final.State != protocol.StateSuccess {
			t.Fatalf("job %d: %s (%+v)\n%s", j.Spec.ID, j.Final.State, j.Final.Kiln, trace)
		}
		m := visible.FindAllStringSubmatch(trace, -1)
		if len(m) != 1 || m[0][1] != m[0][2] || !slices.Contains(r.gpus.UUIDs(), m[0][1]) {
			t.Errorf("job %d saw %q; want exactly one GPU of the host", j.Spec.ID, m)
			continue
		}
		uuid := m[0][1]
		sawEight = sawEight || strings.Contains(trace, "busy=8")
		if j.Final.Kiln == nil || !slices.Equal(j.Final.Kiln.GPUs, []string{uuid}) || len(j.Final.Kiln.Telemetry) != 1 {
			t.Errorf("job %d final update reports %+v; want GPU %s with its telemetry", j.Spec.ID, j.Final.Kiln, uuid)
		}
		if !strings.Contains(trace, "GPU telemetry (") || !strings.Contains(trace, `Uploading gpu-telemetry.json as "kiln_gpu_telemetry"`) {
			t.Errorf("job %d has no telemetry footer or report upload:\n%s", j.Spec.ID, trace)
		}
		if len(j.Artifacts) != 1 || j.Artifacts[0].FileName != telemetry.ReportFile || j.Artifacts[0].Format != jobspec.ArtifactFormatRaw {
			t.Errorf("job %d artifacts = %+v", j.Spec.ID, j.Artifacts)
		} else if rep := (telemetry.Report{}); json.Unmarshal(j.Artifacts[0].Data, &rep) != nil || rep.JobID != j.Spec.ID || rep.GPUs[0].UUID != uuid {
			t.Errorf("job %d gpu-telemetry.json = %s", j.Spec.ID, j.Artifacts[0].Data)
		}
	}
	if !sawEight {
		t.Error("no job saw 8 GPUs busy at once")
	}
	r.checkRequests(t, 8)
	if n := r.p.Capacity(); n != 8 {
		t.Errorf("after the jobs %d GPUs are placeable, want 8", n)
	}
}

// checkRequests replays the requests the coordinator received: the runner never asked
// for a job while limit jobs were running, and every job request and job update
// carried info.kiln with the GPUs.
func (r *rig) checkRequests(t *testing.T, limit int) {
	t.Helper()
	running, asked := 0, 0
	for _, req := range r.coord.Requests() {
		switch {
		case req.Method == "POST" && req.Path == "/api/v4/jobs/request":
			asked++
			if running >= limit {
				t.Errorf("job request %d while %d jobs were running", asked, running)
			}
			var body protocol.JobRequest
			if err := json.Unmarshal(req.Body, &body); err != nil || body.Info.Kiln == nil || len(body.Info.Kiln.GPUs) != 8 || body.Info.Kiln.MachineType != oneGPU.Tag {
				t.Errorf("job request %d info.kiln = %+v (%v)", asked, body.Info.Kiln, err)
			}
			if req.Status == 201 {
				running++
			}
		case req.Method == "PUT" && strings.HasPrefix(req.Path, "/api/v4/jobs/"):
			var body protocol.UpdateJobRequest
			if err := json.Unmarshal(req.Body, &body); err != nil || body.Info.Kiln == nil || len(body.Info.Kiln.GPUs) != 8 {
				t.Errorf("job update %s info.kiln = %+v (%v)", req.Path, body.Info.Kiln, err)
			}
			if body.State != protocol.StateRunning && req.Status == 200 {
				running--
			}
		}
	}
}

// faultDuringPrepare wraps a real executor: while a job's environment is prepared —
// after its GPUs were leased, before the health gate runs again — fault gets the
// job's GPUs, as when a GPU falls off the bus while the image is pulled.
type faultDuringPrepare struct {
	executor.Executor
	fault func(ids []string)
}

func (f faultDuringPrepare) NewEnvironment(spec executor.Spec) (executor.Environment, error) {
	env, err := f.Executor.NewEnvironment(spec)
	if err != nil {
		return nil, err
	}
	return &faultyEnv{Environment: env, fault: f.fault}, nil
}

type faultyEnv struct {
	executor.Environment
	fault func([]string)
	ids   []string
}

func (e *faultyEnv) InjectDevices(d executor.Devices) error {
	e.ids = d.IDs
	return e.Environment.(executor.DeviceInjector).InjectDevices(d)
}

func (e *faultyEnv) Prepare(ctx context.Context, out io.Writer) error {
	e.fault(e.ids)
	return e.Environment.Prepare(ctx, out)
}

func TestAGPUFaultBeforeTheJobRequeuesItAndQuarantinesTheGPU(t *testing.T) {
	var once sync.Once
	var s *nvmltest.Server
	ex := faultDuringPrepare{Executor: shell.New(shell.Config{AllowUnenforcedLimits: true}), fault: func(ids []string) {
		once.Do(func() { s.GPU(slices.Index(s.UUIDs(), ids[0])).InjectXid(79, -1) })
	}}
	r := newRig(t, rigOptions{executor: ex, tweak: func(c *provider.Config) { c.Only = []string{"0", "1"} }})
	s = r.gpus
	first := r.final(t, r.enqueue(`echo "ran on $CUDA_VISIBLE_DEVICES"`))[0]
	k := first.Final.Kiln
	if first.Final.State != protocol.StateFailed || k == nil || !k.Requeue || first.Final.FailureReason == protocol.FailureScript ||
		first.Final.ExitCode != 0 || !strings.Contains(k.Message, "Xid 79") || !strings.Contains(k.Message, "quarantined") {
		t.Fatalf("final update %+v (kiln %+v); want a requeue with the fault's reason, not a script failure\n%s", first.Final, k, first.Trace)
	}
	if strings.Contains(string(first.Trace), "ran on") {
		t.Error("the job's script ran on a faulty GPU")
	}
	bad := s.UUIDs()[0]
	// The coordinator sees the quarantine; the next job runs on the healthy GPU.
	second := r.final(t, r.enqueue(`echo "ran on $CUDA_VISIBLE_DEVICES"`))[0]
	if second.Final.State != protocol.StateSuccess || !strings.Contains(string(second.Trace), "ran on "+s.UUIDs()[1]) {
		t.Errorf("second job: %s\n%s", second.Final.State, second.Trace)
	}
	info := r.p.KilnInfo()
	if info.GPUs[0].UUID != bad || info.GPUs[0].Healthy || !strings.Contains(info.GPUs[0].HealthReason, "Xid 79") {
		t.Errorf("advertised %+v; want %s quarantined for Xid 79", info.GPUs[0], bad)
	}
	list, _ := r.p.Manager().List()
	if len(list.Quarantined) != 1 || list.Quarantined[0].UUID != bad || list.Quarantined[0].JobID != first.Spec.ID {
		t.Errorf("quarantine records %+v", list.Quarantined)
	}
}

func TestAnUnhealthyOnlyGPUSendsTheJobBackToTheQueue(t *testing.T) {
	r := newRig(t, rigOptions{tweak: func(c *provider.Config) { c.Only = []string{"0"} }})
	r.gpus.GPU(0).SetRemappedRowsPending(true)
	j := r.final(t, r.enqueue("echo never"))[0]
	if j.Final.State != protocol.StateFailed || j.Final.Kiln == nil || !j.Final.Kiln.Requeue || strings.Contains(string(j.Trace), "Running on") {
		t.Fatalf("final %+v kiln %+v\n%s", j.Final, j.Final.Kiln, j.Trace)
	}
	if list, _ := r.p.Manager().List(); len(list.Quarantined) != 1 {
		t.Errorf("quarantined %+v", list.Quarantined)
	}
	// With its only GPU quarantined, the runner asks for no more jobs.
	time.Sleep(200 * time.Millisecond)
	before := len(r.coord.Requests())
	time.Sleep(300 * time.Millisecond)
	for _, req := range r.coord.Requests()[before:] {
		if req.Path == "/api/v4/jobs/request" {
			t.Fatalf("the runner asked for a job with no healthy GPU")
		}
	}
}

func TestScrubKillsALeftoverProcessBeforeTheLeaseIsReleased(t *testing.T) {
	dir := t.TempDir()
	type kill struct {
		pid    int
		leased bool
	}
	kills := make(chan kill, 4)
	var r *rig
	r = newRig(t, rigOptions{tweak: func(c *provider.Config) {
		c.Killer = scrub.KillerFunc(func(pid int) error {
			st, err := leaseState(r.state)
			kills <- kill{pid, err == nil && len(st.Leases) == 1}
			return scrub.SignalKiller{}.Kill(pid)
		})
	}})
	script := `setsid sleep 300 </dev/null >/dev/null 2>&1 &
echo "$! $CUDA_VISIBLE_DEVICES" > "$DIR/leftover.tmp" && mv "$DIR/leftover.tmp" "$DIR/leftover"
while [ ! -e "$DIR/ack" ]; do sleep 0.02; done
echo "left a process behind"`
	id := r.enqueue(script, jobspec.Variable{Key: "DIR", Value: dir})
	var pid int
	var uuid string
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(dir, "leftover"))
		if err == nil {
			fmt.Sscan(string(b), &pid, &uuid)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the job never started its leftover process")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The driver lists the process on the job's GPU, as it would a CUDA process.
	r.gpus.GPU(slices.Index(r.gpus.UUIDs(), uuid)).StartRealProcess(pid, 6<<30)
	os.WriteFile(filepath.Join(dir, "ack"), nil, 0o644)
	j := r.final(t, id)[0]
	if j.Final.State != protocol.StateSuccess {
		t.Fatalf("%s\n%s", j.Final.State, j.Trace)
	}
	select {
	case k := <-kills:
		if k.pid != pid || !k.leased {
			t.Errorf("scrub killed %d (lease held: %v); want %d killed while the lease was held", k.pid, k.leased, pid)
		}
	default:
		t.Fatal("scrub killed nothing")
	}
	if alive(pid) {
		t.Errorf("the leftover process %d survived the scrub", pid)
	}
	if !strings.Contains(string(j.Trace), fmt.Sprintf("GPU %s: killed 1 process(es) the job left running (pid %d)", uuid, pid)) {
		t.Errorf("the trace does not report the kill:\n%s", j.Trace)
	}
	if st, _ := leaseState(r.state); len(st.Leases) != 0 || len(st.Quarantined) != 0 {
		t.Errorf("after the job: %+v", st)
	}
}

func leaseState(dir string) (lease.State, error) {
	store, err := lease.Open(dir)
	if err != nil {
		return lease.State{}, err
	}
	return store.Read()
}

// alive reports whether pid runs (a zombie has ended).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i >= 0 && i+2 < len(b) && b[i+2] != 'Z'
}
