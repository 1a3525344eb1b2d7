// Package userapi serves Kiln's user API under /api/v4 with GitLab's paths, JSON
// field names (package entity) and status codes: the current user, users and
// personal access tokens, groups and namespaces with their plan and compute usage,
// projects with hosted repositories, CI/CD variables of the instance, groups and
// projects, pipelines, jobs (traces, artifacts), runners, CI lint, the version and
// the machine types.
//
// Callers authenticate with a personal access token (PRIVATE-TOKEN header,
// "Authorization: Bearer" or private_token); anonymous callers may read public
// projects. Reads need the read_api scope (or api), writes api, runners
// create_runner or manage_runner. Who may touch a project is auth.ProjectAccess;
// records a caller may not see answer 404, as GitLab's do.
//
// Errors keep GitLab's shapes: a missing or malformed parameter is 400
// {"error": "ref is missing"}; a record that fails validation is 400
// {"message": {"key": ["has already been taken"]}}; others {"message": "404 Project
// Not Found"}. A refused request changes nothing. Variable values, tokens and
// request bodies are never logged.
//
// Handlers are thin: rules live in internal/coordinator (pipelines, jobs, runners,
// quotas); records that are only shown are read from the store. Only the
// coordinator's wiring (cmd) and tests import this package.
package userapi

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/kiln-ci/kiln/internal/api/auth"
	"github.com/kiln-ci/kiln/internal/api/reply"
	"github.com/kiln-ci/kiln/internal/coordinator"
	"github.com/kiln-ci/kiln/internal/git"
	"github.com/kiln-ci/kiln/internal/store"
)

// DefaultMaxBodyBytes bounds a request body: room for a 2 MB CI configuration
// (GitLab's limit) escaped in JSON.
const DefaultMaxBodyBytes = 8 << 20

// Config configures the user API.
type Config struct {
	Service *coordinator.Service // required
	Auth    *auth.Authenticator  // required
	// MaxBodyBytes bounds request bodies; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Logger; nil discards.
	Logger *slog.Logger
	// Now is the clock (runner liveness, token expiry); nil means time.Now.
	Now func() time.Time
}

// Handler serves the user API. It is safe for concurrent use.
type Handler struct {
	svc     *coordinator.Service
	st      *store.Store
	auth    *auth.Authenticator
	repos   *git.Manager
	maxBody int64
	log     *slog.Logger
	now     func() time.Time
}

