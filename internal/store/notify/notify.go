// Package notify is an in-process store.Notifier: wake-ups between goroutines of one
// coordinator, for engines without a database-level channel (SQLite).
//
// Only store engines and tests import it.
package notify

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/kiln-ci/kiln/internal/store"
)

// DefaultBuffer is how many payloads a listener may have pending before it misses some.
const DefaultBuffer = 64

// Hub is an in-process Notifier. The zero value is not usable; call NewHub.
type Hub struct {
	buffer int
	mu     sync.Mutex
	subs   map[string]map[chan string]struct{}
	closed bool
}

// NewHub returns a hub whose listeners buffer up to buffer payloads (DefaultBuffer
// when buffer ≤ 0).
func NewHub(buffer int) *Hub {
	if buffer <= 0 {
		buffer = DefaultBuffer
	}
	return &Hub{buffer: buffer, subs: map[string]map[chan string]struct{}{}}
}

// Notify delivers payload to the channel's listeners without blocking: a listener
// whose buffer is full misses it (see store.Notifier).
func (h *Hub) Notify(ctx context.Context, channel, payload string) error {
	if err := store.CheckChannel(channel); err != nil {
		return err
	}
	if len(payload) > store.MaxNotifyPayload {
		return fmt.Errorf("notifying %s: payload of %d bytes: %w: at most %d", channel, len(payload), store.ErrInvalid, store.MaxNotifyPayload)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return errors.New("notifying " + channel + ": the hub is closed")
	}
	for ch := range h.subs[channel] {
		select {
		case ch <- payload:
		default:
		}
	}
	return nil
}

// Listen subscribes to channel until ctx ends or the hub closes.
func (h *Hub) Listen(ctx context.Context, channel string) (<-chan string, error) {
	if err := store.CheckChannel(channel); err != nil {
		return nil, err
	}
	ch := make(chan string, h.buffer)
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, errors.New("listening on " + channel + ": the hub is closed")
	}
	if h.subs[channel] == nil {
		h.subs[channel] = map[chan string]struct{}{}
	}
	h.subs[channel][ch] = struct{}{}
	h.mu.Unlock()
	context.AfterFunc(ctx, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if _, ok := h.subs[channel][ch]; ok {
			delete(h.subs[channel], ch)
			if len(h.subs[channel]) == 0 {
				delete(h.subs, channel)
			}
			close(ch)
		}
	})
	return ch, nil
}

// Close ends every Listen. Notify and Listen fail afterwards.
func (h *Hub) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	h.closed = true
	for _, subs := range h.subs {
		for ch := range subs {
			close(ch)
		}
	}
	h.subs = nil
	return nil
}

var _ store.Notifier = (*Hub)(nil)
