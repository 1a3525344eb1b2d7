package sqlstore

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/store"
)

// pathSegment is GitLab's rule for a namespace or project path (and a username):
// letters, digits, '_', '.', '-', not starting with '-' and not ending in .git/.atom.
var pathSegment = regexp.MustCompile(`^[A-Za-z0-9_.][A-Za-z0-9_.-]*$`)

func checkPath(field, p string) error {
	switch {
	case p == "":
		return fmt.Errorf("%s is empty: %w", field, store.ErrInvalid)
	case len(p) > 255:
		return fmt.Errorf("%s is longer than 255 characters: %w", field, store.ErrInvalid)
	case !pathSegment.MatchString(p), strings.HasSuffix(p, ".git"), strings.HasSuffix(p, ".atom"),
		strings.Contains(p, ".."):
		return fmt.Errorf("%s %q: %w: use letters, digits, '_', '-' and '.', not starting with '-' nor ending in .git or .atom",
			field, p, store.ErrInvalid)
	}
	return nil
}

func checkPlan(plan string) error {
	if plan != machine.PlanFree && plan != machine.PlanPremium && plan != machine.PlanUltimate {
		return fmt.Errorf("plan %q: %w: want free, premium or ultimate", plan, store.ErrInvalid)
	}
	return nil
}

func checkStatus(field string, s store.Status) error {
	if !s.Valid() {
		return fmt.Errorf("%s %q: %w: not a job status", field, s, store.ErrInvalid)
	}
	return nil
}

func checkOneOf(field, v string, allowed ...string) error {
	if !slices.Contains(allowed, v) {
		return fmt.Errorf("%s %q: %w: want one of %s", field, v, store.ErrInvalid, strings.Join(allowed, ", "))
	}
	return nil
}

func checkNotEmpty(field, v string) error {
	if strings.TrimSpace(v) == "" {
		return fmt.Errorf("%s is empty: %w", field, store.ErrInvalid)
	}
	return nil
}
