package ci

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"strings"

	"github.com/kiln-ci/kiln/internal/jobspec"
)

// spec builds the runner payload in GitLab's shape (Ci::BuildRunnerPresenter), less
// what only the server knows: ids, tokens, URLs, refspecs and depth, dependency ids.
func (cp *compiler) spec(j *Job, jc *JobConfig, runnerVars, expanded jobspec.Variables) jobspec.Job {
	timeout := int(j.Timeout.Seconds())
	s := jobspec.Job{
		JobInfo:      jobspec.JobInfo{Name: j.Name, Stage: j.Stage},
		GitInfo:      jobspec.GitInfo{Ref: cp.ctx.Ref, Sha: cp.ctx.SHA, BeforeSha: cp.ctx.BeforeSHA, RefType: jobspec.RefTypeBranch},
		RunnerInfo:   jobspec.RunnerInfo{Timeout: timeout},
		Variables:    runnerVars,
		Steps:        []jobspec.Step{},
		Services:     []jobspec.Image{},
		Artifacts:    []jobspec.Artifact{},
		Cache:        []jobspec.Cache{},
		Credentials:  []jobspec.Credentials{},
		Dependencies: make([]jobspec.Dependency, 0, len(j.Dependencies)),
	}
	if cp.ctx.Tag {
		s.GitInfo.RefType = jobspec.RefTypeTag
	}
	// A job without script (trigger:, run:) has nothing for a runner to run.
	if len(jc.Script) > 0 {
		s.Steps = append(s.Steps, jobspec.Step{
			Name:    jobspec.StepScript,
			Script:  append(append([]string{}, jc.BeforeScript...), jc.Script...),
			Timeout: timeout,
			When:    jobspec.WhenOnSuccess,
		})
	}
	if len(jc.AfterScript) > 0 && len(jc.Script) > 0 {
		s.Steps = append(s.Steps, jobspec.Step{Name: jobspec.StepAfterScript, Script: jc.AfterScript, Timeout: timeout,
			When: jobspec.WhenAlways, AllowFailure: true})
	}
	if jc.Image != nil {
		s.Image = specImage(*jc.Image)
	}
	for _, svc := range jc.Services {
		s.Services = append(s.Services, specImage(svc))
	}
	if jc.Artifacts != nil {
		s.Artifacts = specArtifacts(*jc.Artifacts)
	}
	for _, c := range jc.Cache {
		s.Cache = append(s.Cache, cp.specCache(c, expanded))
	}
	for _, d := range j.Dependencies {
		s.Dependencies = append(s.Dependencies, jobspec.Dependency{Name: d})
	}
	if len(jc.PreGetSourcesScript) > 0 {
		s.Hooks = []jobspec.Hook{{Name: "pre_get_sources_script", Script: jc.PreGetSourcesScript}}
	}
	return s
}

func specImage(img Image) jobspec.Image {
	out := jobspec.Image{
		Name:       img.Name,
		Alias:      img.Alias,
		Command:    img.Command,
		Entrypoint: img.Entrypoint,
		PullPolicy: img.PullPolicy,
	}
	if len(img.Variables) > 0 {
		out.Variables = yamlVariables(img.Variables)
	}
	if img.Platform != "" || img.User != "" {
		out.ExecutorOpts = &jobspec.ExecutorOpts{Docker: &jobspec.DockerOpts{Platform: img.Platform, User: img.User}}
	}
	if img.KubernetesUser != "" {
		if out.ExecutorOpts == nil {
			out.ExecutorOpts = &jobspec.ExecutorOpts{}
		}
		out.ExecutorOpts.Kubernetes = &jobspec.KubernetesOpts{User: img.KubernetesUser}
	}
	return out
}

// reportFiles are GitLab's default file names and formats of report artifacts
// (Ci::JobArtifact::DEFAULT_FILE_NAMES and TYPE_AND_FORMAT_PAIRS).
var reportFiles = map[string][2]string{
	"junit":               {"junit.xml", jobspec.ArtifactFormatGzip},
	"dotenv":              {".env", jobspec.ArtifactFormatGzip},
	"metrics":             {"metrics.txt", jobspec.ArtifactFormatGzip},
	"cyclonedx":           {"gl-sbom.cdx.json", jobspec.ArtifactFormatGzip},
	"annotations":         {"gl-annotations.json", jobspec.ArtifactFormatGzip},
	"cobertura":           {"cobertura-coverage.xml", jobspec.ArtifactFormatGzip},
	"jacoco":              {"jacoco.xml", jobspec.ArtifactFormatGzip},
	"lsif":                {"lsif.json", jobspec.ArtifactFormatZip},
	"codequality":         {"gl-code-quality-report.json", jobspec.ArtifactFormatRaw},
	"sast":                {"gl-sast-report.json", jobspec.ArtifactFormatRaw},
	"secret_detection":    {"gl-secret-detection-report.json", jobspec.ArtifactFormatRaw},
	"dependency_scanning": {"gl-dependency-scanning-report.json", jobspec.ArtifactFormatRaw},
	"container_scanning":  {"gl-container-scanning-report.json", jobspec.ArtifactFormatRaw},
	"dast":                {"gl-dast-report.json", jobspec.ArtifactFormatRaw},
	"license_scanning":    {"gl-license-scanning-report.json", jobspec.ArtifactFormatRaw},
	"license_management":  {"gl-license-management-report.json", jobspec.ArtifactFormatRaw},
	"accessibility":       {"gl-accessibility.json", jobspec.ArtifactFormatRaw},
	"browser_performance": {"browser-performance.json", jobspec.ArtifactFormatRaw},
	"load_performance":    {"load-performance.json", jobspec.ArtifactFormatRaw},
	"terraform":           {"tfplan.json", jobspec.ArtifactFormatRaw},
	"requirements":        {"requirements.json", jobspec.ArtifactFormatRaw},
	"api_fuzzing":         {"gl-api-fuzzing-report.json", jobspec.ArtifactFormatRaw},
	"coverage_fuzzing":    {"gl-coverage-fuzzing.json", jobspec.ArtifactFormatRaw},
	"sarif":               {"gl-sarif.json", jobspec.ArtifactFormatRaw},
	"repository_xray":     {"gl-repository-xray.json", jobspec.ArtifactFormatRaw},
}

