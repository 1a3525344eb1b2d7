package device

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Host is a host's GPU driver as the manager sees it. Implementations: nvmlhost (NVML
// loaded at run time, or go-nvml's mock servers in tests), smi (the nvidia-smi fallback)
// and Null (no driver).
//
// All methods are safe for concurrent use. A method given a UUID that the host does not
// know returns an error wrapping ErrUnknownGPU; a driver failure returns an error that
// says which call failed on which GPU. Callers treat any error of a health or scrub
// reading as "unhealthy" (they fail closed).
type Host interface {
	// Inventory lists the host's allocatable units. A host without GPUs returns an
	// empty inventory, not an error.
	Inventory(ctx context.Context) (Inventory, error)
	// ReadHealth returns a health reading of the unit. Xid events are returned once:
	// a reading holds those that arrived since the previous reading of the same unit.
	ReadHealth(ctx context.Context, uuid string) (HealthReading, error)
	// Sample returns the unit's current utilisation, memory use, power and temperature.
	Sample(ctx context.Context, uuid string) (Sample, error)
	// Processes lists the compute processes running on the unit.
	Processes(ctx context.Context, uuid string) ([]Process, error)
	// Close releases the driver. No method may be called after it.
	Close() error
}

// ErrUnknownGPU is returned for a UUID the host does not have (or no longer reaches).
var ErrUnknownGPU = errors.New("no such GPU on this host")

// ErrUnsupported is returned by a host that cannot make a kind of reading at all (the
// nvidia-smi fallback has no Xid events).
var ErrUnsupported = errors.New("not supported by this GPU driver interface")

// HealthReading is what the health gate judges one unit by. For a MIG slice the
// memory, ECC and temperature fields are its parent GPU's.
type HealthReading struct {
	// ECCSupported is false when the GPU has no ECC or it is disabled; the ECC fields
	// are then zero.
	ECCSupported bool
	// UncorrectableECC is the GPU's volatile count of uncorrectable ECC errors.
	UncorrectableECC uint64
	// RetiredPagesPending is true when pages are waiting to be retired (pre-Ampere).
	RetiredPagesPending bool
	// RemappedRowsPending is true when row remapping waits for a GPU reset (Ampere+);
	// RemappingFailed when a remapping failed.
	RemappedRowsPending bool
	RemappingFailed     bool
	// TemperatureC is the GPU's temperature and SlowdownC the temperature at which it
	// slows down; SlowdownC is 0 when the driver does not say.
	TemperatureC uint32
	SlowdownC    uint32
	// Xids are the Xid error codes reported for the unit since its previous reading.
	Xids []uint64
	// XidsSupported is false when the host cannot watch Xid events (nvidia-smi).
	XidsSupported bool
}

// Sample is one telemetry reading of one unit.
type Sample struct {
	Time time.Time `json:"time"`
	UUID string    `json:"uuid"`
	// UtilizationPct is the percentage of time a kernel ran over the driver's last
	// sample period.
	UtilizationPct  float64 `json:"utilization_pct"`
	MemoryUsedBytes uint64  `json:"memory_used_bytes"`
	PowerWatts      float64 `json:"power_watts"`
	TemperatureC    float64 `json:"temperature_c"`
	// EnergyMillijoules is the GPU's energy counter since the driver loaded; 0 when the
	// driver has none.
	EnergyMillijoules uint64 `json:"energy_mj,omitempty"`
}

// Process is a compute process on a unit.
type Process struct {
	PID             int
	UsedMemoryBytes uint64
}

// Null is the host of a machine without an NVIDIA driver: zero GPUs, and every
// per-GPU call fails with ErrUnknownGPU.
type Null struct{}

// Inventory returns an empty inventory.
func (Null) Inventory(context.Context) (Inventory, error) {
	return Inventory{Source: SourceNone, GPUs: []GPU{}}, nil
}

// ReadHealth fails: Null has no GPUs.
func (Null) ReadHealth(_ context.Context, uuid string) (HealthReading, error) {
	return HealthReading{}, fmt.Errorf("reading health of %s: %w", uuid, ErrUnknownGPU)
}

// Sample fails: Null has no GPUs.
func (Null) Sample(_ context.Context, uuid string) (Sample, error) {
	return Sample{}, fmt.Errorf("sampling %s: %w", uuid, ErrUnknownGPU)
}

// Processes fails: Null has no GPUs.
func (Null) Processes(_ context.Context, uuid string) ([]Process, error) {
	return nil, fmt.Errorf("listing processes on %s: %w", uuid, ErrUnknownGPU)
}

// Close does nothing.
func (Null) Close() error { return nil }
