package coordinator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kiln-ci/kiln/internal/coordinator/predefined"
	"github.com/kiln-ci/kiln/internal/coordinator/queue"
	"github.com/kiln-ci/kiln/internal/coordinator/quota"
	"github.com/kiln-ci/kiln/internal/dotenv"
	"github.com/kiln-ci/kiln/internal/git"
	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/store"
	"github.com/kiln-ci/kiln/internal/version"
)

// Defaults of Config.
const (
	DefaultLongPoll            = 50 * time.Second
	DefaultStuckTimeout        = 90 * time.Second
	DefaultReapInterval        = 5 * time.Second
	DefaultTraceUpdateInterval = 3 * time.Second
	DefaultGitDepth            = 20
	DefaultMaxArtifactBytes    = 1 << 30
	DefaultMaxTraceBytes       = 100 << 20
	// TimeoutGrace is how long past its timeout a running job may go before the
	// coordinator fails it itself (the runner enforces the timeout first).
	TimeoutGrace = time.Minute
)

// Config configures a Service. Store, Blobs, Repos and ExternalURL are required.
type Config struct {
	Store *store.Store
	Blobs store.ArtifactBlobs
	Repos *git.Manager
	// Catalog of machine types; nil means machine.DefaultCatalog().
	Catalog *machine.Catalog
	// Quota is the compute-minute policy; the zero value means quota.DefaultConfig().
	Quota quota.Config
	// ExternalURL is how runners and people reach this server, e.g.
	// http://127.0.0.1:8080: CI_SERVER_URL and the repository URLs in job payloads.
	ExternalURL string
	// LongPoll is how long jobs/request waits for a job before answering 204.
	LongPoll time.Duration
	// StuckTimeout: a running job whose runner has not reported for this long fails
	// with runner_system_failure (and is retried if its retry policy allows).
	StuckTimeout time.Duration
	// ReapInterval is how often the reaper looks for stuck, timed-out and due jobs.
	ReapInterval time.Duration
	// TraceUpdateInterval is sent to runners as X-GitLab-Trace-Update-Interval.
	TraceUpdateInterval time.Duration
	// ContactInterval is how often an unchanged runner host's contact is written
	// (RecordContact); keep it far below the two hours that count a runner online.
	ContactInterval time.Duration
	// DefaultGitDepth is git_info.depth when a job sets no GIT_DEPTH (GitLab's 20).
	DefaultGitDepth int
	// MaxArtifactBytes refuses larger artifact uploads with 413.
	MaxArtifactBytes int64
	// MaxTraceBytes refuses trace appends beyond this size with 413.
	MaxTraceBytes int64
	// Dotenv limits dotenv reports.
	Dotenv dotenv.Limits
	// FailUnserved fails at once a job whose machine type no registered runner serves
	// (kiln_gpu_unavailable for a machine type with GPUs, no_matching_runner for
	// another), instead of leaving it pending for a runner that may come, as GitLab's
	// stuck jobs wait. It suits a coordinator whose runners are all known when jobs
	// arrive, as kiln up's are. UnservedHint, when set, ends the job's message (why
	// such a machine type is not served, e.g. "this host has no GPU").
	FailUnserved bool
	UnservedHint string
	// Metrics registers the coordinator's Prometheus metrics; nil registers none.
	Metrics prometheus.Registerer
	// Logger; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Service is the coordinator: every operation on pipelines, jobs and runners that
// has rules beyond storing a record. The runner API (internal/api) and the user API
// and web UI call it; they read records they only show from the store directly.
// A Service is safe for concurrent use. Start its background work with Run.
type Service struct {
	cfg     Config
	st      *store.Store
	log     *slog.Logger
	now     func() time.Time
	catalog *machine.Catalog
	server  predefined.Server
	hub     *queue.Hub
	metrics *metrics

	flightsMu sync.Mutex
	flights   map[int64]*flight // pipelines being processed
	contacts  contactThrottle
	quotas    quotaCache
	// Every runner call reads its runner and its job's project: keep them briefly.
	runnersByToken *ttlCache[string, store.Runner] // by the token's hash
	runnersByID    *ttlCache[int64, store.Runner]
	projects       *ttlCache[int64, store.Project]
	namespaces     *ttlCache[int64, store.Namespace]
	jobTokens      jobCache
	// traces remembers the trace size and checksum this replica's last append left,
	// so that a final update matching them needs no read.
	traces *ttlCache[int64, store.TraceInfo]
}

// Cache lifetimes: how long another replica's change to a runner or project may take
// to show here.
const (
	runnerCacheTTL  = 5 * time.Second
	projectCacheTTL = 10 * time.Second
)

// New validates cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Blobs == nil || cfg.Repos == nil {
		return nil, errors.New("coordinator: Config needs Store, Blobs and Repos")
	}
	u, err := url.Parse(strings.TrimRight(cfg.ExternalURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("coordinator: external URL %q: want http(s)://host[:port]", cfg.ExternalURL)
	}
	if cfg.Catalog == nil {
		cfg.Catalog = machine.DefaultCatalog()
	}
	if cfg.Quota.Plans == nil {
		cfg.Quota = quota.DefaultConfig()
	}
	if err := cfg.Quota.Validate(); err != nil {
		return nil, fmt.Errorf("coordinator: %w", err)
	}
	setDefault(&cfg.LongPoll, DefaultLongPoll)
	setDefault(&cfg.StuckTimeout, DefaultStuckTimeout)
	setDefault(&cfg.ReapInterval, DefaultReapInterval)
	setDefault(&cfg.TraceUpdateInterval, DefaultTraceUpdateInterval)
	setDefault(&cfg.ContactInterval, DefaultContactInterval)
	setDefault(&cfg.DefaultGitDepth, DefaultGitDepth)
	setDefault(&cfg.MaxArtifactBytes, DefaultMaxArtifactBytes)
	setDefault(&cfg.MaxTraceBytes, DefaultMaxTraceBytes)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Service{
		cfg:     cfg,
		st:      cfg.Store,
		log:     cfg.Logger,
		now:     cfg.Now,
		catalog: cfg.Catalog,
		server:  predefined.Server{URL: u, Version: version.Version, Revision: version.Rev()},
		hub:     queue.NewHub(),
		flights: map[int64]*flight{},
	}
	s.quotas.ttl = 5 * time.Second
	s.contacts.every, s.contacts.max = cfg.ContactInterval, 100_000
	s.runnersByToken = newTTLCache[string, store.Runner](runnerCacheTTL, 100_000)
	s.runnersByID = newTTLCache[int64, store.Runner](runnerCacheTTL, 100_000)
	s.projects = newTTLCache[int64, store.Project](projectCacheTTL, 10_000)
	s.namespaces = newTTLCache[int64, store.Namespace](projectCacheTTL, 10_000)
	s.traces = newTTLCache[int64, store.TraceInfo](10*time.Minute, 100_000)
	s.metrics, err = newMetrics(s, cfg.Metrics)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Store returns the store the service works on (for handlers that only read).
func (s *Service) Store() *store.Store { return s.st }

// Catalog returns the machine-type catalog.
func (s *Service) Catalog() *machine.Catalog { return s.catalog }

// Repos returns the hosted repositories (the user API creates a new project's).
func (s *Service) Repos() *git.Manager { return s.cfg.Repos }

// ExternalURL returns the server's external URL without a trailing slash.
func (s *Service) ExternalURL() string { return s.server.URL.String() }

// TraceUpdateInterval is what runners are told to wait between trace updates.
func (s *Service) TraceUpdateInterval() time.Duration { return s.cfg.TraceUpdateInterval }

// Run does the coordinator's background work until ctx ends: it listens for jobs
// becoming pending (also on other replicas) to wake waiting runners, and reaps
// (stuck and timed-out jobs, delayed jobs due, spent quotas). Call it once.
func (s *Service) Run(ctx context.Context) error {
	ready := make(chan error, 1)
	go s.listen(ctx, ready)
	if err := <-ready; err != nil {
		return err
	}
	t := time.NewTicker(s.cfg.ReapInterval)
	defer t.Stop()
	for {
		s.reap(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
