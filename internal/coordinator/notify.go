package coordinator

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/kiln-ci/kiln/internal/coordinator/queue"
	"github.com/kiln-ci/kiln/internal/store"
)

// channelJobs carries "a job became pending" between replicas (and within one).
const channelJobs = "kiln_jobs_pending"

// wakeAll is the payload that wakes every waiting runner: an offer too large for a
// notification, or "something may have been missed".
const wakeAll = "*"

func offerOf(j *store.Job) queue.Offer {
	return queue.Offer{JobID: j.ID, Tags: j.Tags, MachineType: j.MachineType, GPUs: j.GPUCount,
		ProjectID: j.ProjectID, Protected: j.Protected}
}

// announce tells every replica that a job became pending, so that each wakes one of
// its waiting runners that could take it. When the notifier fails, this replica's
// runners are still told.
func (s *Service) announce(ctx context.Context, j *store.Job) {
	o := offerOf(j)
	payload, err := json.Marshal(o)
	if err != nil || len(payload) > store.MaxNotifyPayload {
		payload = []byte(wakeAll)
	}
	if err := s.st.Notifier.Notify(ctx, channelJobs, string(payload)); err != nil {
		s.log.Warn("announcing a pending job to other replicas", "job", j.ID, "error", err)
		s.hub.Announce(o)
	}
}

// listen turns notifications into wake-ups until ctx ends. It reports on ready once
// it listens (or why it cannot).
func (s *Service) listen(ctx context.Context, ready chan<- error) {
	ch, err := s.st.Notifier.Listen(ctx, channelJobs)
	if err != nil {
		ready <- fmt.Errorf("listening for pending jobs: %w", err)
		return
	}
	ready <- nil
	for payload := range ch {
		if payload == "" || payload == wakeAll {
			s.hub.WakeAll()
			continue
		}
		var o queue.Offer
		if err := json.Unmarshal([]byte(payload), &o); err != nil || o.JobID == 0 {
			s.log.Warn("ignoring an unreadable pending-job notification", "error", err)
			s.hub.WakeAll()
			continue
		}
		s.hub.Announce(o)
	}
}
