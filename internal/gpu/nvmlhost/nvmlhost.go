// Package nvmlhost is the device.Host of a machine with an NVIDIA driver: it reads
// GPUs, MIG slices, health, telemetry and processes through NVML, loaded at run time
// through github.com/NVIDIA/go-nvml. It takes an nvml.Interface, so the real library
// (nvml.New()) and go-nvml's mock servers (pkg/nvml/mock/dgxa100, dgxh100) are
// interchangeable.
//
// It is on the runner side: the coordinator side must not import it.
package nvmlhost

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/kiln-ci/kiln/internal/gpu/device"
	"github.com/kiln-ci/kiln/internal/machine"
)

// ErrNoLibrary is returned by Open when NVML cannot be loaded: the host has no NVIDIA
// driver. Callers treat it as "zero GPUs", not as a failure.
var ErrNoLibrary = errors.New("NVML library (libnvidia-ml.so.1) not found")

// maxPendingXids bounds the Xid events kept per unit between two health readings.
const maxPendingXids = 64

// Host reads GPUs through NVML. It is safe for concurrent use.
type Host struct {
	lib nvml.Interface
	log *slog.Logger

	mu sync.Mutex
	// units maps every unit UUID seen by Inventory to where it sits.
	units map[string]unit
	// events is the event set watching Xid events; nil when the driver has none.
	events nvml.EventSet
	// watched are the physical GPUs registered in events.
	watched map[string]bool
	// xids holds Xid events per unit UUID until its next health reading.
	xids map[string][]uint64
}

type unit struct {
	physical string // the physical GPU's UUID (itself for a whole GPU)
	gi       int    // GPU instance id of a MIG slice; -1 for a whole GPU
}

// Open initialises NVML and starts watching Xid events. It returns ErrNoLibrary when
// the library cannot be loaded. logger may be nil.
func Open(lib nvml.Interface, logger *slog.Logger) (*Host, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ret := lib.Init()
	switch {
	case ret == nvml.ERROR_LIBRARY_NOT_FOUND:
		return nil, ErrNoLibrary
	case ret != nvml.SUCCESS:
		return nil, fmt.Errorf("initialising NVML: %s", errString(ret))
	}
	h := &Host{lib: lib, log: logger, units: map[string]unit{}, watched: map[string]bool{}, xids: map[string][]uint64{}}
	set, ret := lib.EventSetCreate()
	if ret == nvml.SUCCESS {
		h.events = set
	} else {
		logger.Warn("NVML event sets unavailable: Xid events will not be watched", "error", errString(ret))
	}
	return h, nil
}

// Close frees the event set and shuts NVML down.
func (h *Host) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.events != nil {
		h.events.Free()
		h.events = nil
	}
	if ret := h.lib.Shutdown(); ret != nvml.SUCCESS {
		return fmt.Errorf("shutting NVML down: %s", errString(ret))
	}
	return nil
}

// Inventory lists the host's GPUs; a GPU in MIG mode is replaced by its MIG slices.
// A GPU that cannot be read is left out and logged.
func (h *Host) Inventory(ctx context.Context) (device.Inventory, error) {
	inv := device.Inventory{Source: device.SourceNVML, GPUs: []device.GPU{}}
	var ret nvml.Return
	if inv.DriverVersion, ret = h.lib.SystemGetDriverVersion(); ret != nvml.SUCCESS {
		return inv, fmt.Errorf("reading the driver version: %s", errString(ret))
	}
	cuda, ret := h.lib.SystemGetCudaDriverVersion()
	if ret != nvml.SUCCESS {
		return inv, fmt.Errorf("reading the driver's CUDA version: %s", errString(ret))
	}
	inv.CUDAVersion = CUDAVersion(cuda)
	count, ret := h.lib.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return inv, fmt.Errorf("counting GPUs: %s", errString(ret))
	}
	units := map[string]unit{}
	for i := range count {
		if err := ctx.Err(); err != nil {
			return inv, err
		}
		gpus, err := h.readGPU(i, inv)
		if err != nil {
			h.log.Warn("leaving out a GPU that NVML cannot read", "index", i, "error", err)
			continue
		}
		for _, g := range gpus {
			u := unit{physical: g.UUID, gi: -1}
			if g.MIG != nil {
				u = unit{physical: g.MIG.ParentUUID, gi: g.MIG.GPUInstanceID}
			}
			units[g.UUID] = u
		}
		inv.GPUs = append(inv.GPUs, gpus...)
	}
	h.mu.Lock()
	h.units = units
	h.watchLocked(inv)
	h.mu.Unlock()
	return inv, nil
}

