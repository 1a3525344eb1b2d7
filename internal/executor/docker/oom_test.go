package docker

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/kiln-ci/kiln/internal/testenv"
)

// runToExit runs cmd in a new container of the Debian test image (built by
// scripts/test-images.sh) with a memory limit, removes it and returns its id, when it
// started and its exit code.
func runToExit(t *testing.T, ex *Executor, cmd string) (string, time.Time, int64) {
	t.Helper()
	ctx := context.Background()
	if _, err := ex.cli.ImageInspect(ctx, "kiln-test/debian:bookworm"); err != nil {
		testenv.Missing(t, testenv.TierDocker, "test image kiln-test/debian:bookworm is missing; run scripts/test-images.sh")
	}
	cfg := &container.Config{Image: "kiln-test/debian:bookworm", Cmd: []string{"bash", "-c", cmd},
		Labels: map[string]string{LabelManaged: "true", LabelRunner: "oom-test"}}
	host := &container.HostConfig{Init: ptr(true), Resources: container.Resources{Memory: 32 << 20, MemorySwap: 32 << 20}}
	created, err := ex.cli.ContainerCreate(ctx, cfg, host, nil, (*ocispec.Platform)(nil), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ex.cli.ContainerRemove(ctx, created.ID, container.RemoveOptions{Force: true}) })
	started := time.Now()
	if err := ex.cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	waitC, errC := ex.cli.ContainerWait(ctx, created.ID, container.WaitConditionNotRunning)
	select {
	case r := <-waitC:
		return created.ID, started, r.StatusCode
	case err := <-errC:
		t.Fatal(err)
	}
	return "", started, 0
}

func ptr[T any](v T) *T { return &v }

// Docker's State.OOMKilled is false when the daemon learns of the OOM kill after the
// exit, as happens on a busy host; the daemon's "oom" event tells all the same, and
// a container SIGKILLed for another reason has none.
func TestAnOOMKillIsFoundInTheDaemonsEventsAndAPlainSIGKILLIsNot(t *testing.T) {
	testenv.NeedDocker(t)
	ex, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	env := &Environment{ex: ex, log: slog.New(slog.DiscardHandler)}

	id, started, code := runToExit(t, ex, `x=$(head -c 200000000 /dev/zero | tr '\0' a); echo survived`)
	if code != 137 {
		t.Fatalf("the allocating container exited %d, want 137", code)
	}
	if !env.oomEvent(context.Background(), id, started) {
		t.Error("no oom event found for a container killed for memory")
	}

	id, started, code = runToExit(t, ex, `kill -9 $$`)
	if code != 137 {
		t.Fatalf("the self-killing container exited %d, want 137", code)
	}
	if env.oomEvent(context.Background(), id, started) {
		t.Error("an oom event found for a container that killed itself")
	}
}
