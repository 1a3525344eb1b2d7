package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/store"
	"github.com/kiln-ci/kiln/internal/store/engine"
)

// startServer runs `kiln server` in-process on a free port and returns its URL and
// a stop function that waits for it to return.
func startServer(t *testing.T, cfg serverConfig) (string, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- runServer(ctx, cfg, pw, io.Discard)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		cancel()
		t.Fatalf("server did not start: %v (%v)", err, <-done)
	}
	go io.Copy(io.Discard, pr)
	_, rest, _ := strings.Cut(line, "external URL ")
	url := strings.TrimSuffix(strings.TrimSpace(rest), ")")
	return url, func() error { cancel(); return <-done }
}

func baseConfig(dir string) serverConfig {
	return serverConfig{Listen: "127.0.0.1:0", DataDir: dir, LongPoll: time.Minute, StuckTimeout: time.Minute,
		MaxArtifactSize: 1 << 20, ShutdownTimeout: 5 * time.Second, LogLevel: "warn", LogFormat: "text"}
}

func TestServerServesHealthReadinessAndMetrics(t *testing.T) {
	url, stop := startServer(t, baseConfig(t.TempDir()))
	defer stop()
	for path, want := range map[string]string{
		"/-/health":    "Kiln OK",
		"/-/readiness": `{"status":"ok"}`,
		"/metrics":     "kiln_queue_depth 0",
	} {
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d %q, want 200 containing %q", path, resp.StatusCode, body, want)
		}
	}
}

func TestServerStopsGracefullyEndingLongPollsAtOnce(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	st, err := engine.Open(ctx, engine.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	token := "glrt-servertestservertestserver"
	if err := st.Runners.CreateRunner(ctx, &store.Runner{Type: store.RunnerInstance, RunUntagged: true}, token); err != nil {
		t.Fatal(err)
	}
	st.Close()

	url, stop := startServer(t, baseConfig(dir))
	status := make(chan int, 1)
	go func() {
		resp, err := http.Post(url+"/api/v4/jobs/request", "application/json", strings.NewReader(`{"token":"`+token+`"}`))
		if err != nil {
			status <- -1
			return
		}
		resp.Body.Close()
		status <- resp.StatusCode
	}()
	time.Sleep(300 * time.Millisecond) // the runner is long-polling (for a minute)
	start := time.Now()
	if err := stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("stopping took %s with a long poll in flight", d)
	}
	if got := <-status; got != http.StatusNoContent {
		t.Errorf("the long poll was answered %d, want 204", got)
	}
}

