package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/kiln-ci/kiln/internal/api/client"
)

func newJobCmd() *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "job",
		Short: "Show jobs and their logs on a Kiln server",
		Long: `Work with the jobs of a project on a Kiln server. The server comes from --url or
KILN_URL, the personal access token from --token or KILN_TOKEN, the project from
--project or KILN_PROJECT.`,
	}
	f.register(cmd, true)
	cmd.AddCommand(newJobLogCmd(&f), newJobShowCmd(&f))
	return cmd
}

func newJobLogCmd(f *apiFlags) *cobra.Command {
	var follow bool
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "log JOB_ID",
		Short: "Print a job's log; -f follows it until the job finishes",
		Long: `Print a job's log as the runner sent it (masked variables are masked by the
runner). With -f, keep printing what the job writes until it finishes, then say
how it ended on standard error.`,
		Example: "  kiln job log -p acme/app -f 1234",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, project, id, err := clientProjectAndID(f, "job", args[0])
			if err != nil {
				return err
			}
			return followLog(cmd.Context(), c, project, id, cmd.OutOrStdout(), cmd.ErrOrStderr(), follow, interval)
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "follow the log until the job finishes")
	cmd.Flags().DurationVar(&interval, "interval", time.Second, "how often -f asks for more of the log")
	return cmd
}

// followLog prints the log of a job from its start; when follow is set it asks
// for what was added every interval until the job is finished and nothing more
// came, then reports how the job ended on errOut.
func followLog(ctx context.Context, c *client.Client, project string, id int64, out, errOut io.Writer, follow bool, interval time.Duration) error {
	var offset int64
	for {
		chunk, err := c.Trace(ctx, project, id, offset)
		if err != nil {
			return err
		}
		if _, err := out.Write(chunk.Data); err != nil {
			return err
		}
		offset = chunk.Next
		if !follow {
			return nil
		}
		status := chunk.JobStatus
		if status == "" { // a server that does not say (GitLab): ask
			j, err := c.Job(ctx, project, id)
			if err != nil {
				return err
			}
			status = j.Status
		}
		if finished(status) && len(chunk.Data) == 0 {
			return reportEnd(ctx, c, project, id, errOut)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

func reportEnd(ctx context.Context, c *client.Client, project string, id int64, errOut io.Writer) error {
	j, err := c.Job(ctx, project, id)
	if err != nil {
		return err
	}
	p := newPainter(errOut)
	line := fmt.Sprintf("Job #%d %s %s", j.ID, j.Name, p.status(j.Status))
	if j.FailureReason != "" {
		line += " (" + j.FailureReason + ")"
	}
	if j.KilnMessage != "" {
		line += ": " + j.KilnMessage
	}
	fmt.Fprintln(errOut, line)
	return nil
}

func newJobShowCmd(f *apiFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "show JOB_ID",
		Short: "Show a job",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, project, id, err := clientProjectAndID(f, "job", args[0])
			if err != nil {
				return err
			}
			j, err := c.Job(cmd.Context(), project, id)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if f.asJSON {
				return printJSON(out, j)
			}
			p := newPainter(out)
			fmt.Fprintf(out, "Job %s %s (stage %s) %s\n", p.bold("#"+strconv.FormatInt(j.ID, 10)), j.Name, j.Stage, p.status(j.Status))
			fmt.Fprintf(out, "  pipeline #%d, ref %s at %s\n", j.Pipeline.ID, j.Ref, short(j.Commit.ID))
			fmt.Fprintf(out, "  started %s, finished %s, duration %s\n", when(j.StartedAt), when(j.FinishedAt), seconds(j.Duration))
			if j.MachineType != "" {
				fmt.Fprintf(out, "  machine type %s", j.MachineType)
				if j.GPUCount > 0 {
					fmt.Fprintf(out, ", %d GPU(s)", j.GPUCount)
				}
				fmt.Fprintln(out)
			}
			if j.Runner != nil {
				fmt.Fprintf(out, "  runner #%d %s\n", j.Runner.ID, j.Runner.Description)
			}
			if j.FailureReason != "" || j.KilnMessage != "" {
				fmt.Fprintf(out, "  %s\n", p.paint("31", j.FailureReason+" "+j.KilnMessage))
			}
			if j.ArtifactsFile != nil {
				fmt.Fprintf(out, "  artifacts %s (%d bytes)\n", j.ArtifactsFile.Filename, j.ArtifactsFile.Size)
			}
			fmt.Fprintf(out, "  %s\n", j.WebURL)
			return nil
		},
	}
}
