package ci

import (
	"fmt"
	"slices"
	"strings"
)

// jobIndex finds jobs (instances) by name and parallel jobs by the name written.
type jobIndex struct {
	byName   map[string]*JobConfig
	parallel map[string][]*JobConfig // base name → instances, for parallel jobs
	stages   []string
}

func newJobIndex(jobs []*JobConfig, stages []string) *jobIndex {
	ix := &jobIndex{byName: map[string]*JobConfig{}, parallel: map[string][]*JobConfig{}, stages: stages}
	for _, j := range jobs {
		ix.byName[j.Name] = j
		if j.NodeTotal > 0 {
			ix.parallel[j.BaseName] = append(ix.parallel[j.BaseName], j)
		}
	}
	return ix
}

func (ix *jobIndex) stageIndex(stage string) int { return slices.Index(ix.stages, stage) }

// normalizeNeeds rewrites needs and dependencies that name a parallel job into the
// names of its instances (all of them, or those a needs:parallel:matrix selector
// picks), after replacing $[[ matrix.NAME ]] by the needing instance's values.
func (dc decoder) normalizeNeeds(j *JobConfig, ix *jobIndex) {
	j.Needs = dc.expandNeeds(j, j.Needs, ix)
	for _, r := range j.Rules {
		if r.HasNeeds {
			r.Needs = dc.expandNeeds(j, r.Needs, ix)
		}
	}
	if j.HasDeps {
		var deps []string
		var at []Pos
		for k, d := range j.Dependencies {
			pos := j.dependencyPosition(k)
			if inst, ok := ix.parallel[d]; ok {
				for _, i := range inst {
					deps, at = append(deps, i.Name), append(at, pos)
				}
				continue
			}
			deps, at = append(deps, d), append(at, pos)
		}
		j.Dependencies, j.dependencyPos = deps, at
	}
}

func (dc decoder) expandNeeds(j *JobConfig, needs []Need, ix *jobIndex) []Need {
	if needs == nil {
		return nil
	}
	out := make([]Need, 0, len(needs))
	reported := map[string]bool{}
	interpolate := func(s string, pos Pos) string {
		if !strings.Contains(s, "$[[") {
			return s
		}
		if len(j.MatrixVariables) == 0 {
			if !reported["not-matrix"] {
				reported["not-matrix"] = true
				dc.d.errorf(pos, "%s job: needs uses $[[ matrix.NAME ]] expressions, but the job is not parallelized with parallel:matrix", j.BaseName)
			}
			return s
		}
		res, missing := interpolateMatrix(s, j.MatrixVariables)
		for _, m := range missing {
			if !reported[m] {
				reported[m] = true
				dc.d.errorf(pos, "%s job: '%s' does not exist in matrix configuration", j.BaseName, m)
			}
		}
		return res
	}
	for _, n := range needs {
		before := len(dc.d.list)
		n.Job = interpolate(n.Job, n.Pos)
		inst, parallel := ix.parallel[n.Job]
		if len(n.Matrix) > 0 {
			isMatrix := parallel && len(inst[0].MatrixVariables) > 0
			if !isMatrix {
				if _, exists := ix.byName[n.Job]; exists || parallel {
					dc.d.errorf(n.Pos, "%s job: needs:parallel:matrix selects instances of %s, but %s has no parallel:matrix configuration", j.Name, n.Job, n.Job)
					continue
				}
			}
			selector := make([]MatrixEntry, len(n.Matrix))
			for ei, entry := range n.Matrix {
				selector[ei] = make(MatrixEntry, len(entry))
				for vi, mv := range entry {
					vals := make([]string, len(mv.Values))
					for k, v := range mv.Values {
						vals[k] = interpolate(v, n.Pos)
					}
					selector[ei][vi] = MatrixVar{Name: mv.Name, Values: vals}
				}
			}
			if len(dc.d.list) > before {
				continue // the selector could not be interpolated
			}
			for _, combo := range matrixCombinations(selector) {
				sel := n
				sel.Matrix = nil
				sel.Job = matrixName(n.Job, combo)
				if _, ok := ix.byName[sel.Job]; !ok && isMatrix && !n.Optional {
					dc.d.errorf(n.Pos, "%s job: undefined need: %s (the needs:parallel:matrix selector matches no instance of %s)", j.Name, sel.Job, n.Job)
					continue
				}
				out = append(out, sel)
			}
			continue
		}
		if parallel {
			for _, i := range inst {
				sel := n
				sel.Job = i.Name
				out = append(out, sel)
			}
			continue
		}
		out = append(out, n)
	}
	return out
}

