package machine

import (
	"fmt"
	"slices"
)

// WithDefaults returns the default catalog with extra added: a type with a default's
// tag replaces it, others come after the defaults in the order given. A tag given
// twice in extra is an error, as in NewCatalog. It is how a server's --machine-types
// file and a runner's [[machine_types]] extend Defaults.
func WithDefaults(extra []Type) (*Catalog, error) {
	types := Defaults()
	for k, t := range extra {
		if slices.ContainsFunc(extra[:k], func(e Type) bool { return e.Tag == t.Tag }) {
			return nil, fmt.Errorf("machine type %q is defined twice", t.Tag)
		}
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
	// Hosted is false when the job's tags name no machine type of the catalog: it runs
	// on a self-managed runner with matching tags, without a machine type's limits or
	// GPUs; a Kiln runner with GPUs of its own reads the job's KILN_GPU_* variables
	// itself.
	Hosted bool
	// GPU is the request resolved against Type (see Type.Resolve); zero when not Hosted.
	GPU GPURequest
}

// Place decides where a job with these tags and this GPU request (as
// ParseGPURequest read it) runs. It fails when the tags name two machine types and
// when the request asks what the type cannot give (Type.Resolve). A job whose tags
// name no machine type is placed on no type whatever it requests: only a
// self-managed runner's own GPUs can honour its request (a Kiln runner leases them
// by the job's variables, another runner ignores them), and a pipeline may set
// KILN_GPU_* or KILN_CUDA_MIN once for all its jobs, those too. The error is worded
// to follow the job's name: "jobs:train " + err.Error().
func (c *Catalog) Place(tags []string, req GPURequest) (Placement, error) {
	t, hosted, err := c.ForTags(tags)
	switch {
	case err != nil:
		return Placement{}, fmt.Errorf("tags: %w", err)
	case !hosted:
		return Placement{}, nil
	}
	resolved, err := t.Resolve(req)
	if err != nil {
		return Placement{}, err
	}
	return Placement{Type: t, Hosted: true, GPU: resolved}, nil
}
