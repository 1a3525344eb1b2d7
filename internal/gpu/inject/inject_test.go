package inject_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/kiln-ci/kiln/internal/executor"
	"github.com/kiln-ci/kiln/internal/gpu/device"
	"github.com/kiln-ci/kiln/internal/gpu/inject"
	"github.com/kiln-ci/kiln/internal/gpu/nvmlhost"
	"github.com/kiln-ci/kiln/internal/gpu/nvmltest"
)

const driverVersion = "550.54.15" // the mock DGX servers' driver

// fakeDriverRoot lays out what an NVIDIA driver installs, as empty files, under a
// temporary driver root.
func fakeDriverRoot(t *testing.T, gpus int) string {
	t.Helper()
	root := t.TempDir()
	touch := func(p string) {
		full := filepath.Join(root, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i := range gpus {
		touch("/dev/nvidia" + string(rune('0'+i)))
	}
	touch("/dev/nvidiactl")
	touch("/dev/nvidia-uvm")
	lib := "/usr/lib/x86_64-linux-gnu/"
	for _, name := range []string{"libcuda.so", "libnvidia-ml.so"} {
		touch(lib + name + "." + driverVersion)
		os.Symlink(name+"."+driverVersion, filepath.Join(root, lib+name+".1"))
	}
	touch("/usr/bin/nvidia-smi")
	return root
}

func inventory(t *testing.T, s *nvmltest.Server) device.Inventory {
	t.Helper()
	h, err := nvmlhost.Open(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	inv, err := h.Inventory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

func TestGeneratedSpecResolvesOneLeasedGPUToExactlyItsEdits(t *testing.T) {
	root := fakeDriverRoot(t, 8)
	inv := inventory(t, nvmltest.NewDGXA100())
	gen := t.TempDir()
	in, err := inject.New(inject.Config{Mode: inject.ModeCDI, SpecDirs: []string{t.TempDir()}, GeneratedDir: gen, Root: root}, inv)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if !slices.Equal(in.Source, []string{gen}) {
		t.Errorf("edits come from %v, want the generated spec in %s", in.Source, gen)
	}
	// The generated file is a CDI spec the library itself accepts.
	if _, err := os.Stat(filepath.Join(gen, inject.GeneratedSpecName)); err != nil {
		t.Fatal(err)
	}
	leased := inv.GPUs[3]
	d, err := in.Devices([]device.GPU{leased})
	if err != nil {
		t.Fatal(err)
	}
	var nodes []string
	for _, n := range d.Nodes {
		nodes = append(nodes, n.Path)
		if n.HostPath != filepath.Join(root, n.Path) {
			t.Errorf("node %s comes from %s, want the driver root's", n.Path, n.HostPath)
		}
	}
	slices.Sort(nodes)
	if want := []string{"/dev/nvidia-uvm", "/dev/nvidia3", "/dev/nvidiactl"}; !slices.Equal(nodes, want) {
		t.Errorf("nodes = %v, want %v (GPU 3's own and the control nodes, no other GPU's)", nodes, want)
	}
	for _, other := range inv.GPUs {
		if other.UUID != leased.UUID && strings.Contains(strings.Join(d.Env, " "), other.UUID) {
			t.Errorf("env names another GPU %s: %v", other.UUID, d.Env)
		}
	}
	wantEnv := []string{"NVIDIA_VISIBLE_DEVICES=" + leased.UUID, "CUDA_VISIBLE_DEVICES=" + leased.UUID}
	if !slices.Equal(d.Env, wantEnv) || !slices.Equal(d.IDs, []string{leased.UUID}) {
		t.Errorf("env = %v, ids = %v; want %v", d.Env, d.IDs, wantEnv)
	}
	wantMounts := map[string]string{
		"/usr/lib/x86_64-linux-gnu/libcuda.so." + driverVersion:      "libcuda.so." + driverVersion,
		"/usr/lib/x86_64-linux-gnu/libcuda.so.1":                     "libcuda.so." + driverVersion,
		"/usr/lib/x86_64-linux-gnu/libnvidia-ml.so." + driverVersion: "libnvidia-ml.so." + driverVersion,
		"/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1":                "libnvidia-ml.so." + driverVersion,
		"/usr/bin/nvidia-smi":                                        "nvidia-smi",
	}
	if len(d.Mounts) != len(wantMounts) {
		t.Errorf("mounts = %+v, want %d", d.Mounts, len(wantMounts))
	}
	for _, m := range d.Mounts {
		if base, ok := wantMounts[m.Path]; !ok || !m.ReadOnly || filepath.Base(m.HostPath) != base {
			t.Errorf("unexpected mount %+v", m)
		}
	}
}

func TestTwoLeasedGPUsGetBothNodesAndOneVisibleList(t *testing.T) {
	inv := inventory(t, nvmltest.NewDGXH100())
	in, err := inject.New(inject.Config{Mode: inject.ModeCDI, SpecDirs: []string{t.TempDir()}, GeneratedDir: t.TempDir(), Root: fakeDriverRoot(t, 8)}, inv)
	if err != nil {
		t.Fatal(err)
	}
	d, err := in.Devices(inv.GPUs[1:3])
	if err != nil {
		t.Fatal(err)
	}
	ids := inv.GPUs[1].UUID + "," + inv.GPUs[2].UUID
	if !slices.Contains(d.Env, "CUDA_VISIBLE_DEVICES="+ids) {
		t.Errorf("env = %v, want CUDA_VISIBLE_DEVICES=%s", d.Env, ids)
	}
	if n := len(d.Nodes); n != 4 {
		t.Errorf("nodes = %+v, want nvidia1, nvidia2, nvidiactl, nvidia-uvm", d.Nodes)
	}
}

func TestOnAHostWithoutTheDriverOnlyExistingNodesAreUsed(t *testing.T) {
	inv := inventory(t, nvmltest.NewDGXA100())
	drv := inject.FindDriver(t.TempDir(), driverVersion)
	if len(drv.Nodes) != 0 || len(drv.Libraries) != 0 || len(drv.Binaries) != 0 {
		t.Errorf("empty root gave %+v", drv)
	}
	spec, err := inject.GenerateSpec("", inv, drv, "/")
	if err != nil || len(spec.Devices) != 8 || len(spec.ContainerEdits.Mounts) != 0 || spec.Kind != inject.DefaultKind {
		t.Errorf("spec = %+v, %v", spec, err)
	}
}

func TestMIGSliceGetsItsCapabilityNodes(t *testing.T) {
	s := nvmltest.NewDGXA100()
	migs, err := s.GPU(0).EnableMIG(nvml.GPU_INSTANCE_PROFILE_1_SLICE)
	if err != nil {
		t.Fatal(err)
	}
	inv := inventory(t, s)
	g, _ := inv.Get(migs[0])
	root := fakeDriverRoot(t, 8)
	caps := filepath.Join(root, "proc/driver/nvidia/capabilities/gpu0/mig", "gi0")
	os.MkdirAll(filepath.Join(caps, "ci0"), 0o755)
	os.WriteFile(filepath.Join(caps, "access"), []byte("DeviceFileMinor: 12\nDeviceFileMode: 292\n"), 0o644)
	os.WriteFile(filepath.Join(caps, "ci0", "access"), []byte("DeviceFileMinor: 13\n"), 0o644)
	if got := inject.MIGNodes(root, g); !slices.Equal(got, []string{"/dev/nvidia-caps/nvidia-cap12", "/dev/nvidia-caps/nvidia-cap13"}) {
		t.Errorf("MIG nodes = %v", got)
	}
	in, err := inject.New(inject.Config{Mode: inject.ModeCDI, SpecDirs: []string{t.TempDir()}, GeneratedDir: t.TempDir(), Root: root}, inv)
	if err != nil {
		t.Fatal(err)
	}
	d, err := in.Devices([]device.GPU{g})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(d.Nodes, func(n executor.DeviceNode) bool { return n.Path == "/dev/nvidia-caps/nvidia-cap12" }) ||
		!slices.Contains(d.Env, "CUDA_VISIBLE_DEVICES="+g.UUID) {
		t.Errorf("MIG devices = %+v", d)
	}
}

const operatorSpec = `cdiVersion: 0.6.0
kind: nvidia.com/gpu
devices:
  - name: "0"
    containerEdits:
      deviceNodes:
        - path: /dev/nvidia0
  - name: %s
    containerEdits:
      env: ["KILN_TEST_DEVICE=one"]
      deviceNodes:
        - path: /dev/nvidia1
containerEdits:
  deviceNodes:
    - path: /dev/nvidiactl
  hooks:
    - hookName: createContainer
      path: /usr/bin/nvidia-ctk
      args: [nvidia-ctk, hook, update-ldcache]
`

func TestOperatorSpecsArePreferredAndLookedUpByUUIDOrIndex(t *testing.T) {
	inv := inventory(t, nvmltest.NewDGXA100())
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "nvidia.yaml"), []byte(strings.Replace(operatorSpec, "%s", inv.GPUs[1].UUID, 1)), 0o644)
	gen := t.TempDir()
	in, err := inject.New(inject.Config{Mode: inject.ModeCDI, SpecDirs: []string{dir}, GeneratedDir: gen}, inv)
	if err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(gen); len(entries) != 0 {
		t.Errorf("a spec was generated although the operator has one")
	}
	byIndex, err := in.Devices(inv.GPUs[:1])
	if err != nil || len(byIndex.Nodes) != 2 || byIndex.Nodes[1].Path != "/dev/nvidia0" {
		t.Errorf("GPU 0 by index = %+v, %v", byIndex, err)
	}
	byUUID, err := in.Devices(inv.GPUs[1:2])
	if err != nil || !slices.Contains(byUUID.Env, "KILN_TEST_DEVICE=one") {
		t.Errorf("GPU 1 by UUID = %+v, %v", byUUID, err)
	}
	if _, err := in.Devices(inv.GPUs[2:3]); err == nil || !strings.Contains(err.Error(), inv.GPUs[2].UUID) {
		t.Errorf("GPU 2 is in no spec: %v", err)
	}
}

func TestInvalidOperatorSpecIsAnErrorNamingItsFile(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "broken.yaml")
	os.WriteFile(bad, []byte("cdiVersion: 0.6.0\nkind: nvidia.com/gpu\ndevices:\n  - name: \"bad name!\"\n    containerEdits:\n      env: [A=1]\n"), 0o644)
	_, err := inject.New(inject.Config{Mode: inject.ModeCDI, SpecDirs: []string{dir}, GeneratedDir: t.TempDir()}, device.Inventory{})
	if err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("New = %v, want an error naming %s", err, bad)
	}
}

