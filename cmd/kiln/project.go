package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/kiln-ci/kiln/internal/api/client"
)

func newProjectCmd() *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "project",
		Short: "Create and list projects on a Kiln server",
		Long: `Create and list projects on a Kiln server. Each project has a hosted git
repository: push to it and its .gitlab-ci.yml runs. The server comes from --url or
KILN_URL, the personal access token from --token or KILN_TOKEN.`,
	}
	f.register(cmd, false)
	cmd.AddCommand(newProjectCreateCmd(&f), newProjectListCmd(&f))
	return cmd
}

func newProjectCreateCmd(f *apiFlags) *cobra.Command {
	var o client.CreateProjectOptions
	var namespace string
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a project and its repository",
		Example: `  kiln project create "Model Zoo" --namespace ml-team
  kiln project create app --visibility internal`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			o.Name = args[0]
			if namespace != "" {
				ns, err := c.Namespace(ctx, namespace)
				if err != nil {
					return fmt.Errorf("namespace %s: %w", namespace, err)
				}
				o.NamespaceID = ns.ID
			}
			p, err := c.CreateProject(ctx, o)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if f.asJSON {
				return printJSON(out, p)
			}
			pt := newPainter(out)
			fmt.Fprintf(out, "Project %s created (id %d, %s).\n", pt.bold(p.PathWithNamespace), p.ID, p.Visibility)
			fmt.Fprintf(out, "Push to it:\n  git remote add kiln %s\n  git push kiln %s\n", p.HTTPURLToRepo, p.DefaultBranch)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Path, "path", "", "the project's path (default: made from its name)")
	fl.StringVar(&namespace, "namespace", "", "group or user namespace, id or full path (default: yours)")
	fl.StringVar(&o.Description, "description", "", "description")
	fl.StringVar(&o.Visibility, "visibility", "", "private (default), internal or public")
	fl.StringVar(&o.DefaultBranch, "default-branch", "", "default branch (default main)")
	return cmd
}

func newProjectListCmd(f *apiFlags) *cobra.Command {
	var o client.ProjectListOptions
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the projects you can see, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			projects, page, err := c.Projects(cmd.Context(), o)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if f.asJSON {
				return printJSON(out, projects)
			}
			t := newTable(out, "ID", "PROJECT", "VISIBILITY", "DEFAULT BRANCH", "CLONE URL")
			for _, p := range projects {
				t.row(strconv.FormatInt(p.ID, 10), p.PathWithNamespace, p.Visibility, p.DefaultBranch, p.HTTPURLToRepo)
			}
			return t.flushPage(cmd.ErrOrStderr(), page.Next)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Search, "search", "", "only projects whose name or path contains this")
	fl.BoolVar(&o.Owned, "owned", false, "only projects you own")
	fl.IntVar(&o.Page, "page", 1, "page to show")
	fl.IntVar(&o.PerPage, "per-page", 20, "projects per page (at most 100)")
	return cmd
}