// checkJobs does GitLab's logical validation of the jobs (YamlProcessor): stages
// exist, needs and dependencies name jobs of the same or earlier stages, needs are not
// duplicated and form no cycle, dependencies are part of needs, on_stop jobs match.
func (dc decoder) checkJobs(jobs []*JobConfig, ix *jobIndex, docPos Pos) {
	if len(jobs) == 0 {
		dc.d.errorf(docPos, "jobs config should contain at least one visible job")
		return
	}
	for _, j := range jobs {
		if ix.stageIndex(j.Stage) < 0 {
			dc.d.errorf(j.StagePos, "%s job: chosen stage %s does not exist; available stages are %s", j.Name, j.Stage, strings.Join(ix.stages, ", "))
			continue
		}
		for k, d := range j.Dependencies {
			dc.checkDependency(j, d, "dependency", false, j.dependencyPosition(k), ix)
		}
		dc.checkNeeds(j, j.Needs, ix)
		for _, r := range j.Rules {
			if r.HasNeeds {
				dc.checkNeeds(j, r.Needs, ix)
			}
		}
		if j.HasDeps && len(j.Needs) > 0 {
			var missing []string
			pos := j.Pos
			for k, d := range j.Dependencies {
				if !slices.ContainsFunc(j.Needs, func(n Need) bool { return n.Job == d }) {
					if missing == nil {
						pos = j.dependencyPosition(k)
					}
					missing = append(missing, d)
				}
			}
			if len(missing) > 0 {
				dc.d.errorf(pos, "jobs:%s dependencies the %s should be part of needs", j.Name, strings.Join(missing, ", "))
			}
		}
		dc.checkOnStop(j, ix)
	}
	dc.checkCycles(jobs)
}

// dependencyPosition is where the k-th dependency was written, or the job's position.
func (j *JobConfig) dependencyPosition(k int) Pos {
	if k < len(j.dependencyPos) && j.dependencyPos[k].Line > 0 {
		return j.dependencyPos[k]
	}
	return j.Pos
}

func (dc decoder) checkNeeds(j *JobConfig, needs []Need, ix *jobIndex) {
	seen := map[string]bool{}
	var dups []string
	for _, n := range needs {
		dc.checkDependency(j, n.Job, "need", n.Optional, n.Pos, ix)
		if seen[n.Job] && !slices.Contains(dups, n.Job) {
			dups = append(dups, n.Job)
		}
		seen[n.Job] = true
	}
	if len(dups) > 0 {
		dc.d.errorf(j.Pos, "%s has the following needs duplicated: %s.", j.Name, strings.Join(dups, ", "))
	}
}

func (dc decoder) checkDependency(j *JobConfig, name, kind string, optional bool, pos Pos, ix *jobIndex) {
	dep, ok := ix.byName[name]
	if !ok {
		if !optional {
			dc.d.errorf(pos, "%s job: undefined %s: %s", j.Name, kind, name)
		}
		return
	}
	di, ji := ix.stageIndex(dep.Stage), ix.stageIndex(j.Stage)
	if di < 0 || di > ji {
		dc.d.errorf(pos, "%s job: %s %s is not defined in current or prior stages", j.Name, kind, name)
	}
}

func (dc decoder) checkOnStop(j *JobConfig, ix *jobIndex) {
	if j.Environment == nil || j.Environment.OnStop == "" {
		return
	}
	name := j.Environment.OnStop
	stop, ok := ix.byName[name]
	switch {
	case !ok:
		dc.d.errorf(j.Pos, "%s job: on_stop job %s is not defined", j.Name, name)
	case stop.Environment == nil:
		dc.d.errorf(j.Pos, "%s job: on_stop job %s does not have environment defined", j.Name, name)
	case stop.Environment.Name != j.Environment.Name:
		dc.d.errorf(j.Pos, "%s job: on_stop job %s have different environment name", j.Name, name)
	case stop.Environment.Action != "stop":
		dc.d.errorf(j.Pos, "%s job: on_stop job %s needs to have action stop defined", j.Name, name)
	}
}

// checkCycles reports a needs cycle as GitLab does: "The pipeline has circular
// dependencies: …".
func (dc decoder) checkCycles(jobs []*JobConfig) {
	names := make([]string, len(jobs))
	edges := make(map[string][]string, len(jobs))
	pos := make(map[string]Pos, len(jobs))
	for i, j := range jobs {
		names[i], pos[j.Name] = j.Name, j.Pos
		for _, n := range j.Needs {
			if n.Job == j.Name {
				dc.d.errorf(j.Pos, "The pipeline has circular dependencies: self-dependency: %s", j.Name)
				return
			}
			edges[j.Name] = append(edges[j.Name], n.Job)
		}
	}
	if cycle := findCycle(names, edges); cycle != nil {
		dc.d.errorf(pos[cycle[0]], "The pipeline has circular dependencies: %s", formatCycle(cycle))
	}
}

// findCycle returns the first cycle of the graph edges (a node's successors) found by
// a depth-first walk from each of names in turn, as the path that closes it
// ("a", "b", "a"), or nil when there is none.
func findCycle(names []string, edges map[string][]string) []string {
	const (
		unseen = iota
		active
		finished
	)
	state := make(map[string]int, len(names))
	var stack []string
	var visit func(string) []string
	visit = func(name string) []string {
		state[name] = active
		stack = append(stack, name)
		for _, next := range edges[name] {
			switch state[next] {
			case active:
				i := slices.Index(stack, next)
				return append(slices.Clone(stack[i:]), next)
			case unseen:
				if c := visit(next); c != nil {
					return c
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[name] = finished
		return nil
	}
	for _, n := range names {
		if state[n] == unseen {
			if cycle := visit(n); cycle != nil {
				return cycle
			}
		}
	}
	return nil
}

func formatCycle(c []string) string {
	q := make([]string, len(c))
	for i, n := range c {
		q[i] = fmt.Sprintf("%q", n)
	}
	return "needs form a cycle " + strings.Join(q, " → ")
}
