package web

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/kiln-ci/kiln/internal/api/auth"
	"github.com/kiln-ci/kiln/internal/coordinator"
	"github.com/kiln-ci/kiln/internal/store"
)

// projectRoute serves everything under a project's or namespace's path:
// /<path>, and /<project>/-/<rest> for pipelines and jobs.
func (h *Handler) projectRoute(w http.ResponseWriter, r *http.Request) {
	p := strings.Trim(r.URL.Path, "/")
	full, rest, sub := strings.Cut(p, "/-/")
	if strings.HasSuffix(p, "/-") {
		full, rest, sub = strings.TrimSuffix(p, "/-"), "", true
	}
	if full == "" || strings.Contains(full, "//") {
		h.notFound(w, r)
		return
	}
	get := r.Method == http.MethodGet || r.Method == http.MethodHead
	post := r.Method == http.MethodPost
	if !sub {
		if !get {
			h.methodNotAllowed(w, r, "GET, HEAD")
			return
		}
		h.pathPage(w, r, full)
		return
	}
	parts := strings.Split(rest, "/")
	id := int64(0)
	if len(parts) >= 2 {
		n, err := strconv.ParseInt(parts[1], 10, 64)
		if err != nil || n <= 0 {
			h.notFound(w, r)
			return
		}
		id = n
	}
	route := parts[0]
	if len(parts) >= 3 {
		route += "/:id/" + strings.Join(parts[2:], "/")
	} else if len(parts) == 2 {
		route += "/:id"
	}
	key := route
	if post {
		key += "#post"
	}
	serve, ok := h.subRoutes[key]
	if !ok || (!get && !post) {
		if _, getOK := h.subRoutes[route]; getOK {
			h.methodNotAllowed(w, r, "GET, HEAD")
		} else if _, postOK := h.subRoutes[route+"#post"]; postOK {
			h.methodNotAllowed(w, r, "POST")
		} else {
			h.notFound(w, r)
		}
		return
	}
	if post && !h.checkPost(w, r) {
		return
	}
	serve(w, r, full, id)
}

// subRoute serves a page of a project: its full path and the id in the path, if any.
type subRoute func(w http.ResponseWriter, r *http.Request, project string, id int64)

// projectRoutes are the pages under /<project>/-/, by path pattern ("#post" for
// form posts).
func (h *Handler) projectRoutes() map[string]subRoute {
	return map[string]subRoute{
		"pipelines":                   h.pipelinesPage,
		"pipelines/:id":               h.pipelinePage,
		"jobs/:id":                    h.jobPage,
		"jobs/:id/raw":                h.jobRaw,
		"jobs/:id/trace.json":         h.jobTrace,
		"jobs/:id/artifacts/download": h.jobArtifacts,
		"pipelines#post":              h.runPipeline,
		"pipelines/:id/cancel#post":   h.pipelineAction,
		"pipelines/:id/retry#post":    h.pipelineAction,
		"jobs/:id/cancel#post":        h.jobAction,
		"jobs/:id/retry#post":         h.jobAction,
		"jobs/:id/play#post":          h.jobAction,
	}
}

func (h *Handler) methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	h.errorPage(w, r, http.StatusMethodNotAllowed, "This page does not accept a "+r.Method+" request.")
}

// pathPage shows a project (its pipelines) or a namespace (its projects).
func (h *Handler) pathPage(w http.ResponseWriter, r *http.Request, full string) {
	ctx := r.Context()
	if _, err := h.st.Projects.ProjectByPath(ctx, full); err == nil {
		h.pipelinesPage(w, r, full, 0)
		return
	} else if !errors.Is(err, store.ErrNotFound) {
		h.serverError(w, r, err)
		return
	}
	ns, err := h.st.Namespaces.NamespaceByPath(ctx, full)
	if errors.Is(err, store.ErrNotFound) {
		h.notFound(w, r)
		return
	}
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.listProjects(w, r, ns)
}

type projectRow struct {
	Project store.Project
	Latest  *store.Pipeline
}

type projectsData struct {
	Namespace *store.Namespace // nil on the dashboard
	Projects  []projectRow
	Page      int
	More      bool
}

func (h *Handler) projectsPage(w http.ResponseWriter, r *http.Request) { h.listProjects(w, r, nil) }

// listProjects lists the projects the viewer may read, all or under ns.
func (h *Handler) listProjects(w http.ResponseWriter, r *http.Request, ns *store.Namespace) {
	ctx := r.Context()
	q := store.ProjectQuery{}
	title := "Projects"
	if ns != nil {
		q.Under, title = ns.ID, ns.FullPath
	}
	page := pageParam(r)
	ps, more, err := h.visibleProjects(ctx, viewer(r), q, page)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	if ns != nil && len(ps) == 0 && page == 1 && viewer(r) == nil {
		h.notFound(w, r) // an anonymous visitor learns nothing of a namespace without public projects
		return
	}
	data := projectsData{Namespace: ns, Page: page, More: more}
	for _, p := range ps {
		row := projectRow{Project: p}
		latest, err := h.st.Pipelines.ListPipelines(ctx, store.PipelineQuery{ProjectID: p.ID, Page: store.Page{Limit: 1}})
		if err != nil {
			h.serverError(w, r, err)
			return
		}
		if len(latest) > 0 {
			row.Latest = &latest[0]
		}
		data.Projects = append(data.Projects, row)
	}
	h.render(w, r, http.StatusOK, "projects", title, data)
}

