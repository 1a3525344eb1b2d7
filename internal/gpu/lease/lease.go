// Package lease records which job holds which GPU (or MIG slice) and which GPUs are
// quarantined, in the runner's state directory, so that two jobs never share a GPU —
// not across goroutines, not across runner processes sharing the directory, and not
// across a runner restart.
//
// The state is one JSON file (state.json) replaced atomically (write to a temporary
// file, fsync, rename, fsync the directory) under an exclusive flock(2) on a lock file
// beside it. A state file that cannot be read is an error naming it; it is never
// silently replaced, because that would forget leases.
//
// It is on the runner side: the coordinator side must not import it.
package lease

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// File names in the state directory.
const (
	StateFile = "state.json"
	LockFile  = "lock"
)

// stateVersion is the format of state.json.
const stateVersion = 1

// ErrBusy is returned by Acquire when fewer free GPUs than asked for remain.
var ErrBusy = errors.New("not enough free GPUs")

// ErrNotQuarantined is returned by Unquarantine for a GPU that is not quarantined.
var ErrNotQuarantined = errors.New("GPU is not quarantined")

// Job names the job a lease is for.
type Job struct {
	ID      int64  `json:"id"`
	Name    string `json:"name,omitempty"`
	Project string `json:"project,omitempty"`
}

// Owner is the runner process holding a lease.
type Owner struct {
	Runner string `json:"runner,omitempty"`
	PID    int    `json:"pid"`
	// Start is the process's start time in clock ticks since boot (/proc/PID/stat), so
	// that a reused PID is not mistaken for the owner.
	Start uint64 `json:"start"`
}

// Lease is one job's exclusive hold on some GPUs.
type Lease struct {
	ID       string    `json:"id"`
	Job      Job       `json:"job"`
	UUIDs    []string  `json:"uuids"`
	Owner    Owner     `json:"owner"`
	Acquired time.Time `json:"acquired"`
	// IdleMemoryBytes is each GPU's memory use when the lease was taken (its idle
	// baseline), which scrub waits for memory to return to.
	IdleMemoryBytes map[string]uint64 `json:"idle_memory_bytes,omitempty"`
}

// Quarantine keeps a faulty GPU out of use until an operator releases it.
type Quarantine struct {
	UUID   string    `json:"uuid"`
	Reason string    `json:"reason"`
	Since  time.Time `json:"since"`
	JobID  int64     `json:"job_id,omitempty"`
}

// State is the whole recorded state.
type State struct {
	Version     int          `json:"version"`
	Leases      []Lease      `json:"leases"`
	Quarantined []Quarantine `json:"quarantined"`
}

// Holder returns the lease holding uuid.
func (s State) Holder(uuid string) (Lease, bool) {
	for _, l := range s.Leases {
		if slices.Contains(l.UUIDs, uuid) {
			return l, true
		}
	}
	return Lease{}, false
}

// QuarantineOf returns uuid's quarantine record.
func (s State) QuarantineOf(uuid string) (Quarantine, bool) {
	for _, q := range s.Quarantined {
		if q.UUID == uuid {
			return q, true
		}
	}
	return Quarantine{}, false
}

// Store is a state directory. It is safe for concurrent use by goroutines and by
// processes sharing the directory.
type Store struct {
	dir string
	mu  sync.Mutex
	now func() time.Time
}

// Open makes dir (mode 0700) if needed and returns its store.
func Open(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("GPU state directory is not set")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("making GPU state directory: %w", err)
	}
	return &Store{dir: dir, now: time.Now}, nil
}

// Dir returns the state directory.
func (s *Store) Dir() string { return s.dir }

// Read returns the current state.
func (s *Store) Read() (State, error) {
	var st State
	err := s.locked(func() error {
		var err error
		st, err = s.load()
		return err
	})
	return st, err
}

// Update runs fn on the current state under the lock and writes the result
// atomically. When fn fails, nothing is written and its error is returned.
func (s *Store) Update(fn func(*State) error) error {
	return s.locked(func() error {
		st, err := s.load()
		if err != nil {
			return err
		}
		before, _ := json.Marshal(st)
		if err := fn(&st); err != nil {
			return err
		}
		after, _ := json.Marshal(st)
		if bytes.Equal(before, after) {
			return nil
		}
		return s.save(st)
	})
}

// Acquire leases n GPUs from candidates (in their order of preference) to job: those
// neither leased nor quarantined. Fewer than n free is ErrBusy, and nothing changes.
// idle gives each candidate's idle memory use to record.
func (s *Store) Acquire(job Job, owner Owner, candidates []string, n int, idle map[string]uint64) (Lease, error) {
	l := Lease{ID: newID(), Job: job, Owner: owner, Acquired: s.now().UTC()}
	err := s.Update(func(st *State) error {
		for _, uuid := range candidates {
			if len(l.UUIDs) == n {
				break
			}
			if _, held := st.Holder(uuid); held {
				continue
			}
			if _, q := st.QuarantineOf(uuid); q {
				continue
			}
			l.UUIDs = append(l.UUIDs, uuid)
		}
		if len(l.UUIDs) < n {
			return fmt.Errorf("%w: job %d asks for %d, %d free", ErrBusy, job.ID, n, len(l.UUIDs))
		}
		l.IdleMemoryBytes = map[string]uint64{}
		for _, u := range l.UUIDs {
			l.IdleMemoryBytes[u] = idle[u]
		}
		st.Leases = append(st.Leases, l)
		return nil
	})
	if err != nil {
		return Lease{}, err
	}
	return l, nil
}

