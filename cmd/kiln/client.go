package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kiln-ci/kiln/internal/api/client"
)

// apiFlags are the flags of the commands that talk to a Kiln server's user API:
// kiln project, pipeline and job.
type apiFlags struct {
	url, token, project string
	asJSON              bool
}

// register adds --url, --token and --json to cmd and its subcommands, and --project
// when withProject. Defaults come from KILN_URL, KILN_TOKEN and KILN_PROJECT when
// the command runs (so the token never shows in help output).
func (f *apiFlags) register(cmd *cobra.Command, withProject bool) {
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.url, "url", "", "Kiln server URL, e.g. http://127.0.0.1:8080 (default $KILN_URL)")
	pf.StringVar(&f.token, "token", "", "personal access token (default $KILN_TOKEN)")
	pf.BoolVar(&f.asJSON, "json", false, "print the API's JSON instead of a table")
	if withProject {
		pf.StringVarP(&f.project, "project", "p", "", "project id or full path, e.g. acme/app (default $KILN_PROJECT)")
	}
}

// client returns a client of the configured server.
func (f *apiFlags) client() (*client.Client, error) {
	if f.url == "" {
		f.url = os.Getenv("KILN_URL")
	}
	if f.token == "" {
		f.token = os.Getenv("KILN_TOKEN")
	}
	if f.url == "" {
		return nil, errors.New("no server: give --url or set KILN_URL")
	}
	return client.New(f.url, f.token, nil)
}

// projectRef returns the project the command works on.
func (f *apiFlags) projectRef() (string, error) {
	if f.project == "" {
		f.project = os.Getenv("KILN_PROJECT")
	}
	if f.project == "" {
		return "", errors.New("no project: give --project (an id or a full path such as acme/app) or set KILN_PROJECT")
	}
	return f.project, nil
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// painter colours text for a terminal; its zero value (no colour) leaves text as
// it is. Every colour code has the same length, so tables stay aligned.
type painter struct{ on bool }

func newPainter(w io.Writer) painter { return painter{on: useColor(w)} }

func (p painter) paint(code, s string) string {
	if !p.on {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

// status colours a status as GitLab shows it: green passed, red failed, blue
// running, yellow pending, grey canceled or skipped.
func (p painter) status(s string) string {
	code := "39"
	switch s {
	case "success":
		code = "32"
	case "failed":
		code = "31"
	case "running", "canceling":
		code = "34"
	case "pending", "created", "waiting_for_resource", "preparing", "scheduled":
		code = "33"
	case "canceled", "skipped":
		code = "90"
	case "manual":
		code = "35"
	}
	return p.paint(code, s)
}

func (p painter) bold(s string) string { return p.paint("1", s) }

// table writes aligned columns.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	t.row(header...)
	return t
}

func (t *table) row(cells ...string) { fmt.Fprintln(t.tw, strings.Join(cells, "\t")) }

func (t *table) flush() error { return t.tw.Flush() }

// flushPage flushes a table of one page of a list and, when there is a next page,
// says on errOut how to get it.
func (t *table) flushPage(errOut io.Writer, next int) error {
	if err := t.flush(); err != nil {
		return err
	}
	if next != 0 {
		fmt.Fprintf(errOut, "More on page %d (--page %d).\n", next, next)
	}
	return nil
}

// when formats a time for a table: local, to the minute; "-" for none.
func when(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}

// seconds formats a duration in seconds (a job's fractional ones, a pipeline's
// whole ones) as 1m5s (0.4s under ten seconds); "-" for none.
func seconds[S int64 | float64](s *S) string {
	if s == nil {
		return "-"
	}
	d := time.Duration(float64(*s) * float64(time.Second))
	if d < 10*time.Second {
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

func short(sha string) string {
	if len(sha) > 8 {
		return sha[:8]
	}
	return sha
}

// finished reports whether a pipeline or job status is final.
func finished(status string) bool {
	switch status {
	case "success", "failed", "canceled", "skipped":
		return true
	}
	return false
}
