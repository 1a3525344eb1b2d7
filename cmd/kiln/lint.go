package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/kiln-ci/kiln/internal/ci"
)

// lintReport is `kiln lint --json`'s output.
type lintReport struct {
	Valid       bool           `json:"valid"`
	File        string         `json:"file"`
	Files       []string       `json:"files,omitempty"`
	Stages      []string       `json:"stages,omitempty"`
	Jobs        []string       `json:"jobs,omitempty"`
	Diagnostics ci.Diagnostics `json:"diagnostics"`
	// Merged is the merged configuration, with --merged.
	Merged *ci.Value `json:"merged,omitempty"`
}

// lintOptions are `kiln lint`'s flags.
type lintOptions struct {
	file, dir    string
	machineTypes string
	asJSON       bool
	merged       bool
}

func newLintCmd() *cobra.Command {
	var o lintOptions
	cmd := &cobra.Command{
		Use:   "lint",
		Short: "Check a .gitlab-ci.yml as GitLab would",
		Long: `Check a .gitlab-ci.yml the way GitLab checks it before creating a pipeline: YAML
syntax and limits, include:local files, extends, !reference, every keyword's shape,
stages, needs and dependencies. Each finding is printed as file:line:column with
GitLab's wording where GitLab has one.

Each job's tags and KILN_GPU_* variables are checked against the machine types as
kiln server checks them when it creates a pipeline: a request the job's machine type
cannot give (KILN_GPU_COUNT=2 on a one-GPU type), a malformed value, or tags naming
two machine types is an error at the job. The catalog is the default one, or the
default with --machine-types FILE, the same file as kiln server's. Variables a
project or a pipeline adds are not known here.

Keywords Kiln parses but does not carry out (id_tokens, secrets, trigger, pages,
release, run, ...) are warnings: the file stays valid.

--merged prints the configuration after includes, extends and !reference are
resolved, with each visible job's defaults folded in and hidden jobs left out: what
each job runs with, as gitlab-ci-local's --preview shows it. (GitLab's "merged YAML"
stops earlier: it keeps hidden jobs and the default: section as written.)

Exit status: 0 when the configuration is valid (warnings allowed), 1 when it is
invalid, 2 for a usage error such as a file that does not exist.`,
		Example: `  kiln lint
  kiln lint --file ci/pipeline.yml --json
  kiln lint --merged > merged.yml
  kiln lint --machine-types /etc/kiln/machine-types.toml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runLint(cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.file, "file", "f", ci.DefaultFile, "configuration file, relative to the repository directory (or an absolute path inside it)")
	f.StringVarP(&o.dir, "dir", "C", ".", "repository directory (include:local paths start here)")
	f.StringVar(&o.machineTypes, "machine-types", "", "TOML file of [[machine_types]] to add to (or replace in) the default catalog, as for kiln server")
	f.BoolVar(&o.asJSON, "json", false, "print a JSON report for tools")
	f.BoolVar(&o.merged, "merged", false, "print the merged configuration (YAML, or in the JSON report)")
	return cmd
}

func runLint(cmd *cobra.Command, o lintOptions) error {
	catalog, err := loadCatalog(o.machineTypes)
	if err != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "kiln lint: %v\n", err)
		return exitError{code: 2}
	}
	name, err := repoPath(o.dir, o.file)
	if err != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "kiln lint: %v\n", err)
		return exitError{code: 2}
	}
	fsys := os.DirFS(o.dir)
	if st, err := fs.Stat(fsys, name); err != nil || st.IsDir() {
		if err == nil {
			err = errors.New("is a directory, not a configuration file")
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "kiln lint: %s: %v\n", filepath.Join(o.dir, name), unwrapPath(err))
		return exitError{code: 2}
	}
	cfg, diags := ci.Load(fsys, name, ci.LoadOptions{Catalog: catalog})
	valid := cfg != nil
	out := cmd.OutOrStdout()
	merged := o.merged
	if o.asJSON {
		rep := lintReport{Valid: valid, File: name, Diagnostics: diags}
		if rep.Diagnostics == nil {
			rep.Diagnostics = ci.Diagnostics{}
		}
		if cfg != nil {
			rep.Files, rep.Stages = cfg.Files, cfg.Stages
			for _, j := range cfg.Jobs {
				rep.Jobs = append(rep.Jobs, j.Name)
			}
			if merged {
				rep.Merged = cfg.Merged()
			}
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return fmt.Errorf("writing the report: %w", err)
		}
	} else {
		diagOut := out
		if merged {
			diagOut = cmd.ErrOrStderr() // keep stdout pure YAML
		}
		color := useColor(diagOut)
		for _, d := range diags {
			fmt.Fprintln(diagOut, formatDiagnostic(d, color))
		}
		if merged && cfg != nil {
			y, err := ci.MarshalYAML(cfg.Merged())
			if err != nil {
				return err
			}
			if _, err := out.Write(y); err != nil {
				return fmt.Errorf("writing the merged configuration: %w", err)
			}
		} else {
			fmt.Fprintln(diagOut, lintSummary(name, cfg, diags))
		}
	}
	if !valid {
		return exitError{code: 1}
	}
	return nil
}

// repoPath is --file as a path inside the repository directory dir: a relative path
// as given, an absolute one relative to dir. A path outside dir is an error.
func repoPath(dir, file string) (string, error) {
	name := file
	if filepath.IsAbs(file) {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return "", fmt.Errorf("--dir %s: %w", dir, err)
		}
		if name, err = filepath.Rel(abs, file); err != nil {
			return "", fmt.Errorf("--file %s: %w", file, err)
		}
	}
	name = filepath.ToSlash(filepath.Clean(name))
	if !fs.ValidPath(name) || name == "." {
		return "", fmt.Errorf("--file %s is not a file inside the repository directory %s (set it with -C)", file, dir)
	}
	return name, nil
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func lintSummary(name string, cfg *ci.Config, diags ci.Diagnostics) string {
	errs, warns := len(diags.Errors()), len(diags.Warnings())
	if cfg == nil {
		return fmt.Sprintf("%s is invalid: %s, %s", name, plural(errs, "error"), plural(warns, "warning"))
	}
	return fmt.Sprintf("%s is valid: %s in %d stages, %s", name, plural(len(cfg.Jobs), "job"), len(cfg.Stages), plural(warns, "warning"))
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// formatDiagnostic prints "file:line:col: error: message", the severity coloured on a
// terminal.
func formatDiagnostic(d ci.Diagnostic, color bool) string {
	if !color {
		return d.String()
	}
	sev := "\x1b[1;31merror\x1b[0m"
	if d.Severity == ci.SeverityWarning {
		sev = "\x1b[1;33mwarning\x1b[0m"
	}
	if p := d.Pos.String(); p != "" {
		return "\x1b[1m" + p + ":\x1b[0m " + sev + ": " + d.Message
	}
	return sev + ": " + d.Message
}

// useColor reports whether w is a terminal and NO_COLOR is unset or empty
// (https://no-color.org).
func useColor(w io.Writer) bool {
	if os.Getenv("NO_COLOR") != "" { // no-color.org: set and not empty
		return false
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
