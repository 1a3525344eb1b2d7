package docker_test

import (
	"testing"

	"github.com/kiln-ci/kiln/internal/executor/docker"
)

func TestTheJobAnswersToBuildOnItsNetwork(t *testing.T) {
	cli := dockerClient(t, busybox)
	ex := newExecutor(t, docker.Config{})
	spec := newSpec(t, busybox)
	j := start(t, cli, ex, spec)
	if res, out := j.run(t, "ping -c 1 build >/dev/null && echo reachable"); res.ExitCode != 0 || out != "reachable\n" {
		t.Errorf("ping build: exit %d, %q", res.ExitCode, out)
	}
}
