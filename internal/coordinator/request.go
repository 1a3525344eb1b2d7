package coordinator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kiln-ci/kiln/internal/coordinator/gpufit"
	"github.com/kiln-ci/kiln/internal/coordinator/queue"
	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/store"
)

// JobRequest is a runner asking for a job (POST /jobs/request).
type JobRequest struct {
	Contact
	// LastUpdate is the queue value the runner received last (X-GitLab-Last-Update),
	// "" on its first call.
	LastUpdate string
}

// RequestJob hands a runner a job it can take, waiting up to the long-poll duration
// for one to become pending. It returns the job's payload, or nil when none came,
// and the queue value for X-GitLab-Last-Update either way. As in GitLab, a runner
// whose last_update equals the current queue value has seen every announcement, so
// it waits without querying first; a paused runner gets no job. When ctx ends (the
// runner hung up) it returns nil and no error.
func (s *Service) RequestJob(ctx context.Context, r *store.Runner, req JobRequest) (*jobspec.Job, string, error) {
	s.RecordContact(ctx, r, req.Contact)
	if r.Paused {
		return nil, s.hub.LastUpdate(), nil
	}
	c, err := s.claimer(ctx, r, req.Info.Kiln)
	if err != nil {
		return nil, s.hub.LastUpdate(), err
	}
	if c == nil { // a group runner of a group without projects
		return nil, s.hub.LastUpdate(), nil
	}
	w := s.hub.Wait(c.filter)
	defer func() { w.Done() }()
	if req.LastUpdate == "" || req.LastUpdate != s.hub.LastUpdate() {
		if job, err := s.claim(ctx, c, queue.Offer{}); job != nil || err != nil {
			return job, s.hub.LastUpdate(), quiet(ctx, err)
		}
	}
	timer := time.NewTimer(s.cfg.LongPoll)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, s.hub.LastUpdate(), nil
		case <-timer.C:
			return nil, s.hub.LastUpdate(), nil
		case o := <-w.Offers():
			w.Done()
			w = s.hub.Wait(c.filter)
			job, err := s.claim(ctx, c, o)
			if job != nil || err != nil {
				if o.JobID != 0 && (job == nil || job.ID != o.JobID) {
					s.hub.PassOn(o) // we took another job (or failed): someone else may take this one
				}
				return job, s.hub.LastUpdate(), quiet(ctx, err)
			}
		}
	}
}