// specArtifacts is the main archive (when it has paths or untracked) followed by one
// entry per report, uploaded whatever the job's outcome, as GitLab presents them.
func specArtifacts(a Artifacts) []jobspec.Artifact {
	out := []jobspec.Artifact{}
	if len(a.Paths) > 0 || a.Untracked {
		when := a.When
		if when == "" {
			when = jobspec.WhenOnSuccess
		}
		out = append(out, jobspec.Artifact{
			Name: a.Name, Untracked: a.Untracked, Paths: a.Paths, Exclude: a.Exclude, When: when,
			ArtifactType: jobspec.ArtifactTypeArchive, ArtifactFormat: jobspec.ArtifactFormatZip, ExpireIn: a.ExpireIn,
		})
	}
	for _, r := range a.Reports {
		typ := r.Type
		if typ == "coverage_report" {
			typ = r.Format
			if typ == "" {
				typ = "cobertura"
			}
		}
		file, ok := reportFiles[typ]
		if !ok || len(r.Paths) == 0 {
			continue
		}
		out = append(out, jobspec.Artifact{
			Name: file[0], Paths: r.Paths, When: jobspec.WhenAlways,
			ArtifactType: typ, ArtifactFormat: file[1], ExpireIn: a.ExpireIn,
		})
	}
	return out
}

// specCache computes a cache entry's key as GitLab does: the key as written (the
// runner expands its variables), "default" when none, or for key:files the prefix and
// a digest of those files. GitLab digests the last commit that changed each file,
// which needs the repository's history; Kiln digests the files' contents instead,
// which changes exactly when they change. Unless unprotect is set, the key gets
// GitLab's -protected or -non_protected suffix, so protected refs never share a
// cache with others.
func (cp *compiler) specCache(c Cache, vars jobspec.Variables) jobspec.Cache {
	key := c.Key
	if len(c.KeyFiles) > 0 {
		key = cp.files.digest(c.KeyFiles, vars)
		if c.KeyPrefix != "" {
			key = c.KeyPrefix + "-" + key
		}
	}
	if key == "" {
		key = "default"
	}
	suffix := "-non_protected"
	if cp.ctx.Protected && !c.Unprotect {
		suffix = "-protected"
	}
	policy := c.Policy
	if strings.HasPrefix(policy, "$") {
		policy = jobspec.ExpandGitLab(policy, vars.Lookup)
	}
	if policy == "" {
		policy = jobspec.CachePullPush
	}
	when := c.When
	if when == "" {
		when = jobspec.WhenOnSuccess
	}
	out := jobspec.Cache{Key: key + suffix, Untracked: c.Untracked, Policy: policy, Paths: c.Paths, When: when}
	for _, k := range c.FallbackKeys {
		out.FallbackKeys = append(out.FallbackKeys, k+suffix)
	}
	return out
}

// fileSource reads repository files for cache keys.
type fileSource struct{ fsys fs.FS }

// digest is the SHA-1 of the SHA-256 of each existing file named (in the order
// named, wildcards expanded), or "default" when none exists.
func (f fileSource) digest(names []string, vars jobspec.Variables) string {
	if f.fsys == nil {
		return "default"
	}
	outer := sha1.New()
	found := false
	for _, n := range names {
		n = jobspec.ExpandExisting(n, vars.Lookup)
		n = strings.TrimPrefix(n, vars.Get("CI_PROJECT_DIR"))
		paths := []string{cleanRepoPath(n)}
		if hasGlob(n) {
			paths, _ = globFiles(f.fsys, n)
		}
		for _, p := range paths {
			if p == "" {
				continue
			}
			data, err := fs.ReadFile(f.fsys, p)
			if err != nil {
				continue
			}
			sum := sha256.Sum256(data)
			outer.Write([]byte(hex.EncodeToString(sum[:])))
			found = true
		}
	}
	if !found {
		return "default"
	}
	return hex.EncodeToString(outer.Sum(nil))
}
