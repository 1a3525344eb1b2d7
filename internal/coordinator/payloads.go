package coordinator

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/kiln-ci/kiln/internal/coordinator/payload"
	"github.com/kiln-ci/kiln/internal/dotenv"
	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/store"
)

// buildPayload completes a claimed job's compiled payload (package payload), given
// the job's pipeline.
func (s *Service) buildPayload(ctx context.Context, j *store.Job, pl *store.Pipeline, r *store.Runner, token string) (*jobspec.Job, error) {
	p, err := s.project(ctx, j.ProjectID)
	if err != nil {
		return nil, fmt.Errorf("reading project %d: %w", j.ProjectID, err)
	}
	deps, err := s.dependencies(ctx, j)
	if err != nil {
		return nil, err
	}
	var keys []string
	if slices.ContainsFunc(deps, func(d payload.Dependency) bool { return len(d.Dotenv) > 0 }) {
		// Only dotenv variables need to know which keys the settings own.
		vars, err := s.settingVariables(ctx, p.ID, pl.Protected)
		if err != nil {
			return nil, err
		}
		keys = vars.keys
		for _, v := range pl.Variables {
			keys = append(keys, v.Key)
		}
	}
	return payload.Build(payload.Input{
		Server: s.server, Job: j, Token: token, Pipeline: pl, Project: p, Runner: r,
		Dependencies: deps, SettingKeys: keys, TimeoutSeconds: s.effectiveTimeout(j, r),
		DefaultGitDepth: s.cfg.DefaultGitDepth, QueuedFor: j.StartedAt.Sub(j.QueuedAt),
	})
}

// project reads a project, briefly cached.
func (s *Service) project(ctx context.Context, id int64) (*store.Project, error) {
	if p, ok := s.projects.get(id, s.now()); ok {
		return &p, nil
	}
	p, err := s.st.Projects.Project(ctx, id)
	if err != nil {
		return nil, err
	}
	s.projects.put(id, *p, s.now())
	return p, nil
}

// effectiveTimeout is a job's timeout in seconds: its own (or the project's), capped
// by its runner's maximum timeout and by the runner's machine type (hosted types cap
// at 3 hours).
func (s *Service) effectiveTimeout(j *store.Job, r *store.Runner) int {
	t := j.TimeoutSeconds
	if t <= 0 {
		t = jobspec.DefaultTimeoutSeconds
	}
	if r != nil && r.MaximumTimeout > 0 && t > r.MaximumTimeout {
		t = r.MaximumTimeout
	}
	mtTag := j.MachineType
	if r != nil && r.MachineType != "" {
		mtTag = r.MachineType
	}
	if mt, ok := s.catalog.Get(mtTag); ok && mt.MaxTimeout > 0 && t > int(mt.MaxTimeout.Seconds()) {
		t = int(mt.MaxTimeout.Seconds())
	}
	return t
}

// dependencies resolves the jobs whose artifacts j downloads: by name, the current
// attempt in its pipeline, with its archive and the variables of its dotenv report.
func (s *Service) dependencies(ctx context.Context, j *store.Job) ([]payload.Dependency, error) {
	if len(j.Dependencies) == 0 {
		return nil, nil
	}
	jobs, err := s.pipelineJobs(ctx, j.PipelineID)
	if err != nil {
		return nil, err
	}
	var out []payload.Dependency
	for _, name := range j.Dependencies {
		i := slices.IndexFunc(jobs, func(o store.Job) bool { return o.Name == name })
		if i < 0 {
			continue
		}
		dep := payload.Dependency{Job: &jobs[i]}
		arts, err := s.st.Artifacts.ListArtifacts(ctx, dep.Job.ID)
		if err != nil {
			return nil, fmt.Errorf("listing the artifacts of job %d: %w", dep.Job.ID, err)
		}
		for k := range arts {
			a := &arts[k]
			switch a.FileType {
			case store.ArtifactArchive:
				dep.Archive = a
			case store.ArtifactDotenv:
				if dep.Dotenv, err = s.readDotenv(ctx, a); err != nil {
					// It was checked at upload; a report unreadable now is logged and skipped.
					s.log.Warn("reading a dependency's dotenv report", "job", j.ID, "dependency", dep.Job.ID, "error", err)
				}
			}
		}
		out = append(out, dep)
	}
	return out, nil
}

func (s *Service) readDotenv(ctx context.Context, a *store.Artifact) ([]dotenv.Variable, error) {
	rc, _, err := s.cfg.Blobs.Open(ctx, a.BlobKey)
	if err != nil {
		return nil, fmt.Errorf("opening artifact %d: %w", a.ID, err)
	}
	defer rc.Close()
	return parseDotenv(rc, a.Format, s.cfg.Dotenv)
}

func parseDotenv(r io.Reader, format string, limits dotenv.Limits) ([]dotenv.Variable, error) {
	if format == store.FormatGzip {
		return dotenv.ParseGzip(r, limits)
	}
	data, err := io.ReadAll(io.LimitReader(r, dotenv.DefaultMaxBytes*16))
	if err != nil {
		return nil, err
	}
	return dotenv.Parse(data, limits)
}

// namespace reads a namespace (for its plan), briefly cached.
func (s *Service) namespace(ctx context.Context, id int64) (*store.Namespace, error) {
	if n, ok := s.namespaces.get(id, s.now()); ok {
		return &n, nil
	}
	n, err := s.st.Namespaces.Namespace(ctx, id)
	if err != nil {
		return nil, err
	}
	s.namespaces.put(id, *n, s.now())
	return n, nil
}
