package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/kiln-ci/kiln/internal/machine"
)

// Job is one job of a pipeline. A retried job is a new Job (Attempt + 1); the old
// one is kept with Retried set and leaves the pipeline's view, as in GitLab.
type Job struct {
	ID              int64
	PipelineID      int64
	ProjectID       int64
	RootNamespaceID int64 // the project's top-level namespace: fair share and quotas
	UserID          int64 // who triggered the pipeline, 0 for none

	Name     string
	Stage    string
	StageIdx int
	Status   Status
	When     string // WhenOnSuccess (default), WhenManual, WhenDelayed, ...

	AllowFailure          bool
	AllowFailureExitCodes []int // allow_failure:exit_codes
	Needs                 []Need
	// Dependencies names the jobs whose artifacts this one downloads.
	Dependencies []string
	Retry        RetryPolicy
	Attempt      int  // 1 for the first run
	Retried      bool // replaced by a newer attempt
	Protected    bool // runs for a protected ref

	// Scheduling is how the job waits to run: SchedulingStage (for the jobs of the
	// earlier stages; the default) or SchedulingDAG (for its needs only, also for
	// `needs: []`), GitLab's scheduling_type.
	Scheduling string
	// StartIn is how long a `when: delayed` job waits once it may run (whole seconds;
	// ScheduledAt is then set from it).
	StartIn time.Duration

	TimeoutSeconds int      // 0: the runner's default
	Tags           []string // runner tags the job needs (each must be among a runner's)
	MachineType    string   // the machine type its tags select, "" for none
	GPUCount       int      // GPUs the job needs, resolved against its machine type
	GPURequest     machine.GPURequest

	// Payload is the runner-facing job (jobspec.Job as JSON) compiled at creation; the
	// coordinator fills in the runner- and token-specific parts when it hands it out.
	Payload json.RawMessage

	RunnerID    int64 // the runner that claimed it, 0 for none
	CreatedAt   time.Time
	QueuedAt    time.Time // when it last became pending
	StartedAt   time.Time // claimed
	FinishedAt  time.Time
	UpdatedAt   time.Time // last change or runner contact: the stuck-job reaper's clock
	ScheduledAt time.Time // when a delayed (scheduled) job becomes pending

	FailureReason string   // GitLab's failure_reason, e.g. script_failure
	ExitCode      *int     // the script's exit code, when the runner reported one
	Coverage      *float64 // percent parsed from the log
	// KilnMessage says in words why Kiln failed or held the job (quota, plan, GPU).
	KilnMessage  string
	GPUTelemetry json.RawMessage // the runner's GPU report, as sent
}

// Duration is the time from start to finish, or zero while unfinished.
func (j *Job) Duration() time.Duration {
	if j.StartedAt.IsZero() || j.FinishedAt.IsZero() {
		return 0
	}
	return j.FinishedAt.Sub(j.StartedAt)
}

// Scheduling types of a job (GitLab's scheduling_type).
const (
	SchedulingStage = "stage"
	SchedulingDAG   = "dag"
)

// Need is one entry of a job's `needs:`.
type Need struct {
	Name      string `json:"name"`
	Artifacts bool   `json:"artifacts"`
	Optional  bool   `json:"optional,omitempty"`
}

// RetryPolicy is a job's `retry:`.
type RetryPolicy struct {
	Max       int      `json:"max,omitempty"`        // 0–2
	When      []string `json:"when,omitempty"`       // failure reasons, e.g. runner_system_failure; empty: always
	ExitCodes []int    `json:"exit_codes,omitempty"` // retry only on these exit codes
}

// JobQuery filters ListJobs.
type JobQuery struct {
	PipelineID int64    // 0: any
	ProjectID  int64    // 0: any
	RunnerID   int64    // 0: any
	Statuses   []Status // empty: any
	// IncludeRetried keeps jobs replaced by a newer attempt (GitLab's include_retried).
	IncludeRetried bool
	// UpdatedBefore keeps jobs whose UpdatedAt is earlier (the stuck-job reaper).
	UpdatedBefore time.Time
	// ScheduledBefore keeps jobs whose ScheduledAt is set and earlier (delayed jobs due).
	ScheduledBefore time.Time
	// Newest lists by descending id; otherwise by ascending id.
	Newest bool
	// OmitPayload leaves each job's Payload nil: it is the largest column, and lists
	// that look only at statuses and definitions (pipeline processing) skip it.
	OmitPayload bool
	Page        Page
}

// PipelineState is a pipeline's status with its current jobs, read at one instant:
// what moving a pipeline on needs.
type PipelineState struct {
	// Status is the pipeline's; empty when the pipeline has no jobs or is missing.
	Status Status
	// Jobs are its current jobs (retried attempts left out) by ascending id, without
	// their payloads (as JobQuery.OmitPayload).
	Jobs []Job
}

// Claim orders: which pending job a runner gets first.
const (
	// ClaimFIFO hands out the oldest matching job (lowest id).
	ClaimFIFO = "fifo"
	// ClaimFairShare prefers the top-level namespace with the fewest running jobs,
	// then the oldest job: no namespace starves another.
	ClaimFairShare = "fair_share"
)

// NoGPULimit as ClaimRequest.MaxGPUs lets a runner take jobs needing any number of GPUs.
const NoGPULimit = -1

