package localrun

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/runner"
)

// Result is how a local pipeline ended; its JSON form is `kiln exec --report`'s,
// exactly the keys the issue gives: {"status", "jobs": [{"name", "stage", "status",
// "allow_failure", "exit_code", "failure_reason", "duration_s", "artifacts"}]}.
// Statuses are GitLab's words: success, failed, canceled, skipped, manual.
type Result struct {
	Status string      `json:"status"`
	Jobs   []JobResult `json:"jobs"`
	// Duration is the pipeline's wall time.
	Duration time.Duration `json:"-"`
}

// JobResult is how one job ended.
type JobResult struct {
	Name   string `json:"name"`
	Stage  string `json:"stage"`
	Status string `json:"status"`
	// AllowFailure is the job's allow_failure, with allow_failure:exit_codes decided
	// by its exit code.
	AllowFailure bool `json:"allow_failure"`
	// ExitCode is the script's exit status when it failed (0 otherwise).
	ExitCode int `json:"exit_code"`
	// FailureReason is GitLab's (or, for GPU faults and OOM kills, Kiln's) reason.
	FailureReason string  `json:"failure_reason"`
	DurationS     float64 `json:"duration_s"`
	// Artifacts are the files the job uploaded, relative to the project directory.
	Artifacts []string `json:"artifacts"`
	// Message says why the job failed, or why it did not run.
	Message string `json:"-"`
	// Coverage is the job's coverage, extracted with its coverage keyword.
	Coverage *float64 `json:"-"`
	// Retries counts the attempts before the last.
	Retries int `json:"-"`
	// ID is the last attempt's CI_JOB_ID (0 when it never ran).
	ID int64 `json:"-"`
	// Outcome is the runner's outcome of the last attempt (nil when it never ran).
	Outcome *runner.Outcome `json:"-"`
}

// Job returns the result of the job named name.
func (r *Result) Job(name string) (JobResult, bool) {
	for _, j := range r.Jobs {
		if j.Name == name {
			return j, true
		}
	}
	return JobResult{}, false
}

// Failed reports whether the pipeline failed or was canceled.
func (r *Result) Failed() bool { return r.Status == StatusFailed || r.Status == StatusCanceled }

func (p *Pipeline) result(d time.Duration, stopped bool) *Result {
	res := &Result{Duration: d, Jobs: make([]JobResult, 0, len(p.jobs))}
	ms := make([]member, 0, len(p.jobs))
	for _, js := range p.jobs {
		ms = append(ms, member{js.status, js.allowFailure})
		jr := JobResult{Name: js.job.Name, Stage: js.job.Stage, Status: js.status, AllowFailure: js.allowFailure,
			Artifacts: []string{}, Message: js.reason, Coverage: js.coverage, ID: js.id, Outcome: js.outcome}
		if js.attempt > 1 {
			jr.Retries = js.attempt - 1
		}
		if o := js.outcome; o != nil {
			jr.DurationS = o.Duration.Seconds()
			if !o.Succeeded() {
				jr.ExitCode, jr.FailureReason, jr.Message = o.ExitCode, o.FailureReason, o.Message
			}
			for _, a := range o.Artifacts {
				if a.Type != jobspec.ArtifactTypeArchive {
					continue
				}
				for _, f := range a.Files {
					if !slices.Contains(jr.Artifacts, f) {
						jr.Artifacts = append(jr.Artifacts, f)
					}
				}
			}
		}
		if js.status == StatusCreated {
			// Never reached: a blocking manual job (allow_failure: false) held it back.
			jr.Status, jr.Message = StatusSkipped, "blocked by a manual job that was not played"
		}
		res.Jobs = append(res.Jobs, jr)
	}
	res.Status = composite(ms, false)
	switch res.Status {
	case StatusSuccess, StatusFailed, StatusCanceled, StatusSkipped, StatusManual:
	default:
		res.Status = StatusFailed // cannot happen: every job has ended
	}
	if stopped && res.Status == StatusSuccess {
		res.Status = StatusCanceled
	}
	return res
}

// WriteReport writes r as JSON to path (`--report`).
func (r *Result) WriteReport(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	return nil
}

// WriteSummary writes the table of jobs (job, stage, status, duration) and the
// pipeline's status.
func (r *Result) WriteSummary(w io.Writer, color bool) {
	paint := func(status, s string) string {
		if !color {
			return s
		}
		switch status {
		case StatusSuccess:
			return ansiGreen + s + ansiReset
		case StatusFailed:
			return ansiRed + s + ansiReset
		case StatusCanceled, StatusManual:
			return ansiYellow + s + ansiReset
		}
		return ansiGrey + s + ansiReset
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	header := "STATUS"
	if color {
		header = "\x1b[39m" + header + ansiReset // as long as the rows' colours
	}
	fmt.Fprintf(tw, "JOB\tSTAGE\t%s\tDURATION\t\n", header)
	for _, j := range r.Jobs {
		status := j.Status
		if j.Status == StatusFailed && j.AllowFailure {
			status += " (allowed)"
		}
		dur := "-"
		if j.Outcome != nil {
			dur = formatDuration(time.Duration(j.DurationS * float64(time.Second)))
		}
		note := ""
		if j.Message != "" && j.Status != StatusSuccess {
			note = j.Message
		}
		// Every colour adds the same number of bytes, so the columns stay aligned.
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", j.Name, j.Stage, paint(j.Status, status), dur, note)
	}
	tw.Flush()
	word := map[string]string{StatusSuccess: "passed", StatusFailed: "failed", StatusCanceled: "was canceled",
		StatusSkipped: "was skipped", StatusManual: "is blocked by a manual job"}[r.Status]
	fmt.Fprintln(w, paint(r.Status, fmt.Sprintf("Pipeline %s (%s) in %s", word, r.Status, formatDuration(r.Duration))))
}

// header prints the pipeline's first lines: what runs, and the configuration's
// warnings.
func (p *Pipeline) header() {
	short := p.repo.SHA
	if len(short) > 8 {
		short = short[:8]
	}
	name := ""
	if p.compiled.Name != "" {
		name = " " + strconv.Quote(p.compiled.Name)
	}
	p.out.progress(ansiBold, "pipeline #%d%s for %s (%s): %d job(s) with the %s executor",
		p.info.ID, name, p.repo.Ref, short, len(p.jobs), p.opts.Executor.Name())
	for _, w := range p.warnings {
		p.out.progress(ansiYellow, "warning: %s", w.String())
	}
}

// formatDuration prints a duration for people: 0.42s, 12.3s, 2m5s.
func formatDuration(d time.Duration) string {
	switch {
	case d < 10*time.Second:
		return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + "s"
	case d < time.Minute:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	}
	return d.Round(time.Second).String()
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
