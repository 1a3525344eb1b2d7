package coordinator

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/kiln-ci/kiln/internal/coordinator/quota"
	"github.com/kiln-ci/kiln/internal/store"
)

// quotaCache keeps recent quota reports per top-level namespace, so that admissions
// and claims do not read usage every time. A charge refreshes its namespace's entry.
type quotaCache struct {
	mu      sync.Mutex
	ttl     time.Duration
	entries map[int64]quotaEntry
}

type quotaEntry struct {
	report quota.Report
	at     time.Time
}

func (c *quotaCache) get(id int64, now time.Time, month string) (quota.Report, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[id]
	if !ok || now.Sub(e.at) > c.ttl || e.report.Month != month {
		return quota.Report{}, false
	}
	return e.report, true
}

func (c *quotaCache) put(id int64, r quota.Report, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[int64]quotaEntry{}
	}
	c.entries[id] = quotaEntry{report: r, at: now}
}

// spent returns the top-level namespaces known to have spent this month's quota.
func (c *quotaCache) spent(month string) []int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []int64
	for id, e := range c.entries {
		if e.report.Exceeded && e.report.Month == month {
			out = append(out, id)
		}
	}
	return out
}

// quotaReport is a top-level namespace's standing this month.
func (s *Service) quotaReport(ctx context.Context, root *store.Namespace) (quota.Report, error) {
	now := s.now()
	month := store.MonthOf(now)
	if r, ok := s.quotas.get(root.ID, now, month); ok && r.Plan == root.Plan {
		return r, nil
	}
	u, err := s.st.Usage.Usage(ctx, root.ID, month)
	if err != nil {
		return quota.Report{}, fmt.Errorf("reading the compute usage of namespace %d: %w", root.ID, err)
	}
	r := s.cfg.Quota.Report(root.Plan, u)
	s.quotas.put(root.ID, r, now)
	return r, nil
}

// ComputeUsage returns a namespace's compute minutes this month: its top-level
// namespace's usage, quota, percentage left, warning level and whether the quota is
// spent, with the warning a person should see (Report.Warning).
func (s *Service) ComputeUsage(ctx context.Context, namespaceID int64) (quota.Report, error) {
	ns, err := s.st.Namespaces.Namespace(ctx, namespaceID)
	if err != nil {
		return quota.Report{}, notFound(err, "namespace", namespaceID)
	}
	root := ns
	if ns.RootID != ns.ID {
		if root, err = s.st.Namespaces.Namespace(ctx, ns.RootID); err != nil {
			return quota.Report{}, notFound(err, "namespace", ns.RootID)
		}
	}
	u, err := s.st.Usage.Usage(ctx, root.ID, store.MonthOf(s.now()))
	if err != nil {
		return quota.Report{}, fmt.Errorf("reading the compute usage of namespace %d: %w", root.ID, err)
	}
	r := s.cfg.Quota.Report(root.Plan, u)
	s.quotas.put(root.ID, r, s.now())
	return r, nil
}

// costFactor is what a job run by runner is charged per minute: the cost factor of
// the machine type the runner serves, 0 for a self-managed runner (no machine type,
// or one not in the catalog) or none.
func (s *Service) costFactor(runner *store.Runner) float64 {
	if runner == nil || runner.MachineType == "" {
		return 0
	}
	if mt, ok := s.catalog.Get(runner.MachineType); ok {
		return mt.CostFactor
	}
	return 0
}

// charged follows a finish that charged a job's compute minutes (its duration at the
// cost factor) to its top-level namespace: it counts them, refreshes the namespace's
// quota report from its usage read after the charge, and when the namespace crossed
// a warning level (25 %, 5 % or 0 % left) for the first time this month, appends the
// warning to the job's trace.
func (s *Service) charged(ctx context.Context, j *store.Job, costFactor float64) {
	s.metrics.minutes.Add(j.Duration().Minutes() * costFactor)
	month := store.MonthOf(j.FinishedAt)
	u, err := s.st.Usage.Usage(ctx, j.RootNamespaceID, month)
	if err != nil {
		s.log.Error("reading a charged namespace's compute usage", "job", j.ID, "namespace", j.RootNamespaceID, "error", err)
		return
	}
	root, err := s.namespace(ctx, j.RootNamespaceID)
	if err != nil {
		s.log.Error("reading a charged namespace", "namespace", j.RootNamespaceID, "error", err)
		return
	}
	r := s.cfg.Quota.Report(root.Plan, u)
	s.quotas.put(root.ID, r, s.now())
	if r.Level == store.NotWarned {
		return
	}
	first, err := s.st.Usage.MarkWarned(ctx, root.ID, month, r.Level)
	if err != nil {
		s.log.Error("recording a quota warning", "namespace", root.ID, "error", err)
		return
	}
	if first {
		s.log.Warn("compute quota warning", "namespace", root.FullPath, "level", r.Level, "used", r.Used, "quota", r.Quota)
		s.appendNote(ctx, j.ID, "WARNING: "+r.Warning())
	}
}
