// Package protocol is GitLab's runner API as the real gitlab-runner speaks it
// (../shared/docs/runner-protocol.md): the wire types shared by Kiln's runner (the client
// in this package) and Kiln's coordinator (the handlers in internal/api), and the header
// names and values both sides must agree on.
//
// Kiln-only facts (GPU inventory, health, telemetry) travel as additive, omitempty fields
// that GitLab ignores. This package imports neither side.
package protocol

import (
	"time"

	"github.com/kiln-ci/kiln/internal/jobspec"
)

// Header names (HTTP header names are case-insensitive; Go canonicalises them).
const (
	HeaderRunnerToken         = "Runner-Token"
	HeaderJobToken            = "Job-Token"
	HeaderPrivateToken        = "Private-Token"
	HeaderJobStatus           = "Job-Status"
	HeaderLastUpdate          = "X-Gitlab-Last-Update"
	HeaderTraceUpdateInterval = "X-Gitlab-Trace-Update-Interval"
	HeaderRequestID           = "X-Request-Id"
	HeaderContentRange        = "Content-Range"
	HeaderRange               = "Range"
)

// Job states on the wire. A runner sends only Running, Success and Failed; a server
// answers with any of them in the Job-Status header.
const (
	StateRunning   = "running"
	StateSuccess   = "success"
	StateFailed    = "failed"
	StateCanceling = "canceling"
	StateCanceled  = "canceled"
)

// Failure reasons a runner reports (GitLab's words).
const (
	FailureScript              = "script_failure"
	FailureRunnerSystem        = "runner_system_failure"
	FailureJobExecutionTimeout = "job_execution_timeout"
	FailureImagePull           = "image_pull_failure"
	FailureConfiguration       = "runner_configuration_error"
	FailureExternalDependency  = "runner_external_dependency_failure"
	FailureRunnerInterrupted   = "runner_interrupted"
	FailureUnknown             = "unknown_failure"
	FailureJobCanceled         = "job_canceled"
	FailureStuckOrTimeout      = "stuck_or_timeout_failure"
	FailureAPI                 = "api_failure"
	FailureOutOfMemory         = "out_of_memory"          // Kiln: the job hit its memory limit
	FailureQuotaExceeded       = "ci_quota_exceeded"      // GitLab's reason for a spent compute quota
	FailureNoMatchingRunner    = "no_matching_runner"     // GitLab's reason when no runner could take it
	FailureGPUFault            = "kiln_gpu_fault"         // Kiln: a GPU failed its health gate or scrub
	FailureGPUUnavailable      = "kiln_gpu_unavailable"   // Kiln: no GPU could satisfy the request
	FailureCUDAIncompatible    = "kiln_cuda_incompatible" // Kiln: the image needs a newer CUDA than the driver
	FailurePlanNotAllowed      = "kiln_plan_not_allowed"  // Kiln: the machine type is not open to the plan
)

// ArtifactTypeGPUTelemetry is the artifact_type of a Kiln runner's per-job GPU report
// (gpu-telemetry.json, format raw). A coordinator that does not know it (GitLab)
// refuses the upload; the runner then only warns.
const ArtifactTypeGPUTelemetry = "kiln_gpu_telemetry"

