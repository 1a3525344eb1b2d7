// Package nvmltest builds fake NVIDIA hosts for tests: go-nvml's mock DGX servers
// (pkg/nvml/mock/dgxa100, dgxh100) with the NVML calls they leave unset filled in
// faithfully — PCI bus ids, ECC counters, retired pages, remapped rows, temperatures,
// utilisation, power, energy, compute processes, MIG device handles and Xid event
// sets — backed by state a test changes to inject faults (an ECC error, an Xid, a lost
// GPU, a leftover process).
//
// Only tests import this package.
package nvmltest

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"sync"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
)

// IdleMemoryBytes is the memory a fake GPU uses with no process on it (the driver's
// own reservation), so that scrub has a non-zero baseline to return to.
const IdleMemoryBytes = 512 << 20

// Server is a fake 8-GPU host. Its methods are safe for concurrent use with the NVML
// calls a test makes through it.
type Server struct {
	*server.Server

	mu     sync.Mutex
	gpus   []*GPU
	events []nvml.EventData
	real   map[uint32]bool // pids of real processes (StartRealProcess)
}

// GPU is one fake GPU's state.
type GPU struct {
	s   *Server
	Dev *server.Device

	// guarded by s.mu
	ecc            uint64
	retiredPending bool
	remapPending   bool
	remapFailed    bool
	tempC, slowC   uint32
	utilPct        uint32
	powerMW        uint32
	energyMJ       uint64
	procs          []nvml.ProcessInfo
	lost           bool
	events         uint64 // registered event mask
	migs           []*mock.Device
	migUUIDs       []string
}

// NewDGXA100 returns a fake DGX A100: 8 × "Mock NVIDIA A100-SXM4-40GB", driver
// 550.54.15, CUDA 12.4.
func NewDGXA100() *Server { return New(dgxa100.New()) }

// NewDGXH100 returns a fake DGX H100: 8 × "NVIDIA H100 80GB HBM3", driver 550.54.15,
// CUDA 12.4.
func NewDGXH100() *Server { return New(dgxh100.New()) }

// New completes a go-nvml mock server.
func New(srv *server.Server) *Server {
	s := &Server{Server: srv, real: map[uint32]bool{}}
	for _, d := range srv.Devices {
		g := &GPU{s: s, Dev: d.(*server.Device), tempC: 35, slowC: 87, powerMW: 60_000}
		g.install()
		s.gpus = append(s.gpus, g)
	}
	srv.DeviceGetHandleByUUIDFunc = s.handleByUUID
	srv.EventSetCreateFunc = func() (nvml.EventSet, nvml.Return) {
		return &mock.EventSet{
			WaitFunc: s.wait,
			FreeFunc: func() nvml.Return { return nvml.SUCCESS },
		}, nvml.SUCCESS
	}
	return s
}

// GPU returns GPU i.
func (s *Server) GPU(i int) *GPU { return s.gpus[i] }

// UUIDs returns the whole GPUs' UUIDs in index order.
func (s *Server) UUIDs() []string {
	var out []string
	for _, g := range s.gpus {
		out = append(out, g.Dev.UUID)
	}
	return out
}

// Kill ends a process on whichever GPU runs it, as SIGKILL would, freeing its memory.
// It has the shape of a scrub killer.
func (s *Server) Kill(pid int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	found := false
	for _, g := range s.gpus {
		n := len(g.procs)
		g.procs = slices.DeleteFunc(g.procs, func(p nvml.ProcessInfo) bool { return int(p.Pid) == pid })
		found = found || len(g.procs) != n
	}
	if !found {
		return fmt.Errorf("no such process %d", pid)
	}
	return nil
}

func (s *Server) handleByUUID(uuid string) (nvml.Device, nvml.Return) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.gpus {
		if g.Dev.UUID == uuid {
			if g.lost {
				return nil, nvml.ERROR_GPU_IS_LOST
			}
			return g.Dev, nvml.SUCCESS
		}
		if i := slices.Index(g.migUUIDs, uuid); i >= 0 {
			if g.lost {
				return nil, nvml.ERROR_GPU_IS_LOST
			}
			return g.migs[i], nvml.SUCCESS
		}
	}
	return nil, nvml.ERROR_NOT_FOUND
}

func (s *Server) wait(uint32) (nvml.EventData, nvml.Return) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.events) == 0 {
		return nvml.EventData{}, nvml.ERROR_TIMEOUT
	}
	e := s.events[0]
	s.events = s.events[1:]
	return e, nvml.SUCCESS
}

// SetUncorrectableECC sets the GPU's volatile uncorrectable ECC count.
func (g *GPU) SetUncorrectableECC(n uint64) { g.set(func() { g.ecc = n }) }

// SetRetiredPagesPending marks pages as waiting for retirement.
func (g *GPU) SetRetiredPagesPending(v bool) { g.set(func() { g.retiredPending = v }) }

