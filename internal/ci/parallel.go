package ci

import (
	"regexp"
	"strings"
)

// maxParallel is GitLab's limit on the instances of one parallel job.
const maxParallel = 200

// expandParallel turns a job with parallel: into its instances, as GitLab's
// Config::Normalizer does: "name 1/N" … "name N/N" for a number, and
// "name: [v1, v2]" for each combination of a matrix, with the combination's values as
// variables. Every instance gets CI_NODE_INDEX and CI_NODE_TOTAL.
func (dc decoder) expandParallel(j *JobConfig, v *Value) []*JobConfig {
	p := v.Get("parallel")
	switch {
	case p == nil || p.IsNull():
		return []*JobConfig{j}
	case p.Kind == KindInt:
		n, _ := p.Int()
		if n < 1 || n > maxParallel {
			return []*JobConfig{j} // the structural check reported it
		}
		out := make([]*JobConfig, n)
		for i := range out {
			c := j.instance()
			c.Name = instanceName(j.Name, i+1, int(n))
			c.NodeIndex, c.NodeTotal = i+1, int(n)
			out[i] = c
		}
		return out
	case p.IsMap():
		combos := matrixCombinations(dc.matrix(p.Get("matrix"), "jobs:"+j.Name+":parallel:matrix"))
		if len(combos) > maxParallel {
			dc.d.errorf(p.Pos, "jobs:%s:parallel:matrix config generates too many jobs (maximum is %d)", j.Name, maxParallel)
			return []*JobConfig{j}
		}
		if len(combos) == 0 {
			return []*JobConfig{j}
		}
		out := make([]*JobConfig, len(combos))
		for i, combo := range combos {
			c := j.instance()
			c.Name = matrixName(j.Name, combo)
			c.NodeIndex, c.NodeTotal = i+1, len(combos)
			c.MatrixVariables = combo
			out[i] = c
		}
		return out
	}
	return []*JobConfig{j}
}

// matrixCombinations lists every combination of every matrix entry, in GitLab's
// order: entry by entry, and within an entry the first variable varying slowest.
func matrixCombinations(entries []MatrixEntry) [][]Variable {
	var out [][]Variable
	for _, e := range entries {
		combos := [][]Variable{{}}
		for _, mv := range e {
			next := make([][]Variable, 0, len(combos)*len(mv.Values))
			for _, c := range combos {
				for _, val := range mv.Values {
					nc := make([]Variable, len(c), len(c)+1)
					copy(nc, c)
					next = append(next, append(nc, Variable{Key: mv.Name, Value: val}))
				}
			}
			combos = next
			if len(combos) > maxParallel*4 {
				break // far beyond the limit already; the caller reports it
			}
		}
		out = append(out, combos...)
		if len(out) > maxParallel {
			break
		}
	}
	return out
}

// matrixName is an instance name: "build: [linux, amd64]".
func matrixName(base string, vars []Variable) string {
	vals := make([]string, len(vars))
	for i, v := range vars {
		vals[i] = v.Value
	}
	return base + ": [" + strings.Join(vals, ", ") + "]"
}

var matrixExprRE = regexp.MustCompile(`\$\[\[\s*matrix\.([A-Za-z0-9_-]+)\s*\]\]`)

// interpolateMatrix replaces $[[ matrix.NAME ]] in s by the instance's value; it
// returns the names it could not find.
func interpolateMatrix(s string, vars []Variable) (string, []string) {
	var missing []string
	out := matrixExprRE.ReplaceAllStringFunc(s, func(m string) string {
		name := matrixExprRE.FindStringSubmatch(m)[1]
		for _, v := range vars {
			if v.Key == name {
				return v.Value
			}
		}
		missing = append(missing, name)
		return m
	})
	return out, missing
}

// instance copies a job for one parallel instance, with rules of its own (needs are
// rewritten per instance).
func (j *JobConfig) instance() *JobConfig {
	c := *j
	c.Rules = make([]*Rule, len(j.Rules))
	for i, r := range j.Rules {
		rc := *r
		c.Rules[i] = &rc
	}
	return &c
}
