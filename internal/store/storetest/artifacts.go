package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/store"
)

func archive(jobID int64) *store.Artifact {
	return &store.Artifact{JobID: jobID, FileType: store.ArtifactArchive, Format: store.FormatZip, Filename: "artifacts.zip",
		Size: 1234, SHA256: strings.Repeat("ab", 32), BlobKey: "jobs/1/archive.zip"}
}

var artifactTests = map[string]func(*testing.T, *env){
	"an artifact row keeps its metadata and its job's project": func(t *testing.T, e *env) {
		j := e.pendingJob()
		a := archive(j.ID)
		a.ExpireAt = e.clock.Now().Add(24 * time.Hour)
		must(t, e.s.Artifacts.CreateArtifact(e.ctx, a))
		if a.ID == 0 || a.ProjectID != j.ProjectID {
			t.Errorf("CreateArtifact set %+v", a)
		}
		got, err := e.s.Artifacts.Artifact(e.ctx, a.ID)
		must(t, err)
		if got.JobID != j.ID || got.FileType != store.ArtifactArchive || got.Format != store.FormatZip || got.Filename != "artifacts.zip" ||
			got.Size != 1234 || got.SHA256 != a.SHA256 || got.BlobKey != a.BlobKey || got.ProjectID != j.ProjectID {
			t.Errorf("Artifact = %+v", got)
		}
		equalTime(t, "ExpireAt", got.ExpireAt, a.ExpireAt)
		equalTime(t, "CreatedAt", got.CreatedAt, e.clock.Now())
		dotenv := &store.Artifact{JobID: j.ID, FileType: store.ArtifactDotenv, Format: store.FormatGzip, Filename: "build.env.gz",
			Size: 10, SHA256: "cd", BlobKey: "jobs/1/dotenv.gz"}
		must(t, e.s.Artifacts.CreateArtifact(e.ctx, dotenv))
		list, err := e.s.Artifacts.ListArtifacts(e.ctx, j.ID)
		must(t, err)
		if len(list) != 2 || list[0].FileType != store.ArtifactArchive || list[1].FileType != store.ArtifactDotenv {
			t.Errorf("ListArtifacts = %+v", list)
		}
	},
	"ArtifactsOfJobs lists the artifacts of a page of jobs at once": func(t *testing.T, e *env) {
		p := e.project(e.group(0, "").ID)
		a, b, none := newJob("a", store.StatusPending), newJob("b", store.StatusPending), newJob("none", store.StatusPending)
		e.pipeline(p.ID, a, b, none)
		other := e.pendingJob()
		for _, art := range []*store.Artifact{archive(a.ID), archive(b.ID), archive(other.ID),
			{JobID: b.ID, FileType: store.ArtifactDotenv, Format: store.FormatGzip, Filename: "build.env.gz", Size: 10, SHA256: "cd", BlobKey: "k"}} {
			must(t, e.s.Artifacts.CreateArtifact(e.ctx, art))
		}
		got, err := e.s.Artifacts.ArtifactsOfJobs(e.ctx, []int64{a.ID, b.ID, none.ID})
		must(t, err)
		if len(got) != 2 || len(got[a.ID]) != 1 || len(got[b.ID]) != 2 || got[b.ID][0].FileType != store.ArtifactArchive ||
			got[b.ID][1].FileType != store.ArtifactDotenv || got[a.ID][0].JobID != a.ID || got[none.ID] != nil {
			t.Errorf("ArtifactsOfJobs = %+v, want a's archive and b's archive and dotenv", got)
		}
		if got, err := e.s.Artifacts.ArtifactsOfJobs(e.ctx, nil); err != nil || len(got) != 0 {
			t.Errorf("ArtifactsOfJobs of no jobs = %v, %v", got, err)
		}
		_, err = e.s.Artifacts.ArtifactsOfJobs(e.ctx, make([]int64, store.MaxPageLimit+1))
		wantErr(t, err, store.ErrInvalid)
	},
	"CreateArtifact refuses a second of a type, a missing job and bad metadata": func(t *testing.T, e *env) {
		j := e.pendingJob()
		must(t, e.s.Artifacts.CreateArtifact(e.ctx, archive(j.ID)))
		wantErr(t, e.s.Artifacts.CreateArtifact(e.ctx, archive(j.ID)), store.ErrConflict)
		wantErr(t, e.s.Artifacts.CreateArtifact(e.ctx, archive(j.ID+100)), store.ErrNotFound)
		for _, edit := range []func(*store.Artifact){
			func(a *store.Artifact) { a.FileType = "" },
			func(a *store.Artifact) { a.Size = -1 },
			func(a *store.Artifact) { a.BlobKey = "" },
			func(a *store.Artifact) { a.SHA256 = "" },
		} {
			a := archive(j.ID)
			a.FileType = store.ArtifactJUnit
			edit(a)
			wantErr(t, e.s.Artifacts.CreateArtifact(e.ctx, a), store.ErrInvalid)
		}
		list, err := e.s.Artifacts.ListArtifacts(e.ctx, j.ID)
		must(t, err)
		if len(list) != 1 {
			t.Errorf("%d artifacts after refusals, want 1", len(list))
		}
	},
	"ExpiredArtifacts lists due artifacts by expiry and DeleteArtifact removes them": func(t *testing.T, e *env) {
		now := e.clock.Now()
		var ids []int64
		for _, exp := range []time.Duration{2 * time.Hour, time.Hour, 0, 3 * time.Hour} {
			a := archive(e.pendingJob().ID)
			if exp != 0 {
				a.ExpireAt = now.Add(exp)
			}
			must(t, e.s.Artifacts.CreateArtifact(e.ctx, a))
			ids = append(ids, a.ID)
		}
		due, err := e.s.Artifacts.ExpiredArtifacts(e.ctx, now.Add(2*time.Hour), 10)
		must(t, err)
		if len(due) != 2 || due[0].ID != ids[1] || due[1].ID != ids[0] {
			t.Errorf("ExpiredArtifacts = %+v, want ids %d, %d", due, ids[1], ids[0])
		}
		one, err := e.s.Artifacts.ExpiredArtifacts(e.ctx, now.Add(5*time.Hour), 1)
		must(t, err)
		if len(one) != 1 || one[0].ID != ids[1] {
			t.Errorf("limit 1 gave %+v", one)
		}
		must(t, e.s.Artifacts.DeleteArtifact(e.ctx, ids[1]))
		_, err = e.s.Artifacts.Artifact(e.ctx, ids[1])
		wantErr(t, err, store.ErrNotFound)
		wantErr(t, e.s.Artifacts.DeleteArtifact(e.ctx, ids[1]), store.ErrNotFound)
	},
}
