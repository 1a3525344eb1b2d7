package demo

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kiln-ci/kiln/internal/api/client"
	"github.com/kiln-ci/kiln/internal/api/entity"
)

// final reports whether a pipeline status is one the demo stops following at: a
// finished pipeline, or one waiting for someone to play a manual job.
func final(status string) bool {
	switch status {
	case "success", "failed", "canceled", "skipped", "manual":
		return true
	}
	return false
}

// follow reads the unfinished pipelines every cfg.Poll, printing each job's status
// when it changes, until all have finished or ctx ends.
func follow(ctx context.Context, c *client.Client, cfg Config, res *Result) error {
	printed := map[int64]string{} // job id → the status last printed
	finished := make([]bool, len(res.Pipelines))
	for {
		done := true
		for i := range res.Pipelines {
			p := &res.Pipelines[i]
			if finished[i] {
				continue
			}
			// The pipeline first: once it is final, the jobs read after it are too.
			pl, err := c.Pipeline(ctx, p.Project, p.Pipeline.ID)
			if err != nil {
				return quiet(ctx, fmt.Errorf("reading pipeline #%d of %s: %w", p.Pipeline.ID, p.Project, err))
			}
			jobs, err := c.PipelineJobs(ctx, p.Project, p.Pipeline.ID)
			if err != nil {
				return quiet(ctx, fmt.Errorf("reading the jobs of pipeline #%d of %s: %w", p.Pipeline.ID, p.Project, err))
			}
			slices.SortFunc(jobs, func(a, b entity.Job) int { return int(a.ID - b.ID) })
			for _, j := range jobs {
				if printed[j.ID] == j.Status {
					continue
				}
				printed[j.ID] = j.Status
				fmt.Fprintf(cfg.Out, "%-20s #%-4d %-24s %s%s\n", p.Project, p.Pipeline.ID, j.Name, j.Status, why(j))
			}
			p.Pipeline, p.Jobs = *pl, jobs
			if finished[i] = final(pl.Status); finished[i] {
				fmt.Fprintf(cfg.Out, "%-20s #%-4d pipeline %s\n", p.Project, pl.ID, pl.Status)
			} else {
				done = false
			}
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(cfg.Poll):
		}
	}
}

// quiet returns ctx's error instead of err once ctx has ended (the request failed
// because the demo was stopped).
func quiet(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// why is what a progress line adds for a failed job: its reason and Kiln's message.
func why(j entity.Job) string {
	if j.Status != "failed" {
		return ""
	}
	s := " (" + j.FailureReason + ")"
	if j.KilnMessage != "" {
		s += ": " + j.KilnMessage
	}
	return s
}

// summarize prints each pipeline with its jobs: status, duration, artifacts, and
// why a failed job failed (Kiln's message, else the last error line of its log).
func summarize(ctx context.Context, c *client.Client, out io.Writer, res *Result) {
	// The summary is printed also when the demo was stopped: its reads get a moment
	// of their own.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	fmt.Fprintln(out, "\nSummary")
	for i := range res.Pipelines {
		p := &res.Pipelines[i]
		fmt.Fprintf(out, "\n  %s: pipeline #%d %s%s\n  %s\n", p.Project, p.Pipeline.ID, p.Pipeline.Status,
			durationOf(p.Pipeline.Duration, " in "), p.Pipeline.WebURL)
		if e := p.Pipeline.YAMLErrors; e != nil && *e != "" {
			fmt.Fprintf(out, "    the pipeline's configuration is invalid: %s\n", *e)
		}
		tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		for _, j := range p.Jobs {
			detail := artifactsOf(j)
			if j.Status == "failed" {
				detail = j.FailureReason
				msg := j.KilnMessage
				if msg == "" {
					msg = lastError(ctx, c, p.Project, j.ID)
				}
				if msg != "" {
					if p.Errors == nil {
						p.Errors = map[string]string{}
					}
					p.Errors[j.Name] = msg
					detail += ": " + msg
				}
			}
			fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\t%s\n", j.Name, j.Stage, j.Status, durationOf(j.Duration, ""), detail)
		}
		tw.Flush()
	}
}

// durationOf formats a duration in seconds after prefix; "" when there is none.
func durationOf[S int64 | float64](s *S, prefix string) string {
	if s == nil {
		return ""
	}
	d := time.Duration(float64(*s) * float64(time.Second))
	if d < 10*time.Second {
		return prefix + d.Round(100*time.Millisecond).String()
	}
	return prefix + d.Round(time.Second).String()
}

// artifactsOf lists a job's artifacts, e.g. "artifacts: archive 1.2 KiB, dotenv".
func artifactsOf(j entity.Job) string {
	var parts []string
	for _, a := range j.Artifacts {
		if a.FileType == "trace" {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %s", a.FileType, size(a.Size)))
	}
	if len(parts) == 0 {
		return ""
	}
	return "artifacts: " + strings.Join(parts, ", ")
}

func size(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// ansi matches the colour codes of a job log.
var ansi = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)

// lastError returns the last line of a job's log that says ERROR, without colours;
// "" when there is none or the log cannot be read.
func lastError(ctx context.Context, c *client.Client, project string, jobID int64) string {
	chunk, err := c.Trace(ctx, project, jobID, 0)
	if err != nil {
		return ""
	}
	lines := strings.Split(ansi.ReplaceAllString(string(chunk.Data), ""), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		line := strings.TrimSpace(lines[i])
		if _, rest, ok := strings.Cut(line, "ERROR: "); ok {
			return rest
		}
	}
	return ""
}
