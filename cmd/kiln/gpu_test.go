package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/kiln-ci/kiln/internal/gpu"
	"github.com/kiln-ci/kiln/internal/gpu/lease"
	"github.com/kiln-ci/kiln/internal/gpu/nvmlhost"
	"github.com/kiln-ci/kiln/internal/gpu/nvmltest"
)

func runKiln(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	root := newRootCmd()
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func TestGPUListJSONOnAHostWithoutGPUsReportsZero(t *testing.T) {
	out, err := runKiln(t, "gpu", "list", "--json", "--state-dir", t.TempDir())
	if err != nil {
		t.Fatalf("kiln gpu list --json: %v\n%s", err, out)
	}
	var l gpu.Listing
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if l.Source != "none" {
		t.Skipf("this host has GPUs (%s)", l.Source)
	}
	if l.GPUs == nil || len(l.GPUs) != 0 || !strings.Contains(out, `"gpus": []`) {
		t.Errorf("output = %s, want \"gpus\": []", out)
	}
}

func TestGPUListTableShowsHealthQuarantineAndLeases(t *testing.T) {
	s := nvmltest.NewDGXA100()
	h, err := nvmlhost.Open(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	inv, _ := h.Inventory(context.Background())
	dir := t.TempDir()
	store, _ := lease.Open(dir)
	store.Acquire(lease.Job{ID: 42, Project: "ml/train"}, lease.Self("r"), []string{inv.GPUs[1].UUID}, 1, nil)
	store.Quarantine(lease.Quarantine{UUID: inv.GPUs[2].UUID, Reason: "Xid 79 (GPU has fallen off the bus)"})
	store.Quarantine(lease.Quarantine{UUID: "GPU-gone", Reason: "health check failed"})
	st, _ := store.Read()
	var out bytes.Buffer
	printGPUListing(&out, gpu.List(inv, st))
	text := out.String()
	for _, want := range []string{
		"Driver 550.54.15, CUDA 12.4 (read through nvml); 6 of 8 free.",
		"job 42 (ml/train) since",
		"quarantined: Xid 79 (GPU has fallen off the bus)",
		"GPU-gone: health check failed",
		"kiln gpu release-quarantine UUID",
		"Mock NVIDIA A100-SXM4-40GB",
		"40 GiB",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("table lacks %q:\n%s", want, text)
		}
	}
	if _, err := runKiln(t, "gpu", "release-quarantine", inv.GPUs[2].UUID, "--state-dir", dir); err != nil {
		t.Fatal(err)
	}
	if _, err := runKiln(t, "gpu", "release-quarantine", inv.GPUs[2].UUID, "--state-dir", dir); err == nil || !strings.Contains(err.Error(), "not quarantined") {
		t.Errorf("releasing twice = %v, want 'not quarantined'", err)
	}
}
