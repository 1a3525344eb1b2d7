package telemetry

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kiln-ci/kiln/internal/gpu/device"
	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/protocol"
)

// ReportFile is the job report's file name.
const ReportFile = "gpu-telemetry.json"

// Report is a job's GPU telemetry: figures per GPU and the samples they come from.
type Report struct {
	JobID           int64                   `json:"job_id"`
	Project         string                  `json:"project,omitempty"`
	IntervalSeconds float64                 `json:"interval_seconds"`
	Started         time.Time               `json:"started"`
	Finished        time.Time               `json:"finished"`
	GPUs            []protocol.GPUTelemetry `json:"gpus"`
	Samples         []device.Sample         `json:"samples"`
}

// WriteJSON writes the report as gpu-telemetry.json content.
func (r Report) WriteJSON(w io.Writer) error {
	if r.GPUs == nil {
		r.GPUs = []protocol.GPUTelemetry{}
	}
	if r.Samples == nil {
		r.Samples = []device.Sample{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("writing %s: %w", ReportFile, err)
	}
	return nil
}

// Footer returns the lines for the end of the job log: per GPU, its peak memory, mean
// utilisation, energy and peak temperature, aligned.
func (r Report) Footer() string {
	var b strings.Builder
	n := 0
	for _, g := range r.GPUs {
		n = max(n, g.Samples)
	}
	fmt.Fprintf(&b, "GPU telemetry (%d samples, every %s):\n", n, time.Duration(r.IntervalSeconds*float64(time.Second)))
	tw := tabwriter.NewWriter(&b, 0, 0, 3, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "GPU\tpeak memory\tmean util\tmean power\tenergy\tpeak temp\t\n")
	for _, g := range r.GPUs {
		if g.Samples == 0 {
			fmt.Fprintf(tw, "%s\tno samples\t\t\t\t\t\n", g.UUID)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%.1f %%\t%.0f W\t%.0f J\t%.0f °C\t\n", g.UUID, machine.FormatBytes(g.PeakMemoryBytes),
			g.MeanUtilizationPct, g.MeanPowerWatts, g.EnergyJoules, g.PeakTemperatureC)
	}
	tw.Flush()
	return b.String()
}
