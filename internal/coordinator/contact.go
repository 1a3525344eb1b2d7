package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"hash/fnv"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/store"
)

// DefaultContactInterval is Config.ContactInterval's default.
const DefaultContactInterval = time.Minute

// RecordContact stores what a runner reported (version, executor, its Kiln GPU
// inventory and machine type) and when, on the runner and on its host (system_id).
//
// Writes are throttled per runner host, since a runner long-polling in a loop calls
// many times a minute: a report is written when this replica has written none for
// the host yet, at once when a fact changed (version, revision, platform,
// architecture, executor, IP address, machine type, or which GPUs it has and their
// health), and otherwise at most every ContactInterval; the GPUs' momentary state
// (leases, utilization, free count) waits for that. A runner's contacted_at is thus
// at most ContactInterval behind its last call, far inside the two hours that count
// it online; the stuck-job reaper does not read it (a job's own updates keep the job
// alive). Failures are logged: a runner's call never fails because of them.
func (s *Service) RecordContact(ctx context.Context, r *store.Runner, c Contact) {
	var inventory json.RawMessage
	if c.Info.Kiln != nil {
		inventory, _ = json.Marshal(c.Info.Kiln)
		if mt := c.Info.Kiln.MachineType; mt != "" && mt != r.MachineType {
			s.adoptMachineType(ctx, r, mt)
		}
	}
	sc := store.RunnerContact{
		SystemID: c.SystemID, Version: c.Info.Version, Revision: c.Info.Revision, Platform: c.Info.Platform,
		Architecture: c.Info.Architecture, Executor: c.Info.Executor, IPAddress: c.IP, GPUInventory: inventory,
	}
	if !s.contacts.due(r.ID, sc, c.Info.Kiln, s.now()) {
		return
	}
	if err := s.st.Runners.RecordContact(ctx, r.ID, sc); err != nil {
		s.contacts.forget(r.ID) // write the next report
		if !errors.Is(err, context.Canceled) {
			s.log.Warn("recording a runner's contact", "runner", r.ID, "error", err)
		}
	}
}

// adoptMachineType takes the machine type a Kiln runner says it serves.
func (s *Service) adoptMachineType(ctx context.Context, r *store.Runner, mt string) {
	if _, ok := s.catalog.Get(mt); !ok {
		s.log.Warn("runner reports a machine type not in the catalog; ignored", "runner", r.ID, "machine_type", mt)
		return
	}
	updated := *r
	updated.MachineType = mt
	if err := s.UpdateRunner(ctx, &updated); err != nil {
		s.log.Warn("taking the machine type a runner reports", "runner", r.ID, "machine_type", mt, "error", err)
		return
	}
	s.log.Info("runner serves a machine type", "runner", r.ID, "machine_type", mt)
	*r = updated
}

// contactThrottle remembers, per runner host, when this replica last wrote its
// contact and a digest of the facts written. It is safe for concurrent use.
type contactThrottle struct {
	every time.Duration
	max   int // entries kept; beyond, the ones past every (due anyway) are dropped

	mu   sync.Mutex
	last map[contactKey]contactEntry
}

type contactKey struct {
	runner int64
	system string
}

type contactEntry struct {
	at    time.Time
	facts uint64
}

// due reports whether a report must be written now, and if so counts it as written.
func (c *contactThrottle) due(runnerID int64, sc store.RunnerContact, kiln *protocol.KilnInfo, now time.Time) bool {
	key, facts := contactKey{runnerID, sc.SystemID}, contactFacts(sc, kiln)
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.last[key]; ok && e.facts == facts && now.Sub(e.at) < c.every && !now.Before(e.at) {
		return false
	}
	if c.last == nil {
		c.last = map[contactKey]contactEntry{}
	}
	if len(c.last) >= c.max {
		for k, e := range c.last {
			if now.Sub(e.at) >= c.every || now.Before(e.at) {
				delete(c.last, k)
			}
		}
		if len(c.last) >= c.max {
			clear(c.last) // more hosts called within one interval: they write again
		}
	}
	c.last[key] = contactEntry{at: now, facts: facts}
	return true
}

// forget makes the next report of each of a runner's hosts due (the runner changed
// or was deleted, or a write failed).
func (c *contactThrottle) forget(runnerID int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.last {
		if k.runner == runnerID {
			delete(c.last, k)
		}
	}
}

// contactFacts digests what a report says that is written at once when it changes:
// all but the GPUs' momentary state.
func contactFacts(sc store.RunnerContact, kiln *protocol.KilnInfo) uint64 {
	h := fnv.New64a()
	field := func(s string) { io.WriteString(h, s); h.Write([]byte{0}) }
	for _, f := range []string{sc.Version, sc.Revision, sc.Platform, sc.Architecture, sc.Executor, sc.IPAddress} {
		field(f)
	}
	if kiln == nil {
		return h.Sum64()
	}
	field(kiln.MachineType)
	for _, g := range kiln.GPUs {
		field(g.UUID)
		field(g.Model)
		field(strconv.FormatUint(g.MemoryBytes, 10))
		field(g.ComputeCapability)
		field(g.CUDAVersion)
		field(g.DriverVersion)
		field(strconv.FormatBool(g.MIG))
		field(strconv.FormatBool(g.Healthy))
		field(g.HealthReason)
	}
	return h.Sum64()
}
