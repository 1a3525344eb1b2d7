// Package cuda is the CUDA pre-flight: it reads an image's CUDA requirements
// (NVIDIA_REQUIRE_* and CUDA_VERSION, with the semantics nvidia-container-toolkit gives
// them) and a job's KILN_CUDA_MIN, and checks them against the host driver before the
// job starts, so that a mismatch fails at once with a message naming both versions
// instead of "CUDA driver version is insufficient" deep inside the job.
//
// The semantics, as nvidia-container-toolkit implements them:
//   - every NVIDIA_REQUIRE_* variable except NVIDIA_REQUIRE_JETPACK is a requirement,
//     and all of them must hold;
//   - within one, space-separated terms are alternatives (OR) and comma-separated
//     constraints within a term must all hold (AND): "cuda>=12.1 brand=tesla,driver>=470,driver<471"
//     means CUDA ≥ 12.1, or a Tesla GPU with a 470 driver (CUDA forward compatibility);
//   - a constraint is PROPERTY OPERATOR VALUE with properties cuda, driver, arch
//     (compute capability) and brand, and operators = != < <= > >=; a constraint on
//     another property is ignored; one without an operator or with a malformed version
//     is an error;
//   - an image with CUDA_VERSION and no NVIDIA_REQUIRE_CUDA (a "legacy" image) requires
//     cuda>=MAJOR.MINOR of CUDA_VERSION;
//   - NVIDIA_DISABLE_REQUIRE=true turns all of this off.
//
// It is on the runner side: the coordinator side must not import it.
package cuda

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/kiln-ci/kiln/internal/machine"
)

// Variables read from an image's environment.
const (
	EnvRequirePrefix  = "NVIDIA_REQUIRE_"
	EnvRequireCUDA    = "NVIDIA_REQUIRE_CUDA"
	EnvRequireJetpack = "NVIDIA_REQUIRE_JETPACK"
	EnvDisableRequire = "NVIDIA_DISABLE_REQUIRE"
	EnvCUDAVersion    = "CUDA_VERSION"
)

// Properties a constraint may test.
const (
	PropCUDA   = "cuda"
	PropDriver = "driver"
	PropArch   = "arch"
	PropBrand  = "brand"
)

// Host is what requirements are checked against: the driver and one leased GPU.
type Host struct {
	CUDA   machine.Version // the newest CUDA the driver supports
	Driver string          // the driver version, e.g. "535.104.05"
	Brand  string          // e.g. "tesla", "nvidia"
	Arch   machine.Version // the GPU's compute capability
}

// Constraint is one PROPERTY OPERATOR VALUE.
type Constraint struct {
	Property string
	Op       string
	Value    string
}

func (c Constraint) String() string { return c.Property + c.Op + c.Value }

// Requirement is one variable's requirement: Terms are alternatives (OR), each a list
// of constraints that must all hold (AND).
type Requirement struct {
	Var   string
	Value string
	Terms [][]Constraint
}

// operators in the order they must be tried (longest first).
var operators = []string{"!=", "<=", ">=", "=", "<", ">"}

// Parse reads one requirement; name is the variable it came from, for errors.
func Parse(name, value string) (Requirement, error) {
	r := Requirement{Var: name, Value: value}
	for _, term := range strings.Split(value, " ") {
		var and []Constraint
		for _, factor := range strings.Split(term, ",") {
			if strings.TrimSpace(factor) == "" {
				continue
			}
			c, known, err := parseConstraint(factor)
			if err != nil {
				return r, fmt.Errorf("%s=%q: %w", name, value, err)
			}
			if known {
				and = append(and, c)
			}
		}
		if len(and) > 0 {
			r.Terms = append(r.Terms, and)
		}
	}
	return r, nil
}

func parseConstraint(s string) (Constraint, bool, error) {
	end := strings.IndexAny(s, "<>=!")
	if end <= 0 {
		return Constraint{}, false, fmt.Errorf("constraint %q: want PROPERTY OPERATOR VALUE, e.g. cuda>=12.1", s)
	}
	c := Constraint{Property: s[:end]}
	rest := s[end:]
	for _, op := range operators {
		if strings.HasPrefix(rest, op) {
			c.Op = op
			break
		}
	}
	c.Value = strings.TrimPrefix(rest, c.Op)
	switch c.Property {
	case PropCUDA, PropDriver, PropArch:
		if _, err := parseVersion(c.Value); err != nil {
			return c, true, fmt.Errorf("constraint %q: %q is not a version", s, c.Value)
		}
	case PropBrand:
	default:
		return c, false, nil // another property: ignored, as nvidia-container-toolkit does
	}
	if c.Op == "" || c.Value == "" {
		return c, true, fmt.Errorf("constraint %q: want PROPERTY OPERATOR VALUE, e.g. cuda>=12.1", s)
	}
	return c, true, nil
}

