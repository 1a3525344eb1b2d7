package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// pollers starts one long-polling loop per token, as gitlab-runner's run does (a
// jobs/request right after the last answered, echoing last_update). A job received
// goes to got (when not nil) and is finished at once. It returns when ctx ends.
func pollers(ctx context.Context, url string, tokens []string, got chan<- *job, errs chan<- error) *sync.WaitGroup {
	var wg sync.WaitGroup
	for i, token := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &runner{url: url, token: token, systemID: fmt.Sprintf("s_%012x", i)}
			for ctx.Err() == nil {
				j, err := r.request(ctx)
				if err != nil {
					if ctx.Err() == nil {
						select {
						case errs <- err:
						default:
						}
						time.Sleep(100 * time.Millisecond)
					}
					continue
				}
				if j == nil {
					continue
				}
				if got != nil {
					got <- j
				}
				if err := r.finish(ctx, j); err != nil && ctx.Err() == nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		}()
	}
	return &wg
}

// waitPolling gives the runners time to connect and make their first (immediate)
// claim, so that every one of them is in a long poll.
func waitPolling(ctx context.Context, n int) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Duration(2+n/250) * time.Second):
		return nil
	}
}

// latency measures pickup latency: the time from a job becoming pending (its
// queued_at, the coordinator's clock) to a long-polling runner having its payload
// (the runner's clock; same machine), with o.runners runners waiting.
func latency(ctx context.Context, o options, engine string) error {
	srv, err := startServer(ctx, o, 50*time.Second)
	if err != nil {
		return err
	}
	defer srv.stop()
	tokens, err := srv.setup(ctx, o.runners, 1)
	if err != nil {
		return err
	}
	pctx, cancel := context.WithCancel(ctx)
	got := make(chan *job, o.runners)
	errs := make(chan error, 16)
	wg := pollers(pctx, srv.url, tokens, got, errs)
	defer func() { cancel(); wg.Wait() }()
	if err := waitPolling(ctx, o.runners); err != nil {
		return err
	}
	var lat []time.Duration
	for range o.samples {
		id, queued, err := srv.pipeline(ctx)
		if err != nil {
			return err
		}
		select {
		case j := <-got:
			if j.JobInfo.PipelineID != id {
				return fmt.Errorf("received a job of pipeline %d, want %d", j.JobInfo.PipelineID, id)
			}
			lat = append(lat, j.Received.Sub(queued))
		case err := <-errs:
			return err
		case <-time.After(30 * time.Second):
			return errors.New("no runner received the job within 30 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(float64(len(lat))*p))] }
	fmt.Printf("pickup latency  %-8s runners %5d  samples %4d  p50 %7.2f ms  p90 %7.2f ms  p99 %7.2f ms  max %7.2f ms\n",
		engine, o.runners, len(lat), ms(pct(.50)), ms(pct(.90)), ms(pct(.99)), ms(lat[len(lat)-1]))
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// throughput runs o.jobs trivial jobs (pending beforehand, in pipelines of 10)
// through claim, PUT running, one trace PATCH and PUT success with o.workers
// runners, and reports jobs per second from the start to the last job's success,
// and the coordinator's CPU time per job over that span. (The runners then go on
// long-polling an empty queue until their 2-second poll ends; that idle tail is not
// throughput and is reported apart.)
func throughput(ctx context.Context, o options, engine string) error {
	const perPipeline = 10
	srv, err := startServer(ctx, o, 2*time.Second) // a short poll ends the run soon after the last job
	if err != nil {
		return err
	}
	defer srv.stop()
	tokens, err := srv.setup(ctx, o.workers, perPipeline)
	if err != nil {
		return err
	}
	for range (o.jobs + perPipeline - 1) / perPipeline {
		if _, _, err := srv.pipeline(ctx); err != nil {
			return err
		}
	}
	total := ((o.jobs + perPipeline - 1) / perPipeline) * perPipeline
	var (
		done     atomic.Int64
		wg       sync.WaitGroup
		lastDone time.Time     // when the last job succeeded
		cpu1     time.Duration // the coordinator's CPU time then
		cpuErr1  error
	)
	errs := make(chan error, len(tokens))
	fmt.Printf("throughput      %-8s %d jobs pending, %d runners start\n", engine, total, len(tokens))
	cpu0, cpuErr := srv.cpu()
	start := time.Now()
	for i, token := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &runner{url: srv.url, token: token, systemID: fmt.Sprintf("s_%012x", i)}
			for done.Load() < int64(total) {
				j, err := r.request(ctx)
				if err != nil {
					errs <- err
					return
				}
				if j == nil {
					return // the queue is empty
				}
				if err := r.finish(ctx, j); err != nil {
					errs <- err
					return
				}
				if done.Add(1) == int64(total) {
					lastDone = time.Now()
					cpu1, cpuErr1 = srv.cpu()
				}
			}
		}()
	}
	wg.Wait()
	tail := time.Since(lastDone)
	elapsed := lastDone.Sub(start)
	if cpuErr == nil {
		cpuErr = cpuErr1
	}
	select {
	case err := <-errs:
		return err
	default:
	}
	if int(done.Load()) != total {
		return fmt.Errorf("%d of %d jobs ran", done.Load(), total)
	}
	phaseTimes.Range(func(k, v any) bool {
		p := v.(*phase)
		fmt.Printf("  %-20v n=%5d mean %6.2f ms\n", k, p.n, ms(p.sum/time.Duration(max(p.n, 1))))
		return true
	})
	perJob := "?"
	if cpuErr == nil {
		perJob = fmt.Sprintf("%.2f ms", ms((cpu1-cpu0)/time.Duration(total)))
	}
	fmt.Printf("throughput      %-8s workers %5d  jobs %6d  %6.1f s  %7.1f jobs/s  coordinator CPU %s/job  (then idle %.1f s)\n",
		engine, o.workers, total, elapsed.Seconds(), float64(total)/elapsed.Seconds(), perJob, tail.Seconds())
	return nil
}

// idle reports the coordinator's resident memory with o.runners runners
// long-polling and no jobs.
func idle(ctx context.Context, o options, engine string) error {
	srv, err := startServer(ctx, o, 50*time.Second)
	if err != nil {
		return err
	}
	defer srv.stop()
	tokens, err := srv.setup(ctx, o.runners, 1)
	if err != nil {
		return err
	}
	pctx, cancel := context.WithCancel(ctx)
	errs := make(chan error, 16)
	wg := pollers(pctx, srv.url, tokens, nil, errs)
	defer func() { cancel(); wg.Wait() }()
	select {
	case <-time.After(o.settle):
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-errs:
		return err
	default:
	}
	cur, peak, err := srv.rss()
	if err != nil {
		return err
	}
	fmt.Printf("idle memory     %-8s runners %5d  after %s  RSS %6.1f MB  peak RSS %6.1f MB\n",
		engine, o.runners, o.settle, float64(cur)/1e6, float64(peak)/1e6)
	return nil
}
