// Package smi is the nvidia-smi fallback for hosts where NVML cannot be loaded by Kiln
// but nvidia-smi runs: a parser of `nvidia-smi --query-gpu=… --format=csv,noheader,nounits`
// output and of the CUDA version in nvidia-smi's banner, and a device.Host that reads
// inventory, health, samples and processes through it. It cannot watch Xid events.
//
// It is on the runner side: the coordinator side must not import it.
package smi

import (
	"encoding/csv"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/kiln-ci/kiln/internal/gpu/device"
	"github.com/kiln-ci/kiln/internal/machine"
)

// InventoryFields are the --query-gpu fields Inventory asks for, in order.
var InventoryFields = []string{"index", "uuid", "name", "memory.total", "compute_cap", "driver_version", "pci.bus_id", "mig.mode.current"}

// Record is one CSV line keyed by field name; a value nvidia-smi could not give
// ("[N/A]", "[Not Supported]", …) is absent.
type Record map[string]string

// missing reports whether nvidia-smi wrote a placeholder instead of a value.
func missing(v string) bool {
	v = strings.TrimSpace(v)
	if v == "" {
		return true
	}
	switch strings.ToLower(strings.Trim(v, "[]")) {
	case "n/a", "not supported", "unknown error", "insufficient permissions", "gpu is lost", "requested functionality has been deprecated":
		return true
	}
	return false
}

// ParseQuery parses --format=csv,noheader,nounits output of a query of fields. Each
// line must have one value per field; an error names the line and what is wrong.
func ParseQuery(r io.Reader, fields []string) ([]Record, error) {
	cr := csv.NewReader(r)
	cr.TrimLeadingSpace = true
	cr.FieldsPerRecord = -1
	var out []Record
	for line := 1; ; line++ {
		row, err := cr.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("nvidia-smi output line %d: %w", line, err)
		}
		if len(row) == 1 && strings.TrimSpace(row[0]) == "" {
			continue
		}
		if len(row) != len(fields) {
			return nil, fmt.Errorf("nvidia-smi output line %d has %d values, want %d (%s)", line, len(row), len(fields), strings.Join(fields, ","))
		}
		rec := Record{}
		for i, f := range fields {
			if v := strings.TrimSpace(row[i]); !missing(v) {
				rec[f] = v
			}
		}
		out = append(out, rec)
	}
}

// ParseInventory turns the output of a query of InventoryFields into an inventory.
// cuda is the driver's CUDA version (from ParseCUDAVersion). A GPU in MIG mode is left
// out (its slices can only be allocated through NVML) and named in skipped.
func ParseInventory(out string, cuda machine.Version) (inv device.Inventory, skipped []string, err error) {
	recs, err := ParseQuery(strings.NewReader(out), InventoryFields)
	if err != nil {
		return inv, nil, err
	}
	inv = device.Inventory{Source: device.SourceNvidiaSMI, CUDAVersion: cuda, GPUs: []device.GPU{}}
	for i, rec := range recs {
		g := device.GPU{UUID: rec["uuid"], Name: rec["name"], DriverVersion: rec["driver_version"], CUDAVersion: cuda, PCIBusID: rec["pci.bus_id"]}
		if g.UUID == "" {
			return inv, nil, fmt.Errorf("nvidia-smi output line %d: GPU without a UUID", i+1)
		}
		if g.Index, err = strconv.Atoi(rec["index"]); err != nil {
			return inv, nil, fmt.Errorf("nvidia-smi output line %d: index %q is not a number", i+1, rec["index"])
		}
		g.Minor = g.Index
		if m, ok := rec["memory.total"]; ok {
			mib, err := strconv.ParseUint(m, 10, 64)
			if err != nil {
				return inv, nil, fmt.Errorf("nvidia-smi output line %d: memory.total %q is not a number of MiB", i+1, m)
			}
			g.MemoryBytes = mib * machine.MiB
		}
		if cc, ok := rec["compute_cap"]; ok {
			if g.ComputeCapability, err = machine.ParseVersion(cc); err != nil {
				return inv, nil, fmt.Errorf("nvidia-smi output line %d: compute_cap %q is not a version", i+1, cc)
			}
		}
		if inv.DriverVersion == "" {
			inv.DriverVersion = g.DriverVersion
		}
		if strings.EqualFold(rec["mig.mode.current"], "Enabled") {
			skipped = append(skipped, g.UUID)
			continue
		}
		inv.GPUs = append(inv.GPUs, g)
	}
	return inv, skipped, inv.Validate()
}

var cudaBanner = regexp.MustCompile(`CUDA Version\s*:\s*([0-9]+(?:\.[0-9]+)?)`)

// ParseCUDAVersion finds "CUDA Version: 12.2" in nvidia-smi's banner (plain
// `nvidia-smi` or `nvidia-smi -q`, which writes "CUDA Version : 12.2").
func ParseCUDAVersion(banner string) (machine.Version, error) {
	m := cudaBanner.FindStringSubmatch(banner)
	if m == nil {
		return machine.Version{}, fmt.Errorf("nvidia-smi's output has no \"CUDA Version:\"")
	}
	return machine.ParseVersion(m[1])
}

// number parses a numeric field; absent is 0.
func number(rec Record, field string) (float64, error) {
	v, ok := rec[field]
	if !ok {
		return 0, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, fmt.Errorf("nvidia-smi field %s = %q is not a number", field, v)
	}
	return f, nil
}
