package machine

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

var byteUnits = map[string]uint64{
	"": 1, "b": 1,
	"k": KiB, "kb": 1000, "kib": KiB,
	"m": MiB, "mb": 1000 * 1000, "mib": MiB,
	"g": GiB, "gb": GB, "gib": GiB,
	"t": 1 << 40, "tb": 1000 * GB, "tib": 1 << 40,
}

// ParseBytes parses a size such as "40GiB", "16 GB", "512MiB", "1.5G" or "1024".
// Decimal units (KB, MB, GB, TB) are powers of 1000, binary ones (KiB, MiB, GiB, TiB,
// and Docker's K, M, G, T) powers of 1024.
func ParseBytes(s string) (uint64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = strings.TrimSpace(t[:i]), strings.ToLower(strings.TrimSpace(t[i:]))
	}
	mult, ok := byteUnits[unit]
	if num == "" || !ok {
		return 0, fmt.Errorf("want a size such as 40GiB or 16GB")
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || f*float64(mult) > math.MaxUint64/2 {
		return 0, fmt.Errorf("want a size such as 40GiB or 16GB")
	}
	return uint64(f * float64(mult)), nil
}

// FormatBytes prints a size in binary units, e.g. "15 GiB" or "512 MiB".
func FormatBytes(b uint64) string {
	units := []struct {
		name string
		size uint64
	}{{"TiB", 1 << 40}, {"GiB", GiB}, {"MiB", MiB}, {"KiB", KiB}}
	for _, u := range units {
		if b >= u.size {
			v := float64(b) / float64(u.size)
			if v == math.Trunc(v) {
				return fmt.Sprintf("%d %s", uint64(v), u.name)
			}
			return fmt.Sprintf("%.1f %s", v, u.name)
		}
	}
	return fmt.Sprintf("%d B", b)
}

// FormatGB prints a size in decimal gigabytes as GitLab advertises machine types,
// e.g. "15 GB".
func FormatGB(b uint64) string {
	v := float64(b) / float64(GB)
	if v == math.Trunc(v) {
		return fmt.Sprintf("%d GB", uint64(v))
	}
	return fmt.Sprintf("%.1f GB", v)
}

// Version is a major.minor version: a CUDA version or a compute capability.
type Version struct {
	Major, Minor int
}

// ParseVersion parses "12", "12.2" or "12.2.1" (the patch is ignored).
func ParseVersion(s string) (Version, error) {
	parts := strings.Split(strings.TrimSpace(s), ".")
	if len(parts) == 0 || len(parts) > 3 || parts[0] == "" {
		return Version{}, fmt.Errorf("want a version MAJOR.MINOR")
	}
	var v Version
	var err error
	if v.Major, err = strconv.Atoi(parts[0]); err != nil || v.Major < 0 {
		return Version{}, fmt.Errorf("want a version MAJOR.MINOR")
	}
	if len(parts) > 1 {
		if v.Minor, err = strconv.Atoi(parts[1]); err != nil || v.Minor < 0 {
			return Version{}, fmt.Errorf("want a version MAJOR.MINOR")
		}
	}
	if len(parts) > 2 {
		if _, err = strconv.Atoi(parts[2]); err != nil {
			return Version{}, fmt.Errorf("want a version MAJOR.MINOR")
		}
	}
	return v, nil
}

// IsZero reports whether v is unset.
func (v Version) IsZero() bool { return v == Version{} }

// Less reports whether v is older than w.
func (v Version) Less(w Version) bool {
	return v.Major < w.Major || (v.Major == w.Major && v.Minor < w.Minor)
}

func (v Version) String() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// MarshalText writes "MAJOR.MINOR".
func (v Version) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// UnmarshalText reads "MAJOR.MINOR".
func (v *Version) UnmarshalText(b []byte) error {
	p, err := ParseVersion(string(b))
	if err != nil {
		return err
	}
	*v = p
	return nil
}
