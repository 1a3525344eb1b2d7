package machine

import (
	"slices"
	"strings"
	"testing"
)

func TestWithDefaultsReplacesByTagAndAddsTheRest(t *testing.T) {
	a100 := Type{Tag: "saas-linux-large-amd64-gpu-a100", VCPU: 8, CostFactor: 20, GPU: GPU{Count: 1, Model: "A100"}}
	bigSmall := Type{Tag: TagSmall, VCPU: 3, CostFactor: 1, Untagged: true}
	c, err := WithDefaults([]Type{a100, bigSmall})
	if err != nil {
		t.Fatal(err)
	}
	types := c.Types()
	if len(types) != len(Defaults())+1 || types[len(types)-1].Tag != a100.Tag {
		t.Errorf("types = %d, last %q; want the %d defaults and %s last", len(types), types[len(types)-1].Tag, len(Defaults()), a100.Tag)
	}
	if small, _ := c.Get(TagSmall); small.VCPU != 3 || types[0].Tag != TagSmall {
		t.Errorf("%s = %+v at index %d; want the file's (3 vCPU) in the default's place", TagSmall, small, slices.IndexFunc(types, func(t Type) bool { return t.Tag == TagSmall }))
	}
	if _, err := WithDefaults([]Type{{Tag: "two-untagged", Untagged: true}}); err == nil {
		t.Error("a second untagged type was accepted")
	}
	for _, twice := range []Type{a100, bigSmall} {
		if _, err := WithDefaults([]Type{twice, a100, bigSmall}); err == nil || !strings.Contains(err.Error(), "defined twice") {
			t.Errorf("%s given twice: %v, want an error saying it is defined twice", twice.Tag, err)
		}
	}
}

func TestPlaceSelectsTheTypeAndResolvesTheRequest(t *testing.T) {
	c := DefaultCatalog()
	p, err := c.Place([]string{TagGPUMedium}, GPURequest{MemoryMinBytes: 15 * GiB})
	if err != nil || !p.Hosted || p.Type.Tag != TagGPUMedium || p.GPU.Wanted() != 1 {
		t.Errorf("GPU job: %+v, %v; want %s with 1 GPU", p, err, TagGPUMedium)
	}
	p, err = c.Place(nil, GPURequest{})
	if err != nil || !p.Hosted || p.Type.Tag != TagSmall || p.GPU.Wanted() != 0 {
		t.Errorf("untagged job: %+v, %v; want %s without GPUs", p, err, TagSmall)
	}
	p, err = c.Place([]string{"my-own-runner"}, GPURequest{})
	if err != nil || p.Hosted {
		t.Errorf("tags of a self-managed runner: %+v, %v; want not hosted, no error", p, err)
	}
}

func TestPlaceLeavesTheGPURequestOfASelfManagedRunnersJobToThatRunner(t *testing.T) {
	// A pipeline-wide KILN_CUDA_MIN, or a job's own KILN_GPU_COUNT, on a job for a
	// self-managed runner: that runner's GPUs, not a machine type, honour it.
	c := DefaultCatalog()
	for name, req := range map[string]GPURequest{
		"a pipeline-wide minimum": {CUDAMin: Version{12, 2}},
		"the job's own request":   {Count: intp(2), Model: "A100", MemoryMinBytes: 40 * GiB},
	} {
		p, err := c.Place([]string{"my-own-runner"}, req)
		if err != nil || p.Hosted || p.Type.Tag != "" || !p.GPU.IsZero() {
			t.Errorf("%s: %+v, %v; want placed on no machine type, without an error", name, p, err)
		}
	}
}

func TestPlaceRefusesWhatNoRunnerCouldGive(t *testing.T) {
	c := DefaultCatalog()
	for name, tc := range map[string]struct {
		tags []string
		req  GPURequest
		want string
	}{
		"two machine types": {[]string{TagSmall, TagGPUMedium}, GPURequest{},
			`tags: tags name two machine types, "saas-linux-small-amd64" and "saas-linux-medium-amd64-gpu-standard"`},
		"more GPUs than the type": {[]string{TagGPUMedium}, GPURequest{Count: intp(2)},
			"KILN_GPU_COUNT=2 exceeds machine type saas-linux-medium-amd64-gpu-standard, which gives 1 GPU(s)"},
		"GPUs on a CPU type": {[]string{TagMedium}, GPURequest{Count: intp(1)},
			"KILN_GPU_COUNT=1 but machine type saas-linux-medium-amd64 has no GPUs"},
	} {
		_, err := c.Place(tc.tags, tc.req)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to start %q", name, err, tc.want)
		}
	}
}
