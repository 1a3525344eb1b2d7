package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/kiln-ci/kiln/internal/api/auth"
	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/store"
)

// OnlineTimeout is GitLab's: a runner that asked for work within it is online.
const OnlineTimeout = 2 * time.Hour

// gpuSummary sums up a GPU inventory.
type gpuSummary struct {
	Total, Free, Unhealthy int
	Models                 []string
}

// inventory reads a stored GPU inventory (the info.kiln object a Kiln runner sends);
// a gitlab-runner's is empty. A malformed one reads as empty and is logged.
func (h *Handler) inventory(runnerID int64, raw json.RawMessage) (protocol.KilnInfo, gpuSummary) {
	var k protocol.KilnInfo
	var s gpuSummary
	if len(raw) == 0 || string(raw) == "null" {
		return k, s
	}
	if err := json.Unmarshal(raw, &k); err != nil {
		h.log.Warn("a runner's GPU inventory does not parse", "runner", runnerID, "error", err)
		return protocol.KilnInfo{}, s
	}
	s.Total, s.Free = len(k.GPUs), k.FreeGPUs
	if len(k.GPUs) > 0 {
		s.Free = 0
	}
	for _, g := range k.GPUs {
		switch {
		case !g.Healthy:
			s.Unhealthy++
		case !g.Leased:
			s.Free++
		}
		if !slices.Contains(s.Models, g.Model) {
			s.Models = append(s.Models, g.Model)
		}
	}
	return k, s
}

// runnerState is GitLab's word for where a runner stands.
func (h *Handler) runnerState(r *store.Runner) string {
	switch {
	case r.Paused:
		return "paused"
	case r.ContactedAt.IsZero():
		return "never contacted"
	case h.now().Sub(r.ContactedAt) < OnlineTimeout:
		return "online"
	}
	return "offline"
}

type runnerRow struct {
	Runner store.Runner
	State  string
	GPUs   gpuSummary
}

// visibleRunners lists the runners a user may see: all for administrators, the
// instance runners (shared with everyone) for others.
func (h *Handler) visibleRunners(ctx context.Context, u *auth.User) ([]runnerRow, error) {
	q := store.RunnerQuery{Page: store.Page{Limit: store.MaxPageLimit}}
	if !u.Admin {
		q.Type = store.RunnerInstance
	}
	rs, err := h.st.Runners.ListRunners(ctx, q)
	if err != nil {
		return nil, err
	}
	rows := make([]runnerRow, 0, len(rs))
	for _, r := range rs {
		_, gpus := h.inventory(r.ID, r.GPUInventory)
		rows = append(rows, runnerRow{Runner: r, State: h.runnerState(&r), GPUs: gpus})
	}
	return rows, nil
}

type runnersData struct {
	Runners        []runnerRow
	Online, Total  int
	GPUs, GPUsFree int
	Admin          bool
}

func (h *Handler) runnersPage(w http.ResponseWriter, r *http.Request) {
	u := h.requireUser(w, r)
	if u == nil {
		return
	}
	rows, err := h.visibleRunners(r.Context(), u)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	data := runnersData{Runners: rows, Total: len(rows), Admin: u.Admin}
	for _, row := range rows {
		if row.State == "online" {
			data.Online++
			data.GPUs += row.GPUs.Total
			data.GPUsFree += row.GPUs.Free
		}
	}
	h.render(w, r, http.StatusOK, "runners", "Runners", data)
}

type managerView struct {
	Manager store.RunnerManager
	Kiln    protocol.KilnInfo
	GPUs    gpuSummary
}

type runnerJob struct {
	Job     store.Job
	Project string
}

type runnerData struct {
	Runner      *store.Runner
	State       string
	MachineType *machine.Type
	Kiln        protocol.KilnInfo
	GPUs        gpuSummary
	Managers    []managerView
	Jobs        []runnerJob
	Admin       bool
}

func (h *Handler) runnerPage(w http.ResponseWriter, r *http.Request) {
	u := h.requireUser(w, r)
	if u == nil {
		return
	}
	ctx := r.Context()
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		h.notFound(w, r)
		return
	}
	rn, err := h.st.Runners.Runner(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !u.Admin && rn.Type != store.RunnerInstance) {
		h.notFound(w, r)
		return
	}
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	data := runnerData{Runner: rn, State: h.runnerState(rn), Admin: u.Admin}
	data.Kiln, data.GPUs = h.inventory(rn.ID, rn.GPUInventory)
	if mt, ok := h.svc.Catalog().Get(rn.MachineType); ok {
		data.MachineType = &mt
	}
	managers, err := h.st.Runners.ListManagers(ctx, rn.ID)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	for _, m := range managers {
		mv := managerView{Manager: m}
		mv.Kiln, mv.GPUs = h.inventory(rn.ID, m.GPUInventory)
		data.Managers = append(data.Managers, mv)
	}
	if data.Jobs, err = h.runnerJobs(ctx, u, rn.ID); err != nil {
		h.serverError(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "runner", "Runner #"+strconv.FormatInt(rn.ID, 10), data)
}

// runnerJobs returns a runner's latest jobs in projects the user may read.
func (h *Handler) runnerJobs(ctx context.Context, u *auth.User, runnerID int64) ([]runnerJob, error) {
	jobs, err := h.st.Jobs.ListJobs(ctx, store.JobQuery{RunnerID: runnerID, IncludeRetried: true, Newest: true,
		Page: store.Page{Limit: pageSize}})
	if err != nil {
		return nil, err
	}
	nss := auth.CachedAncestors(h.st.Namespaces)
	projects := map[int64]*store.Project{}
	var out []runnerJob
	for _, j := range jobs {
		p, ok := projects[j.ProjectID]
		if !ok {
			if p, err = h.st.Projects.Project(ctx, j.ProjectID); err != nil {
				return nil, err
			}
			if a, err := auth.ProjectAccess(ctx, nss, u.User, p); err != nil {
				return nil, err
			} else if a < auth.ReadAccess {
				p = nil
			}
			projects[j.ProjectID] = p
		}
		if p != nil {
			out = append(out, runnerJob{Job: j, Project: p.FullPath})
		}
	}
	return out, nil
}

type machineTypeRow struct {
	Type          machine.Type
	Online, Total int // runners serving it
	GPUs, Free    int // GPUs of its online runners
}

// machineTypesPage shows the catalog, with how many runners serve each type.
func (h *Handler) machineTypesPage(w http.ResponseWriter, r *http.Request) {
	rs, err := h.st.Runners.ListRunners(r.Context(), store.RunnerQuery{Page: store.Page{Limit: store.MaxPageLimit}})
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	var rows []machineTypeRow
	for _, t := range h.svc.Catalog().Types() {
		row := machineTypeRow{Type: t}
		for _, rn := range rs {
			if rn.MachineType != t.Tag {
				continue
			}
			row.Total++
			if h.runnerState(&rn) == "online" {
				row.Online++
				_, g := h.inventory(rn.ID, rn.GPUInventory)
				row.GPUs += g.Total
				row.Free += g.Free
			}
		}
		rows = append(rows, row)
	}
	h.render(w, r, http.StatusOK, "machine_types", "Machine types", rows)
}
