package gpu_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/kiln-ci/kiln/internal/gpu"
	"github.com/kiln-ci/kiln/internal/gpu/device"
)

// skipWithNVML skips a test of the no-NVML paths on a machine where NVML loads.
func skipWithNVML(t *testing.T) {
	lib := nvml.New()
	if lib.Init() == nvml.SUCCESS {
		lib.Shutdown()
		t.Skip("NVML loads on this machine: the no-NVML paths are not taken")
	}
}

// fakeNvidiaSMI is an nvidia-smi that answers from the smi package's fixtures.
const fakeNvidiaSMI = `#!/bin/sh
case "$1" in
"") cat "$FIXTURES/banner.txt" ;;
--query-gpu=index,*) cat "$FIXTURES/query-gpu.csv" ;;
*) echo "unexpected nvidia-smi $*" >&2; exit 9 ;;
esac
`

func TestOpenHostFallsBackToNvidiaSMIWhenNVMLCannotLoad(t *testing.T) {
	skipWithNVML(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "nvidia-smi"), []byte(fakeNvidiaSMI), 0o755); err != nil {
		t.Fatal(err)
	}
	fixtures, _ := filepath.Abs("smi/testdata")
	t.Setenv("FIXTURES", fixtures)
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	h, err := gpu.OpenHost(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	inv, err := h.Inventory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if inv.Source != device.SourceNvidiaSMI || len(inv.GPUs) != 3 || inv.CUDAVersion.String() != "12.2" || inv.GPUs[0].Name != "Tesla T4" {
		t.Errorf("inventory through nvidia-smi = %+v", inv)
	}
}

func TestOpenHostWithAFailingNvidiaSMIGivesZeroGPUs(t *testing.T) {
	skipWithNVML(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "nvidia-smi"), []byte("#!/bin/sh\necho 'NVIDIA-SMI has failed because it couldn'\"'\"'t communicate with the NVIDIA driver.' >&2\nexit 9\n"), 0o755)
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	h, err := gpu.OpenHost(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := h.(device.Null); !ok {
		t.Errorf("OpenHost = %T, want device.Null", h)
	}
}