// FeaturesInfo is what a runner says it can do (runner-protocol.md §3.1).
type FeaturesInfo struct {
	Variables               bool `json:"variables"`
	Image                   bool `json:"image"`
	Services                bool `json:"services"`
	Artifacts               bool `json:"artifacts"`
	Cache                   bool `json:"cache"`
	FallbackCacheKeys       bool `json:"fallback_cache_keys"`
	Shared                  bool `json:"shared"`
	UploadMultipleArtifacts bool `json:"upload_multiple_artifacts"`
	UploadRawArtifacts      bool `json:"upload_raw_artifacts"`
	Session                 bool `json:"session"`
	Terminal                bool `json:"terminal"`
	Refspecs                bool `json:"refspecs"`
	Masking                 bool `json:"masking"`
	Proxy                   bool `json:"proxy"`
	RawVariables            bool `json:"raw_variables"`
	ArtifactsExclude        bool `json:"artifacts_exclude"`
	MultiBuildSteps         bool `json:"multi_build_steps"`
	TraceReset              bool `json:"trace_reset"`
	TraceChecksum           bool `json:"trace_checksum"`
	TraceSize               bool `json:"trace_size"`
	VaultSecrets            bool `json:"vault_secrets"`
	Cancelable              bool `json:"cancelable"`
	ReturnExitCode          bool `json:"return_exit_code"`
	ServiceVariables        bool `json:"service_variables"`
	ServiceMultipleAliases  bool `json:"service_multiple_aliases"`
	ImageExecutorOpts       bool `json:"image_executor_opts"`
	ServiceExecutorOpts     bool `json:"service_executor_opts"`
	CancelGracefully        bool `json:"cancel_gracefully"`
	NativeStepsIntegration  bool `json:"native_steps_integration"`
	TwoPhaseJobCommit       bool `json:"two_phase_job_commit"`
	JobInputs               bool `json:"job_inputs"`
}

// ConfigInfo is the runner's configuration summary.
type ConfigInfo struct {
	GPUs string `json:"gpus"`
}

// Info describes a runner. Kiln adds GPU inventory as an optional field.
type Info struct {
	Name         string            `json:"name,omitempty"`
	Version      string            `json:"version,omitempty"`
	Revision     string            `json:"revision,omitempty"`
	Platform     string            `json:"platform,omitempty"`
	Architecture string            `json:"architecture,omitempty"`
	Executor     string            `json:"executor,omitempty"`
	Shell        string            `json:"shell,omitempty"`
	Features     FeaturesInfo      `json:"features"`
	Config       *ConfigInfo       `json:"config,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"`

	// Kiln is absent when the runner is gitlab-runner.
	Kiln *KilnInfo `json:"kiln,omitempty"`
}

// KilnInfo is what a Kiln runner adds to Info: its machine type and GPUs.
type KilnInfo struct {
	MachineType string    `json:"machine_type,omitempty"`
	GPUs        []GPUInfo `json:"gpus,omitempty"`
	// FreeGPUs is how many GPUs (or MIG slices) are healthy and unleased now.
	FreeGPUs int `json:"free_gpus"`
}

// GPUInfo is one allocatable GPU or MIG slice as a runner advertises it.
type GPUInfo struct {
	UUID              string  `json:"uuid"`
	Model             string  `json:"model"`
	MemoryBytes       uint64  `json:"memory_bytes"`
	ComputeCapability string  `json:"compute_capability,omitempty"`
	CUDAVersion       string  `json:"cuda_version,omitempty"`
	DriverVersion     string  `json:"driver_version,omitempty"`
	MIG               bool    `json:"mig,omitempty"`
	Healthy           bool    `json:"healthy"`
	Leased            bool    `json:"leased"`
	HealthReason      string  `json:"health_reason,omitempty"`
	LeasedByJob       int64   `json:"leased_by_job,omitempty"`
	UtilizationPct    float64 `json:"utilization_pct,omitempty"`
}

// RegisterRunnerRequest is the body of POST /api/v4/runners (legacy registration).
type RegisterRunnerRequest struct {
	Description     string `json:"description,omitempty"`
	MaintenanceNote string `json:"maintenance_note,omitempty"`
	Tags            string `json:"tag_list,omitempty"` // comma-joined
	RunUntagged     bool   `json:"run_untagged"`
	Locked          bool   `json:"locked"`
	AccessLevel     string `json:"access_level,omitempty"`
	MaximumTimeout  int    `json:"maximum_timeout,omitempty"`
	Paused          bool   `json:"paused"`
	Info            Info   `json:"info"`
	Token           string `json:"token"`
}

