package notify

import (
	"context"
	"testing"
	"time"
)

func TestASlowListenerMissesPayloadsWithoutBlockingNotify(t *testing.T) {
	h := NewHub(2)
	defer h.Close()
	l, err := h.Listen(t.Context(), "jobs")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, p := range []string{"1", "2", "3", "4"} {
			if err := h.Notify(t.Context(), "jobs", p); err != nil {
				t.Error(err)
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Notify blocked on a full listener")
	}
	if a, b := <-l, <-l; a != "1" || b != "2" {
		t.Errorf("got %q %q, want the first two payloads", a, b)
	}
	select {
	case p := <-l:
		t.Errorf("got %q beyond the buffer", p)
	default:
	}
}

func TestCloseEndsListenersAndRefusesMore(t *testing.T) {
	h := NewHub(0)
	l, err := h.Listen(context.Background(), "jobs")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-l; ok {
		t.Error("listener open after Close")
	}
	if _, err := h.Listen(t.Context(), "jobs"); err == nil {
		t.Error("Listen after Close succeeded")
	}
	if err := h.Notify(t.Context(), "jobs", "x"); err == nil {
		t.Error("Notify after Close succeeded")
	}
	if err := h.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
