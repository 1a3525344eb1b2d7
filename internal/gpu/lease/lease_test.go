package lease_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/kiln-ci/kiln/internal/gpu/lease"
)

var gpus = []string{"GPU-0", "GPU-1", "GPU-2", "GPU-3", "GPU-4", "GPU-5", "GPU-6", "GPU-7"}

func open(t *testing.T, dir string) *lease.Store {
	t.Helper()
	s, err := lease.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAcquireGivesEachJobItsOwnGPUs(t *testing.T) {
	s := open(t, t.TempDir())
	me := lease.Self("r1")
	a, err := s.Acquire(lease.Job{ID: 1}, me, gpus, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Acquire(lease.Job{ID: 2}, me, gpus, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.UUIDs, []string{"GPU-0", "GPU-1"}) || !slices.Equal(b.UUIDs, []string{"GPU-2", "GPU-3"}) {
		t.Errorf("leases = %v and %v, want the first free GPUs in order", a.UUIDs, b.UUIDs)
	}
}

func TestAcquireBeyondCapacityIsBusyAndChangesNothing(t *testing.T) {
	s := open(t, t.TempDir())
	me := lease.Self("r1")
	if _, err := s.Acquire(lease.Job{ID: 1}, me, gpus[:3], 2, nil); err != nil {
		t.Fatal(err)
	}
	before, _ := s.Read()
	_, err := s.Acquire(lease.Job{ID: 2}, me, gpus[:3], 2, nil)
	if !errors.Is(err, lease.ErrBusy) {
		t.Fatalf("Acquire = %v, want ErrBusy", err)
	}
	after, _ := s.Read()
	if len(after.Leases) != len(before.Leases) {
		t.Errorf("a failed acquisition changed the state: %d leases, was %d", len(after.Leases), len(before.Leases))
	}
}

func TestLeasesSurviveAReopen(t *testing.T) {
	dir := t.TempDir()
	l, err := open(t, dir).Acquire(lease.Job{ID: 7, Name: "train", Project: "ml/model"}, lease.Self("r1"), gpus, 1, map[string]uint64{"GPU-0": 512})
	if err != nil {
		t.Fatal(err)
	}
	st, err := open(t, dir).Read()
	if err != nil {
		t.Fatal(err)
	}
	got, ok := st.Holder("GPU-0")
	if !ok || got.ID != l.ID || got.Job.Project != "ml/model" || got.IdleMemoryBytes["GPU-0"] != 512 {
		t.Errorf("after reopen, holder of GPU-0 = %+v, %v", got, ok)
	}
	if err := open(t, dir).Release(l.ID); err != nil {
		t.Fatal(err)
	}
	if st, _ := open(t, dir).Read(); len(st.Leases) != 0 {
		t.Errorf("released lease still recorded: %+v", st.Leases)
	}
}

func TestQuarantinedGPUsAreNotLeasedUntilReleased(t *testing.T) {
	s := open(t, t.TempDir())
	if err := s.Quarantine(lease.Quarantine{UUID: "GPU-0", Reason: "Xid 79", JobID: 3}); err != nil {
		t.Fatal(err)
	}
	l, err := s.Acquire(lease.Job{ID: 1}, lease.Self("r"), gpus[:2], 1, nil)
	if err != nil || !slices.Equal(l.UUIDs, []string{"GPU-1"}) {
		t.Fatalf("Acquire = %v, %v; want GPU-1, skipping quarantined GPU-0", l.UUIDs, err)
	}
	st, _ := s.Read()
	q, ok := st.QuarantineOf("GPU-0")
	if !ok || q.Reason != "Xid 79" || q.Since.IsZero() {
		t.Errorf("quarantine record = %+v", q)
	}
	if err := s.Unquarantine("GPU-0"); err != nil {
		t.Fatal(err)
	}
	if err := s.Unquarantine("GPU-0"); !errors.Is(err, lease.ErrNotQuarantined) {
		t.Errorf("second Unquarantine = %v, want ErrNotQuarantined", err)
	}
}

func TestCorruptStateIsAnErrorAndIsNotOverwritten(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, lease.StateFile)
	os.WriteFile(path, []byte("{not json"), 0o600)
	s := open(t, dir)
	_, err := s.Acquire(lease.Job{ID: 1}, lease.Self("r"), gpus, 1, nil)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("Acquire on a corrupt state = %v, want an error naming %s", err, path)
	}
	if b, _ := os.ReadFile(path); string(b) != "{not json" {
		t.Errorf("corrupt state file was overwritten: %q", b)
	}
}

