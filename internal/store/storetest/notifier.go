package storetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/store"
)

// receive waits for one payload on ch.
func receive(t testing.TB, ch <-chan string) (string, bool) {
	t.Helper()
	select {
	case p, ok := <-ch:
		return p, ok
	case <-time.After(5 * time.Second):
		t.Fatal("no notification within 5s")
		return "", false
	}
}

var notifierTests = map[string]func(*testing.T, *env){
	"every listener on a channel gets each payload, in order": func(t *testing.T, e *env) {
		const ch = "kiln_notify_order"
		a, err := e.s.Notifier.Listen(e.ctx, ch)
		must(t, err)
		b, err := e.s.Notifier.Listen(e.ctx, ch)
		must(t, err)
		other, err := e.s.Notifier.Listen(e.ctx, "kiln_notify_other")
		must(t, err)
		for _, p := range []string{"job:1", "job:2", ""} {
			must(t, e.s.Notifier.Notify(e.ctx, ch, p))
		}
		for _, l := range []<-chan string{a, b} {
			for _, want := range []string{"job:1", "job:2", ""} {
				if got, _ := receive(t, l); got != want {
					t.Errorf("got %q, want %q", got, want)
				}
			}
		}
		select {
		case p := <-other:
			t.Errorf("a listener on another channel got %q", p)
		case <-time.After(100 * time.Millisecond):
		}
	},
	"a listener's channel closes when its context ends": func(t *testing.T, e *env) {
		ctx, cancel := context.WithCancel(e.ctx)
		l, err := e.s.Notifier.Listen(ctx, "kiln_notify_cancel")
		must(t, err)
		cancel()
		for {
			select {
			case _, ok := <-l:
				if !ok {
					// Notifying a channel nobody listens to is fine.
					must(t, e.s.Notifier.Notify(e.ctx, "kiln_notify_cancel", "late"))
					return
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the channel stayed open after its context ended")
			}
		}
	},
	"bad channel names and oversized payloads are refused": func(t *testing.T, e *env) {
		_, err := e.s.Notifier.Listen(e.ctx, "Bad-Name")
		wantErr(t, err, store.ErrInvalid)
		wantErr(t, e.s.Notifier.Notify(e.ctx, "x; drop table jobs", ""), store.ErrInvalid)
		wantErr(t, e.s.Notifier.Notify(e.ctx, "kiln_ok", strings.Repeat("x", store.MaxNotifyPayload+1)), store.ErrInvalid)
	},
}