// quiet drops the error of a request whose runner hung up: nobody is listening.
func quiet(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// claimer is what one runner's claims need, computed once per request.
type claimer struct {
	runner    *store.Runner
	filter    queue.Filter
	request   store.ClaimRequest
	inventory gpufit.Inventory
	hosted    bool
}

// claimer derives from a runner what it may take: its tags; untagged jobs when it
// runs untagged; its machine type (a Kiln runner serves one; a runner without one is
// self-managed and takes any machine type its tags match); the plans its machine type
// is open to; its projects (project and group runners); protected refs only for a
// ref_protected runner; jobs needing at most as many GPUs as it has free. Runners on
// hosted machine types skip namespaces whose quota is spent. The store's claim and
// the wake-up filter are built here from the same facts, so they agree.
func (s *Service) claimer(ctx context.Context, r *store.Runner, kiln *protocol.KilnInfo) (*claimer, error) {
	c := &claimer{runner: r}
	c.filter = queue.Filter{Tags: r.Tags, RunUntagged: r.RunUntagged, MachineType: r.MachineType,
		ProtectedOnly: r.AccessLevel == store.AccessRefProtected}
	c.inventory = gpufit.Inventory{RunnerID: r.ID, MachineType: r.MachineType}
	if kiln != nil {
		c.inventory.GPUs, c.inventory.FreeGPUs = kiln.GPUs, kiln.FreeGPUs
	}
	c.filter.MaxGPUs = freeGPUs(c.inventory)
	switch r.Type {
	case store.RunnerProject:
		c.filter.ProjectIDs = []int64{r.ProjectID}
	case store.RunnerGroup:
		ids, err := s.groupProjects(ctx, r.NamespaceID)
		if err != nil {
			return nil, err
		}
		if len(ids) == 0 {
			return nil, nil
		}
		c.filter.ProjectIDs = ids
	}
	c.request = store.ClaimRequest{
		RunnerID: r.ID, Tags: c.filter.Tags, RunUntagged: c.filter.RunUntagged, ProjectIDs: c.filter.ProjectIDs,
		ProtectedOnly: c.filter.ProtectedOnly, MaxGPUs: c.filter.MaxGPUs, Order: store.ClaimFairShare,
	}
	if mt, ok := s.catalog.Get(r.MachineType); ok {
		c.hosted = true
		c.request.MachineTypes = []string{mt.Tag}
		c.request.Plans = mt.Plans
	}
	return c, nil
}

// freeGPUs counts a runner's healthy, unleased GPUs.
func freeGPUs(inv gpufit.Inventory) int {
	if len(inv.GPUs) == 0 {
		return inv.FreeGPUs
	}
	n := 0
	for _, g := range inv.GPUs {
		if g.Healthy && !g.Leased {
			n++
		}
	}
	return n
}

func (s *Service) groupProjects(ctx context.Context, groupID int64) ([]int64, error) {
	var ids []int64
	for offset := 0; ; offset += store.MaxPageLimit {
		ps, err := s.st.Projects.ListProjects(ctx, store.ProjectQuery{Under: groupID, Page: store.Page{Offset: offset, Limit: store.MaxPageLimit}})
		if err != nil {
			return nil, fmt.Errorf("listing the projects of group %d: %w", groupID, err)
		}
		for _, p := range ps {
			ids = append(ids, p.ID)
		}
		if len(ps) < store.MaxPageLimit {
			return ids, nil
		}
	}
}

// maxClaimAttempts bounds the claims of one request (each refused job is failed
// and the next one tried).
const maxClaimAttempts = 5

// claim takes one job for the runner from the store and returns its payload, or nil
// when no job is left that the runner may take now. A claimed job the runner's free
// GPUs do not fit goes back to the queue, is offered to another runner and left out
// of this runner's next try; one whose namespace spent its quota meanwhile fails.
func (s *Service) claim(ctx context.Context, c *claimer, woken queue.Offer) (*jobspec.Job, error) {
	req := c.request
	for range maxClaimAttempts {
		token, err := store.NewToken(store.PrefixJobToken)
		if err != nil {
			return nil, err
		}
		req.Token = token
		if c.hosted {
			req.ExcludeRootNamespaces = s.quotas.spent(store.MonthOf(s.now()))
		}
		j, pl, err := s.st.Jobs.ClaimJob(ctx, req)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err // the store's error names the runner
		}
		log := s.log.With("job", j.ID, "runner", c.runner.ID)
		if ok, why := gpufit.FitsNow(j.GPURequest, c.inventory); !ok {
			log.Info("claimed job does not fit the runner's free GPUs; back to the queue", "why", why)
			s.release(context.WithoutCancel(ctx), j)
			o := offerOf(j)
			if woken.JobID == j.ID {
				o.Hops = woken.Hops
			}
			s.hub.PassOn(o)
			req.ExcludeJobs = append(req.ExcludeJobs, j.ID)
			continue
		}
		if c.hosted {
			if refused, err := s.quotaRefusal(ctx, j); err != nil {
				s.release(context.WithoutCancel(ctx), j)
				return nil, err
			} else if refused != nil {
				if err := s.refuse(ctx, j, []store.Status{store.StatusRunning}, refused); err != nil {
					return nil, err
				}
				s.processLogged(ctx, j.PipelineID)
				continue
			}
		}
		p, err := s.buildPayload(ctx, j, pl, c.runner, token)
		if err != nil {
			log.Error("building a claimed job's payload; back to the queue", "error", err)
			s.release(context.WithoutCancel(ctx), j)
			return nil, err
		}
		// The runner's first update and trace patch follow at once: they need not
		// read the job its token belongs to again.
		cached := *j
		cached.Payload = nil // as JobByToken has it
		s.jobTokens.put(string(store.HashToken(token)), cached, s.now())
		s.metrics.pickup.Observe(j.StartedAt.Sub(j.QueuedAt).Seconds())
		log.Info("job claimed", "pipeline", j.PipelineID, "name", j.Name, "queued_for", j.StartedAt.Sub(j.QueuedAt))
		// A claim moves no other job, and a pipeline with a running job is running: only
		// a pipeline not running yet needs processing. (Its status comes from the
		// claim's snapshot. A processing that set another status meanwhile, from jobs
		// read before this claim committed, leaves a stale status only until the
		// pipeline's next change, e.g. the claim of the job whose move it followed.)
		if pl.Status != store.StatusRunning {
			s.processLogged(context.WithoutCancel(ctx), j.PipelineID)
		}
		return p, nil
	}
	return nil, nil
}

// quotaRefusal fails a hosted job whose namespace spent its quota.
func (s *Service) quotaRefusal(ctx context.Context, j *store.Job) (*refusal, error) {
	root, err := s.namespace(ctx, j.RootNamespaceID)
	if err != nil {
		return nil, fmt.Errorf("reading namespace %d: %w", j.RootNamespaceID, err)
	}
	r, err := s.quotaReport(ctx, root)
	if err != nil || !r.Exceeded {
		return nil, err
	}
	return &refusal{protocol.FailureQuotaExceeded, r.Warning()}, nil
}

// release puts a claimed job back in the queue (its token is revoked).
func (s *Service) release(ctx context.Context, j *store.Job) {
	if _, err := s.transition(ctx, j.ID, store.JobTransition{
		From: []store.Status{store.StatusRunning}, To: store.StatusPending}); err != nil {
		s.log.Error("putting a claimed job back in the queue", "job", j.ID, "error", err)
	}
}

// Unclaim puts back in the queue a job RequestJob handed out whose answer never
// reached the runner (it hung up first), so that it does not wait for the reaper.
func (s *Service) Unclaim(ctx context.Context, jobID int64) {
	j, err := s.st.Jobs.Job(ctx, jobID)
	if err != nil || j.Status != store.StatusRunning {
		return
	}
	s.log.Warn("runner hung up before receiving its job; back to the queue", "job", jobID, "runner", j.RunnerID)
	s.release(ctx, j)
	if pending, err := s.st.Jobs.Job(ctx, jobID); err == nil && pending.Status == store.StatusPending {
		s.announce(ctx, pending)
	}
}