// Release removes the lease with the given id; releasing it twice is not an error.
func (s *Store) Release(id string) error {
	return s.Update(func(st *State) error {
		st.Leases = slices.DeleteFunc(st.Leases, func(l Lease) bool { return l.ID == id })
		return nil
	})
}

// Adopt makes owner the holder of lease id (after a restart, for a job that goes on).
func (s *Store) Adopt(id string, owner Owner) error {
	return s.Update(func(st *State) error {
		for i := range st.Leases {
			if st.Leases[i].ID == id {
				st.Leases[i].Owner = owner
				return nil
			}
		}
		return fmt.Errorf("no lease %s", id)
	})
}

// Quarantine records q (its Since defaults to now). A GPU already quarantined keeps
// its first record.
func (s *Store) Quarantine(q Quarantine) error {
	if q.UUID == "" {
		return errors.New("quarantining a GPU: no UUID")
	}
	if q.Since.IsZero() {
		q.Since = s.now().UTC()
	}
	return s.Update(func(st *State) error {
		if _, ok := st.QuarantineOf(q.UUID); !ok {
			st.Quarantined = append(st.Quarantined, q)
		}
		return nil
	})
}

// Unquarantine returns a quarantined GPU to use; ErrNotQuarantined if it was not.
func (s *Store) Unquarantine(uuid string) error {
	return s.Update(func(st *State) error {
		n := len(st.Quarantined)
		st.Quarantined = slices.DeleteFunc(st.Quarantined, func(q Quarantine) bool { return q.UUID == uuid })
		if len(st.Quarantined) == n {
			return fmt.Errorf("%s: %w", uuid, ErrNotQuarantined)
		}
		return nil
	})
}

// locked runs fn holding the in-process mutex and the directory's flock.
func (s *Store) locked(fn func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := os.OpenFile(filepath.Join(s.dir, LockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("opening GPU state lock: %w", err)
	}
	defer f.Close()
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("locking GPU state %s: %w", s.dir, err)
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return fn()
}

func (s *Store) load() (State, error) {
	path := filepath.Join(s.dir, StateFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return State{Version: stateVersion, Leases: []Lease{}, Quarantined: []Quarantine{}}, nil
	}
	if err != nil {
		return State{}, fmt.Errorf("reading GPU state: %w", err)
	}
	var st State
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return State{}, fmt.Errorf("GPU state file %s is corrupt (%v); it still holds leases, so Kiln will not overwrite it: repair or move it away", path, err)
	}
	if st.Version != stateVersion {
		return State{}, fmt.Errorf("GPU state file %s has version %d; this Kiln reads version %d", path, st.Version, stateVersion)
	}
	if st.Leases == nil {
		st.Leases = []Lease{}
	}
	if st.Quarantined == nil {
		st.Quarantined = []Quarantine{}
	}
	return st, nil
}

func (s *Store) save(st State) error {
	st.Version = stateVersion
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding GPU state: %w", err)
	}
	tmp, err := os.CreateTemp(s.dir, StateFile+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing GPU state: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("writing GPU state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("syncing GPU state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing GPU state: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(s.dir, StateFile)); err != nil {
		return fmt.Errorf("replacing GPU state: %w", err)
	}
	d, err := os.Open(s.dir)
	if err != nil {
		return fmt.Errorf("syncing GPU state directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing GPU state directory: %w", err)
	}
	return nil
}

func newID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Self returns the owner identity of this process.
func Self(runner string) Owner {
	pid := os.Getpid()
	start, _ := processStart(pid)
	return Owner{Runner: runner, PID: pid, Start: start}
}

// Alive reports whether the owner process still runs (same PID, same start time).
func (o Owner) Alive() bool {
	if o.PID <= 0 {
		return false
	}
	start, err := processStart(o.PID)
	return err == nil && (o.Start == 0 || start == o.Start)
}

// Same reports whether o and p are the same process.
func (o Owner) Same(p Owner) bool { return o.PID == p.PID && o.Start == p.Start }

// processStart reads field 22 (starttime) of /proc/PID/stat.
func processStart(pid int) (uint64, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces and parentheses: skip past its last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	fields := strings.Fields(s[i+1:])
	// fields[0] is field 3 (state); starttime is field 22.
	if len(fields) < 20 {
		return 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	return strconv.ParseUint(fields[19], 10, 64)
}
