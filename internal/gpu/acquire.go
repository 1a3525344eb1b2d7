package gpu

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/kiln-ci/kiln/internal/gpu/device"
	"github.com/kiln-ci/kiln/internal/gpu/health"
	"github.com/kiln-ci/kiln/internal/gpu/lease"
	"github.com/kiln-ci/kiln/internal/machine"
)

// Job names the job GPUs are leased to.
type Job = lease.Job

// fitting returns the units that satisfy req, in index order, and why the others do
// not.
func (m *Manager) fitting(req machine.GPURequest) (fit []device.GPU, why []string) {
	for _, g := range m.inv.GPUs {
		if ok, reason := req.Fits(g.Machine()); ok {
			fit = append(fit, g)
		} else {
			why = append(why, g.UUID+": "+reason)
		}
	}
	return fit, why
}

// Free returns how many more jobs asking req (a request resolved against the machine
// type) could start on this host now: the GPUs that fit, are not quarantined and are
// not leased, divided among the jobs (Placeable with no lease counted as own).
func (m *Manager) Free(req machine.GPURequest) (int, error) { return m.Placeable(req, nil) }

// Placeable returns how many jobs asking req could run on this host at once, counting
// the GPUs that fit, are not quarantined, and are either free or held by a lease that
// own accepts (the caller's own running jobs). A caller that admits jobs one by one
// compares it with the jobs it has admitted: leases of other runner processes and
// quarantined GPUs lower it, its own leases do not, so a job admitted but not yet
// leased is never counted twice.
func (m *Manager) Placeable(req machine.GPURequest, own func(leaseID string) bool) (int, error) {
	want := req.Wanted()
	if want == 0 {
		return 0, errors.New("the request asks for no GPUs")
	}
	st, err := m.store.Read()
	if err != nil {
		return 0, err
	}
	fit, _ := m.fitting(req)
	n := 0
	for _, g := range fit {
		if _, q := st.QuarantineOf(g.UUID); q {
			continue
		}
		if h, held := st.Holder(g.UUID); held && (own == nil || !own(h.ID)) {
			continue
		}
		n++
	}
	return n / want, nil
}

// Acquire leases GPUs satisfying req (a request resolved against the job's machine
// type) to job. Each chosen GPU passes the health gate first; one that fails is
// quarantined and another is chosen (the job moves to a healthy GPU); when no healthy
// one is left, it returns a *FaultError (Requeue) naming the GPUs that failed. It
// returns an *UnavailableError when the request cannot be met: Busy when fitting GPUs
// exist but are taken now. A request for no GPUs returns a lease of no GPUs.
func (m *Manager) Acquire(ctx context.Context, job Job, req machine.GPURequest) (*Lease, error) {
	want := req.Wanted()
	if want == 0 {
		return &Lease{m: m, job: job, req: req}, nil
	}
	fit, why := m.fitting(req)
	if len(fit) < want {
		reason := fmt.Sprintf("the job needs %d GPU(s) but this host has none", want)
		if len(m.inv.GPUs) > 0 {
			reason = fmt.Sprintf("the job needs %d GPU(s) and %d of this host's %d fit (%s)", want, len(fit), len(m.inv.GPUs), strings.Join(why, "; "))
		}
		return nil, &UnavailableError{Wanted: want, Reason: reason}
	}
	candidates := make([]string, len(fit))
	for i, g := range fit {
		candidates[i] = g.UUID
	}
	var faults []*health.Fault // GPUs this call quarantined
	for range len(fit) + 1 {
		rec, err := m.store.Acquire(job, m.self, candidates, want, nil)
		if errors.Is(err, lease.ErrBusy) && len(faults) > 0 {
			// The job's GPUs failed the gate and no healthy one is left: a GPU fault.
			f := &FaultError{Requeue: true}
			var reasons []string
			for _, x := range faults {
				f.UUIDs = append(f.UUIDs, x.UUID)
				reasons = append(reasons, x.Reason)
			}
			f.Reason = strings.Join(reasons, "; ") + fmt.Sprintf(" (no other of the %d GPUs that fit is free)", len(fit))
			return nil, f
		}
		if errors.Is(err, lease.ErrBusy) {
			return nil, &UnavailableError{Wanted: want, Busy: true,
				Reason: fmt.Sprintf("the job needs %d GPU(s); the %d that fit are leased or quarantined", want, len(fit))}
		}
		if err != nil {
			return nil, fmt.Errorf("leasing GPUs for job %d: %w", job.ID, err)
		}
		faulty, err := m.vet(ctx, job, &rec)
		if err != nil {
			m.store.Release(rec.ID)
			return nil, err
		}
		faults = append(faults, faulty...)
		if len(faulty) > 0 {
			if err := m.store.Release(rec.ID); err != nil {
				return nil, err
			}
			continue // the faulty GPUs are quarantined now: choose again
		}
		gpus := make([]device.GPU, len(rec.UUIDs))
		for i, u := range rec.UUIDs {
			gpus[i], _ = m.inv.Get(u)
		}
		devices, err := m.injector.Devices(gpus)
		if err != nil {
			m.store.Release(rec.ID)
			return nil, fmt.Errorf("preparing GPU injection for job %d: %w", job.ID, err)
		}
		devices.Services = m.cfg.ServicesGetGPUs
		m.log.Info("leased GPUs", "job", job.ID, "lease", rec.ID, "gpus", rec.UUIDs)
		return &Lease{m: m, job: job, req: req, rec: rec, gpus: gpus, devices: devices}, nil
	}
	return nil, &FaultError{Requeue: true, Reason: "every GPU that fits failed its health check"}
}

// vet runs the health gate on a fresh lease's GPUs, quarantining those that fail, and
// records each healthy GPU's idle memory use as its scrub baseline. faulty lists the
// GPUs that failed.
func (m *Manager) vet(ctx context.Context, job Job, rec *lease.Lease) (faulty []*health.Fault, err error) {
	idle := map[string]uint64{}
	for _, uuid := range rec.UUIDs {
		if err := m.gate.Check(ctx, uuid); err != nil {
			var f *health.Fault
			if !errors.As(err, &f) {
				return nil, err
			}
			m.log.Error("GPU failed its health check before a job; quarantining it", "uuid", uuid, "job", job.ID, "reason", f.Reason)
			if err := m.store.Quarantine(lease.Quarantine{UUID: uuid, Reason: f.Reason, JobID: job.ID}); err != nil {
				return nil, err
			}
			faulty = append(faulty, f)
			continue
		}
		s, err := m.host.Sample(ctx, uuid)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			reason := "reading its memory use failed: " + err.Error()
			if err := m.store.Quarantine(lease.Quarantine{UUID: uuid, Reason: reason, JobID: job.ID}); err != nil {
				return nil, err
			}
			faulty = append(faulty, &health.Fault{UUID: uuid, Reason: reason})
			continue
		}
		idle[uuid] = s.MemoryUsedBytes
	}
	if len(faulty) > 0 {
		return faulty, nil
	}
	rec.IdleMemoryBytes = idle
	return nil, m.store.Update(func(st *lease.State) error {
		for i := range st.Leases {
			if st.Leases[i].ID == rec.ID {
				st.Leases[i].IdleMemoryBytes = idle
				return nil
			}
		}
		return fmt.Errorf("GPU lease %s vanished from the state directory", rec.ID)
	})
}