func TestBootstrapTokenCreatesTheFirstAdministratorOnce(t *testing.T) {
	dir := t.TempDir()
	cfg := baseConfig(dir)
	cfg.BootstrapToken = "glpat-firstfirstfirstfirst01"
	_, stop := startServer(t, cfg)
	stop()
	cfg.BootstrapToken = "glpat-secondsecondsecondsec02"
	_, stop = startServer(t, cfg)
	stop()

	st, err := engine.Open(context.Background(), engine.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if n, _ := st.Users.CountUsers(context.Background()); n != 1 {
		t.Errorf("%d users after two starts, want 1", n)
	}
	u, _, err := st.Users.UserByToken(context.Background(), "glpat-firstfirstfirstfirst01")
	if err != nil || u.Username != "root" || !u.Admin {
		t.Errorf("first token: %+v, %v", u, err)
	}
	if _, _, err := st.Users.UserByToken(context.Background(), "glpat-secondsecondsecondsec02"); err == nil {
		t.Error("the second start's token was accepted too")
	}
}

func TestARegistrationTokenLetsGitLabRunnersRegisterTheLegacyWay(t *testing.T) {
	const token = "kiln-registration-token-0001"
	cfg := baseConfig(t.TempDir())
	cfg.RegistrationToken = token
	register := func(url, token string) int {
		// What gitlab-runner register --registration-token sends (runner-protocol.md §2.2).
		body := `{"description":"legacy","tag_list":"shell,linux","run_untagged":false,"locked":true,"paused":false,` +
			`"info":{"name":"gitlab-runner","version":"19.4.0"},"token":"` + token + `"}`
		req, _ := http.NewRequest("POST", url+"/api/v4/runners", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Runner-Token", token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var got struct {
			ID    int64  `json:"id"`
			Token string `json:"token"`
		}
		if resp.StatusCode == http.StatusCreated {
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || got.ID == 0 || got.Token == "" {
				t.Errorf("201 answer %+v, %v: want a non-zero id and a token", got, err)
			}
		}
		return resp.StatusCode
	}
	for start := range 2 { // the token is kept, and a restart with it changes nothing
		url, stop := startServer(t, cfg)
		if code := register(url, token); code != http.StatusCreated {
			t.Errorf("start %d: registering with the server's registration token: %d, want 201", start+1, code)
		}
		if code := register(url, "not-the-registration-token"); code != http.StatusForbidden {
			t.Errorf("start %d: registering with another token: %d, want 403", start+1, code)
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestServerRefusesBadSettingsClearly(t *testing.T) {
	cfg := baseConfig(t.TempDir())
	cfg.LogLevel = "loud"
	if err := runServer(context.Background(), cfg, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "--log-level") {
		t.Errorf("bad log level: %v", err)
	}
	cfg = baseConfig(t.TempDir())
	cfg.BootstrapToken = "short"
	if err := runServer(context.Background(), cfg, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "at least 20 characters") {
		t.Errorf("short bootstrap token: %v", err)
	}
	for _, bad := range []string{"short", "glrt-looks-like-a-runner-token-0001"} {
		cfg = baseConfig(t.TempDir())
		cfg.RegistrationToken = bad
		if err := runServer(context.Background(), cfg, io.Discard, io.Discard); err == nil ||
			!strings.Contains(err.Error(), "--registration-token") || strings.Contains(err.Error(), bad) {
			t.Errorf("registration token %q: %v; want an error naming the flag, not repeating the token", bad, err)
		}
	}
	cfg = baseConfig(t.TempDir())
	cfg.DatabaseURL = "mysql://x"
	if err := runServer(context.Background(), cfg, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "scheme mysql") {
		t.Errorf("bad database URL: %v", err)
	}
}

func TestServerTakesMachineTypesAndQuotasFromItsFlags(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/types.toml"
	os.WriteFile(path, []byte(`
[[machine_types]]
tag = "gpu-a100-80gb"
vcpu = 16
memory_bytes = 128000000000
cost_factor = 20
plans = ["ultimate"]
max_timeout = "3h"
[machine_types.gpu]
count = 2
model = "A100"
`), 0o644)
	c, err := loadCatalog(path)
	if err != nil {
		t.Fatal(err)
	}
	a100, ok := c.Get("gpu-a100-80gb")
	if !ok || a100.GPU.Count != 2 || a100.GPU.Model != "A100" || a100.MaxTimeout != 3*time.Hour || a100.AllowsPlan("premium") {
		t.Errorf("machine type %+v", a100)
	}
	if _, ok := c.Get("saas-linux-small-amd64"); !ok {
		t.Error("the defaults were dropped")
	}
	os.WriteFile(path, []byte("[[machine_types]]\ntag = \"x\"\nvcpus = 2\n"), 0o644)
	if _, err := loadCatalog(path); err == nil || !strings.Contains(err.Error(), "unknown key machine_types.vcpus") {
		t.Errorf("typo in the file: %v", err)
	}
	q, err := quotaConfig(map[string]string{"free": "1000", "ultimate": "-1"}, 500)
	if err != nil || q.Quota("free") != 1000 || q.Quota("premium") != 10_000 || q.Quota("ultimate") != -1 || q.OverrunMinutes != 500 {
		t.Errorf("quotas %+v, %v", q, err)
	}
	if _, err := quotaConfig(map[string]string{"gold": "5"}, 0); err == nil || !strings.Contains(err.Error(), `unknown plan "gold"`) {
		t.Errorf("unknown plan: %v", err)
	}
}