// Requirements reads the requirements of an image's environment (KEY=VALUE entries).
// It returns none when NVIDIA_DISABLE_REQUIRE is true.
func Requirements(env []string) ([]Requirement, error) {
	vars := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	if d, err := strconv.ParseBool(vars[EnvDisableRequire]); err == nil && d {
		return nil, nil
	}
	var names []string
	for k := range vars {
		if strings.HasPrefix(k, EnvRequirePrefix) && !strings.HasPrefix(k, EnvRequireJetpack) {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	var out []Requirement
	for _, k := range names {
		r, err := Parse(k, vars[k])
		if err != nil {
			return nil, err
		}
		if len(r.Terms) > 0 {
			out = append(out, r)
		}
	}
	if v := vars[EnvCUDAVersion]; v != "" && vars[EnvRequireCUDA] == "" {
		ver, err := machine.ParseVersion(strings.TrimPrefix(v, "v"))
		if err != nil {
			return nil, fmt.Errorf("%s=%q: not a CUDA version such as 12.1.1", EnvCUDAVersion, v)
		}
		out = append(out, Requirement{Var: EnvCUDAVersion, Value: v,
			Terms: [][]Constraint{{{Property: PropCUDA, Op: ">=", Value: ver.String()}}}})
	}
	return out, nil
}

// Satisfied reports whether h meets r: some term whose constraints all hold.
func (r Requirement) Satisfied(h Host) bool {
	for _, term := range r.Terms {
		if !slices.ContainsFunc(term, func(c Constraint) bool { return !c.holds(h) }) {
			return true
		}
	}
	return len(r.Terms) == 0
}

// MinCUDA returns the least CUDA version r's "cuda>=" (or "cuda>") constraints ask for
// across its alternatives, and whether it has any.
func (r Requirement) MinCUDA() (machine.Version, bool) {
	var best machine.Version
	found := false
	for _, term := range r.Terms {
		for _, c := range term {
			if c.Property != PropCUDA || (c.Op != ">=" && c.Op != ">" && c.Op != "=") {
				continue
			}
			v, _ := machine.ParseVersion(c.Value)
			if !found || v.Less(best) {
				best, found = v, true
			}
		}
	}
	return best, found
}

func (c Constraint) holds(h Host) bool {
	var cmp int
	switch c.Property {
	case PropBrand:
		cmp = strings.Compare(h.Brand, c.Value)
	case PropCUDA:
		cmp = compareVersions(versionString(h.CUDA), c.Value)
	case PropArch:
		cmp = compareVersions(versionString(h.Arch), c.Value)
	case PropDriver:
		cmp = compareVersions(h.Driver, c.Value)
	}
	switch c.Op {
	case "=":
		return cmp == 0
	case "!=":
		return cmp != 0
	case "<":
		return cmp < 0
	case "<=":
		return cmp <= 0
	case ">":
		return cmp > 0
	case ">=":
		return cmp >= 0
	}
	return false
}

func versionString(v machine.Version) string {
	if v.IsZero() {
		return ""
	}
	return v.String()
}

// parseVersion reads 1 to 3 dot-separated numbers, e.g. "12", "12.1", "535.104.05".
func parseVersion(s string) ([]uint64, error) {
	parts := strings.Split(strings.TrimPrefix(s, "v"), ".")
	if len(parts) > 3 {
		return nil, fmt.Errorf("too many parts")
	}
	out := make([]uint64, 3)
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}

// compareVersions compares a host version with a constraint's. An unknown or
// malformed host version is less than any version (as semver treats invalid ones).
func compareVersions(host, want string) int {
	w, _ := parseVersion(want)
	h, err := parseVersion(host)
	if host == "" || err != nil {
		return -1
	}
	return slices.Compare(h, w)
}
