package machine

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Variables a job sets to request GPUs. They are ordinary CI variables, so the YAML
// stays valid for GitLab.
const (
	VarGPUCount                = "KILN_GPU_COUNT"
	VarGPUModel                = "KILN_GPU_MODEL"
	VarGPUMemoryMin            = "KILN_GPU_MEMORY_MIN"
	VarGPUComputeCapabilityMin = "KILN_GPU_COMPUTE_CAPABILITY_MIN"
	VarCUDAMin                 = "KILN_CUDA_MIN"
)

// GPURequest is what one job asks of GPUs. The zero value asks for nothing beyond the
// machine type's default. Count is nil when the job leaves it to the machine type.
type GPURequest struct {
	Count                *int    `json:"count,omitempty"`
	Model                string  `json:"model,omitempty"`
	MemoryMinBytes       uint64  `json:"memory_min_bytes,omitempty"`
	ComputeCapabilityMin Version `json:"compute_capability_min,omitzero"`
	CUDAMin              Version `json:"cuda_min,omitzero"`
}

// IsZero reports whether the request sets nothing.
func (r GPURequest) IsZero() bool {
	return r.Count == nil && r.Model == "" && r.MemoryMinBytes == 0 &&
		r.ComputeCapabilityMin.IsZero() && r.CUDAMin.IsZero()
}

// A VariableError is a malformed GPU request variable: its name, its value and the
// form it should have.
type VariableError struct {
	Var, Value, Want string
}

func (e *VariableError) Error() string {
	return fmt.Sprintf("%s=%q: %s", e.Var, e.Value, e.Want)
}

// A RequestError is a well-formed GPU request that a machine type cannot give: Var
// names the variable that asks for it.
type RequestError struct {
	Var string
	msg string
}

func (e *RequestError) Error() string { return e.msg }

func requestError(key, format string, args ...any) error {
	return &RequestError{Var: key, msg: fmt.Sprintf(format, args...)}
}

// ParseGPURequest reads the KILN_GPU_* and KILN_CUDA_MIN variables through lookup.
// Each malformed value is a *VariableError naming the variable, the value and the
// expected form; with several, the error joins them all (errors.Join).
func ParseGPURequest(lookup func(key string) (string, bool)) (GPURequest, error) {
	var r GPURequest
	var errs []error
	bad := func(key, value, want string) { errs = append(errs, &VariableError{Var: key, Value: value, Want: want}) }
	if v, ok := lookup(VarGPUCount); ok && strings.TrimSpace(v) != "" {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err != nil || n < 0 {
			bad(VarGPUCount, v, "want a whole number of GPUs, e.g. 1")
		} else {
			r.Count = &n
		}
	}
	if v, ok := lookup(VarGPUModel); ok {
		r.Model = strings.TrimSpace(v)
	}
	if v, ok := lookup(VarGPUMemoryMin); ok && strings.TrimSpace(v) != "" {
		if b, err := ParseBytes(v); err != nil {
			bad(VarGPUMemoryMin, v, err.Error())
		} else if !hasUnit(v) {
			// "16" would be 16 bytes, which every GPU has: almost surely meant as GB.
			bad(VarGPUMemoryMin, v, "want a unit, e.g. 16GB or 40GiB: a bare number would be bytes")
		} else {
			r.MemoryMinBytes = b
		}
	}
	if v, ok := lookup(VarGPUComputeCapabilityMin); ok && strings.TrimSpace(v) != "" {
		if ver, err := ParseVersion(v); err != nil {
			bad(VarGPUComputeCapabilityMin, v, err.Error()+", e.g. 8.0")
		} else {
			r.ComputeCapabilityMin = ver
		}
	}
	if v, ok := lookup(VarCUDAMin); ok && strings.TrimSpace(v) != "" {
		if ver, err := ParseVersion(v); err != nil {
			bad(VarCUDAMin, v, err.Error()+", e.g. 12.2")
		} else {
			r.CUDAMin = ver
		}
	}
	return r, errors.Join(errs...)
}

