package store

import (
	"context"
	"fmt"
	"regexp"
)

// Notifier carries wake-ups between coordinator replicas ("a job became pending"):
// PostgreSQL's LISTEN/NOTIFY across replicas, an in-process hub for SQLite.
//
// Delivery is a hint, not a queue: every listener on a channel when Notify is called
// gets the payload at most once, in order per sender; a listener too slow to drain
// its channel misses payloads, and after a lost database connection a listener gets
// an empty payload meaning "something may have been missed: look again". Listeners
// must therefore re-check the store, never rely on payloads alone.
type Notifier interface {
	// Notify sends payload to the channel's listeners. ErrInvalid for a bad channel
	// name or a payload over MaxNotifyPayload bytes.
	Notify(ctx context.Context, channel, payload string) error
	// Listen subscribes to channel until ctx ends; the returned channel is closed then
	// (or when the store closes). Payloads sent after Listen returns are delivered.
	// ErrInvalid for a bad channel name.
	Listen(ctx context.Context, channel string) (<-chan string, error)
}

// MaxNotifyPayload bounds a notification payload (PostgreSQL allows under 8000 bytes).
const MaxNotifyPayload = 4000

var channelName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)

// CheckChannel returns an error wrapping ErrInvalid unless name is a valid channel
// name: a lower-case letter, then up to 39 lower-case letters, digits or underscores.
func CheckChannel(name string) error {
	if !channelName.MatchString(name) {
		return fmt.Errorf("notification channel %q: %w: want [a-z][a-z0-9_]{0,39}", name, ErrInvalid)
	}
	return nil
}
