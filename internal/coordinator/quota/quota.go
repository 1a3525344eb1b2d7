// Package quota is GitLab's compute-minute policy: monthly quotas per plan, the
// warnings at 25 %, 5 % and 0 % left, when a spent quota stops new jobs, and how far
// running jobs may overrun it. It is pure arithmetic on usage the store keeps;
// internal/coordinator charges and enforces. Only internal/coordinator imports it.
package quota

import (
	"fmt"
	"math"
	"strconv"

	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/store"
)

// Unlimited as a plan's quota means the plan has no limit.
const Unlimited = -1

// DefaultOverrunMinutes is how far running jobs may overrun a spent quota before they
// are canceled (GitLab's 1,000 minutes).
const DefaultOverrunMinutes = 1000

// Levels are the "percent left" thresholds at which a namespace is warned, highest first.
var Levels = []int{25, 5, 0}

// Config is the compute-minute policy.
type Config struct {
	// Plans maps a plan to its monthly quota in minutes; Unlimited for none. A plan
	// missing from the map has no quota (unlimited).
	Plans map[string]float64
	// OverrunMinutes bounds how far running jobs may take a namespace past its quota.
	OverrunMinutes float64
}

// DefaultConfig is GitLab.com's policy: Free 400, Premium 10,000, Ultimate 50,000
// minutes a month, 1,000 minutes of overrun.
func DefaultConfig() Config {
	return Config{
		Plans: map[string]float64{
			machine.PlanFree:     400,
			machine.PlanPremium:  10_000,
			machine.PlanUltimate: 50_000,
		},
		OverrunMinutes: DefaultOverrunMinutes,
	}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	for plan, q := range c.Plans {
		if plan != machine.PlanFree && plan != machine.PlanPremium && plan != machine.PlanUltimate {
			return fmt.Errorf("compute quota for unknown plan %q (want free, premium or ultimate)", plan)
		}
		if math.IsNaN(q) || math.IsInf(q, 0) || (q < 0 && q != Unlimited) {
			return fmt.Errorf("compute quota of plan %s is %v: want minutes ≥ 0, or %d for unlimited", plan, q, Unlimited)
		}
	}
	if c.OverrunMinutes < 0 || math.IsNaN(c.OverrunMinutes) {
		return fmt.Errorf("compute quota overrun is %v minutes: want ≥ 0", c.OverrunMinutes)
	}
	return nil
}

// Quota returns a plan's monthly quota in minutes, or Unlimited.
func (c Config) Quota(plan string) float64 {
	q, ok := c.Plans[plan]
	if !ok {
		return Unlimited
	}
	return q
}

// Report is a top-level namespace's compute minutes in one month, as the API shows it.
type Report struct {
	Month string  `json:"month"`
	Plan  string  `json:"plan"`
	Quota float64 `json:"quota"` // minutes a month; Unlimited (-1) for none
	Used  float64 `json:"used"`
	// Left is max(quota - used, 0); PercentLeft is Left as a percentage of Quota
	// (100 for an unlimited quota).
	Left        float64 `json:"left"`
	PercentLeft float64 `json:"percent_left"`
	// Level is the lowest warning level reached (25, 5 or 0 percent left), or
	// store.NotWarned.
	Level int `json:"warning_level"`
	// Exceeded says the quota is spent: new jobs on hosted machine types fail.
	Exceeded bool `json:"exceeded"`
}

// Report computes a namespace's standing from its usage.
func (c Config) Report(plan string, u store.ComputeUsage) Report {
	r := Report{Month: u.Month, Plan: plan, Quota: c.Quota(plan), Used: u.Minutes, Level: store.NotWarned}
	if r.Quota == Unlimited {
		r.PercentLeft = 100
		return r
	}
	r.Left = math.Max(r.Quota-r.Used, 0)
	if r.Quota > 0 {
		r.PercentLeft = r.Left / r.Quota * 100
	}
	r.Exceeded = r.Used >= r.Quota
	r.Level = Level(r.PercentLeft)
	if r.Exceeded {
		r.Level = 0
	}
	return r
}

// Level returns the lowest warning level a percentage left has reached, or
// store.NotWarned above 25 %.
func Level(percentLeft float64) int {
	level := store.NotWarned
	for _, l := range Levels {
		if percentLeft <= float64(l) {
			level = l
		}
	}
	return level
}

// Warning is the line a warned namespace sees in the API and in job traces.
func (r Report) Warning() string {
	switch {
	case r.Quota == Unlimited || r.Level == store.NotWarned:
		return ""
	case r.Exceeded:
		return fmt.Sprintf("compute quota exceeded: %s of %s compute minutes used for %s on the %s plan; jobs on hosted machine types do not start until next month",
			minutes(r.Used), minutes(r.Quota), r.Month, r.Plan)
	}
	return fmt.Sprintf("compute minutes running low: %.0f%% (%s of %s minutes) left for %s on the %s plan",
		r.PercentLeft, minutes(r.Left), minutes(r.Quota), r.Month, r.Plan)
}

// minutes formats compute minutes for people: to the hundredth, without trailing
// zeros, so that a quota of a fraction of a minute does not read as 0.
func minutes(m float64) string {
	return strconv.FormatFloat(math.Round(m*100)/100, 'f', -1, 64)
}

// OverrunExceeded reports whether used minutes plus the minutes of jobs still running
// take a namespace past its quota by more than the allowed overrun: its running jobs
// are then canceled.
func (c Config) OverrunExceeded(plan string, used, running float64) bool {
	q := c.Quota(plan)
	if q == Unlimited {
		return false
	}
	return used+running > q+c.OverrunMinutes
}
