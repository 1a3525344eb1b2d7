package queue

import (
	"fmt"
	"sync"
	"testing"

	"github.com/kiln-ci/kiln/internal/store"
)

func got(w *Waiter) (Offer, bool) {
	select {
	case o := <-w.Offers():
		return o, true
	default:
		return Offer{}, false
	}
}

func TestFilterAcceptsByTheClaimRules(t *testing.T) {
	small := Filter{Tags: []string{"saas-linux-small-amd64"}, RunUntagged: true, MachineType: "saas-linux-small-amd64"}
	gpu := Filter{Tags: []string{"saas-linux-medium-amd64-gpu-standard", "cuda"}, MachineType: "saas-linux-medium-amd64-gpu-standard", MaxGPUs: 1}
	selfManaged := Filter{Tags: []string{"shell", "linux"}, MaxGPUs: 0}
	for _, tc := range []struct {
		name string
		f    Filter
		o    Offer
		want bool
	}{
		{"untagged job on the untagged type", small, Offer{MachineType: "saas-linux-small-amd64"}, true},
		{"untagged job on a runner without run_untagged", gpu, Offer{MachineType: "saas-linux-medium-amd64-gpu-standard"}, false},
		{"tags a subset of the runner's", gpu, Offer{Tags: []string{"saas-linux-medium-amd64-gpu-standard"}, MachineType: "saas-linux-medium-amd64-gpu-standard", GPUs: 1}, true},
		{"a tag the runner lacks", gpu, Offer{Tags: []string{"saas-linux-medium-amd64-gpu-standard", "arm"}, MachineType: "saas-linux-medium-amd64-gpu-standard"}, false},
		{"more GPUs than the runner has free", gpu, Offer{Tags: []string{"cuda"}, MachineType: "saas-linux-medium-amd64-gpu-standard", GPUs: 2}, false},
		{"another machine type", small, Offer{Tags: []string{"saas-linux-small-amd64"}, MachineType: "saas-linux-medium-amd64"}, false},
		{"self-managed runner takes any machine type by tags", selfManaged, Offer{Tags: []string{"shell"}, MachineType: "x"}, true},
		{"self-managed runner takes no GPU job", selfManaged, Offer{Tags: []string{"shell"}, GPUs: 1}, false},
		{"project runner, other project", Filter{RunUntagged: true, ProjectIDs: []int64{4}}, Offer{ProjectID: 5}, false},
		{"project runner, its project", Filter{RunUntagged: true, ProjectIDs: []int64{4}, MaxGPUs: store.NoGPULimit}, Offer{ProjectID: 4}, true},
		{"protected runner, unprotected ref", Filter{RunUntagged: true, ProtectedOnly: true}, Offer{}, false},
	} {
		if got := tc.f.Accepts(tc.o); got != tc.want {
			t.Errorf("%s: Accepts = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestAnnounceWakesOnlyTheLongestWaitingMatchingRunner(t *testing.T) {
	h := NewHub()
	f := Filter{RunUntagged: true, MachineType: "small"}
	first, second := h.Wait(f), h.Wait(f)
	other := h.Wait(Filter{RunUntagged: true, MachineType: "medium"})
	if !h.Announce(Offer{JobID: 1, MachineType: "small"}) {
		t.Fatal("Announce found nobody")
	}
	if o, ok := got(first); !ok || o.JobID != 1 {
		t.Errorf("first waiter got %v, %v; want job 1", o, ok)
	}
	if _, ok := got(second); ok {
		t.Error("second waiter was woken too")
	}
	if _, ok := got(other); ok {
		t.Error("a runner of another machine type was woken")
	}
}

func TestAWaitIsWokenOnce(t *testing.T) {
	h := NewHub()
	f := Filter{RunUntagged: true}
	a, b := h.Wait(f), h.Wait(f)
	h.Announce(Offer{JobID: 1})
	oa, _ := got(a) // read before the next announcement: a is still woken once
	h.Announce(Offer{JobID: 2})
	ob, _ := got(b)
	if oa.JobID != 1 || ob.JobID != 2 {
		t.Errorf("offers went to %d and %d, want 1 and 2", oa.JobID, ob.JobID)
	}
	if h.Announce(Offer{JobID: 3}) {
		t.Error("a third job woke a wait that was woken already")
	}
	if h.Waiting() != 0 {
		t.Errorf("Waiting = %d after both waits were woken, want 0", h.Waiting())
	}
}

func TestAWaiterLeavingPassesItsUnreadOfferOn(t *testing.T) {
	h := NewHub()
	f := Filter{RunUntagged: true}
	leaving, staying := h.Wait(f), h.Wait(f)
	h.Announce(Offer{JobID: 9})
	leaving.Done()
	if o, ok := got(staying); !ok || o.JobID != 9 || o.Hops != 1 {
		t.Errorf("staying waiter got %+v, %v; want job 9 passed on once", o, ok)
	}
	staying.Done()
	staying.Done() // idempotent
	if h.Waiting() != 0 {
		t.Errorf("Waiting = %d, want 0", h.Waiting())
	}
}

func TestPassOnStopsAfterMaxHops(t *testing.T) {
	h := NewHub()
	h.Wait(Filter{RunUntagged: true})
	if h.PassOn(Offer{JobID: 1, Hops: MaxHops}) {
		t.Error("an offer passed on MaxHops times went round again")
	}
}

func TestSelfManagedRunnersHearJobsOfEveryMachineType(t *testing.T) {
	h := NewHub()
	sm := h.Wait(Filter{Tags: []string{"gpu-tag"}, MaxGPUs: store.NoGPULimit})
	h.Announce(Offer{JobID: 4, Tags: []string{"gpu-tag"}, MachineType: "gpu-tag"})
	if o, ok := got(sm); !ok || o.JobID != 4 {
		t.Errorf("self-managed runner got %v, %v", o, ok)
	}
}

func TestTheQueueValueChangesWithEveryAnnouncement(t *testing.T) {
	h := NewHub()
	v0 := h.LastUpdate()
	h.Announce(Offer{JobID: 1})
	v1 := h.LastUpdate()
	h.WakeAll()
	v2 := h.LastUpdate()
	if v0 == v1 || v1 == v2 {
		t.Errorf("queue values %q %q %q should all differ", v0, v1, v2)
	}
	if NewHub().LastUpdate() == v0 {
		t.Error("a new hub (a restarted coordinator) repeats an old queue value")
	}
}

func TestWakeAllWakesEveryWaiterWithAZeroOffer(t *testing.T) {
	h := NewHub()
	ws := []*Waiter{h.Wait(Filter{MachineType: "a"}), h.Wait(Filter{})}
	h.WakeAll()
	for i, w := range ws {
		if o, ok := got(w); !ok || o.JobID != 0 {
			t.Errorf("waiter %d got %v, %v", i, o, ok)
		}
	}
}

func TestConcurrentWaitersEachGetAtMostOneOfManyOffers(t *testing.T) {
	h := NewHub()
	const n = 200
	var wg sync.WaitGroup
	results := make(chan int64, n)
	ready := make(chan *Waiter, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := h.Wait(Filter{RunUntagged: true, MachineType: "m"})
			ready <- w
			o := <-w.Offers()
			results <- o.JobID
			w.Done()
		}()
	}
	for range n {
		<-ready
	}
	for i := range n {
		if !h.Announce(Offer{JobID: int64(i + 1), MachineType: "m"}) {
			t.Fatalf("announcement %d found no waiter", i+1)
		}
	}
	wg.Wait()
	close(results)
	seen := map[int64]bool{}
	for id := range results {
		if seen[id] {
			t.Fatalf("job %d woke two waiters", id)
		}
		seen[id] = true
	}
	if len(seen) != n {
		t.Errorf("%d distinct offers delivered, want %d", len(seen), n)
	}
}

func BenchmarkAnnounceWith1000Waiters(b *testing.B) {
	h := NewHub()
	filters := make([]Filter, 1000)
	for i := range filters {
		filters[i] = Filter{Tags: []string{fmt.Sprint("t", i%10)}, MachineType: "m"}
		h.Wait(filters[i])
	}
	b.ResetTimer()
	for i := range b.N {
		// Only every tenth waiter matches; the woken one waits again at the back.
		h.Announce(Offer{JobID: int64(i), Tags: []string{"t9"}, MachineType: "m"})
		h.Wait(filters[9])
	}
}
