package protocol

import "slices"

// alwaysAccepted are the failure reasons every GitLab accepts.
var alwaysAccepted = []string{FailureScript, FailureRunnerSystem, FailureJobExecutionTimeout}

// failureFallbacks maps a reason a coordinator may not know to an older, more general
// one (gitlab-runner's compatibility map, plus Kiln's own reasons).
var failureFallbacks = map[string]string{
	FailureImagePull:          FailureRunnerSystem,
	FailureConfiguration:      FailureScript,
	FailureExternalDependency: FailureRunnerSystem,
	FailureOutOfMemory:        FailureScript,
	FailureGPUFault:           FailureRunnerSystem,
	FailureGPUUnavailable:     FailureRunnerSystem,
	FailureCUDAIncompatible:   FailureConfiguration,
}

// MapFailureReason returns the failure_reason to send for reason, given the reasons
// the coordinator accepts (the job's features.failure_reasons), as gitlab-runner does:
// an empty reason is a script failure; an accepted one goes as is; otherwise its
// fallbacks are followed until one is accepted; failing that, unknown_failure.
func MapFailureReason(reason string, accepted []string) string {
	if reason == "" {
		return FailureScript
	}
	ok := func(r string) bool { return slices.Contains(accepted, r) || slices.Contains(alwaysAccepted, r) }
	for depth := 0; depth < 10; depth++ {
		if ok(reason) {
			return reason
		}
		next, found := failureFallbacks[reason]
		if !found {
			break
		}
		reason = next
	}
	return FailureUnknown
}