// hasUnit reports whether a size ends in a unit rather than a digit.
func hasUnit(size string) bool {
	t := strings.TrimSpace(size)
	return t != "" && (t[len(t)-1] < '0' || t[len(t)-1] > '9') && t[len(t)-1] != '.'
}

// Resolve narrows the machine type's GPU default by a job's request. A request may ask
// for fewer GPUs or stricter ones, never for more than the type gives or a model that
// contradicts it; that is an error saying so. When the job gets no GPUs (a CPU machine
// type, or KILN_GPU_COUNT=0) the other KILN_GPU_* variables and KILN_CUDA_MIN are
// ignored: a pipeline may set them globally for its GPU jobs.
func (t Type) Resolve(r GPURequest) (GPURequest, error) {
	out := GPURequest{
		Model:                t.GPU.Model,
		MemoryMinBytes:       t.GPU.MemoryMinBytes,
		ComputeCapabilityMin: r.ComputeCapabilityMin,
		CUDAMin:              r.CUDAMin,
	}
	count := t.GPU.Count
	if r.Count != nil {
		if *r.Count > t.GPU.Count {
			if t.GPU.Count == 0 {
				return out, requestError(VarGPUCount, "%s=%d but machine type %s has no GPUs; use a GPU machine type such as %s",
					VarGPUCount, *r.Count, t.Tag, TagGPUMedium)
			}
			return out, requestError(VarGPUCount, "%s=%d exceeds machine type %s, which gives %d GPU(s)",
				VarGPUCount, *r.Count, t.Tag, t.GPU.Count)
		}
		count = *r.Count
	}
	out.Count = &count
	if count == 0 {
		// Without GPUs the narrowing variables narrow nothing. They are often set once
		// for a whole pipeline (global variables) that also has CPU jobs, so they are
		// ignored here rather than refused.
		return GPURequest{Count: &count}, nil
	}
	if r.Model != "" {
		if t.GPU.Model != "" && !ModelMatches(r.Model, t.GPU.Model) && !ModelMatches(t.GPU.Model, r.Model) {
			return out, requestError(VarGPUModel, "%s=%q contradicts machine type %s, which gives %s GPUs", VarGPUModel, r.Model, t.Tag, t.GPU.Model)
		}
		out.Model = r.Model
	}
	if r.MemoryMinBytes > out.MemoryMinBytes {
		out.MemoryMinBytes = r.MemoryMinBytes
	}
	return out, nil
}

// Wanted returns how many GPUs a resolved request asks for.
func (r GPURequest) Wanted() int {
	if r.Count == nil {
		return 0
	}
	return *r.Count
}

// ModelMatches reports whether a device name (e.g. "Tesla T4", "NVIDIA A100-SXM4-80GB")
// matches a requested model (e.g. "t4", "A100"), case-insensitively.
func ModelMatches(deviceName, model string) bool {
	if model == "" {
		return true
	}
	return strings.Contains(strings.ToLower(deviceName), strings.ToLower(strings.TrimSpace(model)))
}

// Device is what fit needs to know of one GPU.
type Device struct {
	Name              string
	MemoryBytes       uint64
	ComputeCapability Version
	CUDAVersion       Version // the driver's CUDA version
}

// Fits reports whether d satisfies a resolved request, and if not, why.
func (r GPURequest) Fits(d Device) (bool, string) {
	switch {
	case !ModelMatches(d.Name, r.Model):
		return false, fmt.Sprintf("model %s is not %s", d.Name, r.Model)
	case d.MemoryBytes < r.MemoryMinBytes:
		return false, fmt.Sprintf("%s has %s of memory, less than %s", d.Name, FormatBytes(d.MemoryBytes), FormatBytes(r.MemoryMinBytes))
	case !r.ComputeCapabilityMin.IsZero() && d.ComputeCapability.Less(r.ComputeCapabilityMin):
		return false, fmt.Sprintf("%s has compute capability %s, less than %s", d.Name, d.ComputeCapability, r.ComputeCapabilityMin)
	case !r.CUDAMin.IsZero() && d.CUDAVersion.Less(r.CUDAMin):
		return false, fmt.Sprintf("the driver supports CUDA %s, less than %s", d.CUDAVersion, r.CUDAMin)
	}
	return true, ""
}