// ClaimRequest describes a runner asking for a job: what it may take and how to pick.
// The coordinator computes it from the runner and its policies (plans, quotas).
type ClaimRequest struct {
	RunnerID int64
	// Token is the job token to issue; the store keeps only its hash and the token is
	// valid while the job is running or canceling.
	Token string
	// Tags are the runner's tags: a job matches when each of its tags is among them.
	Tags []string
	// RunUntagged lets the runner take jobs without tags.
	RunUntagged bool
	// MachineTypes, when set, keeps jobs whose MachineType is one of them.
	MachineTypes []string
	// ProjectIDs, when set, keeps jobs of these projects (project and group runners).
	ProjectIDs []int64
	// ProtectedOnly keeps jobs for protected refs (a ref_protected runner).
	ProtectedOnly bool
	// Plans, when set, keeps jobs whose top-level namespace is on one of these plans.
	Plans []string
	// ExcludeRootNamespaces leaves out jobs of these top-level namespaces (e.g. quota spent).
	ExcludeRootNamespaces []int64
	// ExcludeJobs leaves out these jobs (ones the runner turned out not to fit).
	ExcludeJobs []int64
	// MaxGPUs leaves out jobs needing more GPUs; 0 takes only jobs without GPUs,
	// NoGPULimit takes any.
	MaxGPUs int
	// Order is ClaimFIFO (the default) or ClaimFairShare.
	Order string
}

// JobTransition is a compare-and-set of a job's status with what comes with it.
type JobTransition struct {
	// From lists the statuses the job must be in; the transition fails with
	// ErrConflict otherwise. Required.
	From []Status
	// To is the new status; it must not be running (only ClaimJob starts a job).
	To Status

	// Set for a finished job, when known.
	FailureReason string
	ExitCode      *int
	Coverage      *float64
	KilnMessage   string
	GPUTelemetry  json.RawMessage
	// ScheduledAt is when a job moving to scheduled becomes due.
	ScheduledAt time.Time
	// ChargeFactor, when positive, charges a started job that this transition
	// finishes in the same transaction: its duration in minutes times ChargeFactor
	// (its machine type's cost factor) is added to its top-level namespace's compute
	// usage of the month it finished in (as Usage.AddMinutes does). A job that never
	// started is not charged. ErrInvalid unless To is finished, or for a negative or
	// non-finite factor.
	ChargeFactor float64
}

// Jobs keeps jobs (created with their pipeline, Pipelines.CreatePipeline) and moves
// them through their states.
type Jobs interface {
	// Job returns the job with id, or ErrNotFound.
	Job(ctx context.Context, id int64) (*Job, error)
	// JobByToken returns the job a job token belongs to, without its payload,
	// comparing hashes in constant time. ErrNotFound unless the job is running or
	// canceling.
	JobByToken(ctx context.Context, token string) (*Job, error)
	// ListJobs returns matching jobs (see JobQuery for order).
	ListJobs(ctx context.Context, q JobQuery) ([]Job, error)
	// PipelineJobs returns a pipeline's state (its status and current jobs) read in
	// one statement. A pipeline without jobs, or a missing one, gives an empty state.
	PipelineJobs(ctx context.Context, pipelineID int64) (PipelineState, error)
	// CountJobs counts the jobs ListJobs would return for q over all pages (q.Page,
	// Newest and OmitPayload do not matter): all of them, or when upTo > 0 at most
	// upTo, so that counting a huge list stops early (a count of upTo means "upTo or
	// more").
	CountJobs(ctx context.Context, q JobQuery, upTo int) (int, error)

	// ClaimJob atomically moves one matching pending job to running for the runner
	// and returns it, with RunnerID, StartedAt and UpdatedAt set and the request's
	// token attached, and its pipeline as the claim found it (what the job's payload
	// needs, read with the claim; its status is the claim's snapshot, so a change of
	// the pipeline's status committed meanwhile may not show). Two concurrent claims,
	// from this process or another replica, never get the same job. ErrNotFound when
	// no pending job matches; ErrInvalid for a request without runner or token, or an
	// unknown order.
	ClaimJob(ctx context.Context, req ClaimRequest) (*Job, *Pipeline, error)
	// TransitionJob moves a job from one of t.From to t.To and returns it without its
	// payload (which no transition changes; Job reads it). UpdatedAt becomes now;
	// pending sets QueuedAt and clears RunnerID and StartedAt (the job waits for a
	// runner again); scheduled sets ScheduledAt; a finished
	// status sets FinishedAt and the outcome fields; leaving running and canceling
	// revokes the job token. ErrNotFound; ErrConflict when the job is in another
	// status (someone else moved it first); ErrInvalid for a bad transition.
	TransitionJob(ctx context.Context, id int64, t JobTransition) (*Job, error)
	// TouchJob records runner contact: UpdatedAt becomes now. ErrNotFound;
	// ErrConflict unless the job is running or canceling.
	TouchJob(ctx context.Context, id int64) error
	// RetryJob replaces a finished job with a new attempt in status (created,
	// pending, manual or scheduled) and returns the new job: same pipeline and
	// definition, Attempt + 1; the old job gets Retried. ErrNotFound; ErrConflict when
	// the job is unfinished or already retried.
	RetryJob(ctx context.Context, id int64, status Status) (*Job, error)
}
