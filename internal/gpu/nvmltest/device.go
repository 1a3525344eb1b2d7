package nvmltest

import (
	"fmt"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
)

// install fills in the NVML device calls the mock server leaves unset.
func (g *GPU) install() {
	d := g.Dev
	total := d.MemoryInfo.Total
	d.GetPciInfoFunc = func() (nvml.PciInfo, nvml.Return) {
		p := nvml.PciInfo{PciDeviceId: d.Config.PciDeviceId, Bus: uint32(d.Index)}
		for i, c := range d.PciBusID {
			p.BusId[i] = int8(c)
		}
		return p, nvml.SUCCESS
	}
	d.GetMemoryInfoFunc = func() (m nvml.Memory, ret nvml.Return) {
		ret = g.get(func() {
			m.Total, m.Used = total, g.usedLocked(-1)
			m.Free = total - m.Used
		})
		return m, ret
	}
	d.GetTotalEccErrorsFunc = func(t nvml.MemoryErrorType, _ nvml.EccCounterType) (n uint64, ret nvml.Return) {
		ret = g.get(func() {
			if t == nvml.MEMORY_ERROR_TYPE_UNCORRECTED {
				n = g.ecc
			}
		})
		return n, ret
	}
	d.GetRetiredPagesPendingStatusFunc = func() (s nvml.EnableState, ret nvml.Return) {
		ret = g.get(func() {
			if g.retiredPending {
				s = nvml.FEATURE_ENABLED
			}
		})
		return s, ret
	}
	d.GetRemappedRowsFunc = func() (corr, unc int, pending, failed bool, ret nvml.Return) {
		ret = g.get(func() { pending, failed = g.remapPending, g.remapFailed })
		return corr, unc, pending, failed, ret
	}
	d.GetTemperatureFunc = func(nvml.TemperatureSensors) (t uint32, ret nvml.Return) {
		ret = g.get(func() { t = g.tempC })
		return t, ret
	}
	d.GetTemperatureThresholdFunc = func(k nvml.TemperatureThresholds) (t uint32, ret nvml.Return) {
		if k != nvml.TEMPERATURE_THRESHOLD_SLOWDOWN {
			return 0, nvml.ERROR_NOT_SUPPORTED
		}
		ret = g.get(func() { t = g.slowC })
		return t, ret
	}
	d.GetUtilizationRatesFunc = func() (u nvml.Utilization, ret nvml.Return) {
		ret = g.get(func() { u.Gpu, u.Memory = g.utilPct, g.utilPct/2 })
		return u, ret
	}
	d.GetPowerUsageFunc = func() (mw uint32, ret nvml.Return) {
		ret = g.get(func() { mw = g.powerMW })
		return mw, ret
	}
	d.GetTotalEnergyConsumptionFunc = func() (mj uint64, ret nvml.Return) {
		ret = g.get(func() { mj = g.energyMJ })
		return mj, ret
	}
	d.GetComputeRunningProcessesFunc = func() (ps []nvml.ProcessInfo, ret nvml.Return) {
		ret = g.get(func() { ps = g.procsLocked(-1) })
		return ps, ret
	}
	d.GetSupportedEventTypesFunc = func() (uint64, nvml.Return) {
		return nvml.EventTypeXidCriticalError | nvml.EventTypeDoubleBitEccError | nvml.EventTypeSingleBitEccError | nvml.EventTypePState, nvml.SUCCESS
	}
	d.RegisterEventsFunc = func(mask uint64, _ nvml.EventSet) nvml.Return {
		return g.get(func() { g.events |= mask })
	}
	d.IsMigDeviceHandleFunc = func() (bool, nvml.Return) { return false, nvml.SUCCESS }
	d.GetMaxMigDeviceCountFunc = func() (int, nvml.Return) { return 7, nvml.SUCCESS }
	d.GetMigDeviceHandleByIndexFunc = func(i int) (m nvml.Device, ret nvml.Return) {
		ret = g.get(func() {
			if i >= 0 && i < len(g.migs) {
				m = g.migs[i]
			}
		})
		if ret == nvml.SUCCESS && m == nil {
			return nil, nvml.ERROR_NOT_FOUND
		}
		return m, ret
	}
}