// readGPU reads GPU i: itself, or its MIG slices when MIG mode is on.
func (h *Host) readGPU(i int, inv device.Inventory) ([]device.GPU, error) {
	dev, ret := h.lib.DeviceGetHandleByIndex(i)
	if ret != nvml.SUCCESS {
		return nil, fmt.Errorf("getting GPU %d: %s", i, errString(ret))
	}
	g := device.GPU{Index: i, DriverVersion: inv.DriverVersion, CUDAVersion: inv.CUDAVersion}
	if g.UUID, ret = dev.GetUUID(); ret != nvml.SUCCESS {
		return nil, fmt.Errorf("reading GPU %d's UUID: %s", i, errString(ret))
	}
	if g.Name, ret = dev.GetName(); ret != nvml.SUCCESS {
		return nil, fmt.Errorf("reading %s's name: %s", g.UUID, errString(ret))
	}
	mem, ret := dev.GetMemoryInfo()
	if ret != nvml.SUCCESS {
		return nil, fmt.Errorf("reading %s's memory: %s", g.UUID, errString(ret))
	}
	g.MemoryBytes = mem.Total
	major, minor, ret := dev.GetCudaComputeCapability()
	if ret != nvml.SUCCESS {
		return nil, fmt.Errorf("reading %s's compute capability: %s", g.UUID, errString(ret))
	}
	g.ComputeCapability = machine.Version{Major: major, Minor: minor}
	if g.Minor, ret = dev.GetMinorNumber(); ret != nvml.SUCCESS {
		return nil, fmt.Errorf("reading %s's minor number: %s", g.UUID, errString(ret))
	}
	if brand, ret := dev.GetBrand(); ret == nvml.SUCCESS {
		g.Brand = BrandName(brand)
	}
	if pci, ret := dev.GetPciInfo(); ret == nvml.SUCCESS {
		g.PCIBusID = cString(pci.BusId[:])
	}
	mode, _, ret := dev.GetMigMode()
	if ret != nvml.SUCCESS || mode != nvml.DEVICE_MIG_ENABLE {
		// ERROR_NOT_SUPPORTED: a GPU without MIG.
		return []device.GPU{g}, nil
	}
	return h.readMIG(dev, g)
}

// readMIG lists the MIG slices of parent, each a unit of its own.
func (h *Host) readMIG(dev nvml.Device, parent device.GPU) ([]device.GPU, error) {
	max, ret := dev.GetMaxMigDeviceCount()
	if ret != nvml.SUCCESS {
		return nil, fmt.Errorf("counting %s's MIG devices: %s", parent.UUID, errString(ret))
	}
	var out []device.GPU
	for j := range max {
		mig, ret := dev.GetMigDeviceHandleByIndex(j)
		if ret == nvml.ERROR_NOT_FOUND || ret == nvml.ERROR_INVALID_ARGUMENT {
			continue // an empty slot
		}
		if ret != nvml.SUCCESS {
			return nil, fmt.Errorf("getting %s's MIG device %d: %s", parent.UUID, j, errString(ret))
		}
		g := parent
		m := &device.MIG{ParentUUID: parent.UUID}
		if g.UUID, ret = mig.GetUUID(); ret != nvml.SUCCESS {
			return nil, fmt.Errorf("reading the UUID of %s's MIG device %d: %s", parent.UUID, j, errString(ret))
		}
		mem, ret := mig.GetMemoryInfo()
		if ret != nvml.SUCCESS {
			return nil, fmt.Errorf("reading %s's memory: %s", g.UUID, errString(ret))
		}
		g.MemoryBytes = mem.Total
		if m.GPUInstanceID, ret = mig.GetGpuInstanceId(); ret != nvml.SUCCESS {
			return nil, fmt.Errorf("reading %s's GPU instance: %s", g.UUID, errString(ret))
		}
		if m.ComputeInstanceID, ret = mig.GetComputeInstanceId(); ret != nvml.SUCCESS {
			return nil, fmt.Errorf("reading %s's compute instance: %s", g.UUID, errString(ret))
		}
		if attrs, ret := mig.GetAttributes(); ret == nvml.SUCCESS {
			m.Profile = MIGProfile(attrs)
		}
		if name, ret := mig.GetName(); ret == nvml.SUCCESS && strings.Contains(name, "MIG") {
			g.Name = name
		} else {
			g.Name = strings.TrimSpace(parent.Name + " MIG " + m.Profile)
		}
		g.MIG = m
		out = append(out, g)
	}
	return out, nil
}

