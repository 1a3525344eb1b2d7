package telemetry

import (
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector exposes the latest sample of every running job's GPUs as Prometheus
// series labelled uuid, job and project. The runner registers one Collector and
// tracks each job's Recorder while the job runs; a job's series disappear when it is
// untracked. It is safe for concurrent use.
type Collector struct {
	util, mem, power, temp, energy *prometheus.Desc

	mu        sync.Mutex
	recorders map[*Recorder]struct{}
}

// NewCollector returns an empty collector.
func NewCollector() *Collector {
	labels := []string{"uuid", "job", "project"}
	return &Collector{
		util:      prometheus.NewDesc("kiln_gpu_utilization_percent", "GPU utilisation of a running job's GPU, in percent.", labels, nil),
		mem:       prometheus.NewDesc("kiln_gpu_memory_used_bytes", "Memory in use on a running job's GPU.", labels, nil),
		power:     prometheus.NewDesc("kiln_gpu_power_watts", "Power drawn by a running job's GPU.", labels, nil),
		temp:      prometheus.NewDesc("kiln_gpu_temperature_celsius", "Temperature of a running job's GPU.", labels, nil),
		energy:    prometheus.NewDesc("kiln_gpu_job_energy_joules", "Energy a running job's GPU has used since the job started.", labels, nil),
		recorders: map[*Recorder]struct{}{},
	}
}

// Track adds a job's recorder.
func (c *Collector) Track(r *Recorder) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.recorders[r] = struct{}{}
}

// Untrack removes a job's recorder.
func (c *Collector) Untrack(r *Recorder) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.recorders, r)
}

// Describe sends the series' descriptions.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.util, c.mem, c.power, c.temp, c.energy} {
		ch <- d
	}
}

// Collect sends the latest figures of every tracked job.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	rs := make([]*Recorder, 0, len(c.recorders))
	for r := range c.recorders {
		rs = append(rs, r)
	}
	c.mu.Unlock()
	for _, r := range rs {
		job := strconv.FormatInt(r.cfg.JobID, 10)
		energy := map[string]float64{}
		for _, t := range r.Summary() {
			energy[t.UUID] = t.EnergyJoules
		}
		for _, s := range r.Last() {
			lv := []string{s.UUID, job, r.cfg.Project}
			ch <- prometheus.MustNewConstMetric(c.util, prometheus.GaugeValue, s.UtilizationPct, lv...)
			ch <- prometheus.MustNewConstMetric(c.mem, prometheus.GaugeValue, float64(s.MemoryUsedBytes), lv...)
			ch <- prometheus.MustNewConstMetric(c.power, prometheus.GaugeValue, s.PowerWatts, lv...)
			ch <- prometheus.MustNewConstMetric(c.temp, prometheus.GaugeValue, s.TemperatureC, lv...)
			ch <- prometheus.MustNewConstMetric(c.energy, prometheus.GaugeValue, energy[s.UUID], lv...)
		}
	}
}

var _ prometheus.Collector = (*Collector)(nil)
