package ci

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// durationUnits maps the unit words GitLab's ChronicDuration understands to their
// length in seconds. A month is 30 days and a year 365.25 days, as in ChronicDuration.
var durationUnits = map[string]float64{
	"s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
	"m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
	"h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
	"d": 86400, "day": 86400, "days": 86400,
	"w": 604800, "wk": 604800, "wks": 604800, "week": 604800, "weeks": 604800,
	"mo": 2592000, "mos": 2592000, "month": 2592000, "months": 2592000,
	"y": 31557600, "yr": 31557600, "yrs": 31557600, "year": 31557600, "years": 31557600,
}

// ParseDuration reads a duration written the way GitLab accepts it for timeout,
// start_in and expire_in: "1h 30m", "3 hours 30 minutes", "1 day", "90 minutes",
// "2.5h", "1 hour and 30 minutes", "01:30:00", or a bare number of seconds.
func ParseDuration(s string) (time.Duration, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "" {
		return 0, fmt.Errorf("empty duration")
	}
	if strings.Contains(t, ":") {
		return parseClock(t)
	}
	t = strings.NewReplacer(",", " ", " and ", " ").Replace(t)
	var total float64
	for rest := t; strings.TrimSpace(rest) != ""; {
		rest = strings.TrimLeftFunc(rest, unicode.IsSpace)
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("%q is not a duration such as 1h 30m or 3 hours", s)
		}
		num, err := strconv.ParseFloat(rest[:i], 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration such as 1h 30m or 3 hours", s)
		}
		rest = strings.TrimLeftFunc(rest[i:], unicode.IsSpace)
		j := 0
		for j < len(rest) && unicode.IsLetter(rune(rest[j])) {
			j++
		}
		unit := rest[:j]
		rest = rest[j:]
		mult := 1.0
		if unit != "" {
			m, ok := durationUnits[unit]
			if !ok {
				return 0, fmt.Errorf("%q: unknown unit %q in duration", s, unit)
			}
			mult = m
		}
		total += num * mult
	}
	if total > math.MaxInt64/float64(time.Second) {
		return 0, fmt.Errorf("%q is too long a duration", s)
	}
	return time.Duration(total * float64(time.Second)), nil
}

func parseClock(s string) (time.Duration, error) {
	parts := strings.Split(s, ":")
	if len(parts) > 3 {
		return 0, fmt.Errorf("%q is not a duration such as 01:30:00", s)
	}
	var total float64
	for _, p := range parts {
		n, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%q is not a duration such as 01:30:00", s)
		}
		total = total*60 + n
	}
	return time.Duration(total * float64(time.Second)), nil
}

// formatDuration prints d as GitLab shows durations: "1h 30m", "3d".
func formatDuration(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	secs := int64(d / time.Second)
	var parts []string
	for _, u := range []struct {
		name string
		s    int64
	}{{"w", 604800}, {"d", 86400}, {"h", 3600}, {"m", 60}, {"s", 1}} {
		if secs >= u.s {
			parts = append(parts, strconv.FormatInt(secs/u.s, 10)+u.name)
			secs %= u.s
		}
	}
	return strings.Join(parts, " ")
}
