package coordinator

import (
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/store"
)

func TestTheContactThrottleForgetsHostsAndStaysBounded(t *testing.T) {
	c := contactThrottle{every: time.Minute, max: 3}
	now := time.Date(2026, 3, 15, 10, 0, 0, 0, time.UTC)
	host := func(system string) store.RunnerContact { return store.RunnerContact{SystemID: system} }
	for _, k := range []struct {
		runner int64
		system string
	}{{1, "a"}, {1, "b"}, {2, "a"}} {
		if !c.due(k.runner, host(k.system), nil, now) {
			t.Errorf("first report of runner %d host %s not due", k.runner, k.system)
		}
	}
	if c.due(1, host("a"), nil, now.Add(time.Second)) {
		t.Error("an unchanged report a second later is due")
	}
	c.forget(1)
	if len(c.last) != 1 || !c.due(1, host("a"), nil, now.Add(2*time.Second)) {
		t.Errorf("after forgetting runner 1: %d hosts remembered, its next report not due", len(c.last))
	}
	// Full: hosts last written an interval ago are dropped (their reports are due
	// anyway) to make room.
	c.due(3, host("a"), nil, now.Add(3*time.Second))
	later := now.Add(2 * time.Minute)
	if !c.due(4, host("a"), nil, later) || len(c.last) != 1 {
		t.Errorf("%d hosts remembered after a full map's stale ones went, want 1", len(c.last))
	}
	if c.due(4, host("a"), nil, later.Add(time.Second)) {
		t.Error("the report just written is due again")
	}
}
