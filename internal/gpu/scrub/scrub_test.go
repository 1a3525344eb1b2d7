package scrub_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/kiln-ci/kiln/internal/gpu/nvmlhost"
	"github.com/kiln-ci/kiln/internal/gpu/nvmltest"
	"github.com/kiln-ci/kiln/internal/gpu/scrub"
)

func setup(t *testing.T) (*nvmltest.Server, *nvmlhost.Host, string) {
	t.Helper()
	s := nvmltest.NewDGXA100()
	h, err := nvmlhost.Open(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	inv, _ := h.Inventory(context.Background())
	return s, h, inv.GPUs[2].UUID
}

func TestScrubKillsALeftoverProcessAndWaitsForIdleMemory(t *testing.T) {
	s, h, uuid := setup(t)
	s.GPU(2).StartProcess(31337, 8<<30, -1)
	var killed []int
	sc := scrub.New(scrub.Config{Host: h, Killer: scrub.KillerFunc(func(pid int) error {
		killed = append(killed, pid)
		return s.Kill(pid)
	})})
	res, err := sc.Scrub(context.Background(), uuid, nvmltest.IdleMemoryBytes)
	if err != nil {
		t.Fatalf("Scrub: %v", err)
	}
	if !slices.Equal(killed, []int{31337}) || !slices.Equal(res.Killed, []int{31337}) || res.MemoryUsedBytes != nvmltest.IdleMemoryBytes {
		t.Errorf("killed %v, result %+v", killed, res)
	}
}

func TestScrubOfACleanGPUKillsNothing(t *testing.T) {
	_, h, uuid := setup(t)
	sc := scrub.New(scrub.Config{Host: h, Killer: scrub.KillerFunc(func(pid int) error {
		t.Errorf("killed %d on a clean GPU", pid)
		return nil
	})})
	if res, err := sc.Scrub(context.Background(), uuid, nvmltest.IdleMemoryBytes); err != nil || len(res.Killed) != 0 {
		t.Errorf("Scrub = %+v, %v", res, err)
	}
}

func TestScrubFailsWhenAProcessSurvivesTheTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, h, uuid := setup(t)
		s.GPU(2).StartProcess(4040, 1<<30, -1)
		// A process in uninterruptible sleep: SIGKILL does not end it.
		sc := scrub.New(scrub.Config{Host: h, Timeout: 10 * time.Second, Killer: scrub.KillerFunc(func(int) error { return nil })})
		start := time.Now()
		_, err := sc.Scrub(context.Background(), uuid, nvmltest.IdleMemoryBytes)
		var f *scrub.Failure
		if !errors.As(err, &f) || f.UUID != uuid || !strings.Contains(f.Reason, "did not return to its idle 512 MiB within 10s") || !strings.Contains(f.Reason, "[4040]") {
			t.Fatalf("Scrub = %v, want a failure naming the memory, the timeout and pid 4040", err)
		}
		if waited := time.Since(start); waited != 10*time.Second {
			t.Errorf("gave up after %s, want the 10s timeout", waited)
		}
	})
}

func TestScrubOfALostGPUFailsClosed(t *testing.T) {
	s, h, uuid := setup(t)
	s.GPU(2).Lose()
	_, err := scrub.New(scrub.Config{Host: h}).Scrub(context.Background(), uuid, 0)
	var f *scrub.Failure
	if !errors.As(err, &f) || !strings.Contains(f.Reason, "listing its processes failed") {
		t.Errorf("Scrub of a lost GPU = %v, want a failure", err)
	}
}

// NVML names processes by their PIDs in the host's PID namespace. A runner in another
// one (a container) may find those numbers naming its own processes: scrub never kills
// init, the runner itself or its parent, and fails the GPU (quarantine) saying why.
func TestScrubNeverKillsTheRunnerItselfOrInit(t *testing.T) {
	for _, pid := range []int{1, os.Getpid(), os.Getppid()} {
		s, h, uuid := setup(t)
		s.GPU(2).StartProcess(pid, 1<<30, -1)
		sc := scrub.New(scrub.Config{Host: h, Killer: scrub.KillerFunc(func(pid int) error {
			t.Errorf("killed process %d", pid)
			return nil
		})})
		_, err := sc.Scrub(context.Background(), uuid, nvmltest.IdleMemoryBytes)
		var f *scrub.Failure
		if !errors.As(err, &f) || !strings.Contains(f.Reason, fmt.Sprintf("process %d", pid)) || !strings.Contains(f.Reason, "PID namespace") {
			t.Errorf("Scrub with pid %d listed = %v, want a failure naming it and the PID namespace", pid, err)
		}
	}
}
