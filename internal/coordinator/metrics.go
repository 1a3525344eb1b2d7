package coordinator

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kiln-ci/kiln/internal/store"
)

// metrics are the coordinator's Prometheus series.
type metrics struct {
	finishedJobs *prometheus.CounterVec // kiln_jobs_finished_total{status, failure_reason}
	pickup       prometheus.Histogram   // kiln_job_pickup_latency_seconds
	minutes      prometheus.Counter     // kiln_compute_minutes_total
	snapshot     *snapshotCollector
}

func newMetrics(s *Service, reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		finishedJobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kiln_jobs_finished_total",
			Help: "Jobs that finished, by status and failure reason.",
		}, []string{"status", "failure_reason"}),
		pickup: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "kiln_job_pickup_latency_seconds",
			Help:    "Time from a job becoming pending to a runner claiming it.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}),
		minutes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kiln_compute_minutes_total",
			Help: "Compute minutes charged to namespaces.",
		}),
		snapshot: &snapshotCollector{s: s, ttl: 5 * time.Second},
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.finishedJobs, m.pickup, m.minutes, m.snapshot} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("coordinator: registering metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) finished(j *store.Job) {
	m.finishedJobs.WithLabelValues(string(j.Status), j.FailureReason).Inc()
}

// onlineWithin is GitLab's: a runner that contacted the server within 2 hours is online.
const onlineWithin = 2 * time.Hour

var (
	descJobs          = prometheus.NewDesc("kiln_jobs", "Jobs by status (unfinished statuses; counted up to 1000 per status).", []string{"status"}, nil)
	descQueueDepth    = prometheus.NewDesc("kiln_queue_depth", "Pending jobs waiting for a runner (counted up to 1000).", nil, nil)
	descRunnersOnline = prometheus.NewDesc("kiln_runners_online", "Runners that contacted the coordinator within 2 hours.", nil, nil)
	descWaiting       = prometheus.NewDesc("kiln_runners_waiting", "Runners long-polling this replica for a job now.", nil, nil)
)

// snapshotCollector reads counts from the store when scraped, at most every ttl.
type snapshotCollector struct {
	s   *Service
	ttl time.Duration

	mu      sync.Mutex
	at      time.Time
	byState map[store.Status]int
	online  int
}

func (c *snapshotCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descJobs
	ch <- descQueueDepth
	ch <- descRunnersOnline
	ch <- descWaiting
}

var gaugedStatuses = []store.Status{store.StatusCreated, store.StatusPending, store.StatusRunning, store.StatusCanceling,
	store.StatusManual, store.StatusScheduled}

func (c *snapshotCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.at) > c.ttl {
		c.refresh()
	}
	for _, st := range gaugedStatuses {
		ch <- prometheus.MustNewConstMetric(descJobs, prometheus.GaugeValue, float64(c.byState[st]), string(st))
	}
	ch <- prometheus.MustNewConstMetric(descQueueDepth, prometheus.GaugeValue, float64(c.byState[store.StatusPending]))
	ch <- prometheus.MustNewConstMetric(descRunnersOnline, prometheus.GaugeValue, float64(c.online))
	ch <- prometheus.MustNewConstMetric(descWaiting, prometheus.GaugeValue, float64(c.s.hub.Waiting()))
}

func (c *snapshotCollector) refresh() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.byState = map[store.Status]int{}
	for _, st := range gaugedStatuses {
		jobs, err := c.s.st.Jobs.ListJobs(ctx, store.JobQuery{Statuses: []store.Status{st}, Page: store.Page{Limit: store.MaxPageLimit}})
		if err != nil {
			c.s.log.Warn("counting jobs for metrics", "error", err)
			return
		}
		c.byState[st] = len(jobs)
	}
	runners, err := c.s.st.Runners.ListRunners(ctx, store.RunnerQuery{Page: store.Page{Limit: store.MaxPageLimit}})
	if err != nil {
		c.s.log.Warn("counting runners for metrics", "error", err)
		return
	}
	c.online = 0
	for _, r := range runners {
		if !r.ContactedAt.IsZero() && c.s.now().Sub(r.ContactedAt) < onlineWithin {
			c.online++
		}
	}
	c.at = time.Now()
}
