package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kiln-ci/kiln/internal/api/client"
	"github.com/kiln-ci/kiln/internal/api/entity"
)

func newPipelineCmd() *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "pipeline",
		Short: "Run, list and show pipelines on a Kiln server",
		Long: `Work with the pipelines of a project on a Kiln server (or any server with GitLab's
API). The server comes from --url or KILN_URL, the personal access token from
--token or KILN_TOKEN, the project from --project or KILN_PROJECT.`,
	}
	f.register(cmd, true)
	cmd.AddCommand(newPipelineRunCmd(&f), newPipelineListCmd(&f), newPipelineShowCmd(&f),
		newPipelineActionCmd(&f, "cancel"), newPipelineActionCmd(&f, "retry"))
	return cmd
}

func newPipelineRunCmd(f *apiFlags) *cobra.Command {
	var ref string
	var vars []string
	var wait bool
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Create a pipeline for a branch or tag",
		Long: `Create a pipeline for a branch or tag, as GitLab's "Run pipeline" does, with
variables of the highest precedence. With --wait, follow its jobs until it
finishes: the exit status is then 0 only if it succeeded.`,
		Example: `  kiln pipeline run -p acme/app --ref main -v MODEL=resnet50
  kiln pipeline run -p acme/app --wait`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, project, err := clientAndProject(f)
			if err != nil {
				return err
			}
			var pvs []entity.PipelineVariable
			for _, kv := range vars {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return fmt.Errorf("--variable %q: want KEY=VALUE", k)
				}
				pvs = append(pvs, entity.PipelineVariable{Key: k, Value: v, VariableType: "env_var"})
			}
			ctx := cmd.Context()
			pl, err := c.CreatePipeline(ctx, project, ref, pvs)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if !wait {
				if f.asJSON {
					return printJSON(out, pl)
				}
				p := newPainter(out)
				fmt.Fprintf(out, "Pipeline %s created for %s at %s: %s\n%s\n", p.bold("#"+strconv.FormatInt(pl.ID, 10)), pl.Ref,
					short(pl.SHA), p.status(pl.Status), pl.WebURL)
				return nil
			}
			return waitPipeline(ctx, c, project, pl, out, f.asJSON, interval)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&ref, "ref", "main", "branch or tag to run the pipeline for")
	fl.StringArrayVarP(&vars, "variable", "v", nil, "a variable KEY=VALUE for the pipeline (repeatable)")
	fl.BoolVarP(&wait, "wait", "w", false, "follow the pipeline until it finishes; exit 1 unless it succeeds")
	fl.DurationVar(&interval, "interval", 2*time.Second, "how often --wait asks for news")
	return cmd
}

func clientAndProject(f *apiFlags) (*client.Client, string, error) {
	c, err := f.client()
	if err != nil {
		return nil, "", err
	}
	project, err := f.projectRef()
	return c, project, err
}

// clientProjectAndID is what a command about one pipeline or job needs: the client,
// the project and the id its argument names (what is "pipeline" or "job").
func clientProjectAndID(f *apiFlags, what, arg string) (*client.Client, string, int64, error) {
	c, project, err := clientAndProject(f)
	if err != nil {
		return nil, "", 0, err
	}
	id, err := parseID(what, arg)
	if err != nil {
		return nil, "", 0, err
	}
	return c, project, id, nil
}

// waitPipeline prints each job's status as it changes until the pipeline finishes,
// then the pipeline's jobs. It returns exit status 1 unless the pipeline succeeded.
func waitPipeline(ctx context.Context, c *client.Client, project string, pl *entity.Pipeline, out io.Writer, asJSON bool, interval time.Duration) error {
	p := newPainter(out)
	if !asJSON {
		fmt.Fprintf(out, "Pipeline %s for %s at %s: %s\n", p.bold("#"+strconv.FormatInt(pl.ID, 10)), pl.Ref, short(pl.SHA), pl.WebURL)
	}
	seen := map[int64]string{}
	for {
		jobs, err := c.PipelineJobs(ctx, project, pl.ID)
		if err != nil {
			return err
		}
		for _, j := range jobs {
			if seen[j.ID] != j.Status && !asJSON {
				fmt.Fprintf(out, "%s  %-20s %s\n", time.Now().Format("15:04:05"), j.Name, p.status(j.Status))
			}
			seen[j.ID] = j.Status
		}
		if pl, err = c.Pipeline(ctx, project, pl.ID); err != nil {
			return err
		}
		if finished(pl.Status) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
	if asJSON {
		if err := printJSON(out, pl); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(out, "Pipeline #%d %s\n", pl.ID, p.status(pl.Status))
	}
	if pl.Status != "success" {
		return exitError{code: 1}
	}
	return nil
}

func newPipelineListCmd(f *apiFlags) *cobra.Command {
	var o client.PipelineListOptions
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List a project's pipelines, newest first",
		Example: "  kiln pipeline list -p acme/app --status failed --ref main",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, project, err := clientAndProject(f)
			if err != nil {
				return err
			}
			pls, page, err := c.Pipelines(cmd.Context(), project, o)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if f.asJSON {
				return printJSON(out, pls)
			}
			p := newPainter(out)
			t := newTable(out, "ID", "IID", "STATUS", "REF", "COMMIT", "SOURCE", "CREATED")
			for _, pl := range pls {
				created := pl.CreatedAt
				t.row(strconv.FormatInt(pl.ID, 10), strconv.FormatInt(pl.IID, 10), p.status(pl.Status), pl.Ref, short(pl.SHA),
					pl.Source, when(&created))
			}
			return t.flushPage(cmd.ErrOrStderr(), page.Next)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Status, "status", "", "only pipelines in this status (success, failed, running, ...)")
	fl.StringVar(&o.Ref, "ref", "", "only pipelines of this branch or tag")
	fl.IntVar(&o.Page, "page", 1, "page to show")
	fl.IntVar(&o.PerPage, "per-page", 20, "pipelines per page (at most 100)")
	return cmd
}

