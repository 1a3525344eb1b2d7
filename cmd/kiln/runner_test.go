package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/protocol/protocoltest"
	"github.com/kiln-ci/kiln/internal/runner/config"
)

func kilnRunner(ctx context.Context, t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	root := newRootCmd()
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append([]string{"runner"}, args...))
	err := root.ExecuteContext(ctx)
	return out.String(), err
}

func TestRunnerRegisterVerifiesACreatedTokenAndWritesTheConfig(t *testing.T) {
	s := protocoltest.New(t, protocoltest.Options{})
	r := s.AddRunner("glrt-cmd-test-token-1")
	cfgPath := filepath.Join(t.TempDir(), "config.toml")
	out, err := kilnRunner(context.Background(), t, "register", "--config", cfgPath, "--url", s.URL,
		"--token", r.Token, "--executor", "shell", "--name", "gpu-host-1", "--machine-type", "saas-linux-medium-amd64")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	f, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Runners) != 1 || f.Runners[0].Token != r.Token || f.Runners[0].ID != r.ID || f.Runners[0].Kiln.MachineType != "saas-linux-medium-amd64" {
		t.Errorf("config %+v", f.Runners)
	}
	if strings.Contains(out, r.Token) {
		t.Errorf("register printed the token: %s", out)
	}
	if got := s.Runners()[r.Token]; got.Verified != 1 || got.SystemID == "" || got.Info.Kiln == nil || got.Info.Kiln.MachineType != "saas-linux-medium-amd64" {
		t.Errorf("server saw %+v", got)
	}
	if _, err := kilnRunner(context.Background(), t, "register", "--config", cfgPath, "--url", s.URL,
		"--token", r.Token, "--executor", "shell", "--tag-list", "gpu"); err == nil || !strings.Contains(err.Error(), "--tag-list") {
		t.Errorf("--tag-list with a glrt- token: %v", err)
	}
	if _, err := kilnRunner(context.Background(), t, "register", "--config", cfgPath, "--url", s.URL,
		"--token", "glrt-unknown", "--executor", "shell"); err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Errorf("unknown token: %v", err)
	}
}

func TestRunnerRegisterWithRegistrationTokenThenVerifyAndUnregister(t *testing.T) {
	s := protocoltest.New(t, protocoltest.Options{})
	s.AddRegistrationToken("REG-TOKEN")
	cfgPath := filepath.Join(t.TempDir(), "config.toml")
	if out, err := kilnRunner(context.Background(), t, "register", "-c", cfgPath, "-u", s.URL, "-r", "REG-TOKEN",
		"--executor", "docker", "--name", "legacy", "--tag-list", "gpu,linux"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	out, err := kilnRunner(context.Background(), t, "verify", "-c", cfgPath)
	if err != nil || !strings.Contains(out, "Verifying runner... is alive (legacy ") {
		t.Errorf("verify: %v\n%s", err, out)
	}
	out, err = kilnRunner(context.Background(), t, "unregister", "-c", cfgPath, "--name", "legacy")
	if err != nil || !strings.Contains(out, "Unregistering runner legacy") {
		t.Fatalf("unregister: %v\n%s", err, out)
	}
	f, _ := config.Load(cfgPath)
	if len(f.Runners) != 0 || len(s.Unregistered()) != 1 {
		t.Errorf("after unregister: %d runners in config, %d unregistered on the server", len(f.Runners), len(s.Unregistered()))
	}
}

func TestRunnerRegisterRefusesASecondRunnerOfTheSameNameBeforeRegisteringIt(t *testing.T) {
	s := protocoltest.New(t, protocoltest.Options{})
	s.AddRegistrationToken("REG-TOKEN")
	cfgPath := filepath.Join(t.TempDir(), "config.toml")
	register := func() (string, error) {
		return kilnRunner(context.Background(), t, "register", "-c", cfgPath, "-u", s.URL, "-r", "REG-TOKEN", "--executor", "shell")
	}
	if out, err := register(); err != nil { // named after the host, as the second one
		t.Fatalf("%v\n%s", err, out)
	}
	host, _ := os.Hostname()
	_, err := register()
	if err == nil || !strings.Contains(err.Error(), "already has a runner named \""+host+"\"") || !strings.Contains(err.Error(), "--name") {
		t.Errorf("a second runner of the same name: %v", err)
	}
	f, err := config.Load(cfgPath)
	if err != nil || len(f.Runners) != 1 {
		t.Fatalf("after the refused registration the config holds %v, %v; want it to load with one runner", f, err)
	}
	if n := len(s.Runners()); n != 1 {
		t.Errorf("the coordinator has %d runners; the refused one was registered", n)
	}
}

func TestRunnerRegisterWithAnEntryThatWouldNotLoadWritesNothingAndUnregistersAgain(t *testing.T) {
	s := protocoltest.New(t, protocoltest.Options{})
	s.AddRegistrationToken("REG-TOKEN")
	cfgPath := filepath.Join(t.TempDir(), "config.toml")
	_, err := kilnRunner(context.Background(), t, "register", "-c", cfgPath, "-u", s.URL, "-r", "REG-TOKEN",
		"--executor", "shell", "--name", "bad-env", "--env", "NOVALUE")
	if err == nil || !strings.Contains(err.Error(), "environment[0] is not KEY=VALUE") {
		t.Errorf("--env NOVALUE: %v", err)
	}
	if _, err := os.Stat(cfgPath); !os.IsNotExist(err) {
		t.Errorf("the refused entry was written: %v", err)
	}
	if n := len(s.Unregistered()); n != 1 {
		t.Errorf("%d unregistrations; want the runner registered for the entry unregistered again", n)
	}
}

func TestRunnerRunTakesAJobToItsEnd(t *testing.T) {
	s := protocoltest.New(t, protocoltest.Options{})
	r := s.AddRunner("glrt-cmd-run-token")
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.toml")
	text := "concurrent = 1\ncheck_interval = 1\n[[runners]]\n  name = \"cmd\"\n  url = \"" + s.URL + "\"\n  token = \"" + r.Token + "\"\n  executor = \"shell\"\n"
	if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	id := s.Enqueue(jobspec.Job{JobInfo: jobspec.JobInfo{Name: "hello"},
		Variables: jobspec.Variables{{Key: "GIT_STRATEGY", Value: "none"}},
		Steps:     []jobspec.Step{{Name: "script", Script: []string{"echo hello from kiln runner run"}}}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := kilnRunner(ctx, t, "run", "-c", cfgPath); done <- err }()
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	j, err := s.WaitFinal(wctx, id)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run returned %v", err)
	}
	if j.State != protocol.StateSuccess || !strings.Contains(string(j.Trace), "hello from kiln runner run") || !j.ChecksumOK {
		t.Errorf("job %s:\n%s", j.State, j.Trace)
	}
}
