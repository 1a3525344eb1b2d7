package payload

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/coordinator/predefined"
	"github.com/kiln-ci/kiln/internal/dotenv"
	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/store"
)

func input(t *testing.T, spec jobspec.Job, tag bool, depth int) Input {
	raw, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse("http://kiln.test:8080")
	return Input{
		Server:   predefined.Server{URL: u, Version: "0.1.0"},
		Job:      &store.Job{ID: 5, Name: "deploy", Stage: "deploy", Payload: raw, StartedAt: time.Now()},
		Token:    "glcbt-tok",
		Pipeline: &store.Pipeline{ID: 3, IID: 1, Ref: "v1", Tag: tag, SHA: strings.Repeat("a", 40), Protected: tag},
		Project:  &store.Project{ID: 2, Name: "p", Path: "p", FullPath: "g/p"}, Runner: &store.Runner{ID: 1},
		TimeoutSeconds: 900, DefaultGitDepth: depth,
	}
}

func TestRefspecsFollowGitLab(t *testing.T) {
	for _, tc := range []struct {
		tag   bool
		depth int
		vars  jobspec.Variables
		want  []string
	}{
		{false, 20, nil, []string{"+refs/pipelines/3:refs/pipelines/3", "+refs/heads/v1:refs/remotes/origin/v1"}},
		{true, 20, nil, []string{"+refs/pipelines/3:refs/pipelines/3", "+refs/tags/v1:refs/tags/v1"}},
		{false, 20, jobspec.Variables{{Key: "GIT_DEPTH", Value: "0"}},
			[]string{"+refs/pipelines/3:refs/pipelines/3", "+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"}},
	} {
		job, err := Build(input(t, jobspec.Job{Variables: tc.vars}, tc.tag, tc.depth))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(job.GitInfo.Refspecs, tc.want) {
			t.Errorf("tag %v depth %d vars %v: refspecs %v, want %v", tc.tag, tc.depth, tc.vars, job.GitInfo.Refspecs, tc.want)
		}
		if job.GitInfo.BeforeSha != strings.Repeat("0", 40) {
			t.Errorf("before_sha %q, want 40 zeros when unknown", job.GitInfo.BeforeSha)
		}
	}
}

func TestDotenvVariablesRankBetweenTheYAMLAndTheSettings(t *testing.T) {
	spec := jobspec.Job{Variables: jobspec.Variables{{Key: "FROM_YAML", Value: "yaml", Public: true},
		{Key: "FROM_PROJECT", Value: "project"}}}
	in := input(t, spec, false, 20)
	in.SettingKeys = []string{"FROM_PROJECT"}
	in.Dependencies = []Dependency{{Job: &store.Job{ID: 4, Name: "build"},
		Dotenv: []dotenv.Variable{{Key: "FROM_YAML", Value: "dotenv"}, {Key: "FROM_PROJECT", Value: "dotenv"}}}}
	job, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	if got := job.Variables.Get("FROM_YAML"); got != "dotenv" {
		t.Errorf("FROM_YAML = %q, want dotenv over the YAML", got)
	}
	if got := job.Variables.Get("FROM_PROJECT"); got != "project" {
		t.Errorf("FROM_PROJECT = %q, want the project variable over dotenv", got)
	}
	if d := job.Dependencies[0]; d.ID != 4 || d.Token != "glcbt-tok" || d.ArtifactsFile != nil {
		t.Errorf("dependency %+v: the claimed job's token, no archive to download", d)
	}
}

func TestStepsAndRunnerInfoGetTheEffectiveTimeout(t *testing.T) {
	job, err := Build(input(t, jobspec.Job{Steps: []jobspec.Step{{Name: "script", Script: []string{"x"}, Timeout: 3600}}}, false, 20))
	if err != nil {
		t.Fatal(err)
	}
	if job.RunnerInfo.Timeout != 900 || job.Steps[0].Timeout != 900 {
		t.Errorf("timeouts %d / %d, want 900", job.RunnerInfo.Timeout, job.Steps[0].Timeout)
	}
}

func TestABrokenCompiledPayloadIsAnError(t *testing.T) {
	in := input(t, jobspec.Job{}, false, 20)
	in.Job.Payload = json.RawMessage(`{"id": "x"`)
	if _, err := Build(in); err == nil || !strings.Contains(err.Error(), "job 5") {
		t.Errorf("Build = %v", err)
	}
}

func TestAGPUJobCarriesItsMachineTypeAndResolvedGPURequest(t *testing.T) {
	in := input(t, jobspec.Job{}, false, 20)
	one := 1
	in.Job.MachineType, in.Job.GPUCount = "saas-linux-medium-amd64-gpu-standard", 1
	in.Job.GPURequest = machine.GPURequest{Count: &one, Model: "T4", MemoryMinBytes: 15 * machine.GiB}
	job, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	var got machine.GPURequest
	if job.Kiln == nil || job.Kiln.MachineType != in.Job.MachineType || json.Unmarshal(job.Kiln.GPU, &got) != nil ||
		got.Wanted() != 1 || got.Model != "T4" || got.MemoryMinBytes != 15*machine.GiB {
		t.Errorf("kiln %+v", job.Kiln)
	}
	plain, _ := Build(input(t, jobspec.Job{}, false, 20))
	if plain.Kiln != nil {
		t.Errorf("a job without machine type or GPUs has kiln %+v", plain.Kiln)
	}
}
