package machine

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func intp(n int) *int { return &n }

func TestDefaultCatalogMatchesGitLabHostedRunners(t *testing.T) {
	c := DefaultCatalog()
	gpu, ok := c.Get(TagGPUMedium)
	if !ok {
		t.Fatalf("default catalog lacks %s", TagGPUMedium)
	}
	if gpu.VCPU != 4 || gpu.MemoryBytes != 15*GB || gpu.DiskBytes != 50*GB || gpu.GPU.Count != 1 || gpu.CostFactor != 7 {
		t.Errorf("GPU machine type = %+v, want 4 vCPU, 15 GB, 50 GB, 1 GPU, cost factor 7", gpu)
	}
	if gpu.AllowsPlan(PlanFree) || !gpu.AllowsPlan(PlanPremium) || !gpu.AllowsPlan("Ultimate") {
		t.Errorf("GPU machine type must be open to Premium and Ultimate only, plans = %v", gpu.Plans)
	}
	small, ok := c.Untagged()
	if !ok || small.Tag != TagSmall {
		t.Errorf("untagged jobs go to %q, want %s", small.Tag, TagSmall)
	}
	if got := gpu.Minutes(30 * time.Second); got != 3.5 {
		t.Errorf("30 s on the GPU type costs %v minutes, want 3.5", got)
	}
}

func TestCatalogRejectsBadTypes(t *testing.T) {
	for name, types := range map[string][]Type{
		"duplicate tag":   {{Tag: "a"}, {Tag: "a"}},
		"two untagged":    {{Tag: "a", Untagged: true}, {Tag: "b", Untagged: true}},
		"empty tag":       {{Tag: ""}},
		"unknown plan":    {{Tag: "a", Plans: []string{"gold"}}},
		"comma in tag":    {{Tag: "a,b"}},
		"negative factor": {{Tag: "a", CostFactor: -1}},
	} {
		if _, err := NewCatalog(types); err == nil {
			t.Errorf("%s: NewCatalog accepted %+v", name, types)
		}
	}
}

func TestForTags(t *testing.T) {
	c := DefaultCatalog()
	if got, ok, err := c.ForTags(nil); err != nil || !ok || got.Tag != TagSmall {
		t.Errorf("untagged job: got %q %v %v, want %s", got.Tag, ok, err, TagSmall)
	}
	if got, ok, err := c.ForTags([]string{"linux", TagGPUMedium}); err != nil || !ok || got.Tag != TagGPUMedium {
		t.Errorf("GPU tag among others: got %q %v %v", got.Tag, ok, err)
	}
	if _, ok, err := c.ForTags([]string{"my-own-runner"}); err != nil || ok {
		t.Errorf("tags naming no machine type: ok=%v err=%v, want false, nil", ok, err)
	}
	if _, _, err := c.ForTags([]string{TagSmall, TagGPUMedium}); err == nil {
		t.Error("tags naming two machine types must be an error")
	}
}

func TestParseGPURequest(t *testing.T) {
	vars := map[string]string{
		VarGPUCount: "2", VarGPUModel: "A100", VarGPUMemoryMin: "40GiB",
		VarGPUComputeCapabilityMin: "8.0", VarCUDAMin: "12.2",
	}
	r, err := ParseGPURequest(func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if *r.Count != 2 || r.Model != "A100" || r.MemoryMinBytes != 40*GiB ||
		r.ComputeCapabilityMin != (Version{8, 0}) || r.CUDAMin != (Version{12, 2}) {
		t.Errorf("parsed %+v", r)
	}
}

func TestParseGPURequestNamesTheBadVariable(t *testing.T) {
	for key, val := range map[string]string{
		VarGPUCount: "two", VarGPUMemoryMin: "lots", VarGPUComputeCapabilityMin: "eight", VarCUDAMin: "12.x",
	} {
		_, err := ParseGPURequest(func(k string) (string, bool) {
			if k == key {
				return val, true
			}
			return "", false
		})
		if err == nil || !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), val) {
			t.Errorf("%s=%s: error %v must name the variable and value", key, val, err)
		}
	}
}

func TestParseGPURequestWantsAUnitOnTheMemoryMinimum(t *testing.T) {
	for v, want := range map[string]bool{"16": false, "16.5": false, " 16 ": false, "16GB": true, "16 g": true, "16GiB": true} {
		_, err := ParseGPURequest(func(k string) (string, bool) { return v, k == VarGPUMemoryMin })
		if ok := err == nil; ok != want {
			t.Errorf("%s=%q: error %v, want accepted=%v", VarGPUMemoryMin, v, err, want)
		}
		if err != nil && !strings.Contains(err.Error(), "want a unit") {
			t.Errorf("%s=%q: error %v should ask for a unit", VarGPUMemoryMin, v, err)
		}
	}
}

func TestParseGPURequestReportsEveryMalformedVariable(t *testing.T) {
	vars := map[string]string{VarGPUCount: "1", VarGPUMemoryMin: "lots", VarCUDAMin: "12.x"}
	_, err := ParseGPURequest(func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("want the errors joined, got %v", err)
	}
	var bad []string
	for _, e := range joined.Unwrap() {
		var ve *VariableError
		if !errors.As(e, &ve) {
			t.Fatalf("%v is not a *VariableError", e)
		}
		bad = append(bad, ve.Var+"="+ve.Value)
	}
	if want := []string{VarGPUMemoryMin + "=lots", VarCUDAMin + "=12.x"}; !slices.Equal(bad, want) {
		t.Errorf("malformed variables = %v, want %v", bad, want)
	}
}