// stageView is one stage of a pipeline with its jobs.
type stageView struct {
	Name     string
	Status   store.Status
	Warnings bool
	Jobs     []store.Job
}

// stagesOf groups a pipeline's current jobs by stage, in stage order.
func stagesOf(jobs []store.Job) []stageView {
	var stages []stageView
	for _, j := range sortedJobs(jobs) {
		if j.Retried {
			continue
		}
		if len(stages) == 0 || stages[len(stages)-1].Name != j.Stage {
			stages = append(stages, stageView{Name: j.Stage})
		}
		s := &stages[len(stages)-1]
		s.Jobs = append(s.Jobs, j)
	}
	for i := range stages {
		stages[i].Status, stages[i].Warnings = coordinator.GroupStatus(stages[i].Jobs)
	}
	return stages
}

// pipelineJobs returns a pipeline's current jobs (retried attempts left out).
func (h *Handler) pipelineJobs(ctx context.Context, pipelineID int64) ([]store.Job, error) {
	return h.st.Jobs.ListJobs(ctx, store.JobQuery{PipelineID: pipelineID, Page: store.Page{Limit: store.MaxPageLimit}})
}

type pipelineRow struct {
	Pipeline store.Pipeline
	Warnings bool
	User     string
	Stages   []stageView
}

type pipelinesData struct {
	Project  *store.Project
	CloneURL string
	CanWrite bool
	// Quota is the compute-quota warning of the project's top-level namespace, shown
	// to those who may run pipelines; QuotaSevere when 5 % or less is left.
	Quota       string
	QuotaSevere bool
	Pipelines   []pipelineRow
	Page        int
	More        bool
}

func (h *Handler) pipelinesPage(w http.ResponseWriter, r *http.Request, full string, _ int64) {
	p, access, ok := h.projectAccess(w, r, full)
	if !ok {
		return
	}
	ctx := r.Context()
	page := pageParam(r)
	pls, err := h.st.Pipelines.ListPipelines(ctx, store.PipelineQuery{ProjectID: p.ID,
		Page: store.Page{Offset: (page - 1) * pageSize, Limit: pageSize + 1}})
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	data := pipelinesData{Project: p, CloneURL: h.svc.ExternalURL() + "/" + p.FullPath + ".git",
		CanWrite: canWrite(r, access), Page: page, More: len(pls) > pageSize}
	if access >= auth.WriteAccess {
		rep, err := h.svc.ComputeUsage(ctx, p.NamespaceID)
		if err != nil {
			h.serverError(w, r, err)
			return
		}
		data.Quota, data.QuotaSevere = rep.Warning(), rep.Exceeded || (rep.Level >= 0 && rep.Level <= 5)
	}
	names := usernames{h: h}
	for _, pl := range pls[:min(len(pls), pageSize)] {
		jobs, err := h.pipelineJobs(ctx, pl.ID)
		if err != nil {
			h.serverError(w, r, err)
			return
		}
		row := pipelineRow{Pipeline: pl, User: names.name(ctx, pl.UserID), Stages: stagesOf(jobs)}
		if pl.Status == store.StatusSuccess {
			_, row.Warnings = coordinator.GroupStatus(jobs)
		}
		data.Pipelines = append(data.Pipelines, row)
	}
	h.render(w, r, http.StatusOK, "pipelines", "Pipelines · "+p.FullPath, data)
}

// runPipeline runs a pipeline for a ref, as GitLab's "Run pipeline" form does.
func (h *Handler) runPipeline(w http.ResponseWriter, r *http.Request, full string, _ int64) {
	p, access, ok := h.projectAccess(w, r, full)
	if !ok || !h.checkWrite(w, r, access) {
		return
	}
	ref := strings.TrimSpace(r.PostFormValue("ref"))
	if ref == "" {
		ref = p.DefaultBranch
	}
	pl, err := h.svc.CreatePipeline(r.Context(), coordinator.CreatePipelineRequest{
		ProjectID: p.ID, Ref: ref, Source: store.SourceWeb, UserID: viewer(r).ID})
	if err != nil {
		h.serviceError(w, r, err)
		return
	}
	http.Redirect(w, r, "/"+p.FullPath+"/-/pipelines/"+strconv.FormatInt(pl.ID, 10), http.StatusSeeOther)
}
