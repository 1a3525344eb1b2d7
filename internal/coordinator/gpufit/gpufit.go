// Package gpufit decides whether GPUs a runner advertises satisfy a job's resolved GPU
// request: now (enough healthy, unleased GPUs fit, so the runner may take the job)
// and ever (some registered runner has enough fitting GPUs at all, else the job fails
// at once with kiln_gpu_unavailable). It is the one place these rules live. It is
// pure; only internal/coordinator imports it.
package gpufit

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/protocol"
)

// Inventory is what one runner advertises of its GPUs (protocol.KilnInfo).
type Inventory struct {
	RunnerID    int64
	MachineType string
	GPUs        []protocol.GPUInfo
	// FreeGPUs is the runner's own count of healthy, unleased GPUs; it is used only
	// when GPUs lists nothing.
	FreeGPUs int
}

// ParseInventory reads an inventory as a runner's stored GPUInventory holds it (the
// info.kiln object it sent). An empty one is an inventory without GPUs.
func ParseInventory(runnerID int64, raw json.RawMessage) (Inventory, error) {
	inv := Inventory{RunnerID: runnerID}
	if len(raw) == 0 || string(raw) == "null" {
		return inv, nil
	}
	var k protocol.KilnInfo
	if err := json.Unmarshal(raw, &k); err != nil {
		return inv, fmt.Errorf("runner %d: reading its GPU inventory: %w", runnerID, err)
	}
	inv.MachineType, inv.GPUs, inv.FreeGPUs = k.MachineType, k.GPUs, k.FreeGPUs
	return inv, nil
}

// device turns an advertised GPU into what machine.GPURequest.Fits reads. Versions a
// runner reports in a form we cannot read count as unknown (zero), so a minimum on
// them is not met.
func device(g protocol.GPUInfo) machine.Device {
	d := machine.Device{Name: g.Model, MemoryBytes: g.MemoryBytes}
	d.ComputeCapability, _ = machine.ParseVersion(g.ComputeCapability)
	d.CUDAVersion, _ = machine.ParseVersion(g.CUDAVersion)
	return d
}

// fitting counts the GPUs that fit req (only healthy, unleased ones when free is set)
// and returns the first reason a GPU did not fit.
func fitting(req machine.GPURequest, inv Inventory, free bool) (int, string) {
	if len(inv.GPUs) == 0 {
		if constrained(req) {
			return 0, "it does not describe its GPUs"
		}
		return inv.FreeGPUs, ""
	}
	n, why := 0, ""
	for _, g := range inv.GPUs {
		if free && (!g.Healthy || g.Leased) {
			if why == "" {
				why = fmt.Sprintf("GPU %s is %s", g.UUID, busy(g))
			}
			continue
		}
		ok, reason := req.Fits(device(g))
		if ok {
			n++
		} else if why == "" || strings.HasPrefix(why, "GPU ") {
			why = reason
		}
	}
	return n, why
}

func busy(g protocol.GPUInfo) string {
	if !g.Healthy {
		if g.HealthReason != "" {
			return "unhealthy (" + g.HealthReason + ")"
		}
		return "unhealthy"
	}
	return "leased"
}

func constrained(req machine.GPURequest) bool {
	return req.Model != "" || req.MemoryMinBytes > 0 || !req.ComputeCapabilityMin.IsZero() || !req.CUDAMin.IsZero()
}

// FitsNow reports whether a runner's healthy, unleased GPUs satisfy req now, and if
// not, why. A request for no GPUs always fits.
func FitsNow(req machine.GPURequest, inv Inventory) (bool, string) {
	want := req.Wanted()
	if want == 0 {
		return true, ""
	}
	n, why := fitting(req, inv, true)
	if n >= want {
		return true, ""
	}
	return false, fmt.Sprintf("runner %d has %d free GPU(s) that fit %s, want %d%s", inv.RunnerID, n, Describe(req), want, because(why))
}

// Satisfiable reports whether any of the runners could ever satisfy req (counting
// GPUs that are busy or unhealthy now), and if none could, a message naming the
// request and what the runners have, for the job's failure. Runners that serve
// another machine type than machineType are not considered.
func Satisfiable(req machine.GPURequest, machineType string, runners []Inventory) (bool, string) {
	want := req.Wanted()
	if want == 0 {
		return true, ""
	}
	var seen []string
	for _, inv := range runners {
		if inv.MachineType != machineType {
			continue
		}
		n, why := fitting(req, inv, false)
		if n >= want {
			return true, ""
		}
		seen = append(seen, fmt.Sprintf("runner %d has %d fitting GPU(s)%s", inv.RunnerID, n, because(why)))
	}
	if len(seen) == 0 {
		return false, fmt.Sprintf("no runner serves machine type %s, so no runner can give this job %s", machineType, Describe(req))
	}
	const most = 3
	more := ""
	if len(seen) > most {
		more = fmt.Sprintf("; and %d more", len(seen)-most)
		seen = seen[:most]
	}
	return false, fmt.Sprintf("no runner of machine type %s can ever give this job %s: %s%s",
		machineType, Describe(req), strings.Join(seen, "; "), more)
}

func because(why string) string {
	if why == "" {
		return ""
	}
	return " (" + why + ")"
}

// Describe says what a resolved request asks for, e.g. "2 GPUs of model A100 with at
// least 40 GiB, compute capability 8.0 and CUDA 12.2".
func Describe(req machine.GPURequest) string {
	n := req.Wanted()
	s := fmt.Sprintf("%d GPU", n)
	if n != 1 {
		s += "s"
	}
	if req.Model != "" {
		s += " of model " + req.Model
	}
	var mins []string
	if req.MemoryMinBytes > 0 {
		mins = append(mins, machine.FormatBytes(req.MemoryMinBytes))
	}
	if !req.ComputeCapabilityMin.IsZero() {
		mins = append(mins, "compute capability "+req.ComputeCapabilityMin.String())
	}
	if !req.CUDAMin.IsZero() {
		mins = append(mins, "CUDA "+req.CUDAMin.String())
	}
	if len(mins) > 0 {
		s += " with at least " + strings.Join(mins, ", ")
	}
	return s
}
