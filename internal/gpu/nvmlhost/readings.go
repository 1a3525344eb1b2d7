package nvmlhost

import (
	"context"
	"fmt"
	"slices"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/kiln-ci/kiln/internal/gpu/device"
)

// noInstance is NVML's "whole GPU" value of EventData.GpuInstanceId.
const noInstance = 0xFFFFFFFF

// handles returns the unit's own handle (reachability) and its physical GPU's handle.
func (h *Host) handles(uuid string) (self, phys nvml.Device, u unit, err error) {
	h.mu.Lock()
	u, ok := h.units[uuid]
	h.mu.Unlock()
	if !ok {
		return nil, nil, u, fmt.Errorf("%s: %w", uuid, device.ErrUnknownGPU)
	}
	self, ret := h.lib.DeviceGetHandleByUUID(uuid)
	if ret != nvml.SUCCESS {
		return nil, nil, u, fmt.Errorf("%s is not reachable: NVML DeviceGetHandleByUUID: %s", uuid, errString(ret))
	}
	phys = self
	if u.physical != uuid {
		if phys, ret = h.lib.DeviceGetHandleByUUID(u.physical); ret != nvml.SUCCESS {
			return nil, nil, u, fmt.Errorf("%s's GPU %s is not reachable: NVML DeviceGetHandleByUUID: %s", uuid, u.physical, errString(ret))
		}
	}
	return self, phys, u, nil
}

// ReadHealth reads ECC, retired pages, remapped rows, temperature and the Xid events
// that arrived since the unit's previous reading. ERROR_NOT_SUPPORTED means a check
// does not apply to this GPU (no ECC, no page retirement); any other NVML error fails
// the reading.
func (h *Host) ReadHealth(ctx context.Context, uuid string) (device.HealthReading, error) {
	var r device.HealthReading
	_, phys, _, err := h.handles(uuid)
	if err != nil {
		return r, err
	}
	n, ret := phys.GetTotalEccErrors(nvml.MEMORY_ERROR_TYPE_UNCORRECTED, nvml.VOLATILE_ECC)
	switch ret {
	case nvml.SUCCESS:
		r.ECCSupported, r.UncorrectableECC = true, n
	case nvml.ERROR_NOT_SUPPORTED:
	default:
		return r, fmt.Errorf("reading %s's uncorrectable ECC errors: %s", uuid, errString(ret))
	}
	pending, ret := phys.GetRetiredPagesPendingStatus()
	switch ret {
	case nvml.SUCCESS:
		r.RetiredPagesPending = pending == nvml.FEATURE_ENABLED
	case nvml.ERROR_NOT_SUPPORTED:
	default:
		return r, fmt.Errorf("reading %s's pending retired pages: %s", uuid, errString(ret))
	}
	_, _, rowsPending, failed, ret := phys.GetRemappedRows()
	switch ret {
	case nvml.SUCCESS:
		r.RemappedRowsPending, r.RemappingFailed = rowsPending, failed
	case nvml.ERROR_NOT_SUPPORTED:
	default:
		return r, fmt.Errorf("reading %s's remapped rows: %s", uuid, errString(ret))
	}
	if r.TemperatureC, ret = phys.GetTemperature(nvml.TEMPERATURE_GPU); ret != nvml.SUCCESS {
		return r, fmt.Errorf("reading %s's temperature: %s", uuid, errString(ret))
	}
	slow, ret := phys.GetTemperatureThreshold(nvml.TEMPERATURE_THRESHOLD_SLOWDOWN)
	switch ret {
	case nvml.SUCCESS:
		r.SlowdownC = slow
	case nvml.ERROR_NOT_SUPPORTED:
	default:
		return r, fmt.Errorf("reading %s's slowdown temperature: %s", uuid, errString(ret))
	}
	if err := ctx.Err(); err != nil {
		return r, err
	}
	r.Xids, r.XidsSupported, err = h.takeXids(uuid)
	return r, err
}

