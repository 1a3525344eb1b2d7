package storetest

import (
	"bytes"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/store"
)

// BenchClaimFinish measures trivial jobs through the store: each of workers runners
// claims a pending job (which starts it), reports it running (TouchJob, the runner's
// first PUT), appends one 4 KiB trace chunk and finishes it. b.N jobs wait in
// namespaces pending before the timer starts. It reports jobs/s.
func BenchClaimFinish(b *testing.B, f Factory, workers int, order string) {
	s := f(b, time.Now)
	ctx := b.Context()
	const namespaces, perPipeline = 10, 100
	var projects []int64
	for i := range namespaces {
		g := &store.Namespace{Name: "bench", Path: fmt.Sprintf("bench%d", i)}
		must(b, s.Namespaces.CreateGroup(ctx, g))
		p := &store.Project{NamespaceID: g.ID, Path: "p"}
		must(b, s.Projects.CreateProject(ctx, p))
		projects = append(projects, p.ID)
	}
	payload := []byte(`{"steps":[{"name":"script","script":["true"]}]}`)
	for created, i := 0, 0; created < b.N; i++ {
		var jobs []*store.Job
		for ; created < b.N && len(jobs) < perPipeline; created++ {
			j := newJob(fmt.Sprintf("j%d", created), store.StatusPending)
			j.Payload = payload
			jobs = append(jobs, j)
		}
		pl := &store.Pipeline{ProjectID: projects[i%namespaces], Ref: "main", SHA: "abc", Source: store.SourcePush, Status: store.StatusRunning}
		must(b, s.Pipelines.CreatePipeline(ctx, pl, jobs))
	}
	chunk := bytes.Repeat([]byte("x"), 4096)
	var done atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := range workers {
		wg.Go(func() {
			for {
				tok, err := store.NewToken(store.PrefixJobToken)
				if err != nil {
					b.Error(err)
					return
				}
				j, _, err := s.Jobs.ClaimJob(ctx, store.ClaimRequest{RunnerID: int64(w + 1), Token: tok, RunUntagged: true, Order: order})
				if errorsIs(err, store.ErrNotFound) {
					return
				}
				if err == nil {
					err = s.Jobs.TouchJob(ctx, j.ID)
				}
				if err == nil {
					_, err = s.Traces.AppendTrace(ctx, j.ID, 0, chunk)
				}
				if err == nil {
					_, err = s.Jobs.TransitionJob(ctx, j.ID, store.JobTransition{From: []store.Status{store.StatusRunning}, To: store.StatusSuccess})
				}
				if err != nil {
					b.Error(err)
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if int(done.Load()) != b.N {
		b.Fatalf("%d of %d jobs finished", done.Load(), b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "jobs/s")
}
