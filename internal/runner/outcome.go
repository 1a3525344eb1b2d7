package runner

import (
	"fmt"
	"time"

	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/protocol"
)

// Kind is how a job ended, the one typed outcome the UI, the retry policy and the
// coordinator switch on.
type Kind int

// Kinds of outcome.
const (
	// Success: every stage passed.
	Success Kind = iota
	// ScriptFailure: the user's script (or sources, or dependencies) failed; ExitCode
	// holds the script's exit status when there was one.
	ScriptFailure
	// SystemFailure: the runner or the executor could not do its part.
	SystemFailure
	// Timeout: the job ran past its timeout.
	Timeout
	// Canceled: the coordinator (or the user, locally) asked the job to stop.
	Canceled
	// OutOfMemory: the environment's memory limit killed the script.
	OutOfMemory
	// ImagePullFailure: the job's image or a service's could not be had.
	ImagePullFailure
	// ConfigurationError: the job asks for something this runner refuses (an image
	// outside the allow-list, a bad variable).
	ConfigurationError
	// GPUFailure: no GPU could be leased, a GPU failed its health gate, or the image's
	// CUDA needs a newer driver; Requeue says whether the job should go back to the queue.
	GPUFailure
)

var kindNames = [...]string{"success", "script failure", "system failure", "timeout", "canceled",
	"out of memory", "image pull failure", "configuration error", "GPU failure"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Outcome is how one job ended.
type Outcome struct {
	Kind Kind
	// ExitCode is the script's exit status (script failures; 0 otherwise). It is what
	// allow_failure:exit_codes is matched against.
	ExitCode int
	// FailureReason is GitLab's failure_reason for the job (empty on success), before
	// mapping to what a coordinator accepts (protocol.MapFailureReason).
	FailureReason string
	// Message explains the end in words a user understands, e.g.
	// "out of memory (limit 15 GB)" or "exit code 3".
	Message string
	// Requeue asks the coordinator to put the job back without charging it.
	Requeue bool
	// Duration is the job's wall time from start to final status.
	Duration time.Duration
	// Dotenv holds the variables of the job's dotenv reports, for dependent jobs.
	Dotenv jobspec.Variables
	// Artifacts lists what was uploaded: each artifact's name, type and files
	// (relative to the project directory).
	Artifacts []ArtifactRecord
	// Devices is the GPU report when the job leased GPUs.
	Devices *DeviceReport
}

// ArtifactRecord is one uploaded artifact.
type ArtifactRecord struct {
	Name  string
	Type  string
	Files []string
}

// Succeeded reports whether the job succeeded.
func (o Outcome) Succeeded() bool { return o.Kind == Success }

// ScriptExitCode is the exit code GitLab records for the job, which allow_failure and
// retry exit_codes match: the script's exit status for a script failure, 137 for an
// out-of-memory kill (as Docker reports it); ok is false for other outcomes.
func (o Outcome) ScriptExitCode() (code int, ok bool) {
	if o.Kind == ScriptFailure || o.Kind == OutOfMemory {
		return o.ExitCode, true
	}
	return 0, false
}

// State is the job's final state on the wire: success or failed (a runner never
// reports canceled, as in gitlab-runner).
func (o Outcome) State() string {
	if o.Kind == Success {
		return protocol.StateSuccess
	}
	return protocol.StateFailed
}

// StatusWord is CI_JOB_STATUS for after_script: success, failed or canceled.
func (o Outcome) StatusWord() string {
	switch o.Kind {
	case Success:
		return "success"
	case Canceled:
		return "canceled"
	}
	return "failed"
}

// FinalLine is the last line of the job log, in gitlab-runner's words and colours.
func (o Outcome) FinalLine() string {
	if o.Kind == Success {
		return "\x1b[32;1mJob succeeded\x1b[0;m\n"
	}
	return "\x1b[31;1mERROR: Job failed: " + o.Message + "\x1b[0;m\n"
}

func succeeded() Outcome { return Outcome{Kind: Success} }

func scriptFailure(exitCode int) Outcome {
	return Outcome{Kind: ScriptFailure, ExitCode: exitCode, FailureReason: protocol.FailureScript,
		Message: fmt.Sprintf("exit code %d", exitCode)}
}

func stageFailure(err error) Outcome {
	return Outcome{Kind: ScriptFailure, ExitCode: 1, FailureReason: protocol.FailureScript, Message: err.Error()}
}

func systemFailure(err error) Outcome {
	return Outcome{Kind: SystemFailure, FailureReason: protocol.FailureRunnerSystem, Message: err.Error()}
}

func timedOut(d time.Duration) Outcome {
	return Outcome{Kind: Timeout, FailureReason: protocol.FailureJobExecutionTimeout,
		Message: fmt.Sprintf("execution took longer than %v seconds", d)}
}

func canceled() Outcome {
	return Outcome{Kind: Canceled, FailureReason: protocol.FailureJobCanceled, Message: "canceled"}
}

// outOfMemory says what the limit was, never "exit code 137".
func outOfMemory(limit string) Outcome {
	msg := "out of memory"
	if limit != "" {
		msg += " (limit " + limit + ")"
	}
	return Outcome{Kind: OutOfMemory, ExitCode: 137, FailureReason: protocol.FailureOutOfMemory, Message: msg}
}

func imagePullFailure(err error) Outcome {
	return Outcome{Kind: ImagePullFailure, FailureReason: protocol.FailureImagePull, Message: err.Error()}
}

func configurationError(err error) Outcome {
	return Outcome{Kind: ConfigurationError, FailureReason: protocol.FailureConfiguration, Message: err.Error()}
}
