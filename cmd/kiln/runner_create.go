package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/kiln-ci/kiln/internal/api/client"
)

// newRunnerCreateCmd is `kiln runner create`: a runner created through the user
// API (POST /user/runners), whose glrt- token `kiln runner register` then takes.
func newRunnerCreateCmd() *cobra.Command {
	var f apiFlags
	var o client.CreateRunnerOptions
	var group, project string
	var runUntagged bool
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a runner on a Kiln server and print its glrt- token",
		Long: `Create a runner on a Kiln server (POST /user/runners) and print its
authentication token, shown once. Give it to the host that will run the jobs:

  kiln runner register --url URL --token glrt-... --executor docker

--machine-type makes it serve one machine type of the server's catalog (it then
carries that type's tag); instance runners are for administrators, group runners
for the group's owners, project runners for those who may change the project.`,
		Example: `  kiln runner create --machine-type saas-linux-medium-amd64-gpu-standard --description "gpu host 1"
  kiln runner create --type project_type --project acme/app --tag-list cuda,a100`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			switch {
			case group != "":
				ns, err := c.Namespace(ctx, group)
				if err != nil {
					return fmt.Errorf("group %s: %w", group, err)
				}
				o.GroupID = ns.ID
			case project != "":
				p, err := c.Project(ctx, project)
				if err != nil {
					return fmt.Errorf("project %s: %w", project, err)
				}
				o.ProjectID = p.ID
			}
			if cmd.Flags().Changed("run-untagged") {
				o.RunUntagged = &runUntagged
			}
			created, err := c.CreateRunner(ctx, o)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if f.asJSON {
				return printJSON(out, created)
			}
			fmt.Fprintf(out, "Runner #%d created. Its token, shown only now:\n  %s\nRegister a host with it:\n  kiln runner register --url %s --token %s\n",
				created.ID, created.Token, f.url, created.Token)
			return nil
		},
	}
	f.register(cmd, false)
	fl := cmd.Flags()
	fl.StringVar(&o.RunnerType, "type", "instance_type", "instance_type, group_type or project_type")
	fl.StringVar(&group, "group", "", "the group of a group runner (id or full path)")
	fl.StringVar(&project, "project", "", "the project of a project runner (id or full path)")
	fl.StringVar(&o.MachineType, "machine-type", "", "machine type the runner serves (see GET /api/v4/machine_types)")
	fl.StringSliceVar(&o.TagList, "tag-list", nil, "tags of the jobs the runner takes (comma-separated)")
	fl.StringVar(&o.Description, "description", "", "description")
	fl.BoolVar(&runUntagged, "run-untagged", false, "take jobs without tags (default: for the untagged machine type, or without tags)")
	fl.BoolVar(&o.Paused, "paused", false, "create it paused")
	fl.BoolVar(&o.Locked, "locked", false, "lock it to its project")
	fl.StringVar(&o.AccessLevel, "access-level", "", "not_protected (default) or ref_protected")
	return cmd
}
