package entity

import (
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// Job is GitLab's Ci::Job, with Kiln's machine type, GPU count, message and GPU
// telemetry.
type Job struct {
	ID                int64          `json:"id"`
	Status            string         `json:"status"`
	Stage             string         `json:"stage"`
	Name              string         `json:"name"`
	Ref               string         `json:"ref"`
	Tag               bool           `json:"tag"`
	Coverage          *float64       `json:"coverage"`
	AllowFailure      bool           `json:"allow_failure"`
	CreatedAt         time.Time      `json:"created_at"`
	StartedAt         *time.Time     `json:"started_at"`
	FinishedAt        *time.Time     `json:"finished_at"`
	ErasedAt          *time.Time     `json:"erased_at"`
	Duration          *float64       `json:"duration"`
	QueuedDuration    *float64       `json:"queued_duration"`
	User              *UserBasic     `json:"user"`
	Commit            Commit         `json:"commit"`
	Pipeline          PipelineBasic  `json:"pipeline"`
	WebURL            string         `json:"web_url"`
	Artifacts         []JobArtifact  `json:"artifacts"`
	ArtifactsFile     *ArtifactsFile `json:"artifacts_file,omitempty"`
	ArtifactsExpireAt *time.Time     `json:"artifacts_expire_at"`
	Runner            *Runner        `json:"runner"`
	TagList           []string       `json:"tag_list"`
	Archived          bool           `json:"archived"`
	// FailureReason is GitLab's failure_reason, set on failed jobs.
	FailureReason string `json:"failure_reason,omitempty"`
	// When is the job's when: (manual, delayed, ...); ScheduledAt a delayed job's time.
	When        string     `json:"when,omitempty"`
	ScheduledAt *time.Time `json:"scheduled_at,omitempty"`
	// Attempt counts retries: 1 for the first run.
	Attempt int `json:"attempt,omitempty"`
	// Kiln's: the machine type the job's tags select, the GPUs it needs, why Kiln
	// failed or held it (quota, plan, GPUs), and the runner's GPU report.
	MachineType  string          `json:"machine_type,omitempty"`
	GPUCount     int             `json:"gpu_count,omitempty"`
	KilnMessage  string          `json:"kiln_message,omitempty"`
	GPUTelemetry json.RawMessage `json:"gpu_telemetry,omitempty"`
}

// JobArtifact is one file of a job's artifacts.
type JobArtifact struct {
	FileType   string     `json:"file_type"`
	Size       int64      `json:"size"`
	Filename   string     `json:"filename"`
	FileFormat string     `json:"file_format"`
	ExpireAt   *time.Time `json:"expire_at,omitempty"`
}

// ArtifactsFile is the job's artifacts archive.
type ArtifactsFile struct {
	Filename string `json:"filename"`
	Size     int64  `json:"size"`
}

// Runner is GitLab's Ci::Runner (what lists show), with the machine type it serves.
type Runner struct {
	ID          int64  `json:"id"`
	Description string `json:"description"`
	IPAddress   string `json:"ip_address"`
	Active      bool   `json:"active"`
	Paused      bool   `json:"paused"`
	IsShared    bool   `json:"is_shared"`
	RunnerType  string `json:"runner_type"`
	Name        string `json:"name"`
	Online      bool   `json:"online"`
	// Status is online, offline, stale or never_contacted.
	Status string `json:"status"`
	// MachineType is Kiln's: the machine type the runner serves, "" for a
	// self-managed runner.
	MachineType string `json:"machine_type,omitempty"`
}

// RunnerDetails is GitLab's Ci::RunnerDetails, with the runner's GPU inventory.
type RunnerDetails struct {
	Runner
	TagList        []string   `json:"tag_list"`
	RunUntagged    bool       `json:"run_untagged"`
	Locked         bool       `json:"locked"`
	MaximumTimeout *int       `json:"maximum_timeout"`
	AccessLevel    string     `json:"access_level"`
	Version        string     `json:"version"`
	Revision       string     `json:"revision"`
	Platform       string     `json:"platform"`
	Architecture   string     `json:"architecture"`
	Executor       string     `json:"executor,omitempty"`
	ContactedAt    *time.Time `json:"contacted_at"`
	CreatedAt      time.Time  `json:"created_at"`
	// GPUInventory is Kiln's: the GPUs the runner last advertised, as it sent them.
	GPUInventory json.RawMessage `json:"gpu_inventory,omitempty"`
}

// RunnerCreated answers POST /user/runners: the token is shown once.
type RunnerCreated struct {
	ID             int64      `json:"id"`
	Token          string     `json:"token"`
	TokenExpiresAt *time.Time `json:"token_expires_at"`
}

// Lint is GitLab's Ci::Lint::Result.
type Lint struct {
	Valid      bool          `json:"valid"`
	Errors     []string      `json:"errors"`
	Warnings   []string      `json:"warnings"`
	MergedYAML string        `json:"merged_yaml"`
	Includes   []LintInclude `json:"includes"`
	// Jobs lists the jobs with include_jobs=true.
	Jobs []LintJob `json:"jobs,omitempty"`
}

// LintInclude is one file the configuration read.
type LintInclude struct {
	Type     string `json:"type"`
	Location string `json:"location"`
}

// LintJob is one job of a linted configuration.
type LintJob struct {
	Name  string `json:"name"`
	Stage string `json:"stage"`
}

// Version answers GET /version.
type Version struct {
	Version    string `json:"version"`
	Revision   string `json:"revision"`
	Enterprise bool   `json:"enterprise"`
}

// MachineType is Kiln's: one machine type of the catalog (GET /machine_types).
type MachineType struct {
	Tag         string   `json:"tag"`
	Description string   `json:"description,omitempty"`
	VCPU        int      `json:"vcpu"`
	MemoryBytes uint64   `json:"memory_bytes"`
	DiskBytes   uint64   `json:"disk_bytes"`
	GPU         GPU      `json:"gpu"`
	CostFactor  float64  `json:"cost_factor"`
	Plans       []string `json:"plans"`
	Untagged    bool     `json:"untagged"`
	// MaxTimeoutSeconds caps a job's timeout on the type; 0 for no cap.
	MaxTimeoutSeconds int `json:"max_timeout_seconds"`
}

// GPU is what a machine type gives a job in GPUs.
type GPU struct {
	Count          int    `json:"count"`
	Model          string `json:"model,omitempty"`
	MemoryMinBytes uint64 `json:"memory_min_bytes,omitempty"`
	MemoryLabel    string `json:"memory_label,omitempty"`
	MIGProfile     string `json:"mig_profile,omitempty"`
}

// ComputeUsage is Kiln's: a namespace's compute minutes this month
// (GET /namespaces/:id/compute_usage), counted on its top-level namespace.
type ComputeUsage struct {
	NamespaceID       int64  `json:"namespace_id"`
	RootNamespaceID   int64  `json:"root_namespace_id"`
	RootNamespacePath string `json:"root_namespace_full_path"`
	Month             string `json:"month"`
	Plan              string `json:"plan"`
	// Quota is the month's quota in minutes; null for an unlimited plan.
	Quota       *float64 `json:"quota"`
	Used        float64  `json:"used"`
	Left        *float64 `json:"left"`
	PercentLeft float64  `json:"percent_left"`
	// WarningLevel is the lowest "percent left" level reached (25, 5 or 0), or null.
	WarningLevel *int `json:"warning_level"`
	Exceeded     bool `json:"exceeded"`
	// Warning is what a person should read, "" when all is well.
	Warning string `json:"warning,omitempty"`
}

// joinFieldErrors reads GitLab's {"field": ["problem", ...]} as
// "field problem; other problem".
func joinFieldErrors(fields map[string][]string) string {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		for _, p := range fields[k] {
			if k == "base" {
				parts = append(parts, p)
			} else {
				parts = append(parts, k+" "+p)
			}
		}
	}
	return strings.Join(parts, "; ")
}