// watchLocked registers the physical GPUs of inv for Xid events.
func (h *Host) watchLocked(inv device.Inventory) {
	if h.events == nil {
		return
	}
	for _, g := range inv.GPUs {
		phys := g.UUID
		if g.MIG != nil {
			phys = g.MIG.ParentUUID
		}
		if h.watched[phys] {
			continue
		}
		dev, ret := h.lib.DeviceGetHandleByUUID(phys)
		if ret != nvml.SUCCESS {
			continue
		}
		types, ret := dev.GetSupportedEventTypes()
		if ret != nvml.SUCCESS {
			h.log.Warn("GPU cannot report Xid events", "uuid", phys, "error", errString(ret))
			continue
		}
		want := types & (nvml.EventTypeXidCriticalError | nvml.EventTypeDoubleBitEccError)
		if want == 0 {
			continue
		}
		if ret := dev.RegisterEvents(want, h.events); ret != nvml.SUCCESS {
			h.log.Warn("registering Xid events failed", "uuid", phys, "error", errString(ret))
			continue
		}
		h.watched[phys] = true
	}
}

// CUDAVersion converts NVML's CUDA driver version (e.g. 12040) to 12.4.
func CUDAVersion(v int) machine.Version {
	return machine.Version{Major: v / 1000, Minor: (v % 1000) / 10}
}

// MIGProfile names a MIG slice's profile from its attributes, as nvidia-smi does:
// "1g.5gb", or "1c.2g.10gb" for a compute instance smaller than its GPU instance.
func MIGProfile(a nvml.DeviceAttributes) string {
	gb := int(math.Round(float64(a.MemorySizeMB) / 1024))
	if gb == 0 && a.MemorySizeMB > 0 {
		gb = 1
	}
	if a.ComputeInstanceSliceCount != 0 && a.ComputeInstanceSliceCount < a.GpuInstanceSliceCount {
		return fmt.Sprintf("%dc.%dg.%dgb", a.ComputeInstanceSliceCount, a.GpuInstanceSliceCount, gb)
	}
	return fmt.Sprintf("%dg.%dgb", a.GpuInstanceSliceCount, gb)
}

// BrandName returns the lower-case word NVIDIA_REQUIRE_* constraints use for a brand.
func BrandName(b nvml.BrandType) string {
	names := map[nvml.BrandType]string{
		nvml.BRAND_QUADRO: "quadro", nvml.BRAND_TESLA: "tesla", nvml.BRAND_NVS: "nvs",
		nvml.BRAND_GRID: "grid", nvml.BRAND_GEFORCE: "geforce", nvml.BRAND_TITAN: "titan",
		nvml.BRAND_NVIDIA_VAPPS: "nvidiavapps", nvml.BRAND_NVIDIA_VPC: "nvidiavpc",
		nvml.BRAND_NVIDIA_VCS: "nvidiavcs", nvml.BRAND_NVIDIA_VWS: "nvidiavws",
		nvml.BRAND_NVIDIA_CLOUD_GAMING: "nvidiacloudgaming", nvml.BRAND_QUADRO_RTX: "quadrortx",
		nvml.BRAND_NVIDIA_RTX: "nvidiartx", nvml.BRAND_NVIDIA: "nvidia",
		nvml.BRAND_GEFORCE_RTX: "geforcertx", nvml.BRAND_TITAN_RTX: "titanrtx",
	}
	return names[b]
}

func cString(b []int8) string {
	var sb strings.Builder
	for _, c := range b {
		if c == 0 {
			break
		}
		sb.WriteByte(byte(c))
	}
	return sb.String()
}

// errString names an NVML return code without needing the library loaded.
func errString(ret nvml.Return) string {
	return ret.Error()
}
