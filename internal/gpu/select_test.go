package gpu_test

import (
	"context"
	"slices"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/kiln-ci/kiln/internal/gpu"
	"github.com/kiln-ci/kiln/internal/gpu/lease"
	"github.com/kiln-ci/kiln/internal/gpu/nvmltest"
)

func TestOnlyLimitsTheManagerToTheNamedGPUs(t *testing.T) {
	s := nvmltest.NewDGXA100()
	uuids := s.UUIDs()
	cases := []struct {
		name string
		only []string
		want []string
	}{
		{"all (nil)", nil, uuids},
		{"none", []string{}, nil},
		{"an index and a UUID", []string{"1", " " + uuids[3] + " "}, []string{uuids[1], uuids[3]}},
		{"a GPU this host lacks is ignored", []string{"2", "9", "GPU-gone"}, []string{uuids[2]}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := config(t, s, t.TempDir())
			cfg.Only = c.only
			m := newManagerWith(t, s, cfg, nil)
			var got []string
			for _, g := range m.Inventory().GPUs {
				got = append(got, g.UUID)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("units = %v, want %v", got, c.want)
			}
		})
	}
}

func TestOnlyNamesMIGSlicesByTheirParent(t *testing.T) {
	s := nvmltest.NewDGXA100()
	migs, err := s.GPU(0).EnableMIG(nvml.GPU_INSTANCE_PROFILE_1_SLICE, nvml.GPU_INSTANCE_PROFILE_1_SLICE)
	if err != nil {
		t.Fatal(err)
	}
	for _, only := range [][]string{{"0"}, {s.UUIDs()[0]}} {
		cfg := config(t, s, t.TempDir())
		cfg.Only = only
		m := newManagerWith(t, s, cfg, nil)
		var got []string
		for _, g := range m.Inventory().GPUs {
			got = append(got, g.UUID)
		}
		if !slices.Equal(got, migs) {
			t.Errorf("Only %v: units %v, want the slices %v", only, got, migs)
		}
	}
}

func TestPlaceableCountsFreeAndOwnGPUsButNotOthersOrQuarantined(t *testing.T) {
	s := nvmltest.NewDGXA100()
	dir := t.TempDir()
	m := newManager(t, s, dir)
	ctx := context.Background()
	req := request(t, oneGPU, nil)
	mine, err := m.Acquire(ctx, gpu.Job{ID: 1}, req)
	if err != nil {
		t.Fatal(err)
	}
	defer mine.Finish(ctx)
	store, _ := lease.Open(dir)
	sleeper := lease.Owner{Runner: "another process", PID: 1} // alive: init
	if _, err := store.Acquire(lease.Job{ID: 2}, sleeper, s.UUIDs()[5:6], 1, nil); err != nil {
		t.Fatal(err)
	}
	if err := store.Quarantine(lease.Quarantine{UUID: s.UUIDs()[7], Reason: "Xid 79"}); err != nil {
		t.Fatal(err)
	}
	own := func(id string) bool { return id == mine.ID() }
	if n, err := m.Placeable(req, own); err != nil || n != 6 {
		t.Errorf("Placeable with own = %d, %v; want 6 (8 less another process's lease and a quarantined GPU)", n, err)
	}
	if n, _ := m.Placeable(req, nil); n != 5 {
		t.Errorf("Placeable without own = %d, want 5 (the job's own lease counts as taken)", n)
	}
	two := request(t, oneGPU, nil)
	c := 2
	two.Count = &c
	if n, _ := m.Placeable(two, own); n != 3 {
		t.Errorf("Placeable of 2-GPU jobs = %d, want 3", n)
	}
}
