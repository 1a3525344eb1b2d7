// Package telemetry samples a job's GPUs while it runs (utilisation, memory, power,
// temperature; every second unless configured otherwise) and summarises them when it
// ends: a few aligned lines for the job log's footer, a gpu-telemetry.json job report,
// and live Prometheus series labelled by GPU, job and project.
//
// It is on the runner side: the coordinator side must not import it.
package telemetry

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/kiln-ci/kiln/internal/gpu/device"
	"github.com/kiln-ci/kiln/internal/protocol"
)

// DefaultInterval is how often GPUs are sampled.
const DefaultInterval = time.Second

// DefaultMaxSamples bounds the samples kept per GPU for the report (3 hours at one a
// second: GitLab's cap on hosted jobs). Aggregates keep counting past it.
const DefaultMaxSamples = 3 * 3600

// Sampler reads one unit (device.Host implements it).
type Sampler interface {
	Sample(ctx context.Context, uuid string) (device.Sample, error)
}

// Config configures a Recorder.
type Config struct {
	Sampler Sampler
	UUIDs   []string
	// JobID and Project label the report and the Prometheus series.
	JobID   int64
	Project string
	// Interval between samples (default 1 s).
	Interval time.Duration
	// Ticks, when set, drives sampling instead of a ticker of Interval: a sample of
	// every GPU is taken on each receive (tests use it as an injected clock).
	Ticks <-chan time.Time
	// Now tells the time (default time.Now).
	Now        func() time.Time
	MaxSamples int
	Logger     *slog.Logger
}

// Recorder samples GPUs until stopped. Its methods are safe for concurrent use.
type Recorder struct {
	cfg     Config
	cancel  context.CancelFunc
	done    chan struct{}
	started time.Time

	mu      sync.Mutex
	aggs    map[string]*aggregate
	order   []string
	samples []device.Sample
	last    map[string]device.Sample
	stopped bool
}

// aggregate accumulates one GPU's figures.
type aggregate struct {
	n                 int
	sumUtil, sumPower float64
	peakMem           uint64
	peakTemp          float64
	integratedJ       float64 // power integrated over time (trapezoids)
	prev              *device.Sample
	firstMJ, lastMJ   uint64 // the driver's energy counter
	counterOK         bool
}

// New returns a recorder that has not started sampling; Add feeds it samples.
func New(cfg Config) *Recorder {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxSamples <= 0 {
		cfg.MaxSamples = DefaultMaxSamples
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Recorder{cfg: cfg, aggs: map[string]*aggregate{}, last: map[string]device.Sample{}, started: cfg.Now()}
	for _, u := range cfg.UUIDs {
		r.aggs[u] = &aggregate{}
		r.order = append(r.order, u)
	}
	return r
}

// Start returns a recorder that samples every GPU at once and then at each tick,
// until Stop.
func Start(ctx context.Context, cfg Config) *Recorder {
	r := New(cfg)
	ctx, r.cancel = context.WithCancel(ctx)
	r.done = make(chan struct{})
	ticks := r.cfg.Ticks
	var ticker *time.Ticker
	if ticks == nil {
		ticker = time.NewTicker(r.cfg.Interval)
		ticks = ticker.C
	}
	go func() {
		defer close(r.done)
		if ticker != nil {
			defer ticker.Stop()
		}
		r.sampleAll(ctx)
		for {
			select {
			case <-ctx.Done():
				return
			case _, ok := <-ticks:
				if !ok {
					return
				}
				r.sampleAll(ctx)
			}
		}
	}()
	return r
}

func (r *Recorder) sampleAll(ctx context.Context) {
	for _, uuid := range r.order {
		s, err := r.cfg.Sampler.Sample(ctx, uuid)
		if err != nil {
			if ctx.Err() == nil {
				r.cfg.Logger.Warn("sampling a GPU failed", "uuid", uuid, "job", r.cfg.JobID, "error", err)
			}
			continue
		}
		if s.Time.IsZero() {
			s.Time = r.cfg.Now()
		}
		s.UUID = uuid
		r.Add(s)
	}
}

// Add records one sample of one of the recorder's GPUs (samples of other GPUs are
// ignored). Samples of a GPU must come in time order.
func (r *Recorder) Add(s device.Sample) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, ok := r.aggs[s.UUID]
	if !ok || r.stopped {
		return
	}
	a.n++
	a.sumUtil += s.UtilizationPct
	a.sumPower += s.PowerWatts
	a.peakMem = max(a.peakMem, s.MemoryUsedBytes)
	a.peakTemp = max(a.peakTemp, s.TemperatureC)
	if a.prev != nil {
		dt := s.Time.Sub(a.prev.Time).Seconds()
		if dt > 0 {
			a.integratedJ += (a.prev.PowerWatts + s.PowerWatts) / 2 * dt
		}
		a.counterOK = a.counterOK && s.EnergyMillijoules >= a.lastMJ && s.EnergyMillijoules > 0
	} else {
		a.firstMJ = s.EnergyMillijoules
		a.counterOK = s.EnergyMillijoules > 0
	}
	a.lastMJ = s.EnergyMillijoules
	prev := s
	a.prev = &prev
	r.last[s.UUID] = s
	if len(r.samples) < r.cfg.MaxSamples*len(r.order) {
		r.samples = append(r.samples, s)
	}
}

// Last returns the latest sample of each GPU (for live metrics).
func (r *Recorder) Last() []device.Sample {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []device.Sample
	for _, u := range r.order {
		if s, ok := r.last[u]; ok {
			out = append(out, s)
		}
	}
	return out
}

// Summary returns the per-GPU figures so far.
func (r *Recorder) Summary() []protocol.GPUTelemetry {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]protocol.GPUTelemetry, 0, len(r.order))
	for _, u := range r.order {
		a := r.aggs[u]
		t := protocol.GPUTelemetry{UUID: u, Samples: a.n, PeakMemoryBytes: a.peakMem, PeakTemperatureC: a.peakTemp}
		if a.n > 0 {
			t.MeanUtilizationPct = a.sumUtil / float64(a.n)
			t.MeanPowerWatts = a.sumPower / float64(a.n)
		}
		t.EnergyJoules = a.integratedJ
		if a.counterOK && a.n > 1 {
			// The driver's own counter is exact where it exists.
			t.EnergyJoules = float64(a.lastMJ-a.firstMJ) / 1000
		}
		out = append(out, t)
	}
	return out
}

// Stop ends sampling (waiting for a sample in progress) and returns the report. It
// may be called more than once.
func (r *Recorder) Stop() Report {
	if r.cancel != nil {
		r.cancel()
		<-r.done
	}
	r.mu.Lock()
	r.stopped = true
	samples := append([]device.Sample(nil), r.samples...)
	r.mu.Unlock()
	return Report{
		JobID:           r.cfg.JobID,
		Project:         r.cfg.Project,
		IntervalSeconds: r.cfg.Interval.Seconds(),
		Started:         r.started.UTC(),
		Finished:        r.cfg.Now().UTC(),
		GPUs:            r.Summary(),
		Samples:         samples,
	}
}
