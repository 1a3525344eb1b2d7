package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/kiln-ci/kiln/internal/gpu"
	"github.com/kiln-ci/kiln/internal/gpu/lease"
	"github.com/kiln-ci/kiln/internal/machine"
)

// defaultGPUStateDir is where a runner keeps GPU leases and quarantine records unless
// KILN_GPU_STATE_DIR or --state-dir says otherwise.
const defaultGPUStateDir = "/var/lib/kiln/gpu"

func gpuStateDir() string {
	if d := os.Getenv("KILN_GPU_STATE_DIR"); d != "" {
		return d
	}
	return defaultGPUStateDir
}

func newGPUCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "gpu",
		Short: "Show this host's GPUs, their health and leases",
		Long: `Show this host's GPUs as the runner sees them: every allocatable GPU or MIG slice,
whether it is healthy or quarantined (and why), and which job holds it.

A GPU that fails its health check or its scrub after a job is quarantined: runners
stop giving it to jobs until an operator has looked at it (reset or replace it) and
runs "kiln gpu release-quarantine UUID". Quarantine records live in the runner's GPU
state directory (` + defaultGPUStateDir + ` unless KILN_GPU_STATE_DIR or --state-dir
says otherwise), in state.json.`,
	}
	cmd.PersistentFlags().String("state-dir", gpuStateDir(), "the runner's GPU state directory")
	cmd.AddCommand(newGPUListCmd(), newGPUReleaseQuarantineCmd())
	return cmd
}

func newGPUListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List GPUs with health, quarantine and current leases",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, _ := cmd.Flags().GetString("state-dir")
			host, err := gpu.OpenHost(cmd.Context(), nil)
			if err != nil {
				return fmt.Errorf("opening the GPU driver: %w", err)
			}
			defer host.Close()
			inv, err := host.Inventory(cmd.Context())
			if err != nil {
				return fmt.Errorf("discovering GPUs: %w", err)
			}
			st, err := readGPUState(dir)
			if err != nil {
				return err
			}
			l := gpu.List(inv, st)
			l.StateDir = dir
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(l)
			}
			printGPUListing(cmd.OutOrStdout(), l)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	return cmd
}

// readGPUState reads the state directory without creating it: a host that never ran
// a runner has no leases.
func readGPUState(dir string) (lease.State, error) {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return lease.State{}, nil
	}
	store, err := lease.Open(dir)
	if err != nil {
		return lease.State{}, err
	}
	return store.Read()
}

func printGPUListing(w io.Writer, l gpu.Listing) {
	if len(l.GPUs) == 0 {
		if l.Source == "none" {
			fmt.Fprintln(w, "No GPUs: this host has no NVIDIA driver (NVML cannot be loaded and nvidia-smi is not found).")
		} else {
			fmt.Fprintf(w, "No GPUs: the NVIDIA driver %s reports none.\n", l.DriverVersion)
		}
	} else {
		fmt.Fprintf(w, "Driver %s, CUDA %s (read through %s); %d of %d free.\n\n", l.DriverVersion, l.CUDAVersion, l.Source, l.Free, len(l.GPUs))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "INDEX\tUUID\tNAME\tMEMORY\tCC\tHEALTH\tLEASE")
		for _, e := range l.GPUs {
			health := "healthy"
			if e.Quarantine != nil {
				health = "quarantined: " + e.Quarantine.Reason
			}
			held := "-"
			if e.Lease != nil {
				held = fmt.Sprintf("job %d", e.Lease.JobID)
				if e.Lease.Project != "" {
					held += " (" + e.Lease.Project + ")"
				}
				held += " since " + e.Lease.Since.Format("2006-01-02 15:04:05Z")
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Index, e.UUID, e.Name, machine.FormatBytes(e.MemoryBytes), e.ComputeCapability, health, held)
		}
		tw.Flush()
	}
	var gone []string
	for _, q := range l.Quarantined {
		found := false
		for _, e := range l.GPUs {
			found = found || e.UUID == q.UUID
		}
		if !found {
			gone = append(gone, fmt.Sprintf("  %s: %s (since %s)", q.UUID, q.Reason, q.Since.Format("2006-01-02 15:04:05Z")))
		}
	}
	if len(gone) > 0 {
		fmt.Fprintf(w, "\nQuarantined GPUs not found on this host now:\n%s\n", strings.Join(gone, "\n"))
	}
	if len(l.Quarantined) > 0 {
		fmt.Fprintln(w, "\nAfter fixing a GPU, return it to use with: kiln gpu release-quarantine UUID")
	}
}

func newGPUReleaseQuarantineCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "release-quarantine UUID",
		Short: "Return a quarantined GPU to use",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, _ := cmd.Flags().GetString("state-dir")
			if _, err := os.Stat(dir); err != nil {
				return fmt.Errorf("GPU state directory %s: %w", dir, err)
			}
			store, err := lease.Open(dir)
			if err != nil {
				return err
			}
			if err := store.Unquarantine(args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "GPU %s is no longer quarantined.\n", args[0])
			return nil
		},
	}
}
