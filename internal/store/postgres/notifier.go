package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kiln-ci/kiln/internal/store"
)

// notifier is store.Notifier over LISTEN/NOTIFY. One dedicated connection listens
// for every channel anyone subscribed to; Notify goes through the pool. When the
// listening connection drops, the loop reconnects with backoff, listens again and
// hands every listener an empty payload ("you may have missed something"). Listen
// returns once the connection listens on the channel, so while the database is
// unreachable it waits (until its context ends).
type notifier struct {
	pool   *pgxpool.Pool
	cfg    *pgx.ConnConfig
	prefix string // namespaces channels per schema
	log    *slog.Logger
	buffer int

	mu        sync.Mutex
	channels  map[string]*channelState // by channel name without prefix
	interrupt context.CancelFunc       // stops the loop's wait, to LISTEN new channels
	closed    bool

	stop context.CancelFunc
	done chan struct{}
}

type channelState struct {
	subs      map[chan string]struct{}
	listening bool            // LISTEN ran on the current connection
	waiters   []chan struct{} // closed once listening
}

func newNotifier(pool *pgxpool.Pool, cfg *pgx.ConnConfig, prefix string, log *slog.Logger) *notifier {
	ctx, stop := context.WithCancel(context.Background())
	n := &notifier{pool: pool, cfg: cfg.Copy(), prefix: prefix, log: log, buffer: 64,
		channels: map[string]*channelState{}, stop: stop, done: make(chan struct{})}
	go n.loop(ctx)
	return n
}

func (n *notifier) Notify(ctx context.Context, channel, payload string) error {
	if err := store.CheckChannel(channel); err != nil {
		return err
	}
	if len(payload) > store.MaxNotifyPayload {
		return fmt.Errorf("notifying %s: payload of %d bytes: %w: at most %d", channel, len(payload), store.ErrInvalid, store.MaxNotifyPayload)
	}
	if _, err := n.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, n.prefix+channel, payload); err != nil {
		return fmt.Errorf("notifying %s: %w", channel, err)
	}
	return nil
}

func (n *notifier) Listen(ctx context.Context, channel string) (<-chan string, error) {
	if err := store.CheckChannel(channel); err != nil {
		return nil, err
	}
	ch := make(chan string, n.buffer)
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil, errors.New("listening on " + channel + ": the store is closed")
	}
	st := n.channels[channel]
	if st == nil {
		st = &channelState{subs: map[chan string]struct{}{}}
		n.channels[channel] = st
	}
	st.subs[ch] = struct{}{}
	var ready chan struct{}
	if !st.listening {
		ready = make(chan struct{})
		st.waiters = append(st.waiters, ready)
		if n.interrupt != nil {
			n.interrupt()
		}
	}
	n.mu.Unlock()
	context.AfterFunc(ctx, func() { n.unsubscribe(channel, ch) })
	if ready != nil {
		select {
		case <-ready:
		case <-ctx.Done():
			return nil, fmt.Errorf("listening on %s: %w", channel, ctx.Err())
		}
	}
	return ch, nil
}

// unsubscribe removes and closes one listener's channel. The connection keeps
// listening: channels are few and long-lived.
func (n *notifier) unsubscribe(channel string, ch chan string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if st := n.channels[channel]; st != nil {
		if _, ok := st.subs[ch]; ok {
			delete(st.subs, ch)
			close(ch)
		}
	}
}

// Close stops the loop and closes every listener's channel.
func (n *notifier) Close() {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	n.closed = true
	n.mu.Unlock()
	n.stop()
	<-n.done
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, st := range n.channels {
		for ch := range st.subs {
			close(ch)
		}
		st.subs = nil
		for _, w := range st.waiters {
			close(w)
		}
		st.waiters = nil
	}
}

// loop keeps one listening connection until ctx ends.
func (n *notifier) loop(ctx context.Context) {
	defer close(n.done)
	backoff := 100 * time.Millisecond
	connected := false
	for ctx.Err() == nil {
		conn, err := pgx.ConnectConfig(ctx, n.cfg)
		if err != nil {
			if ctx.Err() == nil {
				n.log.Warn("notifications: connecting", "err", err, "retry_in", backoff)
			}
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 10*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		err = n.serve(ctx, conn, connected)
		connected = true
		conn.Close(context.Background())
		if ctx.Err() == nil {
			n.log.Warn("notifications: connection lost; reconnecting", "err", err)
		}
		n.mu.Lock()
		for _, st := range n.channels {
			st.listening = false
		}
		n.mu.Unlock()
	}
}

// serve listens on conn, running LISTEN for new channels and dispatching
// notifications, until conn fails or ctx ends. After a reconnection (hint), once
// listening again, it tells every listener it may have missed notifications.
func (n *notifier) serve(ctx context.Context, conn *pgx.Conn, hint bool) error {
	for {
		n.mu.Lock()
		var todo []string
		for name, st := range n.channels {
			if !st.listening {
				todo = append(todo, name)
			}
		}
		n.mu.Unlock()
		for _, name := range todo {
			if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{n.prefix + name}.Sanitize()); err != nil {
				return fmt.Errorf("LISTEN %s: %w", name, err)
			}
			n.mu.Lock()
			st := n.channels[name]
			st.listening = true
			for _, w := range st.waiters {
				close(w)
			}
			st.waiters = nil
			n.mu.Unlock()
		}
		if hint {
			n.broadcast("")
			hint = false
		}

		waitCtx, interrupt := context.WithCancel(ctx)
		n.mu.Lock()
		n.interrupt = interrupt
		pending := false
		for _, st := range n.channels {
			pending = pending || !st.listening
		}
		n.mu.Unlock()
		if pending {
			interrupt()
		}
		note, err := conn.WaitForNotification(waitCtx)
		interrupt()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if waitCtx.Err() != nil && !conn.IsClosed() {
				continue // interrupted to LISTEN a new channel
			}
			return err
		}
		name, ok := strings.CutPrefix(note.Channel, n.prefix)
		if ok {
			n.deliver(name, note.Payload)
		}
	}
}

// deliver hands payload to the channel's listeners without blocking.
func (n *notifier) deliver(channel, payload string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if st := n.channels[channel]; st != nil {
		for ch := range st.subs {
			select {
			case ch <- payload:
			default:
			}
		}
	}
}

func (n *notifier) broadcast(payload string) {
	n.mu.Lock()
	names := make([]string, 0, len(n.channels))
	for name := range n.channels {
		names = append(names, name)
	}
	n.mu.Unlock()
	for _, name := range names {
		n.deliver(name, payload)
	}
}

var _ store.Notifier = (*notifier)(nil)
