package git

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// RefUpdate is one ref a push changed.
type RefUpdate struct {
	Ref    string // full name: refs/heads/main, refs/tags/v1.0
	OldSHA string // ZeroSHA when the push created the ref
	NewSHA string // ZeroSHA when the push deleted the ref; a tag object for an annotated tag
}

// Created reports whether the push created the ref.
func (u RefUpdate) Created() bool { return IsZeroSHA(u.OldSHA) }

// Deleted reports whether the push deleted the ref.
func (u RefUpdate) Deleted() bool { return IsZeroSHA(u.NewSHA) }

// Branch returns the branch name when the ref is a branch.
func (u RefUpdate) Branch() (string, bool) { return strings.CutPrefix(u.Ref, "refs/heads/") }

// Tag returns the tag name when the ref is a tag.
func (u RefUpdate) Tag() (string, bool) { return strings.CutPrefix(u.Ref, "refs/tags/") }

// Push is one successful `git push`: the refs it changed, in the order git applied them.
type Push struct {
	Project string // full path as the client addressed it
	Pusher  string // the identity the Authorizer returned for the pushing caller
	Updates []RefUpdate
}

// PushFunc is told about each push that changed refs, after git has updated them
// (the coordinator creates pipelines from it: branches and tags, not deletions).
//
// It is called from the request's goroutine once `git receive-pack` has finished, and
// the pushing client waits for it (its HTTP response ends when PushFunc returns), so it
// should be quick: record the push and create pipelines asynchronously. Different
// pushes may be announced concurrently; two pushes to one ref are announced in the
// order git applied them only if the first announcement returned before the second
// push finished. Its context is not canceled when the client goes away.
//
// Delivery is at least once: the refs are recorded on disk by a post-receive hook
// before the push completes, and the record is removed only when PushFunc returns
// nil. When it fails, or the server stops before it returns, the record stays and
// Handler.ReplayPushes delivers it again; so a PushFunc must tolerate seeing a push
// twice (for example by ignoring a pipeline it already made for the same ref and SHA).
type PushFunc func(ctx context.Context, push Push) error

// hookScript records the refs a push updated. receive-pack runs it after updating
// the refs, with one "<old> <new> <ref>" line per updated ref on standard input; the
// Handler names the record file in the environment. The record appears atomically.
const hookScript = `#!/bin/sh
# Installed by Kiln (internal/git) at every start: records the refs a push updated so
# that the server can announce the push. Do not edit.
[ -n "$KILN_PUSH_RECORD" ] || exit 0
{ printf 'project %s\npusher %s\n' "$KILN_PUSH_PROJECT" "$KILN_PUSH_PUSHER" && cat; } >"$KILN_PUSH_RECORD.tmp" &&
mv -f "$KILN_PUSH_RECORD.tmp" "$KILN_PUSH_RECORD"
`