// RegisterRunnerResponse answers POST /api/v4/runners (201).
type RegisterRunnerResponse struct {
	ID             int64      `json:"id"`
	Token          string     `json:"token"`
	TokenExpiresAt *time.Time `json:"token_expires_at"`
}

// VerifyRunnerRequest is the body of POST /api/v4/runners/verify.
type VerifyRunnerRequest struct {
	Info     Info   `json:"info"`
	Token    string `json:"token"`
	SystemID string `json:"system_id,omitempty"`
}

// VerifyRunnerResponse answers POST /api/v4/runners/verify (200). ID must not be 0.
type VerifyRunnerResponse = RegisterRunnerResponse

// UnregisterRunnerRequest is the body of DELETE /api/v4/runners and
// DELETE /api/v4/runners/managers (the latter with SystemID).
type UnregisterRunnerRequest struct {
	Token    string `json:"token"`
	SystemID string `json:"system_id,omitempty"`
}

// SessionInfo is the interactive session a runner offers (unused by Kiln).
type SessionInfo struct {
	URL           string `json:"url,omitempty"`
	Certificate   string `json:"certificate,omitempty"`
	Authorization string `json:"authorization,omitempty"`
}

// JobRequest is the body of POST /api/v4/jobs/request.
type JobRequest struct {
	Info       Info         `json:"info"`
	Token      string       `json:"token,omitempty"`
	SystemID   string       `json:"system_id,omitempty"`
	LastUpdate string       `json:"last_update,omitempty"`
	Session    *SessionInfo `json:"session,omitempty"`
}

// JobResponse is the 201 body of POST /api/v4/jobs/request.
type JobResponse = jobspec.Job

// JobTraceOutput summarises the trace in a job update.
type JobTraceOutput struct {
	Checksum string `json:"checksum,omitempty"` // "crc32:%08x" of the whole trace
	Bytesize int64  `json:"bytesize,omitempty"`
}

// UpdateJobRequest is the body of PUT /api/v4/jobs/:id.
type UpdateJobRequest struct {
	Info          Info           `json:"info"`
	Token         string         `json:"token"`
	State         string         `json:"state"`
	FailureReason string         `json:"failure_reason,omitempty"`
	Checksum      string         `json:"checksum,omitempty"`
	Output        JobTraceOutput `json:"output"`
	ExitCode      int            `json:"exit_code,omitempty"`

	// Kiln is absent when the runner is gitlab-runner.
	Kiln *KilnJobReport `json:"kiln,omitempty"`
}

// KilnJobReport is what a Kiln runner adds to its final job update.
type KilnJobReport struct {
	// Message explains a failure in words a user understands.
	Message string `json:"message,omitempty"`
	// Requeue asks the coordinator to put the job back in the queue without charging it
	// (e.g. the leased GPU failed its health gate before anything ran).
	Requeue bool `json:"requeue,omitempty"`
	// GPUs are the UUIDs the job ran on; Telemetry their per-job figures.
	GPUs      []string       `json:"gpus,omitempty"`
	Telemetry []GPUTelemetry `json:"telemetry,omitempty"`
}

// GPUTelemetry summarises one GPU over one job.
type GPUTelemetry struct {
	UUID               string  `json:"uuid"`
	PeakMemoryBytes    uint64  `json:"peak_memory_bytes"`
	MeanUtilizationPct float64 `json:"mean_utilization_pct"`
	EnergyJoules       float64 `json:"energy_joules"`
	PeakTemperatureC   float64 `json:"peak_temperature_c"`
	MeanPowerWatts     float64 `json:"mean_power_watts"`
	Samples            int     `json:"samples"`
}

// ResetTokenResponse answers POST /api/v4/runners/reset_authentication_token (201).
type ResetTokenResponse struct {
	Token          string     `json:"token"`
	TokenExpiresAt *time.Time `json:"token_expires_at"`
}
