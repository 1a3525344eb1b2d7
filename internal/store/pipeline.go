package store

import (
	"context"
	"log/slog"
	"time"
)

// Pipeline sources (GitLab's CI_PIPELINE_SOURCE values the coordinator uses).
const (
	SourcePush     = "push"
	SourceWeb      = "web"
	SourceAPI      = "api"
	SourceTrigger  = "trigger"
	SourceSchedule = "schedule"
)

// Pipeline is one run of a project's CI configuration at a commit.
type Pipeline struct {
	ID        int64
	ProjectID int64
	IID       int64 // per-project number, allocated by CreatePipeline
	Ref       string
	Tag       bool // Ref is a tag
	Protected bool // Ref is protected
	SHA       string
	BeforeSHA string
	Source    string
	Status    Status
	Name      string // workflow:name
	// YAMLErrors holds the compiler's errors when the configuration is invalid (the
	// pipeline is then created failed).
	YAMLErrors string
	UserID     int64 // who triggered it, 0 for none
	// Variables were given at creation (API, web form, trigger). Values are secrets.
	Variables  []PipelineVariable
	CreatedAt  time.Time
	UpdatedAt  time.Time
	StartedAt  time.Time
	FinishedAt time.Time
}

// Duration is the time from start to finish, or zero while unfinished.
func (p *Pipeline) Duration() time.Duration {
	if p.StartedAt.IsZero() || p.FinishedAt.IsZero() {
		return 0
	}
	return p.FinishedAt.Sub(p.StartedAt)
}

// PipelineVariable is a variable given when a pipeline was created.
type PipelineVariable struct {
	Key          string `json:"key"`
	Value        string `json:"value"`
	VariableType string `json:"variable_type,omitempty"` // VariableEnv (default) or VariableFile
}

// String describes the variable without its value.
func (v PipelineVariable) String() string { return "pipeline variable " + v.Key }

// LogValue logs the variable without its value.
func (v PipelineVariable) LogValue() slog.Value { return slog.StringValue(v.Key) }

// PipelineQuery filters ListPipelines.
type PipelineQuery struct {
	ProjectID int64    // required
	Ref       string   // "": any ref
	SHA       string   // "": any commit
	Statuses  []Status // empty: any status
	Page      Page
}

// Pipelines keeps pipelines, and creates their jobs with them.
type Pipelines interface {
	// CreatePipeline inserts p with its jobs in one transaction: it allocates p.IID
	// (the project's next number, never reused, without gaps under concurrency), sets
	// p.ID, p.CreatedAt, p.UpdatedAt, and on each job ID, PipelineID, ProjectID,
	// RootNamespaceID, Attempt (1), CreatedAt, UpdatedAt, and QueuedAt for a pending
	// one. p.Status and each job's Status are the caller's (created, pending, manual,
	// scheduled, skipped, ...). ErrNotFound for a missing project; ErrInvalid for a
	// bad status, an empty ref or sha, or a job without name or stage.
	CreatePipeline(ctx context.Context, p *Pipeline, jobs []*Job) error
	// Pipeline returns the pipeline with id, or ErrNotFound.
	Pipeline(ctx context.Context, id int64) (*Pipeline, error)
	// PipelineByIID returns a project's pipeline by its per-project number.
	PipelineByIID(ctx context.Context, projectID, iid int64) (*Pipeline, error)
	// ListPipelines returns matching pipelines by descending id (newest first).
	ListPipelines(ctx context.Context, q PipelineQuery) ([]Pipeline, error)
	// CountPipelines counts the pipelines ListPipelines would return for q over all
	// pages (q.Page does not matter): all of them, or when upTo > 0 at most upTo (a
	// count of upTo means "upTo or more").
	CountPipelines(ctx context.Context, q PipelineQuery, upTo int) (int, error)
	// SetPipelineStatus sets a pipeline's status and returns it. Running sets
	// StartedAt if unset; a finished status sets FinishedAt; any other status clears
	// FinishedAt (a retried pipeline runs again). ErrNotFound; ErrInvalid.
	SetPipelineStatus(ctx context.Context, id int64, status Status) (*Pipeline, error)
}