// installHook writes the post-receive hook and runs it once on a test record, so that
// a hook that cannot run (a noexec file system, no /bin/sh) stops the server at start
// instead of silently losing pushes.
func installHook(m *Manager) (string, error) {
	path := filepath.Join(m.hooksDir(), "post-receive")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(hookScript), 0o755); err != nil {
		return "", fmt.Errorf("installing post-receive hook: %w", err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil { // WriteFile's mode is filtered by umask
		return "", fmt.Errorf("installing post-receive hook: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("installing post-receive hook: %w", err)
	}
	check, err := os.MkdirTemp(m.tmpDir(), "hookcheck-")
	if err != nil {
		return "", fmt.Errorf("checking post-receive hook: %w", err)
	}
	defer os.RemoveAll(check)
	record := filepath.Join(check, "record")
	cmd := exec.Command(path)
	cmd.Env = append(os.Environ(), "KILN_PUSH_RECORD="+record, "KILN_PUSH_PROJECT=check/hook", "KILN_PUSH_PUSHER=kiln")
	cmd.Stdin = strings.NewReader(ZeroSHA + " " + ZeroSHA + " refs/heads/check\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("running post-receive hook %s: %w: %s", path, err, bytes.TrimSpace(out))
	}
	got, err := os.ReadFile(record)
	want := "project check/hook\npusher kiln\n" + ZeroSHA + " " + ZeroSHA + " refs/heads/check\n"
	if err != nil || string(got) != want {
		return "", fmt.Errorf("post-receive hook %s wrote %q (%v), want %q", path, got, err, want)
	}
	return path, nil
}

// Push records live in <root>/+kiln/pushes, one file per push, named so that sorting
// by name sorts by time.
func (h *Handler) newRecordName() string {
	return fmt.Sprintf("%020d-%s", time.Now().UnixNano(), rand.Text())
}

func (h *Handler) recordPath(name string) string {
	return filepath.Join(h.repos.pushesDir(), name)
}

// claim marks a record as being handled, so that ReplayPushes leaves it alone; it
// reports false when someone else holds it.
func (h *Handler) claim(name string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.claimed[name] {
		return false
	}
	h.claimed[name] = true
	return true
}

func (h *Handler) release(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.claimed, name)
}

// announce delivers the push of a live request, if the hook recorded one (a push that
// changed no ref records nothing). A failure is logged; the record stays for replay.
func (h *Handler) announce(ctx context.Context, name string) {
	os.Remove(h.recordPath(name) + ".tmp") // left only by a hook killed mid-write
	if _, err := h.deliver(ctx, name); err != nil {
		h.log.Error("announcing push; kept for ReplayPushes", "record", name, "error", err)
	}
}

// deliver reads one record, calls OnPush and removes the record when it succeeded.
// It reports whether there was a record to deliver. The caller holds the claim on name.
func (h *Handler) deliver(ctx context.Context, name string) (bool, error) {
	path := h.recordPath(name)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading push record: %w", err)
	}
	push, err := parseRecord(data)
	if err != nil {
		// Keep the evidence, out of the replay's way.
		if rerr := os.Rename(path, path+".bad"); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return false, fmt.Errorf("push record %s: %w", name, err)
	}
	if err := h.onPush(ctx, push); err != nil {
		return false, fmt.Errorf("OnPush for %q: %w", push.Project, err)
	}
	h.log.Info("push announced", "project", push.Project, "pusher", push.Pusher, "refs", len(push.Updates))
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return true, fmt.Errorf("removing delivered push record: %w", err)
	}
	return true, nil
}

// parseRecord reads what hookScript wrote.
func parseRecord(data []byte) (Push, error) {
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) < 3 {
		return Push{}, fmt.Errorf("%d lines, want a project, a pusher and at least one ref", len(lines))
	}
	project, ok1 := strings.CutPrefix(lines[0], "project ")
	pusher, ok2 := strings.CutPrefix(lines[1], "pusher ")
	if !ok1 || !ok2 {
		return Push{}, fmt.Errorf("bad header %q", lines[:2])
	}
	if err := ValidatePath(project); err != nil {
		return Push{}, err
	}
	p := Push{Project: project, Pusher: pusher}
	for i, line := range lines[2:] {
		f := strings.Fields(line)
		if len(f) != 3 || !isFullSHA(f[0]) || !isFullSHA(f[1]) || ValidateRefName(f[2], false) != nil {
			return Push{}, fmt.Errorf("line %d: bad ref update %q", i+3, line)
		}
		p.Updates = append(p.Updates, RefUpdate{OldSHA: f[0], NewSHA: f[1], Ref: f[2]})
	}
	return p, nil
}

// ReplayPushes delivers the pushes whose announcement failed or was cut short (by a
// crash or a stop) to OnPush again, oldest first, skipping those being announced
// right now. Call it when the server starts, and whenever a retry is wanted; it is
// safe to call concurrently with serving. It returns the number delivered and the
// failures (the failed records stay for the next replay).
func (h *Handler) ReplayPushes(ctx context.Context) (int, error) {
	if h.onPush == nil {
		return 0, nil
	}
	entries, err := os.ReadDir(h.repos.pushesDir())
	if err != nil {
		return 0, fmt.Errorf("replaying pushes: %w", err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		n := e.Name()
		switch {
		case strings.HasSuffix(n, ".bad"):
		case strings.HasSuffix(n, ".tmp"):
			// A live push claims its record before git runs, so an unclaimed
			// half-written record belongs to a push that was killed mid-hook.
			if base := strings.TrimSuffix(n, ".tmp"); h.claim(base) {
				h.log.Warn("removing the half-written record of a push killed mid-hook; that push is not announced", "record", n)
				os.Remove(h.recordPath(n))
				h.release(base)
			}
		default:
			names = append(names, n)
		}
	}
	slices.Sort(names)
	delivered := 0
	var errs []error
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return delivered, errors.Join(append(errs, err)...)
		}
		if !h.claim(name) {
			continue
		}
		ok, err := h.deliver(ctx, name)
		h.release(name)
		if err != nil {
			errs = append(errs, err)
		}
		if ok && err == nil {
			delivered++
		}
	}
	return delivered, errors.Join(errs...)
}
