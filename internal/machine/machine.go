// Package machine is the catalog of machine types: the runner tags a job names, the
// resources an environment of that type gets (vCPU, memory, disk, GPUs), its cost factor
// in compute minutes, and the plans it is open to. It also parses and resolves per-job
// GPU requests (the KILN_GPU_* variables) against a machine type.
//
// Both sides import it: the coordinator matches and charges by it, the runner applies
// its limits, and the pipeline compiler checks jobs against it. Any package may import
// it; it imports only the standard library.
package machine

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Plans (GitLab's tiers).
const (
	PlanFree     = "free"
	PlanPremium  = "premium"
	PlanUltimate = "ultimate"
)

// Type is one machine type.
type Type struct {
	// Tag is the runner tag that selects this type, e.g. saas-linux-medium-amd64-gpu-standard.
	Tag         string `json:"tag" toml:"tag"`
	Description string `json:"description,omitempty" toml:"description"`
	VCPU        int    `json:"vcpu" toml:"vcpu"`
	MemoryBytes uint64 `json:"memory_bytes" toml:"memory_bytes"`
	DiskBytes   uint64 `json:"disk_bytes" toml:"disk_bytes"`
	GPU         GPU    `json:"gpu" toml:"gpu"`
	// CostFactor multiplies a job's minutes when charging its namespace.
	CostFactor float64 `json:"cost_factor" toml:"cost_factor"`
	// Plans the type is open to; empty means every plan.
	Plans []string `json:"plans,omitempty" toml:"plans"`
	// Untagged marks the type that runs jobs without tags.
	Untagged bool `json:"untagged,omitempty" toml:"untagged"`
	// MaxTimeout caps a job's timeout on this type whatever the project says; 0 = no cap.
	MaxTimeout time.Duration `json:"max_timeout,omitempty" toml:"max_timeout"`
	// PIDsLimit caps processes in an environment of this type; 0 = executor default.
	PIDsLimit int64 `json:"pids_limit,omitempty" toml:"pids_limit"`
	// ShmBytes is /dev/shm's size in an environment of this type; 0 = executor default.
	ShmBytes uint64 `json:"shm_bytes,omitempty" toml:"shm_bytes"`
}

// GPU is what a machine type gives a job in GPUs.
type GPU struct {
	// Count of GPUs (or MIG slices) per job; 0 means no GPUs.
	Count int `json:"count" toml:"count"`
	// Model the GPUs must match (case-insensitive substring of the device name, e.g. "T4");
	// empty means any model.
	Model string `json:"model,omitempty" toml:"model"`
	// MemoryMinBytes is the least memory each GPU must have.
	MemoryMinBytes uint64 `json:"memory_min_bytes,omitempty" toml:"memory_min_bytes"`
	// MemoryLabel is how the GPU memory is advertised, e.g. "16 GB".
	MemoryLabel string `json:"memory_label,omitempty" toml:"memory_label"`
	// MIGProfile, when set, asks for MIG slices of this profile (e.g. "1g.10gb").
	MIGProfile string `json:"mig_profile,omitempty" toml:"mig_profile"`
}

// HasGPU reports whether the type gives GPUs.
func (t Type) HasGPU() bool { return t.GPU.Count > 0 }

// AllowsPlan reports whether a namespace on plan may use the type.
func (t Type) AllowsPlan(plan string) bool {
	return len(t.Plans) == 0 || slices.Contains(t.Plans, strings.ToLower(plan))
}

// Minutes returns the compute minutes a job of duration d costs on this type.
func (t Type) Minutes(d time.Duration) float64 {
	return d.Minutes() * t.CostFactor
}

// Validate checks a type's own fields.
func (t Type) Validate() error {
	switch {
	case t.Tag == "":
		return fmt.Errorf("machine type: tag is empty")
	case strings.ContainsAny(t.Tag, " ,\t\n"):
		return fmt.Errorf("machine type %q: tag must not contain spaces or commas", t.Tag)
	case t.VCPU < 0 || t.GPU.Count < 0:
		return fmt.Errorf("machine type %q: vcpu and gpu count must not be negative", t.Tag)
	case t.CostFactor < 0:
		return fmt.Errorf("machine type %q: cost_factor must not be negative", t.Tag)
	}
	for _, p := range t.Plans {
		if p != PlanFree && p != PlanPremium && p != PlanUltimate {
			return fmt.Errorf("machine type %q: unknown plan %q (want free, premium or ultimate)", t.Tag, p)
		}
	}
	return nil
}

// Catalog is a set of machine types, looked up by tag.
type Catalog struct {
	types []Type
}

// NewCatalog validates types and returns a catalog. Tags must be unique and at most one
// type may run untagged jobs.
func NewCatalog(types []Type) (*Catalog, error) {
	seen := map[string]bool{}
	untagged := ""
	for _, t := range types {
		if err := t.Validate(); err != nil {
			return nil, err
		}
		if seen[t.Tag] {
			return nil, fmt.Errorf("machine type %q is defined twice", t.Tag)
		}
		seen[t.Tag] = true
		if t.Untagged {
			if untagged != "" {
				return nil, fmt.Errorf("machine types %q and %q both run untagged jobs; only one may", untagged, t.Tag)
			}
			untagged = t.Tag
		}
	}
	return &Catalog{types: slices.Clone(types)}, nil
}

// Types returns the catalog's types in their configured order.
func (c *Catalog) Types() []Type { return slices.Clone(c.types) }

// Get returns the type with the given tag.
func (c *Catalog) Get(tag string) (Type, bool) {
	for _, t := range c.types {
		if t.Tag == tag {
			return t, true
		}
	}
	return Type{}, false
}

// Untagged returns the type that runs untagged jobs, if any.
func (c *Catalog) Untagged() (Type, bool) {
	for _, t := range c.types {
		if t.Untagged {
			return t, true
		}
	}
	return Type{}, false
}

// ForTags returns the machine type a job with these tags selects: the one type among
// its tags, or the untagged type for a job without tags. ok is false when the job names
// no machine type (it may still run on a self-managed runner with matching tags); an
// error means the tags name two machine types at once.
func (c *Catalog) ForTags(tags []string) (Type, bool, error) {
	if len(tags) == 0 {
		t, ok := c.Untagged()
		return t, ok, nil
	}
	var found []Type
	for _, tag := range tags {
		if t, ok := c.Get(tag); ok && !slices.ContainsFunc(found, func(f Type) bool { return f.Tag == t.Tag }) {
			found = append(found, t)
		}
	}
	switch len(found) {
	case 0:
		return Type{}, false, nil
	case 1:
		return found[0], true, nil
	default:
		return Type{}, false, fmt.Errorf("tags name two machine types, %q and %q; a job runs on one", found[0].Tag, found[1].Tag)
	}
}
