package runner

import (
	"context"
	"io"
	"os"

	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/protocol"
)

// Channel is a job's link to the outside world, so that one lifecycle serves a
// coordinator over the network (package remote) and `kiln exec` on the user's machine.
//
// Call order: Write any number of times while the job runs (from one goroutine at a
// time); UploadArtifacts and DownloadArtifacts whenever the lifecycle needs them;
// Finish exactly once, after the last Write. Canceling may be read at any time.
//
// Aborting a job (the coordinator says it is over; a second Ctrl-C) is not part of
// the channel: whoever runs the lifecycle cancels the context it passed to Run.
type Channel interface {
	// Write receives the job log, masked and size-limited, in order. An error is kept
	// and the job goes on; Finish reports the trace as it stands.
	io.Writer
	// Canceling is closed when the outside world asks the job to stop gracefully: the
	// script gets SIGTERM, after_script runs with CI_JOB_STATUS=canceled, the job ends
	// as canceled.
	Canceling() <-chan struct{}
	// UploadArtifacts sends one archive (or report) of this job.
	UploadArtifacts(ctx context.Context, a protocol.ArtifactUpload) error
	// DownloadArtifacts writes a dependency's artifacts archive (zip) to dst.
	DownloadArtifacts(ctx context.Context, dep jobspec.Dependency, dst *os.File) error
	// Finish reports the outcome once the whole log is written. It returns when the
	// outside world has the final status (or gave up on the job).
	Finish(ctx context.Context, o Outcome) error
}