func newPipelineShowCmd(f *apiFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "show PIPELINE_ID",
		Short:   "Show a pipeline and its jobs",
		Example: "  kiln pipeline show -p acme/app 42",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, project, id, err := clientProjectAndID(f, "pipeline", args[0])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			pl, err := c.Pipeline(ctx, project, id)
			if err != nil {
				return err
			}
			jobs, err := c.PipelineJobs(ctx, project, id)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if f.asJSON {
				return printJSON(out, struct {
					*entity.Pipeline
					Jobs []entity.Job `json:"jobs"`
				}{pl, jobs})
			}
			return printPipeline(out, pl, jobs)
		},
	}
}

func printPipeline(out io.Writer, pl *entity.Pipeline, jobs []entity.Job) error {
	p := newPainter(out)
	fmt.Fprintf(out, "Pipeline %s (#%d of the project) %s\n", p.bold("#"+strconv.FormatInt(pl.ID, 10)), pl.IID, p.status(pl.Status))
	fmt.Fprintf(out, "  ref %s at %s, source %s", pl.Ref, short(pl.SHA), pl.Source)
	if pl.User != nil {
		fmt.Fprintf(out, ", by %s", pl.User.Username)
	}
	fmt.Fprintf(out, "\n  created %s, duration %s\n  %s\n", when(&pl.CreatedAt), seconds(pl.Duration), pl.WebURL)
	if pl.YAMLErrors != nil {
		fmt.Fprintf(out, "  %s\n", p.paint("31", "YAML errors: "+*pl.YAMLErrors))
	}
	if len(jobs) == 0 {
		return nil
	}
	fmt.Fprintln(out)
	t := newTable(out, "JOB", "NAME", "STAGE", "STATUS", "DURATION", "RUNNER", "NOTE")
	for _, j := range jobs {
		runner := "-"
		if j.Runner != nil {
			runner = "#" + strconv.FormatInt(j.Runner.ID, 10)
		}
		note := j.FailureReason
		if j.KilnMessage != "" {
			note = strings.TrimSpace(note + " " + j.KilnMessage)
		}
		if j.AllowFailure && j.Status == "failed" {
			note = strings.TrimSpace("allowed to fail " + note)
		}
		t.row(strconv.FormatInt(j.ID, 10), j.Name, j.Stage, p.status(j.Status), seconds(j.Duration), runner, note)
	}
	return t.flush()
}

func newPipelineActionCmd(f *apiFlags, action string) *cobra.Command {
	short := map[string]string{"cancel": "Cancel a pipeline's unfinished jobs", "retry": "Retry a pipeline's failed and canceled jobs"}
	return &cobra.Command{
		Use:   action + " PIPELINE_ID",
		Short: short[action],
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, project, id, err := clientProjectAndID(f, "pipeline", args[0])
			if err != nil {
				return err
			}
			act := c.CancelPipeline
			if action == "retry" {
				act = c.RetryPipeline
			}
			pl, err := act(cmd.Context(), project, id)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if f.asJSON {
				return printJSON(out, pl)
			}
			fmt.Fprintf(out, "Pipeline #%d %s\n", pl.ID, newPainter(out).status(pl.Status))
			return nil
		},
	}
}

// parseID reads a numeric id argument.
func parseID(what, s string) (int64, error) {
	id, err := strconv.ParseInt(strings.TrimPrefix(s, "#"), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%s id %q: want a number such as 42", what, s)
	}
	return id, nil
}
