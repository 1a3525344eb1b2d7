// Package payload completes a compiled job into what a runner receives when it claims
// it (the 201 body of POST /jobs/request, runner-protocol.md §3.3): the job's id and
// fresh token, git_info with the token in the repository URL and GitLab's refspecs,
// runner_info.timeout, job_info, the dependencies whose artifacts it downloads (with
// the token that may download them), the pipeline's and job's predefined variables,
// the variables of its dependencies' dotenv reports, the failure reasons the server
// accepts, and Kiln's own addition (kiln: the machine type and the resolved GPU
// request), which GitLab's runner ignores. It is pure: the coordinator fetches what it needs and calls Build.
// Only internal/coordinator imports it.
package payload

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kiln-ci/kiln/internal/coordinator/predefined"
	"github.com/kiln-ci/kiln/internal/dotenv"
	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/store"
)

// Dependency is one job whose artifacts the claimed job downloads.
type Dependency struct {
	Job *store.Job
	// Archive is its archive artifact, nil when it uploaded none (the runner then
	// skips it).
	Archive *store.Artifact
	// Dotenv holds the variables of its dotenv report, if it uploaded one.
	Dotenv []dotenv.Variable
}

// Input is everything Build needs.
type Input struct {
	Server   predefined.Server
	Job      *store.Job // claimed: ID, StartedAt and RunnerID set
	Token    string     // the job token just issued
	Pipeline *store.Pipeline
	Project  *store.Project
	Runner   *store.Runner
	// Dependencies in the order the job lists them.
	Dependencies []Dependency
	// SettingKeys are the keys of the instance, group, project and pipeline variables
	// the job has: they keep precedence over dotenv variables, as in GitLab.
	SettingKeys []string
	// TimeoutSeconds is the job's effective timeout (EffectiveTimeout).
	TimeoutSeconds int
	// DefaultGitDepth is the depth when the job sets no GIT_DEPTH.
	DefaultGitDepth int
	// QueuedFor is how long the job waited in the queue.
	QueuedFor time.Duration
}

// FailureReasons are the failure_reason values the coordinator accepts from a
// runner (features.failure_reasons); a runner maps any other to unknown_failure.
var FailureReasons = []string{
	protocol.FailureScript, protocol.FailureRunnerSystem, protocol.FailureJobExecutionTimeout,
	protocol.FailureImagePull, protocol.FailureUnknown, protocol.FailureStuckOrTimeout, protocol.FailureAPI,
	protocol.FailureOutOfMemory, protocol.FailureGPUFault, protocol.FailureGPUUnavailable,
	protocol.FailureCUDAIncompatible,
}

// TokenMaskPrefixes are the token prefixes a runner masks in traces.
var TokenMaskPrefixes = []string{store.PrefixPersonalAccessToken, store.PrefixRunnerToken, store.PrefixJobToken}

// Build returns the payload for in.Job.
func Build(in Input) (*jobspec.Job, error) {
	var spec jobspec.Job
	if err := json.Unmarshal(in.Job.Payload, &spec); err != nil {
		return nil, fmt.Errorf("job %d: reading its compiled payload: %w", in.Job.ID, err)
	}
	j, p, pl := in.Job, in.Project, in.Pipeline
	spec.ID = j.ID
	spec.Token = in.Token
	spec.AllowGitFetch = true
	spec.JobInfo = jobspec.JobInfo{
		Name: j.Name, Stage: j.Stage, PipelineID: pl.ID, ProjectID: p.ID, ProjectName: p.Name,
		ProjectFullPath: p.FullPath, NamespaceID: p.NamespaceID, RootNamespaceID: p.RootNamespaceID,
		UserID: pl.UserID, TimeInQueueSeconds: in.QueuedFor.Seconds(),
	}
	spec.RunnerInfo = jobspec.RunnerInfo{Timeout: in.TimeoutSeconds}

	vars := make(jobspec.Variables, 0, len(spec.Variables)+32)
	vars = append(vars, in.Server.PipelineVariables(p, pl)...)
	vars = append(vars, in.Server.JobVariables(p, j, in.Token, in.Runner)...)
	vars = append(vars, spec.Variables...)
	vars = withDotenv(vars, in.Dependencies, in.SettingKeys)
	spec.Variables = vars

	spec.GitInfo = gitInfo(in, spec.GitInfo, vars)
	spec.Dependencies = dependencies(in)
	spec.Features = jobspec.GitlabFeatures{
		TraceSections:     true,
		TokenMaskPrefixes: TokenMaskPrefixes,
		FailureReasons:    FailureReasons,
	}
	for i := range spec.Steps {
		spec.Steps[i].Timeout = in.TimeoutSeconds
	}
	spec.Kiln = nil
	if j.MachineType != "" || j.GPUCount > 0 {
		spec.Kiln = &jobspec.KilnJob{MachineType: j.MachineType}
		if j.GPUCount > 0 {
			gpu, err := json.Marshal(j.GPURequest)
			if err != nil {
				return nil, fmt.Errorf("job %d: encoding its GPU request: %w", j.ID, err)
			}
			spec.Kiln.GPU = gpu
		}
	}
	return &spec, nil
}

