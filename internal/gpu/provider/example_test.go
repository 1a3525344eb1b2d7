package provider_test

import (
	"context"
	"fmt"
	"os"

	"github.com/kiln-ci/kiln/internal/gpu/device"
	"github.com/kiln-ci/kiln/internal/gpu/provider"
	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/machine"
)

// How `kiln exec` (or any runner) gets its GPUs: open the host (gpu.OpenHost; here a
// host without an NVIDIA driver), open a provider for the executor, and give it to the
// lifecycle as runner.Config.Devices (or localrun.Options.Devices). On this host a job
// of a GPU machine type fails at once, saying why.
func ExampleOpen() {
	ctx := context.Background()
	var host device.Host = device.Null{} // gpu.OpenHost(ctx, logger) on a real host
	defer host.Close()
	dir, _ := os.MkdirTemp("", "kiln-gpu-state")
	defer os.RemoveAll(dir)
	p, err := provider.Open(ctx, host, provider.Config{Executor: provider.ExecutorShell, StateDir: dir, RunnerID: "kiln-exec"})
	if err != nil {
		fmt.Println(err)
		return
	}
	mt, _ := machine.DefaultCatalog().Get(machine.TagGPUMedium)
	req, _ := mt.Resolve(machine.GPURequest{})
	_, err = p.Acquire(ctx, &jobspec.Job{ID: 1}, req)
	fmt.Println(err)
	// Output: no GPU of the machine type is available here: the job needs 1 GPU(s) but this host has none
}
