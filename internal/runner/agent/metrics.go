package agent

import (
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/runner"
)

// Metrics are the runner's Prometheus series:
//
//	kiln_runner_jobs_running{runner}
//	kiln_runner_jobs_total{runner,outcome}
//	kiln_runner_job_duration_seconds{runner,outcome}
//	kiln_runner_job_requests_total{runner,result}       (job, no_job, error, unhealthy)
//	kiln_runner_api_request_duration_seconds{endpoint,status}
//
// A nil *Metrics records nothing.
type Metrics struct {
	running     *prometheus.GaugeVec
	jobs        *prometheus.CounterVec
	durations   *prometheus.HistogramVec
	requests    *prometheus.CounterVec
	apiDuration *prometheus.HistogramVec
}

// NewMetrics registers the series with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		running: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kiln_runner_jobs_running", Help: "Jobs running now."}, []string{"runner"}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kiln_runner_jobs_total", Help: "Jobs finished, by outcome."}, []string{"runner", "outcome"}),
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "kiln_runner_job_duration_seconds", Help: "Job wall time from start to final status.",
			Buckets: []float64{1, 5, 15, 30, 60, 300, 900, 1800, 3600, 7200, 10800}}, []string{"runner", "outcome"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kiln_runner_job_requests_total", Help: "Job requests, by result."}, []string{"runner", "result"}),
		apiDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "kiln_runner_api_request_duration_seconds", Help: "Runner API calls to the coordinator.",
			Buckets: prometheus.DefBuckets}, []string{"endpoint", "status"}),
	}
	for _, c := range []prometheus.Collector{m.running, m.jobs, m.durations, m.requests, m.apiDuration} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// ObserveAPI is a protocol.ClientConfig.Observe hook.
func (m *Metrics) ObserveAPI(endpoint string, status int, d time.Duration) {
	if m == nil {
		return
	}
	m.apiDuration.WithLabelValues(endpoint, strconv.Itoa(status)).Observe(d.Seconds())
}

func (m *Metrics) request(runnerName string, err error, gotJob bool) {
	if m == nil {
		return
	}
	result := "no_job"
	switch {
	case gotJob:
		result = "job"
	case protocol.Unhealthy(err):
		result = "unhealthy"
	case err != nil:
		result = "error"
	}
	m.requests.WithLabelValues(runnerName, result).Inc()
}

func (m *Metrics) started(runnerName string) {
	if m != nil {
		m.running.WithLabelValues(runnerName).Inc()
	}
}

func (m *Metrics) finished(runnerName string, o runner.Outcome, d time.Duration) {
	if m == nil {
		return
	}
	outcome := strings.ReplaceAll(o.Kind.String(), " ", "_")
	m.running.WithLabelValues(runnerName).Dec()
	m.jobs.WithLabelValues(runnerName, outcome).Inc()
	m.durations.WithLabelValues(runnerName, outcome).Observe(d.Seconds())
}
