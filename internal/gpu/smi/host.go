package smi

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/kiln-ci/kiln/internal/gpu/device"
)

// Runner runs nvidia-smi with args and returns its standard output.
type Runner func(ctx context.Context, args ...string) ([]byte, error)

// Exec runs the nvidia-smi found at path (or on PATH when path is "nvidia-smi").
func Exec(path string) Runner {
	return func(ctx context.Context, args ...string) ([]byte, error) {
		var stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, path, args...)
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("running nvidia-smi %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
		}
		return out, nil
	}
}

// Host reads GPUs through nvidia-smi. It is safe for concurrent use.
type Host struct {
	run Runner
	now func() time.Time
}

// New returns a host that runs nvidia-smi through run.
func New(run Runner) *Host { return &Host{run: run, now: time.Now} }

func (h *Host) query(ctx context.Context, uuid string, fields ...string) (Record, error) {
	out, err := h.run(ctx, "--query-gpu="+strings.Join(fields, ","), "--format=csv,noheader,nounits", "--id="+uuid)
	if err != nil {
		if strings.Contains(err.Error(), "No devices were found") || strings.Contains(err.Error(), "Invalid") {
			return nil, fmt.Errorf("%s: %w: %v", uuid, device.ErrUnknownGPU, err)
		}
		return nil, err
	}
	recs, err := ParseQuery(bytes.NewReader(out), fields)
	if err != nil {
		return nil, err
	}
	if len(recs) != 1 {
		return nil, fmt.Errorf("nvidia-smi gave %d lines for %s, want 1", len(recs), uuid)
	}
	return recs[0], nil
}

// Inventory lists the GPUs (not in MIG mode) that nvidia-smi reports.
func (h *Host) Inventory(ctx context.Context) (device.Inventory, error) {
	banner, err := h.run(ctx)
	if err != nil {
		return device.Inventory{}, err
	}
	cuda, err := ParseCUDAVersion(string(banner))
	if err != nil {
		return device.Inventory{}, err
	}
	out, err := h.run(ctx, "--query-gpu="+strings.Join(InventoryFields, ","), "--format=csv,noheader,nounits")
	if err != nil {
		return device.Inventory{}, err
	}
	inv, _, err := ParseInventory(string(out), cuda)
	return inv, err
}

// ReadHealth reads ECC, retired pages, remapped rows and temperature. It cannot see
// Xid events (XidsSupported is false). A field nvidia-smi reports as "[N/A]" or
// "[Not Supported]" does not apply to the GPU.
func (h *Host) ReadHealth(ctx context.Context, uuid string) (device.HealthReading, error) {
	var r device.HealthReading
	rec, err := h.query(ctx, uuid, "ecc.errors.uncorrected.volatile.total", "retired_pages.pending", "remapped_rows.pending", "remapped_rows.failure", "temperature.gpu")
	if err != nil {
		return r, fmt.Errorf("reading %s's health: %w", uuid, err)
	}
	if _, ok := rec["ecc.errors.uncorrected.volatile.total"]; ok {
		n, err := number(rec, "ecc.errors.uncorrected.volatile.total")
		if err != nil {
			return r, err
		}
		r.ECCSupported, r.UncorrectableECC = true, uint64(n)
	}
	r.RetiredPagesPending = strings.EqualFold(rec["retired_pages.pending"], "Yes")
	r.RemappedRowsPending = strings.EqualFold(rec["remapped_rows.pending"], "Yes") || rec["remapped_rows.pending"] == "1"
	r.RemappingFailed = strings.EqualFold(rec["remapped_rows.failure"], "Yes") || rec["remapped_rows.failure"] == "1"
	t, ok := rec["temperature.gpu"]
	if !ok {
		return r, fmt.Errorf("reading %s's temperature: nvidia-smi gave none", uuid)
	}
	temp, err := number(rec, "temperature.gpu")
	if err != nil {
		return r, fmt.Errorf("reading %s's temperature %q: %w", uuid, t, err)
	}
	r.TemperatureC = uint32(temp)
	return r, nil
}

// Sample reads utilisation, memory use, power and temperature.
func (h *Host) Sample(ctx context.Context, uuid string) (device.Sample, error) {
	s := device.Sample{UUID: uuid, Time: h.now()}
	rec, err := h.query(ctx, uuid, "utilization.gpu", "memory.used", "power.draw", "temperature.gpu")
	if err != nil {
		return s, fmt.Errorf("sampling %s: %w", uuid, err)
	}
	var mib float64
	for _, f := range []struct {
		dst   *float64
		field string
	}{{&s.UtilizationPct, "utilization.gpu"}, {&mib, "memory.used"}, {&s.PowerWatts, "power.draw"}, {&s.TemperatureC, "temperature.gpu"}} {
		if *f.dst, err = number(rec, f.field); err != nil {
			return s, err
		}
	}
	s.MemoryUsedBytes = uint64(mib) << 20
	return s, nil
}

// Processes lists compute processes on the GPU.
func (h *Host) Processes(ctx context.Context, uuid string) ([]device.Process, error) {
	fields := []string{"pid", "gpu_uuid", "used_memory"}
	out, err := h.run(ctx, "--query-compute-apps="+strings.Join(fields, ","), "--format=csv,noheader,nounits")
	if err != nil {
		return nil, fmt.Errorf("listing processes on %s: %w", uuid, err)
	}
	recs, err := ParseQuery(bytes.NewReader(out), fields)
	if err != nil {
		return nil, err
	}
	var ps []device.Process
	for _, rec := range recs {
		if rec["gpu_uuid"] != uuid {
			continue
		}
		pid, err := number(rec, "pid")
		if err != nil {
			return nil, err
		}
		mib, err := number(rec, "used_memory")
		if err != nil {
			return nil, err
		}
		ps = append(ps, device.Process{PID: int(pid), UsedMemoryBytes: uint64(mib) << 20})
	}
	return ps, nil
}

// Close does nothing.
func (h *Host) Close() error { return nil }

var _ device.Host = (*Host)(nil)
