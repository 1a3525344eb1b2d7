// Package jobspec is the job payload that a coordinator hands a runner: GitLab's
// `POST /api/v4/jobs/request` 201 body (`spec.Job` in gitlab-runner), field for field,
// with GitLab's JSON names and types.
//
// Both sides use it: internal/ci fills in what a .gitlab-ci.yml decides, the coordinator
// adds what only a server knows (ids, tokens, URLs, predefined variables), and the runner
// executes it. It is data only and imports nothing but the standard library, so any
// package may import it.
//
// Decoding traps from runner-protocol.md that these types respect: `id` is a number;
// `image.pull_policy` is an array; `run` is omitted rather than null; unknown fields
// are ignored by the real runner, so Kiln-only facts travel as additive, omitempty fields.
package jobspec

import "encoding/json"

// Job is one job as a runner receives it.
type Job struct {
	ID            int64          `json:"id"`
	Token         string         `json:"token"`
	AllowGitFetch bool           `json:"allow_git_fetch"`
	JobInfo       JobInfo        `json:"job_info"`
	GitInfo       GitInfo        `json:"git_info"`
	RunnerInfo    RunnerInfo     `json:"runner_info"`
	Variables     Variables      `json:"variables"`
	Steps         []Step         `json:"steps"`
	Image         Image          `json:"image"`
	Services      []Image        `json:"services"`
	Artifacts     []Artifact     `json:"artifacts"`
	Cache         []Cache        `json:"cache"`
	Credentials   []Credentials  `json:"credentials"`
	Dependencies  []Dependency   `json:"dependencies"`
	Features      GitlabFeatures `json:"features"`
	Hooks         []Hook         `json:"hooks,omitempty"`
	// Kiln is what a Kiln coordinator adds for a Kiln runner; GitLab's runner ignores
	// it, and it is absent in jobs from GitLab.
	Kiln *KilnJob `json:"kiln,omitempty"`
}

// KilnJob is a Kiln coordinator's addition to a job: the machine type it matched the
// job to and the job's GPU request as it resolved it.
type KilnJob struct {
	MachineType string `json:"machine_type,omitempty"`
	// GPU is the resolved GPU request in machine.GPURequest's JSON shape (count, model,
	// memory_min_bytes, compute_capability_min, cuda_min); absent without GPUs.
	GPU json.RawMessage `json:"gpu,omitempty"`
}

// JobInfo describes the job and where it comes from.
type JobInfo struct {
	Name               string  `json:"name"`
	Stage              string  `json:"stage"`
	PipelineID         int64   `json:"pipeline_id"`
	ProjectID          int64   `json:"project_id"`
	ProjectName        string  `json:"project_name"`
	ProjectFullPath    string  `json:"project_full_path,omitempty"`
	NamespaceID        int64   `json:"namespace_id,omitempty"`
	RootNamespaceID    int64   `json:"root_namespace_id,omitempty"`
	UserID             int64   `json:"user_id,omitempty"`
	TimeInQueueSeconds float64 `json:"time_in_queue_seconds,omitempty"`
}

// Ref types of GitInfo.RefType.
const (
	RefTypeBranch = "branch"
	RefTypeTag    = "tag"
)

// GitInfo says where the sources come from.
type GitInfo struct {
	RepoURL          string   `json:"repo_url"`
	RepoObjectFormat string   `json:"repo_object_format,omitempty"`
	Ref              string   `json:"ref"`
	Sha              string   `json:"sha"`
	BeforeSha        string   `json:"before_sha"`
	RefType          string   `json:"ref_type"`
	Refspecs         []string `json:"refspecs"`
	Depth            int      `json:"depth"`
	Protected        *bool    `json:"protected,omitempty"`
}

// RunnerInfo carries the job timeout in seconds (≤ 0 means 7200, as in gitlab-runner).
type RunnerInfo struct {
	Timeout int `json:"timeout"`
}

// DefaultTimeoutSeconds is gitlab-runner's timeout when RunnerInfo.Timeout ≤ 0.
const DefaultTimeoutSeconds = 7200

// TimeoutSeconds returns the effective job timeout in seconds.
func (r RunnerInfo) TimeoutSeconds() int {
	if r.Timeout <= 0 {
		return DefaultTimeoutSeconds
	}
	return r.Timeout
}

// Step names that the runner knows.
const (
	StepScript      = "script"
	StepAfterScript = "after_script"
	StepRelease     = "release"
)

