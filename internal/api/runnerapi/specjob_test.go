package runnerapi_test

import (
	"bytes"
	"encoding/json"
	"errors"
)

// specJob mirrors gitlab-runner's spec.Job (common/spec/spec.go at 19.4.0, as
// runner-protocol.md §3.3 lists it) with the same JSON names and Go types, so that
// decoding a 201 body into it fails where the real runner's decoding would: an id
// that is not a number, a pull_policy that is not an array, a run that is null or
// empty. Unknown fields are ignored, as the runner ignores them.
type specJob struct {
	ID            int64              `json:"id"`
	Token         string             `json:"token"`
	AllowGitFetch bool               `json:"allow_git_fetch"`
	JobInfo       specJobInfo        `json:"job_info"`
	GitInfo       specGitInfo        `json:"git_info"`
	RunnerInfo    specRunnerInfo     `json:"runner_info"`
	Inputs        []specInput        `json:"inputs"`
	Variables     []specVariable     `json:"variables"`
	Steps         []specStep         `json:"steps"`
	Image         specImage          `json:"image"`
	Services      []specImage        `json:"services"`
	Artifacts     []specArtifact     `json:"artifacts"`
	Cache         []specCache        `json:"cache"`
	Credentials   []specCredentials  `json:"credentials"`
	Dependencies  []specDependency   `json:"dependencies"`
	Features      specFeatures       `json:"features"`
	Secrets       map[string]any     `json:"secrets,omitempty"`
	Hooks         []specHook         `json:"hooks,omitempty"`
	Run           runSteps           `json:"run,omitempty"`
	PolicyOptions specPolicyOptions  `json:"policy_options"`
	Suspend       specSuspendOptions `json:"suspend_options"`
}

type specJobInfo struct {
	Name                                   string  `json:"name"`
	Stage                                  string  `json:"stage"`
	PipelineID                             int64   `json:"pipeline_id"`
	ProjectID                              int64   `json:"project_id"`
	ProjectName                            string  `json:"project_name"`
	ProjectFullPath                        string  `json:"project_full_path"`
	NamespaceID                            int64   `json:"namespace_id"`
	RootNamespaceID                        int64   `json:"root_namespace_id"`
	OrganizationID                         int64   `json:"organization_id"`
	InstanceID                             string  `json:"instance_id"`
	InstanceUUID                           string  `json:"instance_uuid"`
	UserID                                 int64   `json:"user_id"`
	ScopedUserID                           *int64  `json:"scoped_user_id,omitempty"`
	TimeInQueueSeconds                     float64 `json:"time_in_queue_seconds"`
	ProjectJobsRunningOnInstanceRunnersCnt string  `json:"project_jobs_running_on_instance_runners_count"`
	QueueSize                              int64   `json:"queue_size"`
	QueueDepth                             int64   `json:"queue_depth"`
}

type specGitInfo struct {
	RepoURL          string   `json:"repo_url"`
	RepoObjectFormat string   `json:"repo_object_format"`
	Ref              string   `json:"ref"`
	Sha              string   `json:"sha"`
	BeforeSha        string   `json:"before_sha"`
	RefType          string   `json:"ref_type"`
	Refspecs         []string `json:"refspecs"`
	Depth            int      `json:"depth"`
	Protected        *bool    `json:"protected"`
}

type specRunnerInfo struct {
	UUID    string `json:"uuid"`
	Timeout int    `json:"timeout"`
}

type specInput struct {
	Key   string `json:"key"`
	Value struct {
		Type      string `json:"type"`
		Content   any    `json:"content"`
		Sensitive bool   `json:"sensitive"`
	} `json:"value"`
}

type specVariable struct {
	Key    string `json:"key"`
	Value  string `json:"value"`
	Public bool   `json:"public"`
	Masked bool   `json:"masked"`
	File   bool   `json:"file"`
	Raw    bool   `json:"raw"`
}

type specStep struct {
	Name         string   `json:"name"`
	Script       []string `json:"script"`
	Timeout      int      `json:"timeout"`
	When         string   `json:"when"`
	AllowFailure bool     `json:"allow_failure"`
}

type specImage struct {
	Name       string         `json:"name"`
	Alias      string         `json:"alias"`
	Command    []string       `json:"command"`
	Entrypoint []string       `json:"entrypoint"`
	Ports      []specPort     `json:"ports"`
	Variables  []specVariable `json:"variables"`
	PullPolicy []string       `json:"pull_policy"`
	ExecOpts   struct {
		Docker struct {
			Platform string `json:"platform"`
			User     string `json:"user"`
		} `json:"docker"`
		Kubernetes struct {
			User string `json:"user"`
		} `json:"kubernetes"`
	} `json:"executor_opts"`
}

type specPort struct {
	Number   int    `json:"number"`
	Protocol string `json:"protocol"`
	Name     string `json:"name"`
}

type specArtifact struct {
	Name      string   `json:"name"`
	Untracked bool     `json:"untracked"`
	Paths     []string `json:"paths"`
	Exclude   []string `json:"exclude"`
	When      string   `json:"when"`
	Type      string   `json:"artifact_type"`
	Format    string   `json:"artifact_format"`
	ExpireIn  string   `json:"expire_in"`
}

type specCache struct {
	Key          string   `json:"key"`
	Untracked    bool     `json:"untracked"`
	Policy       string   `json:"policy"`
	Paths        []string `json:"paths"`
	When         string   `json:"when"`
	FallbackKeys []string `json:"fallback_keys"`
}

type specCredentials struct {
	Type     string `json:"type"`
	URL      string `json:"url"`
	Username string `json:"username"`
	Password string `json:"password"`
}

type specDependency struct {
	ID            int64  `json:"id"`
	Token         string `json:"token"`
	Name          string `json:"name"`
	ArtifactsFile struct {
		Filename string `json:"filename"`
		Size     int64  `json:"size"`
	} `json:"artifacts_file"`
}

type specFeatures struct {
	TraceSections     bool     `json:"trace_sections"`
	TokenMaskPrefixes []string `json:"token_mask_prefixes"`
	FailureReasons    []string `json:"failure_reasons"`
}

type specHook struct {
	Name   string   `json:"name"`
	Script []string `json:"script"`
}

type specPolicyOptions struct {
	PolicyJob               bool     `json:"execution_policy_job"`
	Name                    string   `json:"policy_name"`
	VariablesOverride       bool     `json:"policy_variables_override_allowed"`
	VariablesOverrideExcept []string `json:"policy_variables_override_exceptions"`
}

type specSuspendOptions struct {
	OnSuccess bool   `json:"suspend_on_success"`
	OnFailure bool   `json:"suspend_on_failure"`
	EnvKey    string `json:"runtime_environment_key"`
}

// runSteps is spec.Job's run: a JSON string holding a JSON array of steps. Like the
// runner's, its decoding fails on null and on "" (unexpected end of JSON input).
type runSteps string

func (r *runSteps) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		return errors.New(`run: null: unexpected end of JSON input`)
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	var steps []any
	if err := json.Unmarshal([]byte(s), &steps); err != nil {
		return err
	}
	*r = runSteps(s)
	return nil
}

func (j specJob) variable(key string) (specVariable, bool) {
	for i := len(j.Variables) - 1; i >= 0; i-- {
		if j.Variables[i].Key == key {
			return j.Variables[i], true
		}
	}
	return specVariable{}, false
}