// SetRemappedRowsPending marks a row remapping as waiting for a reset.
func (g *GPU) SetRemappedRowsPending(v bool) { g.set(func() { g.remapPending = v }) }

// SetRemappingFailed marks a row remapping as failed.
func (g *GPU) SetRemappingFailed(v bool) { g.set(func() { g.remapFailed = v }) }

// SetTemperature sets the GPU's temperature in °C.
func (g *GPU) SetTemperature(c uint32) { g.set(func() { g.tempC = c }) }

// SetLoad sets utilisation (percent) and power draw (watts).
func (g *GPU) SetLoad(utilPct, watts uint32) {
	g.set(func() { g.utilPct, g.powerMW = utilPct, watts*1000 })
}

// AddEnergy advances the GPU's energy counter.
func (g *GPU) AddEnergy(mj uint64) { g.set(func() { g.energyMJ += mj }) }

// Lose makes the GPU fall off the bus: every call on it returns ERROR_GPU_IS_LOST.
func (g *GPU) Lose() { g.set(func() { g.lost = true }) }

// StartProcess puts a compute process using mem bytes on the GPU (or on its MIG slice
// with the given GPU instance id when gi >= 0).
func (g *GPU) StartProcess(pid int, mem uint64, gi int) {
	id := uint32(0xFFFFFFFF)
	if gi >= 0 {
		id = uint32(gi)
	}
	g.set(func() {
		g.procs = append(g.procs, nvml.ProcessInfo{Pid: uint32(pid), UsedGpuMemory: mem, GpuInstanceId: id, ComputeInstanceId: id})
	})
}

// InjectXid queues an Xid critical-error event for the GPU (for GPU instance gi of a
// MIG GPU, or the whole GPU when gi < 0), as the driver would when it logs the Xid.
// Nothing is queued unless the GPU was registered for Xid events, as with real NVML.
func (g *GPU) InjectXid(xid uint64, gi int) {
	id := uint32(0xFFFFFFFF)
	if gi >= 0 {
		id = uint32(gi)
	}
	g.s.mu.Lock()
	defer g.s.mu.Unlock()
	if g.events&nvml.EventTypeXidCriticalError == 0 {
		return
	}
	g.s.events = append(g.s.events, nvml.EventData{Device: g.Dev, EventType: nvml.EventTypeXidCriticalError,
		EventData: xid, GpuInstanceId: id, ComputeInstanceId: id})
}

// StartRealProcess puts a real process of this machine (pid) on the GPU as a compute
// process using mem bytes, as the driver would list a CUDA process: it stays listed
// until the process is gone (or a zombie), whoever ends it. Scrub can then end it with
// a real SIGKILL.
func (g *GPU) StartRealProcess(pid int, mem uint64) {
	g.set(func() {
		g.s.real[uint32(pid)] = true
		g.procs = append(g.procs, nvml.ProcessInfo{Pid: uint32(pid), UsedGpuMemory: mem, GpuInstanceId: 0xFFFFFFFF, ComputeInstanceId: 0xFFFFFFFF})
	})
}

// reapLocked drops the real processes that have ended, as the driver forgets a
// process when it exits.
func (g *GPU) reapLocked() {
	g.procs = slices.DeleteFunc(g.procs, func(p nvml.ProcessInfo) bool {
		if !g.s.real[p.Pid] || running(int(p.Pid)) {
			return false
		}
		delete(g.s.real, p.Pid)
		return true
	})
}

// running reports whether pid is a live process (not gone, not a zombie).
func running(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses: "pid (comm) S ...".
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && b[i+2] != 'Z' && b[i+2] != 'X'
}

func (g *GPU) set(f func()) {
	g.s.mu.Lock()
	defer g.s.mu.Unlock()
	f()
}

// get runs f under the lock unless the GPU is lost.
func (g *GPU) get(f func()) nvml.Return {
	g.s.mu.Lock()
	defer g.s.mu.Unlock()
	if g.lost {
		return nvml.ERROR_GPU_IS_LOST
	}
	f()
	return nvml.SUCCESS
}

// usedLocked is the memory in use on the GPU (gi < 0) or one MIG slice.
func (g *GPU) usedLocked(gi int) uint64 {
	g.reapLocked()
	used := uint64(IdleMemoryBytes)
	for _, p := range g.procs {
		if gi < 0 || p.GpuInstanceId == uint32(gi) {
			used += p.UsedGpuMemory
		}
	}
	return used
}

func (g *GPU) procsLocked(gi int) []nvml.ProcessInfo {
	g.reapLocked()
	var out []nvml.ProcessInfo
	for _, p := range g.procs {
		if gi < 0 || p.GpuInstanceId == uint32(gi) {
			out = append(out, p)
		}
	}
	return out
}