// New checks cfg and returns the handler; mount it with Register.
func New(cfg Config) (*Handler, error) {
	if cfg.Service == nil || cfg.Auth == nil {
		return nil, errors.New("user API: Config needs Service and Auth")
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Handler{svc: cfg.Service, st: cfg.Service.Store(), auth: cfg.Auth, repos: cfg.Service.Repos(),
		maxBody: cfg.MaxBodyBytes, log: cfg.Logger, now: cfg.Now}, nil
}

// Register mounts the user API on mux (api.Config.Mounts takes it). Its routes sit
// beside the runner API's (internal/api/runnerapi) without overlapping them; an
// unknown /api/v4 path answers GitLab's {"error": "404 Not Found"}.
func (h *Handler) Register(mux *http.ServeMux) {
	route := func(pattern string, rl rule, fn http.HandlerFunc) { mux.Handle(pattern, h.guard(rl, fn)) }
	const v4 = "/api/v4"

	route("GET "+v4+"/version", read, h.version)
	route("GET "+v4+"/metadata", read, h.metadata)
	route("GET "+v4+"/machine_types", readPublic, h.machineTypes)

	route("GET "+v4+"/user", readUser, h.currentUser)
	route("GET "+v4+"/users", read, h.listUsers)
	route("GET "+v4+"/users/{id}", read, h.getUser)
	route("POST "+v4+"/users", adminWrite, h.createUser)
	route("POST "+v4+"/users/{id}/personal_access_tokens", adminWrite, h.createToken)
	route("GET "+v4+"/personal_access_tokens", read, h.listTokens)
	route("GET "+v4+"/personal_access_tokens/self", anyScope, h.selfToken)
	route("DELETE "+v4+"/personal_access_tokens/self", anyScope, h.revokeSelfToken)
	route("DELETE "+v4+"/personal_access_tokens/{id}", write, h.revokeToken)

	route("POST "+v4+"/groups", write, h.createGroup)
	route("GET "+v4+"/groups", read, h.listGroups)
	route("GET "+v4+"/groups/{id}", read, h.getGroup)
	route("GET "+v4+"/namespaces", read, h.listNamespaces)
	route("GET "+v4+"/namespaces/{id}", read, h.getNamespace)
	route("PUT "+v4+"/namespaces/{id}", adminWrite, h.updateNamespace)
	route("GET "+v4+"/namespaces/{id}/compute_usage", read, h.computeUsage)

	route("POST "+v4+"/projects", write, h.createProject)
	route("GET "+v4+"/projects", readPublic, h.listProjects)
	route("GET "+v4+"/projects/{id}", readPublic, h.getProject)

	for _, lv := range h.variableLevels() {
		route("GET "+v4+lv.prefix+"/variables", lv.read, lv.handle(h.listVariables))
		route("POST "+v4+lv.prefix+"/variables", lv.write, lv.handle(h.createVariable))
		route("GET "+v4+lv.prefix+"/variables/{key}", lv.read, lv.handle(h.getVariable))
		route("PUT "+v4+lv.prefix+"/variables/{key}", lv.write, lv.handle(h.updateVariable))
		route("DELETE "+v4+lv.prefix+"/variables/{key}", lv.write, lv.handle(h.deleteVariable))
	}

	route("POST "+v4+"/projects/{id}/pipeline", write, h.createPipeline)
	route("GET "+v4+"/projects/{id}/pipelines", readPublic, h.listPipelines)
	route("GET "+v4+"/projects/{id}/pipelines/{pipeline_id}", readPublic, h.getPipeline)
	route("GET "+v4+"/projects/{id}/pipelines/{pipeline_id}/jobs", readPublic, h.listPipelineJobs)
	route("GET "+v4+"/projects/{id}/pipelines/{pipeline_id}/variables", read, h.pipelineVariables)
	route("POST "+v4+"/projects/{id}/pipelines/{pipeline_id}/cancel", write, h.cancelPipeline)
	route("POST "+v4+"/projects/{id}/pipelines/{pipeline_id}/retry", write, h.retryPipeline)

	route("GET "+v4+"/projects/{id}/jobs", readPublic, h.listProjectJobs)
	route("GET "+v4+"/projects/{id}/jobs/{job_id}", readPublic, h.getJob)
	route("GET "+v4+"/projects/{id}/jobs/{job_id}/trace", readPublic, h.jobTrace)
	route("GET "+v4+"/projects/{id}/jobs/{job_id}/artifacts", readPublic, h.jobArtifacts)
	route("POST "+v4+"/projects/{id}/jobs/{job_id}/cancel", write, h.cancelJob)
	route("POST "+v4+"/projects/{id}/jobs/{job_id}/retry", write, h.retryJob)
	route("POST "+v4+"/projects/{id}/jobs/{job_id}/play", write, h.playJob)

	route("POST "+v4+"/user/runners", createRunnr, h.createRunner)
	route("GET "+v4+"/runners", read, h.listRunners)
	route("GET "+v4+"/runners/all", adminRead, h.listAllRunners)
	route("GET "+v4+"/runners/{id}", read, h.getRunner)
	route("PUT "+v4+"/runners/{id}", manageRunnr, h.updateRunner)
	route("DELETE "+v4+"/runners/{id}", manageRunnr, h.deleteRunner)

	route("POST "+v4+"/ci/lint", read, h.lint)
	route("POST "+v4+"/projects/{id}/ci/lint", readPublic, h.lintProjectContent)
	route("GET "+v4+"/projects/{id}/ci/lint", readPublic, h.lintProject)

	mux.HandleFunc(v4+"/", func(w http.ResponseWriter, r *http.Request) {
		reply.JSON(w, http.StatusNotFound, map[string]string{"error": "404 Not Found"})
	})
}

// params reads the request's parameters; a bad body is answered and ok is false.
func (h *Handler) params(w http.ResponseWriter, r *http.Request) (params, bool) {
	p, err := readParams(w, r, h.maxBody)
	if err != nil {
		h.fail(w, r, err)
		return nil, false
	}
	return p, true
}

// pagedParams reads a list request's parameters and its page and per_page; a bad
// one is answered (400) and ok is false.
func (h *Handler) pagedParams(w http.ResponseWriter, r *http.Request) (p params, pg pagination, ok bool) {
	if p, ok = h.params(w, r); !ok {
		return nil, pagination{}, false
	}
	pg, err := readPagination(p)
	if err != nil {
		h.fail(w, r, err)
		return nil, pagination{}, false
	}
	return p, pg, true
}
