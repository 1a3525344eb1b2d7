package quota

import (
	"strings"
	"testing"

	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/store"
)

func TestDefaultQuotasAreGitLabs(t *testing.T) {
	c := DefaultConfig()
	for plan, want := range map[string]float64{machine.PlanFree: 400, machine.PlanPremium: 10_000, machine.PlanUltimate: 50_000} {
		if got := c.Quota(plan); got != want {
			t.Errorf("Quota(%s) = %v, want %v", plan, got, want)
		}
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestWarningLevelsAt25And5And0PercentLeft(t *testing.T) {
	c := DefaultConfig()
	for _, tc := range []struct {
		used      float64
		level     int
		exceeded  bool
		wantWords string
	}{
		{0, store.NotWarned, false, ""},
		{299, store.NotWarned, false, ""},
		{300, 25, false, "25% (100 of 400 minutes) left"},
		{380, 5, false, "5% (20 of 400 minutes) left"},
		{399.9, 5, false, "left"},
		{400, 0, true, "compute quota exceeded: 400 of 400"},
		{650, 0, true, "compute quota exceeded"},
	} {
		r := c.Report(machine.PlanFree, store.ComputeUsage{Month: "2026-11", Minutes: tc.used})
		if r.Level != tc.level || r.Exceeded != tc.exceeded {
			t.Errorf("used %v: level %d exceeded %v, want %d %v", tc.used, r.Level, r.Exceeded, tc.level, tc.exceeded)
		}
		if w := r.Warning(); !strings.Contains(w, tc.wantWords) || (tc.wantWords == "") != (w == "") {
			t.Errorf("used %v: warning %q, want one containing %q", tc.used, w, tc.wantWords)
		}
	}
}

func TestWarningsShowFractionsOfAMinute(t *testing.T) {
	c := Config{Plans: map[string]float64{machine.PlanFree: 0.2}}
	for _, tc := range []struct {
		used float64
		want string
	}{
		{0.174, "13% (0.03 of 0.2 minutes) left"},
		{0.25, "compute quota exceeded: 0.25 of 0.2 compute minutes used"},
		{0.123456, ""},
	} {
		r := c.Report(machine.PlanFree, store.ComputeUsage{Month: "2026-11", Minutes: tc.used})
		if w := r.Warning(); !strings.Contains(w, tc.want) || (tc.want == "") != (w == "") {
			t.Errorf("used %v of 0.2: warning %q, want one containing %q", tc.used, w, tc.want)
		}
	}
	big := DefaultConfig().Report(machine.PlanPremium, store.ComputeUsage{Month: "2026-11", Minutes: 9_600.5})
	if w := big.Warning(); !strings.Contains(w, "(399.5 of 10000 minutes)") {
		t.Errorf("warning %q, want the minutes left to the tenth", w)
	}
}

func TestAnUnlimitedPlanIsNeverExceeded(t *testing.T) {
	c := Config{Plans: map[string]float64{machine.PlanUltimate: Unlimited}}
	r := c.Report(machine.PlanUltimate, store.ComputeUsage{Minutes: 1e9})
	if r.Exceeded || r.Level != store.NotWarned || r.Warning() != "" {
		t.Errorf("unlimited plan report = %+v", r)
	}
	if c.OverrunExceeded(machine.PlanUltimate, 1e9, 1e9) {
		t.Error("unlimited plan overran")
	}
}

func TestRunningJobsMayOverrunByTheAllowedMinutes(t *testing.T) {
	c := DefaultConfig()
	if c.OverrunExceeded(machine.PlanFree, 400, 1000) {
		t.Error("400 used + 1000 running on a 400 quota is within the 1,000-minute overrun")
	}
	if !c.OverrunExceeded(machine.PlanFree, 400, 1000.5) {
		t.Error("400 used + 1000.5 running exceeds the overrun")
	}
}

func TestValidateNamesTheBadSetting(t *testing.T) {
	for _, tc := range []struct {
		c    Config
		want string
	}{
		{Config{Plans: map[string]float64{"gold": 5}}, `unknown plan "gold"`},
		{Config{Plans: map[string]float64{machine.PlanFree: -5}}, "plan free is -5"},
		{Config{OverrunMinutes: -1}, "overrun is -1"},
	} {
		if err := tc.c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tc.c, err, tc.want)
		}
	}
}