func TestConcurrentStoresNeverShareAGPU(t *testing.T) {
	dir := t.TempDir()
	var wg sync.WaitGroup
	got := make([][]string, 8)
	for i := range 8 {
		wg.Go(func() {
			// A store per goroutine: the flock, not the mutex, must keep them apart.
			l, err := open(t, dir).Acquire(lease.Job{ID: int64(i)}, lease.Self("r"), gpus, 1, nil)
			if err != nil {
				t.Error(err)
				return
			}
			got[i] = l.UUIDs
		})
	}
	wg.Wait()
	assertDistinct(t, slices.Concat(got...), 8)
}

// TestHelperAcquire is the body of a second runner process (see
// TestTwoProcessesNeverShareAGPU); it does nothing in a normal run.
func TestHelperAcquire(t *testing.T) {
	dir := os.Getenv("KILN_LEASE_HELPER_DIR")
	if dir == "" {
		t.Skip("helper process only")
	}
	job, _ := strconv.ParseInt(os.Getenv("KILN_LEASE_HELPER_JOB"), 10, 64)
	l, err := open(t, dir).Acquire(lease.Job{ID: job}, lease.Self("helper"), gpus, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("LEASED %s\n", l.UUIDs[0])
}

func TestTwoProcessesNeverShareAGPU(t *testing.T) {
	dir := t.TempDir()
	var wg sync.WaitGroup
	out := make([]string, 6)
	for i := range 6 {
		wg.Go(func() {
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperAcquire$", "-test.count=1")
			cmd.Env = append(os.Environ(), "KILN_LEASE_HELPER_DIR="+dir, "KILN_LEASE_HELPER_JOB="+strconv.Itoa(i))
			b, err := cmd.CombinedOutput()
			if err != nil {
				t.Errorf("helper %d: %v\n%s", i, err, b)
			}
			out[i] = string(b)
		})
	}
	wg.Wait()
	var leased []string
	for _, o := range out {
		for line := range strings.Lines(o) {
			if u, ok := strings.CutPrefix(strings.TrimSpace(line), "LEASED "); ok {
				leased = append(leased, u)
			}
		}
	}
	assertDistinct(t, leased, 6)
	st, _ := open(t, dir).Read()
	if len(st.Leases) != 6 {
		t.Errorf("state holds %d leases, want 6", len(st.Leases))
	}
}

func TestOwnerAliveTellsARunningProcessFromAGoneOne(t *testing.T) {
	if !lease.Self("r").Alive() {
		t.Errorf("this process is not alive by its own owner record")
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	gone := lease.Owner{PID: cmd.Process.Pid, Start: 1}
	if gone.Alive() {
		t.Errorf("a finished process %d counts as alive", gone.PID)
	}
	reused := lease.Self("r")
	reused.Start++
	if reused.Alive() {
		t.Errorf("a reused PID with another start time counts as alive")
	}
}

func TestStateFileIsVersionedJSON(t *testing.T) {
	dir := t.TempDir()
	open(t, dir).Quarantine(lease.Quarantine{UUID: "GPU-3", Reason: "scrub timed out"})
	b, err := os.ReadFile(filepath.Join(dir, lease.StateFile))
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil || raw["version"] != float64(1) {
		t.Errorf("state.json = %s (%v)", b, err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, lease.StateFile+".tmp-*")); len(m) != 0 {
		t.Errorf("temporary files left behind: %v", m)
	}
}

func assertDistinct(t *testing.T, uuids []string, n int) {
	t.Helper()
	if len(uuids) != n {
		t.Fatalf("got %d leased GPUs %v, want %d", len(uuids), uuids, n)
	}
	seen := map[string]bool{}
	for _, u := range uuids {
		if seen[u] {
			t.Fatalf("GPU %s leased twice: %v", u, uuids)
		}
		seen[u] = true
	}
}

// BenchmarkAcquireRelease measures a durable lease and its release (two atomic,
// fsynced state writes under the flock).
func BenchmarkAcquireRelease(b *testing.B) {
	s, err := lease.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	me := lease.Self("bench")
	for b.Loop() {
		l, err := s.Acquire(lease.Job{ID: 1}, me, gpus, 1, nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Release(l.ID); err != nil {
			b.Fatal(err)
		}
	}
}
