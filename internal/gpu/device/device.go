// Package device holds what the GPU manager knows of a host's GPUs: the allocatable
// units (whole GPUs and MIG slices) with their properties, and the readings a driver
// gives of them (health, utilisation, processes). It is the vocabulary the other
// internal/gpu packages share; it does no I/O itself.
//
// It is on the runner side: the coordinator side must not import it.
package device

import (
	"fmt"
	"strings"

	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/protocol"
)

// Sources of an inventory.
const (
	SourceNVML      = "nvml"       // NVML loaded at run time
	SourceNvidiaSMI = "nvidia-smi" // the nvidia-smi fallback
	SourceNone      = "none"       // no NVIDIA driver on this host
)

// GPU is one allocatable unit: a whole GPU, or a MIG slice of one.
type GPU struct {
	// Index is the GPU's NVML index (for a MIG slice, its parent's).
	Index int `json:"index"`
	// Minor is the device node minor number: /dev/nvidia<Minor> (for a MIG slice, its parent's).
	Minor int `json:"minor"`
	// UUID is "GPU-…" for a whole GPU and "MIG-…" for a MIG slice.
	UUID string `json:"uuid"`
	// Name is the device name as NVML reports it, e.g. "NVIDIA A100-SXM4-40GB" or
	// "NVIDIA A100-SXM4-40GB MIG 1g.5gb".
	Name string `json:"name"`
	// Brand is NVML's brand in the lower-case words NVIDIA_REQUIRE_* uses ("tesla", "nvidia").
	Brand             string          `json:"brand,omitempty"`
	MemoryBytes       uint64          `json:"memory_bytes"`
	ComputeCapability machine.Version `json:"compute_capability"`
	DriverVersion     string          `json:"driver_version,omitempty"`
	// CUDAVersion is the newest CUDA version the driver supports.
	CUDAVersion machine.Version `json:"cuda_version"`
	PCIBusID    string          `json:"pci_bus_id,omitempty"`
	// MIG is set for a MIG slice.
	MIG *MIG `json:"mig,omitempty"`
}

// MIG describes a MIG slice's place on its parent GPU.
type MIG struct {
	ParentUUID        string `json:"parent_uuid"`
	GPUInstanceID     int    `json:"gpu_instance_id"`
	ComputeInstanceID int    `json:"compute_instance_id"`
	// Profile is the slice's profile, e.g. "1g.5gb".
	Profile string `json:"profile,omitempty"`
}

// IsMIG reports whether g is a MIG slice.
func (g GPU) IsMIG() bool { return g.MIG != nil }

// Machine returns what request fit needs to know of g.
func (g GPU) Machine() machine.Device {
	return machine.Device{Name: g.Name, MemoryBytes: g.MemoryBytes, ComputeCapability: g.ComputeCapability, CUDAVersion: g.CUDAVersion}
}

// Info returns g as a runner advertises it; health and lease fields are left for the
// caller to fill.
func (g GPU) Info() protocol.GPUInfo {
	info := protocol.GPUInfo{
		UUID:          g.UUID,
		Model:         g.Name,
		MemoryBytes:   g.MemoryBytes,
		DriverVersion: g.DriverVersion,
		MIG:           g.IsMIG(),
	}
	if !g.ComputeCapability.IsZero() {
		info.ComputeCapability = g.ComputeCapability.String()
	}
	if !g.CUDAVersion.IsZero() {
		info.CUDAVersion = g.CUDAVersion.String()
	}
	return info
}

// Inventory is a host's allocatable GPUs.
type Inventory struct {
	// Source says where the inventory came from (SourceNVML, SourceNvidiaSMI, SourceNone).
	Source        string          `json:"source"`
	DriverVersion string          `json:"driver_version,omitempty"`
	CUDAVersion   machine.Version `json:"cuda_version,omitzero"`
	// GPUs are the allocatable units in index order. A GPU in MIG mode is not listed
	// itself: its MIG slices are, each a unit of its own.
	GPUs []GPU `json:"gpus"`
}

// Get returns the unit with the given UUID.
func (inv Inventory) Get(uuid string) (GPU, bool) {
	for _, g := range inv.GPUs {
		if g.UUID == uuid {
			return g, true
		}
	}
	return GPU{}, false
}

// Validate checks that every unit has a UUID and that no UUID appears twice.
func (inv Inventory) Validate() error {
	seen := map[string]bool{}
	for i, g := range inv.GPUs {
		if strings.TrimSpace(g.UUID) == "" {
			return fmt.Errorf("GPU %d (%s) has no UUID", i, g.Name)
		}
		if seen[g.UUID] {
			return fmt.Errorf("GPU UUID %s appears twice", g.UUID)
		}
		seen[g.UUID] = true
	}
	return nil
}
