package jobspec

// Variable is one CI/CD variable as the runner receives it.
//
// Public marks variables that may be shown; Masked ones are replaced by [MASKED] in the
// trace; File ones are written to a file whose path becomes the value; Raw ones are
// never expanded.
type Variable struct {
	Key    string `json:"key"`
	Value  string `json:"value"`
	Public bool   `json:"public"`
	Masked bool   `json:"masked,omitempty"`
	File   bool   `json:"file,omitempty"`
	Raw    bool   `json:"raw,omitempty"`
}

// Variables is an ordered list of variables. Later entries override earlier ones with
// the same key, so a list is built from lowest to highest precedence.
type Variables []Variable

// Lookup returns the value of the last variable named key.
func (vs Variables) Lookup(key string) (string, bool) {
	for i := len(vs) - 1; i >= 0; i-- {
		if vs[i].Key == key {
			return vs[i].Value, true
		}
	}
	return "", false
}

// Get returns the value of the last variable named key, or "".
func (vs Variables) Get(key string) string {
	v, _ := vs.Lookup(key)
	return v
}

// Find returns the last variable named key.
func (vs Variables) Find(key string) (Variable, bool) {
	for i := len(vs) - 1; i >= 0; i-- {
		if vs[i].Key == key {
			return vs[i], true
		}
	}
	return Variable{}, false
}

// Dedup returns the variables with only the winning entry per key, in order of first
// appearance, the form to hand to an environment.
func (vs Variables) Dedup() Variables {
	last := make(map[string]int, len(vs))
	for i, v := range vs {
		last[v.Key] = i
	}
	out := make(Variables, 0, len(last))
	seen := make(map[string]bool, len(last))
	for _, v := range vs {
		if seen[v.Key] {
			continue
		}
		seen[v.Key] = true
		out = append(out, vs[last[v.Key]])
	}
	return out
}

// MaskedValues returns the values of all masked variables, overridden ones included:
// a secret stays hidden in traces even when a later entry replaced its variable.
func (vs Variables) MaskedValues() []string {
	var out []string
	for _, v := range vs {
		if v.Masked && v.Value != "" {
			out = append(out, v.Value)
		}
	}
	return out
}