func TestResolveNarrowsNeverExceeds(t *testing.T) {
	gpu, _ := DefaultCatalog().Get(TagGPUMedium)
	r, err := gpu.Resolve(GPURequest{MemoryMinBytes: 12 * GiB})
	if err != nil || r.Wanted() != 1 || r.MemoryMinBytes != 15*GiB {
		t.Errorf("default request: %+v %v; want 1 GPU of at least 15 GiB", r, err)
	}
	if _, err := gpu.Resolve(GPURequest{Count: intp(2)}); err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Errorf("two GPUs on a one-GPU type: err = %v", err)
	}
	small, _ := DefaultCatalog().Get(TagSmall)
	if _, err := small.Resolve(GPURequest{Count: intp(1)}); err == nil || !strings.Contains(err.Error(), "no GPUs") {
		t.Errorf("GPU on a CPU type: err = %v", err)
	}
	if r, err := small.Resolve(GPURequest{}); err != nil || r.Wanted() != 0 {
		t.Errorf("CPU type without request: %+v %v", r, err)
	}
	global := GPURequest{Model: "A100", MemoryMinBytes: 40 * GiB, CUDAMin: Version{12, 1}}
	if r, err := small.Resolve(global); err != nil || !r.IsZeroExceptCount() {
		t.Errorf("pipeline-wide GPU variables on a CPU job must be ignored, got %+v, %v", r, err)
	}
	if r, err := gpu.Resolve(GPURequest{Count: intp(0), CUDAMin: Version{12, 1}}); err != nil || r.Wanted() != 0 || !r.CUDAMin.IsZero() {
		t.Errorf("KILN_GPU_COUNT=0 on a GPU type: %+v, %v; want no GPUs and nothing else", r, err)
	}
	a100 := Type{Tag: "gpu-a100", GPU: GPU{Count: 8, Model: "A100"}}
	if _, err := a100.Resolve(GPURequest{Model: "T4"}); err == nil {
		t.Error("a T4 request on an A100 type must be refused")
	}
	if r, _ := a100.Resolve(GPURequest{Count: intp(2), Model: "a100-sxm4-80gb"}); r.Wanted() != 2 || r.Model != "a100-sxm4-80gb" {
		t.Errorf("narrowing the model: %+v", r)
	}
}

func TestFits(t *testing.T) {
	r := GPURequest{Model: "A100", MemoryMinBytes: 40 * GiB, ComputeCapabilityMin: Version{8, 0}, CUDAMin: Version{12, 2}}
	good := Device{Name: "NVIDIA A100-SXM4-80GB", MemoryBytes: 80 * GiB, ComputeCapability: Version{8, 0}, CUDAVersion: Version{12, 4}}
	if ok, why := r.Fits(good); !ok {
		t.Errorf("A100 80GB should fit: %s", why)
	}
	for name, d := range map[string]Device{
		"model":  {Name: "Tesla T4", MemoryBytes: 80 * GiB, ComputeCapability: Version{8, 0}, CUDAVersion: Version{12, 4}},
		"memory": {Name: "NVIDIA A100-PCIE-40GB", MemoryBytes: 39 * GiB, ComputeCapability: Version{8, 0}, CUDAVersion: Version{12, 4}},
		"cc":     {Name: "A100", MemoryBytes: 80 * GiB, ComputeCapability: Version{7, 5}, CUDAVersion: Version{12, 4}},
		"cuda":   {Name: "A100", MemoryBytes: 80 * GiB, ComputeCapability: Version{8, 0}, CUDAVersion: Version{11, 8}},
	} {
		if ok, why := r.Fits(d); ok || why == "" {
			t.Errorf("%s: %+v should not fit (why=%q)", name, d, why)
		}
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]uint64{
		"40GiB": 40 * GiB, "16 GB": 16 * GB, "512MiB": 512 * MiB, "1.5G": GiB + GiB/2, "1024": 1024, "2t": 2 << 40,
	} {
		if got, err := ParseBytes(in); err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "GB", "-1GB", "1XB", "1e400GB", "1.2.3G"} {
		if _, err := ParseBytes(in); err == nil {
			t.Errorf("ParseBytes(%q) accepted", in)
		}
	}
	if got := FormatBytes(15 * GiB); got != "15 GiB" {
		t.Errorf("FormatBytes = %q", got)
	}
	if got := FormatGB(15 * GB); got != "15 GB" {
		t.Errorf("FormatGB = %q", got)
	}
}

func TestVersion(t *testing.T) {
	v, err := ParseVersion("12.1.1")
	if err != nil || v != (Version{12, 1}) || v.String() != "12.1" {
		t.Errorf("ParseVersion(12.1.1) = %v, %v", v, err)
	}
	if !(Version{11, 8}).Less(Version{12, 0}) || (Version{12, 2}).Less(Version{12, 1}) {
		t.Error("Less is wrong")
	}
	for _, in := range []string{"", "x", "1.2.3.4", "1.-2"} {
		if _, err := ParseVersion(in); err == nil {
			t.Errorf("ParseVersion(%q) accepted", in)
		}
	}
}

// IsZeroExceptCount reports whether a resolved request asks for nothing but a count.
func (r GPURequest) IsZeroExceptCount() bool {
	r.Count = nil
	return r.IsZero()
}
