package web

import (
	"net/http"

	"github.com/kiln-ci/kiln/internal/store"
)

// usageRow is a top-level namespace's compute minutes this month.
type usageRow struct {
	Namespace   store.Namespace
	Month, Plan string
	Used, Quota float64
	Left        float64
	PercentLeft float64
	Unlimited   bool
	// Level is the lowest "percent left" warning reached (25, 5, 0), or
	// store.NotWarned; Warning is GitLab's sentence for it.
	Level    int
	Exceeded bool
	Warning  string
	// UsedPercent is how much of the quota is used, capped at 100, for the bar.
	UsedPercent float64
	History     []store.ComputeUsage
}

// Severity is the CSS class of the row's warning.
func (u usageRow) Severity() string {
	switch {
	case u.Exceeded || u.Level == 0 || u.Level == 5:
		return "danger"
	case u.Level == 25:
		return "warning"
	}
	return "ok"
}

// usagePage shows compute usage per top-level namespace: all of them for
// administrators, the ones a user owns for others.
func (h *Handler) usagePage(w http.ResponseWriter, r *http.Request) {
	u := h.requireUser(w, r)
	if u == nil {
		return
	}
	ctx := r.Context()
	nss, err := h.st.Namespaces.ListNamespaces(ctx, store.Page{Limit: store.MaxPageLimit})
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	var rows []usageRow
	for _, ns := range nss {
		if ns.ParentID != 0 || (!u.Admin && ns.OwnerID != u.ID && ns.ID != u.NamespaceID) {
			continue
		}
		rep, err := h.svc.ComputeUsage(ctx, ns.ID)
		if err != nil {
			h.serverError(w, r, err)
			return
		}
		row := usageRow{Namespace: ns, Month: rep.Month, Plan: rep.Plan, Used: rep.Used, Quota: rep.Quota,
			Left: rep.Left, PercentLeft: rep.PercentLeft, Unlimited: rep.Quota < 0, Level: rep.Level,
			Exceeded: rep.Exceeded, Warning: rep.Warning()}
		if !row.Unlimited && row.Quota > 0 {
			row.UsedPercent = min(row.Used/row.Quota*100, 100)
		} else if !row.Unlimited && row.Used > 0 {
			row.UsedPercent = 100
		}
		if row.History, err = h.st.Usage.ListUsage(ctx, ns.ID); err != nil {
			h.serverError(w, r, err)
			return
		}
		row.History = row.History[:min(len(row.History), 12)]
		rows = append(rows, row)
	}
	h.render(w, r, http.StatusOK, "usage_quotas", "Usage quotas", rows)
}