// Step conditions.
const (
	WhenOnSuccess = "on_success"
	WhenOnFailure = "on_failure"
	WhenAlways    = "always"
)

// Step is one script section. Timeout and AllowFailure are ignored by gitlab-runner
// (the job uses RunnerInfo.Timeout; the server applies allow_failure) and kept for shape.
type Step struct {
	Name         string   `json:"name"`
	Script       []string `json:"script"`
	Timeout      int      `json:"timeout"`
	When         string   `json:"when"`
	AllowFailure bool     `json:"allow_failure"`
}

// Image is a job image or, as an element of Job.Services, a service.
type Image struct {
	Name         string        `json:"name,omitempty"`
	Alias        string        `json:"alias,omitempty"`
	Command      []string      `json:"command,omitempty"`
	Entrypoint   []string      `json:"entrypoint,omitempty"`
	Ports        []Port        `json:"ports,omitempty"`
	Variables    Variables     `json:"variables,omitempty"`
	PullPolicy   []string      `json:"pull_policy,omitempty"`
	ExecutorOpts *ExecutorOpts `json:"executor_opts,omitempty"`
}

// Pull policies (GitLab's words).
const (
	PullAlways       = "always"
	PullIfNotPresent = "if-not-present"
	PullNever        = "never"
)

// Port is an exposed port of an image.
type Port struct {
	Number   int    `json:"number"`
	Protocol string `json:"protocol,omitempty"`
	Name     string `json:"name,omitempty"`
}

// ExecutorOpts are executor-specific image options.
type ExecutorOpts struct {
	Docker     *DockerOpts     `json:"docker,omitempty"`
	Kubernetes *KubernetesOpts `json:"kubernetes,omitempty"`
}

// DockerOpts are image options for the Docker executor.
type DockerOpts struct {
	Platform string `json:"platform,omitempty"`
	User     string `json:"user,omitempty"`
}

// KubernetesOpts are image options for the Kubernetes executor.
type KubernetesOpts struct {
	User string `json:"user,omitempty"`
}

// Artifact types and formats.
const (
	ArtifactTypeArchive = "archive"
	ArtifactTypeDotenv  = "dotenv"
	ArtifactTypeJUnit   = "junit"
	ArtifactFormatZip   = "zip"
	ArtifactFormatGzip  = "gzip"
	ArtifactFormatRaw   = "raw"
)

// Artifact is one archive (or report) a job uploads.
type Artifact struct {
	Name           string   `json:"name"`
	Untracked      bool     `json:"untracked"`
	Paths          []string `json:"paths"`
	Exclude        []string `json:"exclude,omitempty"`
	When           string   `json:"when"`
	ArtifactType   string   `json:"artifact_type"`
	ArtifactFormat string   `json:"artifact_format"`
	ExpireIn       string   `json:"expire_in,omitempty"`
}

// Cache policies.
const (
	CachePullPush = "pull-push"
	CachePull     = "pull"
	CachePush     = "push"
)

// Cache is one cache entry of a job.
type Cache struct {
	Key          string   `json:"key"`
	Untracked    bool     `json:"untracked"`
	Policy       string   `json:"policy"`
	Paths        []string `json:"paths"`
	When         string   `json:"when"`
	FallbackKeys []string `json:"fallback_keys,omitempty"`
}

// Credentials for a registry (Docker executor only).
type Credentials struct {
	Type     string `json:"type"`
	URL      string `json:"url"`
	Username string `json:"username"`
	Password string `json:"password"`
}

// Dependency is a job whose artifacts this job downloads, with that job's own token.
type Dependency struct {
	ID            int64          `json:"id"`
	Token         string         `json:"token"`
	Name          string         `json:"name"`
	ArtifactsFile *ArtifactsFile `json:"artifacts_file,omitempty"`
}

// ArtifactsFile names a dependency's archive; the runner downloads it only when
// Filename is not empty.
type ArtifactsFile struct {
	Filename string `json:"filename"`
	Size     int64  `json:"size"`
}

// GitlabFeatures are server features the runner may use.
type GitlabFeatures struct {
	TraceSections     bool     `json:"trace_sections"`
	TokenMaskPrefixes []string `json:"token_mask_prefixes,omitempty"`
	FailureReasons    []string `json:"failure_reasons,omitempty"`
}

// Hook is a script run around get_sources.
type Hook struct {
	Name   string   `json:"name"`
	Script []string `json:"script"`
}
