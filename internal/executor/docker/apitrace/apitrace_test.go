package apitrace_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/kiln-ci/kiln/internal/executor/docker/apitrace"
	"github.com/kiln-ci/kiln/internal/testenv"
)

const busybox = "kiln-test/busybox:latest" // built by scripts/test-images.sh

func TestOpGroupsCallsByKind(t *testing.T) {
	for path, want := range map[string]string{
		"/v1.41/containers/3f2a9c/start":              "/containers/{id}/start",
		"/v1.41/containers/create":                    "/containers/create",
		"/containers/json":                            "/containers/json",
		"/v1.41/networks/kiln-job-1-abc":              "/networks/{id}",
		"/v1.41/images/kiln-test/busybox:latest/json": "/images/{id}/json",
		"/v1.41/images/create":                        "/images/create",
		"/_ping":                                      "/_ping",
		"/v1.41/containers/abc/attach":                "/containers/{id}/attach",
		"/v1.41/volumes/kiln-job-1-abc-volume-0":      "/volumes/{id}",
	} {
		if got := apitrace.Op(path); got != want {
			t.Errorf("Op(%q) = %q, want %q", path, got, want)
		}
	}
}

// A container run through the proxy behaves as without it (the attach stream
// included), and every call is recorded with its status.
func TestProxyForwardsCallsAndAttachStreamsAndRecordsThem(t *testing.T) {
	testenv.NeedDocker(t)
	p, err := apitrace.Start("")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	cli, err := client.NewClientWithOpts(client.WithHost(p.Host()), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx := context.Background()
	if _, err := cli.ImageInspect(ctx, busybox); err != nil {
		testenv.Missing(t, testenv.TierDocker, fmt.Sprintf("test image %s is missing (%v); run scripts/test-images.sh", busybox, err))
	}
	c, err := cli.ContainerCreate(ctx, &container.Config{Image: busybox, Cmd: []string{"sh", "-c", "echo out; echo err >&2; exit 3"},
		AttachStdout: true, AttachStderr: true, Labels: map[string]string{"dev.kiln.test": "apitrace"}}, nil, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	defer cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true})
	att, err := cli.ContainerAttach(ctx, c.ID, container.AttachOptions{Stream: true, Stdout: true, Stderr: true})
	if err != nil {
		t.Fatal(err)
	}
	defer att.Close()
	if err := cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if _, err := stdcopy.StdCopy(&stdout, &stderr, att.Reader); err != nil {
		t.Fatal(err)
	}
	waitC, errC := cli.ContainerWait(ctx, c.ID, container.WaitConditionNotRunning)
	select {
	case r := <-waitC:
		if r.StatusCode != 3 {
			t.Errorf("exit status %d through the proxy, want 3", r.StatusCode)
		}
	case err := <-errC:
		t.Fatal(err)
	}
	if stdout.String() != "out\n" || stderr.String() != "err\n" {
		t.Errorf("attached output %q, %q; want out and err", stdout.String(), stderr.String())
	}
	att.Close()
	// The attach call is recorded when its stream ends, just after the client saw it end.
	var calls []apitrace.Call
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if calls = p.Calls(); len(calls) >= 6 {
			break
		}
	}
	var ops []string
	for _, call := range calls {
		ops = append(ops, fmt.Sprintf("%s %s %d", call.Method, call.Op, call.Status))
		if call.Took <= 0 || call.Start.IsZero() {
			t.Errorf("call %v has no timing", call)
		}
	}
	for _, want := range []string{"POST /containers/create 201", "POST /containers/{id}/attach 101",
		"POST /containers/{id}/start 204", "POST /containers/{id}/wait 200"} {
		if !slices.Contains(ops, want) {
			t.Errorf("recorded calls %v lack %q", ops, want)
		}
	}
	p.Reset()
	if len(p.Calls()) != 0 {
		t.Errorf("Reset kept calls")
	}
}