func TestEnvAndRuntimeModes(t *testing.T) {
	gpus := []device.GPU{{UUID: "GPU-a"}, {UUID: "MIG-b"}}
	env, _ := inject.New(inject.Config{Mode: inject.ModeEnv}, device.Inventory{})
	d, err := env.Devices(gpus)
	if err != nil || !slices.Equal(d.Env, []string{"NVIDIA_VISIBLE_DEVICES=GPU-a,MIG-b", "CUDA_VISIBLE_DEVICES=GPU-a,MIG-b"}) || len(d.Nodes)+len(d.Mounts)+len(d.Requests) != 0 {
		t.Errorf("env mode = %+v, %v", d, err)
	}
	rt, _ := inject.New(inject.Config{Mode: inject.ModeNvidiaRuntime}, device.Inventory{})
	d, err = rt.Devices(gpus)
	want := executor.DeviceRequest{Driver: "nvidia", DeviceIDs: []string{"GPU-a", "MIG-b"}, Capabilities: []string{"gpu"}}
	if err != nil || len(d.Requests) != 1 || d.Requests[0].Driver != want.Driver || !slices.Equal(d.Requests[0].DeviceIDs, want.DeviceIDs) ||
		!slices.Equal(d.Requests[0].Capabilities, want.Capabilities) || len(d.Nodes) != 0 {
		t.Errorf("nvidia-runtime mode = %+v, %v", d, err)
	}
	if _, err := inject.New(inject.Config{Mode: "magic"}, device.Inventory{}); err == nil {
		t.Errorf("an unknown mode was accepted")
	}
}

func TestReadLDCacheFindsThisMachinesLibc(t *testing.T) {
	libs, err := inject.ReadLDCache("/etc/ld.so.cache")
	if err != nil {
		t.Skipf("no readable loader cache here: %v", err)
	}
	paths := libs["libc.so.6"]
	if len(paths) == 0 {
		t.Fatalf("libc.so.6 not in the loader cache (%d entries)", len(libs))
	}
	if _, err := os.Stat(paths[0]); err != nil {
		t.Errorf("the cache's libc.so.6 path %s does not exist: %v", paths[0], err)
	}
}
