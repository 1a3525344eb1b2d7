// Package queue wakes long-polling runners when a job they could take becomes
// pending: one waiting runner per announced job, chosen among those whose filter
// (tags, machine type, GPUs, projects) accepts it, the longest-waiting first. Waiters
// are indexed by machine type, so an announcement looks only at the runners of its
// machine type and at self-managed runners; nobody else is woken, so a thousand idle
// runners see no storm of wake-ups and claims.
//
// A Hub is one replica's view: the coordinator announces jobs it hears of through the
// store's notifier (every replica hears every job) and each replica wakes one of its
// own waiters. Wake-ups are hints: the woken runner claims from the store, which
// decides atomically; when it gets nothing it simply waits again. The Hub also keeps
// the queue value a runner echoes as last_update (GitLab's X-GitLab-Last-Update): it
// changes whenever a job is announced.
//
// Only internal/coordinator imports this package.
package queue

import (
	"container/list"
	"crypto/rand"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/kiln-ci/kiln/internal/store"
)

// Offer announces a pending job with what decides which runners may take it.
type Offer struct {
	JobID       int64    `json:"id"`
	Tags        []string `json:"tags,omitempty"`
	MachineType string   `json:"mt,omitempty"`
	GPUs        int      `json:"gpus,omitempty"`
	ProjectID   int64    `json:"project,omitempty"`
	Protected   bool     `json:"protected,omitempty"`
	// Hops counts how often the offer was passed on by a waiter that could not use it.
	Hops int `json:"hops,omitempty"`
}

// MaxHops bounds how often an offer is passed on to another waiter, so that a job no
// waiter can really take (its plan, quota or GPUs refuse it) does not circulate.
const MaxHops = 3

// Filter is what one waiting runner may take: the matching part of its claim.
type Filter struct {
	// Tags are the runner's tags; a job matches when each of its tags is among them.
	Tags []string
	// RunUntagged lets the runner take jobs without tags.
	RunUntagged bool
	// MachineType, when set, keeps jobs of that machine type; "" is a self-managed
	// runner, which takes any machine type its tags match.
	MachineType string
	// MaxGPUs leaves out jobs needing more GPUs; store.NoGPULimit takes any.
	MaxGPUs int
	// ProjectIDs, when set, keeps jobs of these projects.
	ProjectIDs []int64
	// ProtectedOnly keeps jobs for protected refs.
	ProtectedOnly bool
}

// Accepts reports whether a runner with this filter could take the offered job, by
// the same rules as the store's claim.
func (f Filter) Accepts(o Offer) bool {
	if len(o.Tags) == 0 && !f.RunUntagged {
		return false
	}
	for _, t := range o.Tags {
		if !slices.Contains(f.Tags, t) {
			return false
		}
	}
	switch {
	case f.MachineType != "" && o.MachineType != f.MachineType:
		return false
	case f.MaxGPUs != store.NoGPULimit && o.GPUs > f.MaxGPUs:
		return false
	case len(f.ProjectIDs) > 0 && !slices.Contains(f.ProjectIDs, o.ProjectID):
		return false
	case f.ProtectedOnly && !o.Protected:
		return false
	}
	return true
}

// Hub is the set of runners waiting for a job on one replica. Safe for concurrent use.
type Hub struct {
	mu      sync.Mutex
	buckets map[string]*list.List // machine type ("" for self-managed) → *Waiter, oldest first
	seq     uint64
	waiting int

	epoch string
	gen   atomic.Uint64
}

// NewHub returns an empty hub whose queue values start afresh (a restarted
// coordinator's values never equal one a runner kept from before).
func NewHub() *Hub {
	return &Hub{buckets: map[string]*list.List{}, epoch: rand.Text()[:8]}
}

// Waiter is one wait of one runner: it receives at most one offer (it leaves the
// hub when woken; wait again with a new Wait). Call Done when the runner stops
// waiting, woken or not.
type Waiter struct {
	hub    *Hub
	filter Filter
	seq    uint64
	elem   *list.Element // nil once woken or done
	offers chan Offer
	done   bool
}

// Wait registers a waiter with filter f. Register before the first claim attempt, so
// that a job becoming pending between that attempt and the wait is not missed.
func (h *Hub) Wait(f Filter) *Waiter {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	w := &Waiter{hub: h, filter: f, seq: h.seq, offers: make(chan Offer, 1)}
	b := h.buckets[f.MachineType]
	if b == nil {
		b = list.New()
		h.buckets[f.MachineType] = b
	}
	w.elem = b.PushBack(w)
	h.waiting++
	return w
}

// Offers delivers the jobs this waiter is woken for; a zero Offer means "look again"
// (something may have changed that the hub could not describe).
func (w *Waiter) Offers() <-chan Offer { return w.offers }

// Done unregisters the waiter. An offer it received but did not read is passed on to
// another waiter, so that a runner going away never swallows a wake-up.
func (w *Waiter) Done() {
	h := w.hub
	h.mu.Lock()
	if w.done {
		h.mu.Unlock()
		return
	}
	w.done = true
	h.unlist(w)
	var pass *Offer
	select {
	case o := <-w.offers:
		if o.JobID != 0 {
			pass = &o
		}
	default:
	}
	h.mu.Unlock()
	if pass != nil {
		h.PassOn(*pass)
	}
}

// Announce wakes the longest-waiting runner that could take the offered job and
// reports whether there was one. It changes the queue value either way.
func (h *Hub) Announce(o Offer) bool {
	h.gen.Add(1)
	h.mu.Lock()
	defer h.mu.Unlock()
	var best *Waiter
	consider := func(b *list.List) {
		if b == nil {
			return
		}
		for e := b.Front(); e != nil; e = e.Next() {
			w := e.Value.(*Waiter)
			if best != nil && w.seq > best.seq {
				return // the bucket is in registration order
			}
			if w.filter.Accepts(o) {
				best = w
				return
			}
		}
	}
	if o.MachineType != "" {
		consider(h.buckets[o.MachineType])
	}
	consider(h.buckets[""])
	if best == nil {
		return false
	}
	h.unlist(best)
	best.offers <- o
	return true
}

// unlist takes a waiter out of its bucket; the caller holds h.mu.
func (h *Hub) unlist(w *Waiter) {
	if w.elem == nil {
		return
	}
	h.buckets[w.filter.MachineType].Remove(w.elem)
	w.elem = nil
	h.waiting--
}

// PassOn announces an offer again after the waiter it woke could not use it (it
// claimed another job, or left), at most MaxHops times.
func (h *Hub) PassOn(o Offer) bool {
	if o.Hops >= MaxHops {
		return false
	}
	o.Hops++
	return h.Announce(o)
}

// WakeAll wakes every waiter with a zero offer ("look again") and changes the queue
// value: the notifier may have lost announcements.
func (h *Hub) WakeAll() {
	h.gen.Add(1)
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, b := range h.buckets {
		for e := b.Front(); e != nil; {
			w := e.Value.(*Waiter)
			e = e.Next()
			h.unlist(w)
			w.offers <- Offer{}
		}
	}
}

// LastUpdate is the current queue value (GitLab's X-GitLab-Last-Update). A runner
// whose last_update equals it has seen every announcement since its last poll.
func (h *Hub) LastUpdate() string {
	return fmt.Sprintf("%s-%d", h.epoch, h.gen.Load())
}

// Changed marks the queue value changed without waking anyone (a runner's settings
// changed, so jobs it could not take before may now match).
func (h *Hub) Changed() { h.gen.Add(1) }

// Waiting returns how many runners are waiting.
func (h *Hub) Waiting() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.waiting
}