// withDotenv appends the dependencies' dotenv variables, then again the job's
// instance, group, project and pipeline variables they would otherwise override:
// GitLab ranks dotenv variables above the YAML's and below the settings'.
func withDotenv(vars jobspec.Variables, deps []Dependency, settingKeys []string) jobspec.Variables {
	before := vars
	keys := map[string]bool{}
	for _, d := range deps {
		for _, v := range d.Dotenv {
			vars = append(vars, jobspec.Variable{Key: v.Key, Value: v.Value})
			keys[v.Key] = true
		}
	}
	if len(keys) == 0 {
		return vars
	}
	for _, k := range settingKeys {
		if !keys[k] {
			continue
		}
		if v, ok := before.Find(k); ok {
			vars = append(vars, v)
		}
	}
	return vars
}

// gitInfo fills in what the compiler could not: the authenticated repository URL,
// the refspecs GitLab sends (the pipeline's persistent ref first) and the depth.
func gitInfo(in Input, g jobspec.GitInfo, vars jobspec.Variables) jobspec.GitInfo {
	pl := in.Pipeline
	g.RepoURL = in.Server.RepoURLWithToken(in.Project, in.Token)
	g.Ref, g.Sha, g.BeforeSha = pl.Ref, pl.SHA, pl.BeforeSHA
	if g.BeforeSha == "" {
		g.BeforeSha = strings.Repeat("0", 40)
	}
	g.RefType = jobspec.RefTypeBranch
	if pl.Tag {
		g.RefType = jobspec.RefTypeTag
	}
	protected := pl.Protected
	g.Protected = &protected
	g.Depth = in.DefaultGitDepth
	if d, ok := vars.Lookup("GIT_DEPTH"); ok {
		if n, err := strconv.Atoi(strings.TrimSpace(d)); err == nil && n >= 0 {
			g.Depth = n
		}
	}
	persistent := fmt.Sprintf("refs/pipelines/%d", pl.ID)
	g.Refspecs = []string{"+" + persistent + ":" + persistent}
	switch {
	case g.Depth > 0 && pl.Tag:
		g.Refspecs = append(g.Refspecs, fmt.Sprintf("+refs/tags/%s:refs/tags/%s", pl.Ref, pl.Ref))
	case g.Depth > 0:
		g.Refspecs = append(g.Refspecs, fmt.Sprintf("+refs/heads/%s:refs/remotes/origin/%s", pl.Ref, pl.Ref))
	default:
		g.Refspecs = append(g.Refspecs, "+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*")
	}
	return g
}

// dependencies lists each dependency with the claimed job's own token: a job token
// downloads the artifacts of its own job and of the jobs it depends on, and only while
// its job runs, so a finished dependency's token (long revoked) is never handed out.
func dependencies(in Input) []jobspec.Dependency {
	out := make([]jobspec.Dependency, 0, len(in.Dependencies))
	for _, d := range in.Dependencies {
		dep := jobspec.Dependency{ID: d.Job.ID, Token: in.Token, Name: d.Job.Name}
		if d.Archive != nil {
			dep.ArtifactsFile = &jobspec.ArtifactsFile{Filename: d.Archive.Filename, Size: d.Archive.Size}
		}
		out = append(out, dep)
	}
	return out
}