// EnableMIG turns MIG mode on and creates one GPU instance (with one compute instance
// spanning it) per profile id (nvml.GPU_INSTANCE_PROFILE_*), through the mock's own MIG
// calls. It returns the MIG devices' UUIDs.
func (g *GPU) EnableMIG(profiles ...int) ([]string, error) {
	d := g.Dev
	if ret, _ := d.SetMigMode(nvml.DEVICE_MIG_ENABLE); ret != nvml.SUCCESS {
		return nil, fmt.Errorf("enabling MIG: %v", ret)
	}
	var uuids []string
	for _, p := range profiles {
		info, ret := d.GetGpuInstanceProfileInfo(p)
		if ret != nvml.SUCCESS {
			return nil, fmt.Errorf("GPU instance profile %d: %v", p, ret)
		}
		gi, ret := d.CreateGpuInstance(&info)
		if ret != nvml.SUCCESS {
			return nil, fmt.Errorf("creating GPU instance %d: %v", p, ret)
		}
		ciProfile, ret := gi.GetComputeInstanceProfileInfo(p, nvml.COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED)
		if ret != nvml.SUCCESS {
			return nil, fmt.Errorf("compute instance profile %d: %v", p, ret)
		}
		ci, ret := gi.CreateComputeInstance(&ciProfile)
		if ret != nvml.SUCCESS {
			return nil, fmt.Errorf("creating compute instance: %v", ret)
		}
		giInfo := gi.(*server.GpuInstance).Info
		ciInfo := ci.(*server.ComputeInstance).Info
		uuid := fmt.Sprintf("MIG-%s-%d-%d", d.UUID[4:], giInfo.Id, ciInfo.Id)
		g.addMIG(uuid, int(giInfo.Id), int(ciInfo.Id), info)
		uuids = append(uuids, uuid)
	}
	return uuids, nil
}

func (g *GPU) addMIG(uuid string, gi, ci int, info nvml.GpuInstanceProfileInfo) {
	d := g.Dev
	total := info.MemorySizeMB << 20
	name := fmt.Sprintf("%s MIG %dg.%dgb", d.Config.Name, info.SliceCount, (info.MemorySizeMB+512)/1024)
	m := &mock.Device{
		GetUUIDFunc:          func() (string, nvml.Return) { return uuid, g.get(func() {}) },
		GetNameFunc:          func() (string, nvml.Return) { return name, nvml.SUCCESS },
		GetGpuInstanceIdFunc: func() (int, nvml.Return) { return gi, nvml.SUCCESS },
		GetComputeInstanceIdFunc: func() (int, nvml.Return) {
			return ci, nvml.SUCCESS
		},
		IsMigDeviceHandleFunc: func() (bool, nvml.Return) { return true, nvml.SUCCESS },
		GetDeviceHandleFromMigDeviceHandleFunc: func() (nvml.Device, nvml.Return) {
			return d, nvml.SUCCESS
		},
		GetAttributesFunc: func() (nvml.DeviceAttributes, nvml.Return) {
			return nvml.DeviceAttributes{GpuInstanceSliceCount: info.SliceCount, ComputeInstanceSliceCount: info.SliceCount,
				MultiprocessorCount: info.MultiprocessorCount, MemorySizeMB: info.MemorySizeMB}, nvml.SUCCESS
		},
		GetMemoryInfoFunc: func() (mem nvml.Memory, ret nvml.Return) {
			ret = g.get(func() {
				mem.Total, mem.Used = total, g.usedLocked(gi)-IdleMemoryBytes
				mem.Free = total - mem.Used
			})
			return mem, ret
		},
		GetComputeRunningProcessesFunc: func() (ps []nvml.ProcessInfo, ret nvml.Return) {
			ret = g.get(func() { ps = g.procsLocked(gi) })
			return ps, ret
		},
	}
	g.set(func() {
		g.migs = append(g.migs, m)
		g.migUUIDs = append(g.migUUIDs, uuid)
	})
}