// takeXids drains the event set and returns (and forgets) the unit's Xid events.
func (h *Host) takeXids(uuid string) ([]uint64, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	u := h.units[uuid]
	if h.events == nil || !h.watched[u.physical] {
		return nil, false, nil
	}
	for {
		data, ret := h.events.Wait(0)
		if ret == nvml.ERROR_TIMEOUT {
			break
		}
		if ret != nvml.SUCCESS {
			return nil, true, fmt.Errorf("reading Xid events: %s", errString(ret))
		}
		h.recordLocked(data)
	}
	xids := h.xids[uuid]
	delete(h.xids, uuid)
	return xids, true, nil
}

// recordLocked files one event under every unit it concerns.
func (h *Host) recordLocked(data nvml.EventData) {
	if data.Device == nil {
		return
	}
	phys, ret := data.Device.GetUUID()
	if ret != nvml.SUCCESS {
		h.log.Warn("an NVML event names a GPU whose UUID cannot be read", "error", errString(ret))
		return
	}
	xid := data.EventData
	if data.EventType&nvml.EventTypeDoubleBitEccError != 0 && data.EventType&nvml.EventTypeXidCriticalError == 0 {
		xid = 48 // a double-bit ECC error is Xid 48
	}
	h.log.Info("GPU reported an Xid event", "uuid", phys, "xid", xid, "gpu_instance", data.GpuInstanceId)
	for id, u := range h.units {
		if u.physical != phys {
			continue
		}
		if u.gi >= 0 && data.GpuInstanceId != noInstance && uint32(u.gi) != data.GpuInstanceId {
			continue
		}
		list := append(h.xids[id], xid)
		if len(list) > maxPendingXids {
			list = slices.Delete(list, 0, len(list)-maxPendingXids)
		}
		h.xids[id] = list
	}
}

// Sample reads utilisation, memory use, power and temperature. Memory use is the
// unit's own; utilisation, power and temperature are the physical GPU's (NVML does
// not report them per MIG slice).
func (h *Host) Sample(ctx context.Context, uuid string) (device.Sample, error) {
	s := device.Sample{UUID: uuid}
	self, phys, _, err := h.handles(uuid)
	if err != nil {
		return s, err
	}
	mem, ret := self.GetMemoryInfo()
	if ret != nvml.SUCCESS {
		return s, fmt.Errorf("reading %s's memory use: %s", uuid, errString(ret))
	}
	s.MemoryUsedBytes = mem.Used
	util, ret := phys.GetUtilizationRates()
	switch ret {
	case nvml.SUCCESS:
		s.UtilizationPct = float64(util.Gpu)
	case nvml.ERROR_NOT_SUPPORTED:
	default:
		return s, fmt.Errorf("reading %s's utilisation: %s", uuid, errString(ret))
	}
	mw, ret := phys.GetPowerUsage()
	switch ret {
	case nvml.SUCCESS:
		s.PowerWatts = float64(mw) / 1000
	case nvml.ERROR_NOT_SUPPORTED:
	default:
		return s, fmt.Errorf("reading %s's power draw: %s", uuid, errString(ret))
	}
	temp, ret := phys.GetTemperature(nvml.TEMPERATURE_GPU)
	if ret != nvml.SUCCESS {
		return s, fmt.Errorf("reading %s's temperature: %s", uuid, errString(ret))
	}
	s.TemperatureC = float64(temp)
	if mj, ret := phys.GetTotalEnergyConsumption(); ret == nvml.SUCCESS {
		s.EnergyMillijoules = mj
	}
	return s, ctx.Err()
}

// Processes lists the compute processes on the unit.
func (h *Host) Processes(ctx context.Context, uuid string) ([]device.Process, error) {
	self, _, _, err := h.handles(uuid)
	if err != nil {
		return nil, err
	}
	infos, ret := self.GetComputeRunningProcesses()
	if ret != nvml.SUCCESS {
		return nil, fmt.Errorf("listing compute processes on %s: %s", uuid, errString(ret))
	}
	out := make([]device.Process, 0, len(infos))
	for _, p := range infos {
		out = append(out, device.Process{PID: int(p.Pid), UsedMemoryBytes: p.UsedGpuMemory})
	}
	return out, ctx.Err()
}

var _ device.Host = (*Host)(nil)
