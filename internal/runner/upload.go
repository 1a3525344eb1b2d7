package runner

import (
	"context"
	"fmt"
	"strings"

	"github.com/kiln-ci/kiln/internal/dotenv"
	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/runner/artifacts"
	"github.com/kiln-ci/kiln/internal/runner/cache"
	"github.com/kiln-ci/kiln/internal/runner/fileset"
)

// archiveCache is the archive_cache (or archive_cache_on_failure) stage. Its failures
// only warn.
func (j *jobRun) archiveCache(ctx context.Context, succeeded bool) {
	type entry struct {
		key string
		c   jobspec.Cache
	}
	var todo []entry
	for _, c := range j.cachesWithPaths() {
		key, _, err := cache.Key(c.Key, j.job.JobInfo.Name, j.job.GitInfo.Ref, j.vars.Expand)
		if err != nil {
			continue
		}
		push, err := cache.Pushes(j.vars.Expand(c.Policy), c.When, succeeded)
		if err != nil {
			j.log.Warningf("%v for %s", err, key)
			continue
		}
		if !push {
			if c.Policy == jobspec.CachePull {
				j.log.Printf("Not uploading cache %s due to policy", key)
			}
			continue
		}
		todo = append(todo, entry{key, c})
	}
	if len(todo) == 0 {
		return
	}
	name, header := "archive_cache", "Saving cache for successful job"
	if !succeeded {
		name, header = "archive_cache_on_failure", "Saving cache for failed job"
	}
	j.log.SectionStart(name, header)
	defer j.log.SectionEnd(name)
	store := j.cacheStore()
	for _, e := range todo {
		j.log.Noticef("Creating cache %s...", e.key)
		spec := fileset.Spec{Paths: j.expandAll(e.c.Paths), Untracked: e.c.Untracked}
		sel, err := store.Save(ctx, j.projectDir, e.key, spec)
		j.selectionMessages(sel)
		switch {
		case err != nil:
			j.log.Warningf("Failed to create cache: %v", err)
		case len(sel.Entries) == 0:
			j.log.Warningf("No files to cache")
		default:
			j.log.Noticef("Created cache")
		}
	}
}

// uploadArtifacts is the upload_artifacts_on_success (or _on_failure) stage. A failed
// upload fails a job that had succeeded; a dotenv report that GitLab would refuse
// fails it too, with GitLab's message.
func (j *jobRun) uploadArtifacts(ctx context.Context, o Outcome) Outcome {
	var list []jobspec.Artifact
	for _, a := range j.job.Artifacts {
		if artifacts.Skip(a) {
			continue
		}
		run, err := artifacts.Runs(a.When, o.Succeeded())
		if err != nil {
			j.log.Warningf("%v", err)
			continue
		}
		if run {
			a.Name, a.Paths, a.Exclude = j.vars.Expand(a.Name), j.expandAll(a.Paths), j.expandAll(a.Exclude)
			list = append(list, a)
		}
	}
	if len(list) == 0 {
		return o
	}
	name, header := "upload_artifacts_on_success", "Uploading artifacts for successful job"
	if !o.Succeeded() {
		name, header = "upload_artifacts_on_failure", "Uploading artifacts for failed job"
	}
	j.log.SectionStart(name, header)
	defer j.log.SectionEnd(name)
	fail := func(err error) {
		j.log.Errorf("%v", err)
		if o.Succeeded() {
			o = stageFailure(err)
		}
	}
	for _, a := range list {
		typ := a.ArtifactType
		if typ == "" {
			typ = jobspec.ArtifactTypeArchive
		}
		j.log.Noticef("Uploading artifacts...")
		arc, sel, err := artifacts.Build(ctx, j.projectDir, j.tmpDir, a)
		j.selectionMessages(sel)
		if err != nil {
			fail(fmt.Errorf("creating artifacts archive: %w", err))
			continue
		}
		if arc == nil {
			j.log.Warningf("No files to upload")
			continue
		}
		if typ == jobspec.ArtifactTypeDotenv {
			vars, err := j.readDotenv(arc)
			if err != nil {
				arc.Remove()
				fail(fmt.Errorf("dotenv report: %w", err))
				continue
			}
			o.Dotenv = append(o.Dotenv, vars...)
		}
		err = j.ch.UploadArtifacts(ctx, protocol.ArtifactUpload{Name: a.Name, Format: arc.Format, Type: typ,
			ExpireIn: a.ExpireIn, Open: arc.Open})
		arc.Remove()
		if err != nil {
			fail(fmt.Errorf("uploading artifacts as %q to coordinator... failed: %w", typ, err))
			continue
		}
		j.log.Noticef("Uploading artifacts as %q to coordinator... 201 Created", typ)
		o.Artifacts = append(o.Artifacts, ArtifactRecord{Name: a.Name, Type: typ, Files: sel.Entries})
	}
	return o
}

// readDotenv reads the variables of a dotenv report from its archive: the very bytes
// the coordinator is sent and reads by the same rules, so a report that is refused
// here would be refused there. They are public and unmasked, as GitLab passes them to
// dependent jobs.
func (j *jobRun) readDotenv(arc *artifacts.Archive) (jobspec.Variables, error) {
	f, err := arc.Open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var vars []dotenv.Variable
	switch arc.Format {
	case jobspec.ArtifactFormatGzip:
		vars, err = dotenv.ParseGzip(f, j.l.cfg.DotenvLimits)
	case jobspec.ArtifactFormatRaw:
		vars, err = dotenv.ParseReader(f, j.l.cfg.DotenvLimits)
	default:
		return nil, fmt.Errorf("artifact format %s cannot hold a dotenv report (want gzip or raw)", arc.Format)
	}
	if err != nil {
		return nil, err
	}
	out := make(jobspec.Variables, len(vars))
	for i, v := range vars {
		out[i] = jobspec.Variable{Key: v.Key, Value: v.Value, Public: true}
	}
	return out, nil
}

// expandAll expands the variables of artifact and cache paths. A path that is
// absolute and inside the project directory as scripts see it ($CI_PROJECT_DIR/out)
// becomes relative to it, as gitlab-runner's archiver resolves it; any other absolute
// path stays as it is and is refused as outside the project.
func (j *jobRun) expandAll(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		s = j.vars.Expand(s)
		if rel, ok := strings.CutPrefix(s, strings.TrimSuffix(j.guestProj, "/")+"/"); ok && j.guestProj != "" {
			s = rel
			if s == "" {
				s = "."
			}
		} else if s == j.guestProj && s != "" {
			s = "."
		}
		out = append(out, s)
	}
	return out
}
