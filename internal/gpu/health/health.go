// Package health is the GPU health gate: before each job, every leased GPU must be
// reachable, have no retired pages or remapped rows waiting, no more uncorrectable ECC
// errors than at its previous check, no critical Xid event since its previous check,
// and a temperature below its slowdown threshold. The gate fails closed: a reading
// that cannot be made is a fault.
//
// It is on the runner side: the coordinator side must not import it.
package health

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/kiln-ci/kiln/internal/gpu/device"
)

// criticalXids are the Xid errors after which a GPU must not take another job until an
// operator has looked at it (usually a GPU reset or a node drain), and why. Xids not
// listed (13 graphics engine exception, 31 MMU fault, 43 channel stopped, 45 preemptive
// cleanup, 68 video processor exception, 109 context switch timeout, …) are caused by
// the job's own code and end with the job; they are logged, not quarantined.
var criticalXids = map[uint64]string{
	48:  "double-bit ECC error",
	62:  "internal micro-controller halt",
	63:  "ECC page retirement or row remapping recording event",
	64:  "ECC page retirement or row remapping recording failure",
	74:  "NVLink error",
	79:  "GPU has fallen off the bus",
	92:  "high single-bit ECC error rate",
	94:  "contained ECC error: the GPU needs a reset",
	95:  "uncontained ECC error: the GPU needs a reset",
	119: "GSP RPC timeout",
	120: "GSP error",
	140: "unrecovered ECC error",
}

// Critical reports whether an Xid makes a GPU unfit for further jobs, and why.
func Critical(xid uint64) (reason string, ok bool) {
	reason, ok = criticalXids[xid]
	return reason, ok
}

// Reader reads a unit's health (device.Host implements it).
type Reader interface {
	ReadHealth(ctx context.Context, uuid string) (device.HealthReading, error)
}

// Fault is a failed health check.
type Fault struct {
	UUID   string
	Reason string
}

func (f *Fault) Error() string { return fmt.Sprintf("GPU %s is unhealthy: %s", f.UUID, f.Reason) }

// Gate checks GPUs against their previous readings. It is safe for concurrent use.
type Gate struct {
	r   Reader
	log *slog.Logger

	mu  sync.Mutex
	ecc map[string]uint64 // uncorrectable ECC count at the previous check
}

// New returns a gate reading through r. logger may be nil.
func New(r Reader, logger *slog.Logger) *Gate {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Gate{r: r, log: logger, ecc: map[string]uint64{}}
}

// Check reads uuid's health and returns nil, a *Fault saying what is wrong, or a
// *Fault wrapping the reading's error (fail closed). The first check of a GPU takes
// its ECC count as the baseline; each check moves the baseline to what it read.
func (g *Gate) Check(ctx context.Context, uuid string) error {
	r, err := g.r.ReadHealth(ctx, uuid)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &Fault{UUID: uuid, Reason: "health check failed: " + err.Error()}
	}
	var problems []string
	g.mu.Lock()
	prev, seen := g.ecc[uuid]
	if r.ECCSupported {
		g.ecc[uuid] = r.UncorrectableECC
	}
	g.mu.Unlock()
	if r.ECCSupported && seen && r.UncorrectableECC > prev {
		problems = append(problems, fmt.Sprintf("uncorrectable ECC errors rose from %d to %d", prev, r.UncorrectableECC))
	}
	if r.RetiredPagesPending {
		problems = append(problems, "retired pages are pending (the GPU needs a reset)")
	}
	if r.RemappedRowsPending {
		problems = append(problems, "remapped rows are pending (the GPU needs a reset)")
	}
	if r.RemappingFailed {
		problems = append(problems, "a row remapping failed")
	}
	for _, xid := range r.Xids {
		if reason, ok := Critical(xid); ok {
			problems = append(problems, fmt.Sprintf("Xid %d (%s)", xid, reason))
		} else {
			g.log.Info("GPU reported a non-critical Xid", "uuid", uuid, "xid", xid)
		}
	}
	if r.SlowdownC > 0 && r.TemperatureC >= r.SlowdownC {
		problems = append(problems, fmt.Sprintf("temperature %d °C is at or above its slowdown threshold %d °C", r.TemperatureC, r.SlowdownC))
	}
	if len(problems) > 0 {
		return &Fault{UUID: uuid, Reason: strings.Join(problems, "; ")}
	}
	return nil
}
