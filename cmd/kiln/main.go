// Command kiln is Kiln's one binary: the coordinator (server), the GPU runner agent
// (runner), local pipelines (exec), the all-in-one (up) and tools (lint, gpu, ...).
// This package only parses flags and wires packages together.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/kiln-ci/kiln/internal/version"
)

// exitError carries a process exit status through cobra without printing twice.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "kiln",
		Short: "GPU-enabled CI runners you host yourself",
		Long: `Kiln runs GitLab CI jobs on GPU hosts: a coordinator that hosts repositories and
schedules pipelines (kiln server), a runner that owns each host's GPUs (kiln runner),
local pipelines with GPUs (kiln exec) and everything on one machine (kiln up).

A .gitlab-ci.yml written for GitLab runs unchanged; the tag
saas-linux-medium-amd64-gpu-standard gives a job one GPU.`,
		Version:       version.String(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.AddCommand(
		newVersionCmd(),
		newGPUCmd(),
		newLintCmd(),
		newRunnerCmd(),
		newServerCmd(),
		newProjectCmd(),
		newPipelineCmd(),
		newJobCmd(),
		newExecCmd(),
		newUpCmd(),
	)
	refuseUnknownSubcommands(root)
	return root
}

// refuseUnknownSubcommands makes every command group below root (kiln runner, kiln
// job, ...) refuse an argument that names none of its commands. cobra checks that
// only for the root: "kiln job lst" printed kiln job's help and exited 0. A group
// given no argument still prints its help.
func refuseUnknownSubcommands(root *cobra.Command) {
	for _, c := range root.Commands() {
		if c.HasSubCommands() && !c.Runnable() {
			c.Args = func(cmd *cobra.Command, args []string) error {
				if len(args) > 0 {
					return fmt.Errorf("unknown command %q for %q; see %s --help", args[0], cmd.CommandPath(), cmd.CommandPath())
				}
				return nil
			}
			c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
		}
		refuseUnknownSubcommands(c)
	}
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print Kiln's version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), version.String())
		},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err == nil {
		return
	}
	var ee exitError
	if errors.As(err, &ee) {
		os.Exit(ee.code)
	}
	fmt.Fprintln(os.Stderr, "kiln:", err)
	os.Exit(2)
}
