package agent

import (
	"runtime"

	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/version"
)

// Info returns what a Kiln runner with this executor says about itself in job
// requests and updates: the features its lifecycle supports, in GitLab's names, and
// the machine type it serves (Kiln's additive field, which GitLab ignores).
func Info(executorName, shell, machineType string) protocol.Info {
	containers := executorName != "shell"
	return protocol.Info{
		Name:         "kiln-runner",
		Version:      version.Version,
		Revision:     version.Rev(),
		Platform:     runtime.GOOS,
		Architecture: runtime.GOARCH,
		Executor:     executorName,
		Shell:        shell,
		Config:       &protocol.ConfigInfo{},
		Features: protocol.FeaturesInfo{
			Variables:               true,
			Image:                   containers,
			Services:                containers,
			Artifacts:               true,
			Cache:                   true,
			FallbackCacheKeys:       true,
			Shared:                  !containers,
			UploadMultipleArtifacts: true,
			UploadRawArtifacts:      true,
			Refspecs:                true,
			Masking:                 true,
			RawVariables:            true,
			ArtifactsExclude:        true,
			MultiBuildSteps:         true,
			TraceReset:              true,
			TraceChecksum:           true,
			TraceSize:               true,
			Cancelable:              true,
			ReturnExitCode:          true,
			ServiceVariables:        containers,
			CancelGracefully:        true,
			TwoPhaseJobCommit:       true,
		},
		Kiln: &protocol.KilnInfo{MachineType: machineType},
	}
}
