package coordinator

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kiln-ci/kiln/internal/ci"
	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/store"
)

// storeJobs turns a compiled pipeline's jobs into store jobs: how each waits (for
// its needs, also `needs: []`, or for the previous stages), its machine type and GPU
// request as machine.Catalog.Place decides them (the check kiln lint makes too), its
// timeout capped by the type, and its payload. Problems that make a job impossible
// (tags naming two machine types, a GPU request the type cannot give) are returned
// as diagnostics: the pipeline is then invalid, as for a YAML error.
func (s *Service) storeJobs(p *ci.Pipeline, in *pipelineInput) ([]*store.Job, ci.Diagnostics) {
	var problems ci.Diagnostics
	problem := func(format string, args ...any) {
		problems = append(problems, ci.Diagnostic{Severity: ci.SeverityError, Message: fmt.Sprintf(format, args...)})
	}
	jobs := make([]*store.Job, 0, len(p.Jobs))
	for _, j := range p.Jobs {
		sj := &store.Job{
			Name: j.Name, Stage: j.Stage, StageIdx: slices.Index(p.Stages, j.Stage), Status: store.StatusCreated,
			When: j.When, AllowFailure: j.AllowFailure, AllowFailureExitCodes: j.AllowFailureExitCodes,
			Dependencies: j.Dependencies, Protected: in.protected, UserID: in.req.UserID, Tags: j.Tags,
			Retry: store.RetryPolicy{Max: j.Retry.Max, When: j.Retry.When, ExitCodes: j.Retry.ExitCodes},
		}
		for _, n := range j.Needs {
			sj.Needs = append(sj.Needs, store.Need{Name: n.Job, Artifacts: n.Artifacts, Optional: n.Optional})
		}
		sj.Scheduling, sj.StartIn = store.SchedulingStage, j.StartIn
		if j.Needs != nil { // also `needs: []`
			sj.Scheduling = store.SchedulingDAG
		}
		place, err := s.catalog.Place(j.Tags, j.GPU)
		if err != nil {
			problem("jobs:%s %v", j.Name, err)
			continue
		}
		timeout := j.Timeout
		if place.Hosted {
			mt := place.Type
			sj.MachineType, sj.GPURequest, sj.GPUCount = mt.Tag, place.GPU, place.GPU.Wanted()
			if mt.MaxTimeout > 0 && (timeout <= 0 || timeout > mt.MaxTimeout) {
				timeout = mt.MaxTimeout
			}
		}
		sj.TimeoutSeconds = int(timeout / time.Second)
		spec := j.Spec
		spec.RunnerInfo.Timeout = sj.TimeoutSeconds
		if !hasScript(spec.Steps) {
			why := "it has no script"
			if len(j.Unsupported) > 0 {
				why = "Kiln does not support " + strings.Join(j.Unsupported, ", ")
			}
			sj.Status, sj.FailureReason = store.StatusFailed, protocol.FailureUnknown
			sj.KilnMessage = "job " + j.Name + " cannot run: " + why
		}
		payload, err := json.Marshal(spec)
		if err != nil {
			problem("jobs:%s: encoding its payload: %v", j.Name, err)
			continue
		}
		sj.Payload = payload
		jobs = append(jobs, sj)
	}
	return jobs, problems
}

func hasScript(steps []jobspec.Step) bool {
	for _, s := range steps {
		if len(s.Script) > 0 && s.Name != jobspec.StepAfterScript {
			return true
		}
	}
	return false
}
