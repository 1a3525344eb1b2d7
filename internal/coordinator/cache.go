package coordinator

import (
	"context"
	"sync"
	"time"

	"github.com/kiln-ci/kiln/internal/store"
)

// ttlCache keeps values for a short time, so that the records every runner call
// reads (its runner, the job's project) are not fetched on every call. Entries this
// replica changes are dropped at once; other replicas' changes show within the TTL.
type ttlCache[K comparable, V any] struct {
	mu      sync.Mutex
	ttl     time.Duration
	max     int
	entries map[K]ttlEntry[V]
}

type ttlEntry[V any] struct {
	v  V
	at time.Time
}

func newTTLCache[K comparable, V any](ttl time.Duration, max int) *ttlCache[K, V] {
	return &ttlCache[K, V]{ttl: ttl, max: max, entries: map[K]ttlEntry[V]{}}
}

func (c *ttlCache[K, V]) get(k K, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if !ok || now.Sub(e.at) > c.ttl || now.Before(e.at) {
		var zero V
		return zero, false
	}
	return e.v, true
}

func (c *ttlCache[K, V]) put(k K, v V, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		for key, e := range c.entries { // drop the stale, or everything when none is
			if now.Sub(e.at) > c.ttl {
				delete(c.entries, key)
			}
		}
		if len(c.entries) >= c.max {
			clear(c.entries)
		}
	}
	c.entries[k] = ttlEntry[V]{v: v, at: now}
}

func (c *ttlCache[K, V]) drop(k K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, k)
}

func (c *ttlCache[K, V]) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.entries)
}

// transition moves a job (store.Jobs.TransitionJob) and forgets what this replica
// cached of it: its token lookup and trace size.
func (s *Service) transition(ctx context.Context, id int64, t store.JobTransition) (*store.Job, error) {
	j, err := s.st.Jobs.TransitionJob(ctx, id, t)
	s.forgetJob(id)
	return j, err
}

// jobCache keeps recent job-token lookups (by the token's hash), so that a runner's
// updates and trace patches in quick succession read the job once. An entry lives
// jobCacheTTL at most and is dropped when this replica moves the job; another
// replica's cancel or finish shows within the TTL.
type jobCache struct {
	mu     sync.Mutex
	byHash map[string]jobEntry
	byID   map[int64]string
}

type jobEntry struct {
	job store.Job
	at  time.Time
}

// jobCacheTTL bounds how long a cached job-token lookup is used.
const jobCacheTTL = time.Second

func (c *jobCache) get(hash string, now time.Time) (store.Job, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byHash[hash]
	if !ok || now.Sub(e.at) > jobCacheTTL || now.Before(e.at) {
		return store.Job{}, false
	}
	return e.job, true
}

func (c *jobCache) put(hash string, j store.Job, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byHash == nil {
		c.byHash, c.byID = map[string]jobEntry{}, map[int64]string{}
	}
	if len(c.byHash) > 10_000 {
		for h, e := range c.byHash {
			if now.Sub(e.at) > jobCacheTTL {
				delete(c.byHash, h)
				delete(c.byID, e.job.ID)
			}
		}
	}
	c.byHash[hash] = jobEntry{job: j, at: now}
	c.byID[j.ID] = hash
}

func (c *jobCache) drop(id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h, ok := c.byID[id]; ok {
		delete(c.byHash, h)
		delete(c.byID, id)
	}
}

// forgetJob drops what this replica cached of a job.
func (s *Service) forgetJob(id int64) {
	s.jobTokens.drop(id)
	s.traces.drop(id)
}
