package gpu

import (
	"time"

	"github.com/kiln-ci/kiln/internal/gpu/device"
	"github.com/kiln-ci/kiln/internal/gpu/lease"
	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/protocol"
)

// Listing is the inventory with health, quarantine and leases, as `kiln gpu list`
// shows it.
type Listing struct {
	Source        string          `json:"source"`
	DriverVersion string          `json:"driver_version,omitempty"`
	CUDAVersion   machine.Version `json:"cuda_version,omitzero"`
	GPUs          []Entry         `json:"gpus"`
	// Free counts the healthy, unleased units.
	Free int `json:"free"`
	// Quarantined lists every quarantine record, also of GPUs no longer discovered.
	Quarantined []lease.Quarantine `json:"quarantined"`
	StateDir    string             `json:"state_dir,omitempty"`
}

// Entry is one unit in a Listing.
type Entry struct {
	device.GPU
	Healthy    bool              `json:"healthy"`
	Quarantine *lease.Quarantine `json:"quarantine,omitempty"`
	Lease      *LeaseInfo        `json:"lease,omitempty"`
}

// LeaseInfo is who holds a unit.
type LeaseInfo struct {
	ID      string    `json:"id"`
	JobID   int64     `json:"job_id"`
	JobName string    `json:"job_name,omitempty"`
	Project string    `json:"project,omitempty"`
	Runner  string    `json:"runner,omitempty"`
	PID     int       `json:"pid"`
	Since   time.Time `json:"since"`
}

// List joins an inventory with the recorded state.
func List(inv device.Inventory, st lease.State) Listing {
	l := Listing{Source: inv.Source, DriverVersion: inv.DriverVersion, CUDAVersion: inv.CUDAVersion, GPUs: []Entry{}, Quarantined: st.Quarantined}
	if l.Quarantined == nil {
		l.Quarantined = []lease.Quarantine{}
	}
	for _, g := range inv.GPUs {
		e := Entry{GPU: g, Healthy: true}
		if q, ok := st.QuarantineOf(g.UUID); ok {
			e.Healthy, e.Quarantine = false, &q
		}
		if h, ok := st.Holder(g.UUID); ok {
			e.Lease = &LeaseInfo{ID: h.ID, JobID: h.Job.ID, JobName: h.Job.Name, Project: h.Job.Project, Runner: h.Owner.Runner, PID: h.Owner.PID, Since: h.Acquired}
		}
		if e.Healthy && e.Lease == nil {
			l.Free++
		}
		l.GPUs = append(l.GPUs, e)
	}
	return l
}

// List returns the inventory with the state as recorded now.
func (m *Manager) List() (Listing, error) {
	st, err := m.store.Read()
	if err != nil {
		return Listing{}, err
	}
	l := List(m.inv, st)
	l.StateDir = m.store.Dir()
	return l, nil
}

// Advertise returns the units as the runner reports them to the coordinator, and how
// many are free.
func (m *Manager) Advertise() ([]protocol.GPUInfo, int, error) {
	l, err := m.List()
	if err != nil {
		return nil, 0, err
	}
	infos := make([]protocol.GPUInfo, 0, len(l.GPUs))
	for _, e := range l.GPUs {
		info := e.GPU.Info()
		info.Healthy = e.Healthy
		if e.Quarantine != nil {
			info.HealthReason = e.Quarantine.Reason
		}
		if e.Lease != nil {
			info.Leased, info.LeasedByJob = true, e.Lease.JobID
		}
		infos = append(infos, info)
	}
	return infos, l.Free, nil
}
