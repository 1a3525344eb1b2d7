package machine

import (
	"fmt"
	"slices"
	"strings"
)

// WithDefaults returns the default catalog with extra added: a type with a default's
// tag replaces it, others come after the defaults in the order given. It is how a
// server's --machine-types file and a runner's [[machine_types]] extend Defaults.
func WithDefaults(extra []Type) (*Catalog, error) {
	types := Defaults()
	for _, t := range extra {
		if i := slices.IndexFunc(types, func(d Type) bool { return d.Tag == t.Tag }); i >= 0 {
			types[i] = t
		} else {
			types = append(types, t)
		}
	}
	return NewCatalog(types)
}

// Placement is where a job runs: the machine type its tags select and its GPU
// request resolved against that type.
type Placement struct {
	// Type is the machine type; the zero Type when Hosted is false.
	Type Type
	// Hosted is false when the job's tags name no machine type of the catalog: it may
	// still run on a runner with matching tags, without a machine type's limits or GPUs.
	Hosted bool
	// GPU is the request resolved against Type (see Type.Resolve); zero when not Hosted.
	GPU GPURequest
}

// Place decides where a job with these tags and this GPU request (as
// ParseGPURequest read it) runs. It fails when the tags name two machine types, when
// the request asks what the type cannot give (Type.Resolve), and when the job asks
// for GPUs but its tags name no machine type. The error is worded to follow the
// job's name: "jobs:train " + err.Error().
func (c *Catalog) Place(tags []string, req GPURequest) (Placement, error) {
	t, hosted, err := c.ForTags(tags)
	switch {
	case err != nil:
		return Placement{}, fmt.Errorf("tags: %w", err)
	case !hosted:
		if !req.IsZero() {
			return Placement{}, fmt.Errorf("asks for GPUs (%s) but its tags name no machine type; add a GPU machine type tag such as %s",
				strings.Join(req.Variables(), ", "), TagGPUMedium)
		}
		return Placement{}, nil
	}
	resolved, err := t.Resolve(req)
	if err != nil {
		return Placement{}, err
	}
	return Placement{Type: t, Hosted: true, GPU: resolved}, nil
}

// Variables names the variables that set r, in the order they are documented.
func (r GPURequest) Variables() []string {
	var set []string
	if r.Count != nil {
		set = append(set, VarGPUCount)
	}
	if r.Model != "" {
		set = append(set, VarGPUModel)
	}
	if r.MemoryMinBytes > 0 {
		set = append(set, VarGPUMemoryMin)
	}
	if !r.ComputeCapabilityMin.IsZero() {
		set = append(set, VarGPUComputeCapabilityMin)
	}
	if !r.CUDAMin.IsZero() {
		set = append(set, VarCUDAMin)
	}
	return set
}
