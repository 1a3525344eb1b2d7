// Package progress decides how a pipeline moves on, as GitLab's atomic pipeline
// processing does: which created jobs become pending, manual, scheduled or skipped once
// the jobs they wait for (the previous stages, or their needs) are complete, and what
// the status of a group of jobs (a stage, a job's needs, the whole pipeline) is.
//
// It is pure: it reads a snapshot of a pipeline's current jobs (retried attempts left
// out) and returns decisions; the coordinator applies them to the store with
// compare-and-set transitions and runs it again after every job state change. Only
// internal/coordinator and its subpackages import it.
package progress

import (
	"slices"

	"github.com/kiln-ci/kiln/internal/store"
)

// Job is what progression needs to know of one job.
type Job struct {
	ID       int64
	Name     string
	StageIdx int
	Status   store.Status
	// When is the job's when: on_success (also for ""), on_failure, always, manual or
	// delayed.
	When string
	// AllowFailure is the job's effective allow_failure: for a finished job with
	// allow_failure:exit_codes, whether its exit code is among them (EffectiveAllowFailure).
	AllowFailure bool
	// DAG says the job waits for its needs (also `needs: []`) rather than for the
	// previous stages.
	DAG bool
	// Needs names the jobs a DAG job waits for. Names of jobs that are not in the
	// pipeline (optional needs whose job was not created) are ignored.
	Needs []string
}

// FromStore converts a pipeline's current store jobs; retried attempts are left out.
func FromStore(jobs []store.Job) []Job {
	out := make([]Job, 0, len(jobs))
	for i := range jobs {
		j := &jobs[i]
		if j.Retried {
			continue
		}
		names := make([]string, 0, len(j.Needs))
		for _, n := range j.Needs {
			names = append(names, n.Name)
		}
		out = append(out, Job{
			ID: j.ID, Name: j.Name, StageIdx: j.StageIdx, Status: j.Status, When: j.When,
			AllowFailure: EffectiveAllowFailure(j), DAG: j.Scheduling == store.SchedulingDAG, Needs: names,
		})
	}
	return out
}

// EffectiveAllowFailure is GitLab's rule for allow_failure:exit_codes: a job that lists
// exit codes is allowed to fail only when it exited with one of them.
func EffectiveAllowFailure(j *store.Job) bool {
	if len(j.AllowFailureExitCodes) == 0 {
		return j.AllowFailure
	}
	return j.ExitCode != nil && slices.Contains(j.AllowFailureExitCodes, *j.ExitCode)
}

// Change is one job moving out of created.
type Change struct {
	JobID int64
	Name  string
	To    store.Status // pending, manual, scheduled or skipped
}

// Process returns what the created jobs do now, in processing order: stage by stage,
// and within a stage in the order of their needs. A job whose previous jobs (its
// stage's predecessors, or its needs) are not all complete stays created. Otherwise
// its when decides: on_success, manual and delayed jobs run after success (stage jobs
// also after skipped predecessors), on_failure jobs after a failure, always jobs
// after anything but a cancel; a job that does not run is skipped. Running means
// pending, manual for a manual job and scheduled for a delayed one. Each decision is
// seen by the jobs processed after it, as in GitLab.
func Process(jobs []Job) []Change {
	cur := slices.Clone(jobs)
	byName := make(map[string]int, len(cur))
	for i, j := range cur {
		byName[j.Name] = i
	}
	var changes []Change
	for _, i := range order(cur, byName) {
		j := &cur[i]
		if j.Status != store.StatusCreated {
			continue
		}
		prev := previousStatus(cur, byName, j)
		if !complete(prev) {
			continue
		}
		to := store.StatusSkipped
		if slices.Contains(validPrevious(j), prev) {
			switch j.When {
			case store.WhenManual:
				to = store.StatusManual
			case store.WhenDelayed:
				to = store.StatusScheduled
			default:
				to = store.StatusPending
			}
		}
		j.Status = to
		changes = append(changes, Change{JobID: j.ID, Name: j.Name, To: to})
	}
	return changes
}

// validPrevious is GitLab's ProcessBuildService: the previous statuses a job runs after.
func validPrevious(j *Job) []store.Status {
	switch j.When {
	case store.WhenOnSuccess, "", store.WhenManual, store.WhenDelayed:
		if j.DAG {
			return []store.Status{store.StatusSuccess}
		}
		return []store.Status{store.StatusSuccess, store.StatusSkipped}
	case store.WhenOnFailure:
		return []store.Status{store.StatusFailed}
	case store.WhenAlways:
		return []store.Status{store.StatusSuccess, store.StatusFailed, store.StatusSkipped}
	}
	return nil
}

func complete(s store.Status) bool {
	return s == store.StatusSuccess || s == store.StatusFailed || s == store.StatusCanceled || s == store.StatusSkipped
}

// previousStatus is the composite status of what j waits for; nothing to wait for is
// success.
func previousStatus(cur []Job, byName map[string]int, j *Job) store.Status {
	var group []Job
	if j.DAG {
		for _, n := range j.Needs {
			if i, ok := byName[n]; ok {
				group = append(group, cur[i])
			}
		}
	} else {
		for _, o := range cur {
			if o.StageIdx < j.StageIdx {
				group = append(group, o)
			}
		}
	}
	s, _ := composite(group, j.DAG)
	if s == "" {
		return store.StatusSuccess
	}
	return s
}

// order returns indexes of jobs by stage, and within a stage so that a job comes
// after the jobs of its stage it needs (cycles, which the compiler refuses, fall back
// to the written order).
func order(jobs []Job, byName map[string]int) []int {
	idx := make([]int, len(jobs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return jobs[a].StageIdx - jobs[b].StageIdx })
	out := make([]int, 0, len(idx))
	placed := make([]bool, len(jobs))
	var visit func(i int, depth int)
	visit = func(i int, depth int) {
		if placed[i] || depth > len(jobs) {
			return
		}
		for _, n := range jobs[i].Needs {
			if k, ok := byName[n]; ok && jobs[k].StageIdx == jobs[i].StageIdx && k != i {
				visit(k, depth+1)
			}
		}
		if !placed[i] {
			placed[i] = true
			out = append(out, i)
		}
	}
	for _, i := range idx {
		visit(i, 0)
	}
	return out
}

// Dependents returns the ids of the skipped jobs downstream of the named jobs: later
// stages for stage jobs, needs for DAG jobs, transitively. When a manual job is played
// or a job retried, GitLab resets these to created so that they run after it.
func Dependents(jobs []Job, names []string) []int64 {
	down := map[string]bool{}
	for _, n := range names {
		down[n] = true
	}
	minStage := -1
	for _, j := range jobs {
		if down[j.Name] && (minStage < 0 || j.StageIdx < minStage) {
			minStage = j.StageIdx
		}
	}
	if minStage < 0 {
		return nil
	}
	var out []int64
	for changed := true; changed; {
		changed = false
		for _, j := range jobs {
			if down[j.Name] {
				continue
			}
			hit := false
			if j.DAG {
				hit = slices.ContainsFunc(j.Needs, func(n string) bool { return down[n] })
			} else {
				for _, o := range jobs {
					if down[o.Name] && o.StageIdx < j.StageIdx {
						hit = true
						break
					}
				}
			}
			if hit {
				down[j.Name] = true
				changed = true
				if j.Status == store.StatusSkipped {
					out = append(out, j.ID)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}
