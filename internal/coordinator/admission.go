package coordinator

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/kiln-ci/kiln/internal/coordinator/gpufit"
	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/store"
)

// refusal is why a job may not be queued: a failure reason and a message for people.
type refusal struct {
	reason  string
	message string
}

// admit runs the checks a job on a hosted machine type passes before it is queued:
// its top-level namespace's plan may use the machine type, its compute quota is not
// spent, and some runner of the machine type could ever give it the GPUs it asks for
// (when no runner serves the type yet, the job waits, as GitLab's stuck jobs do,
// unless Config.FailUnserved fails it at once). Jobs without a machine type (for self-managed runners) pass. It returns nil when
// the job may be queued.
func (s *Service) admit(ctx context.Context, j *store.Job) (*refusal, error) {
	if j.MachineType == "" {
		return nil, nil
	}
	mt, ok := s.catalog.Get(j.MachineType)
	if !ok {
		return nil, nil // the catalog changed since the pipeline was created; runners decide
	}
	root, err := s.namespace(ctx, j.RootNamespaceID)
	if err != nil {
		return nil, fmt.Errorf("reading namespace %d of job %d: %w", j.RootNamespaceID, j.ID, err)
	}
	if r := planRefusal(mt, root); r != nil {
		return r, nil
	}
	report, err := s.quotaReport(ctx, root)
	if err != nil {
		return nil, err
	}
	if report.Exceeded {
		return &refusal{protocol.FailureQuotaExceeded, report.Warning()}, nil
	}
	if j.GPUCount > 0 || s.cfg.FailUnserved {
		invs, err := s.gpuInventories(ctx, mt.Tag)
		if err != nil {
			return nil, err
		}
		if len(invs) == 0 && s.cfg.FailUnserved {
			return s.unserved(mt.Tag, mt.HasGPU()), nil
		}
		if len(invs) > 0 && j.GPUCount > 0 {
			if ok, why := gpufit.Satisfiable(j.GPURequest, mt.Tag, invs); !ok {
				return &refusal{protocol.FailureGPUUnavailable, why}, nil
			}
		}
	}
	return nil, nil
}

// planRefusal refuses a job on machine type mt when the plan of its top-level
// namespace root may not use it; nil when it may. Checked when the job is queued and,
// for a plan changed while it waits (claims skip it then), by the reaper.
func planRefusal(mt machine.Type, root *store.Namespace) *refusal {
	if mt.AllowsPlan(root.Plan) {
		return nil
	}
	return &refusal{protocol.FailurePlanNotAllowed, fmt.Sprintf(
		"machine type %s is not available on the %s plan of namespace %s; it needs the %s plan",
		mt.Tag, root.Plan, root.FullPath, strings.Join(mt.Plans, " or "))}
}

// unserved is the refusal of a job whose machine type no registered runner serves
// (Config.FailUnserved).
func (s *Service) unserved(tag string, gpu bool) *refusal {
	r := &refusal{protocol.FailureNoMatchingRunner, "no runner serves machine type " + tag}
	if gpu {
		r = &refusal{protocol.FailureGPUUnavailable, "no GPU of machine type " + tag + " is available: no runner serves it"}
	}
	if s.cfg.UnservedHint != "" {
		r.message += "; " + s.cfg.UnservedHint
	}
	return r
}

// gpuInventories returns the GPU inventories of the runners serving machine type mt.
func (s *Service) gpuInventories(ctx context.Context, mt string) ([]gpufit.Inventory, error) {
	var out []gpufit.Inventory
	for offset := 0; ; offset += store.MaxPageLimit {
		runners, err := s.st.Runners.ListRunners(ctx, store.RunnerQuery{Page: store.Page{Offset: offset, Limit: store.MaxPageLimit}})
		if err != nil {
			return nil, fmt.Errorf("listing runners: %w", err)
		}
		for _, r := range runners {
			if r.MachineType != mt {
				continue
			}
			inv, err := gpufit.ParseInventory(r.ID, r.GPUInventory)
			if err != nil {
				s.log.Warn("ignoring a runner's unreadable GPU inventory", "runner", r.ID, "error", err)
				continue
			}
			inv.MachineType = r.MachineType
			out = append(out, inv)
		}
		if len(runners) < store.MaxPageLimit {
			return out, nil
		}
	}
}

// refuse fails a job that may not be queued, with the reason in its trace.
func (s *Service) refuse(ctx context.Context, j *store.Job, from []store.Status, r *refusal) error {
	failed, err := s.transition(ctx, j.ID, store.JobTransition{
		From: from, To: store.StatusFailed, FailureReason: r.reason, KilnMessage: r.message})
	if errors.Is(err, store.ErrConflict) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("failing job %d (%s): %w", j.ID, r.reason, err)
	}
	s.log.Info("job refused", "job", j.ID, "pipeline", j.PipelineID, "reason", r.reason, "message", r.message)
	s.metrics.finished(failed)
	s.appendNote(ctx, j.ID, "ERROR: Job failed: "+r.message)
	return nil
}

// appendNote appends a line of the coordinator's own to a job's trace, in the
// colours gitlab-runner uses for errors and warnings. It is for jobs no runner is
// writing to (refused, finished, or whose runner went silent); a failure is logged.
func (s *Service) appendNote(ctx context.Context, jobID int64, line string) {
	color := "\x1b[0;33m"
	if strings.HasPrefix(line, "ERROR") {
		color = "\x1b[31;1m"
	}
	body := color + line + "\x1b[0;m\n"
	for range 3 {
		info, err := s.st.Traces.TraceInfo(ctx, jobID)
		if err != nil {
			s.log.Warn("appending to a job's trace", "job", jobID, "error", err)
			return
		}
		data := body
		if info.Size > 0 {
			data = "\n" + body
		}
		_, err = s.st.Traces.AppendTrace(ctx, jobID, info.Size, []byte(data))
		if err == nil || !errors.Is(err, store.ErrRangeMismatch) {
			if err != nil {
				s.log.Warn("appending to a job's trace", "job", jobID, "error", err)
			}
			return
		}
	}
}
