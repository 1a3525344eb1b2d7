package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
)

// oomEventWait bounds how long oomEvent waits for the daemon to log an OOM kill that
// it learnt of after the container's exit.
const oomEventWait = 2 * time.Second

// oomEvent reports whether the daemon logged an "oom" event for container id since
// started. Docker sets State.OOMKilled only when containerd's OOM notice reaches it
// before the exit, which on a busy host it may not: the script was killed for memory
// and the state says only "exit code 137". The event is logged either way, at most a
// moment after the exit, so the daemon's event log is asked for past events and
// those of the next moment.
func (e *Environment) oomEvent(ctx context.Context, id string, started time.Time) bool {
	ctx, cancel := context.WithTimeout(ctx, oomEventWait+time.Second)
	defer cancel()
	stamp := func(t time.Time) string { return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond()) }
	msgs, errs := e.ex.cli.Events(ctx, events.ListOptions{
		// A minute's slack either way: the daemon's clock may differ from ours.
		Since:   stamp(started.Add(-time.Minute)),
		Until:   stamp(time.Now().Add(oomEventWait)),
		Filters: filters.NewArgs(filters.Arg("container", id), filters.Arg("event", "oom")),
	})
	for {
		select {
		case <-msgs:
			return true
		case err := <-errs:
			if err != nil && !errors.Is(err, io.EOF) && ctx.Err() == nil {
				e.log.Warn("asking the daemon for a job container's OOM events", "container", id, "error", err)
			}
			return false
		case <-ctx.Done():
			return false
		}
	}
}
