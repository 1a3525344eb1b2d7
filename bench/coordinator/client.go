package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// server is the coordinator child process.
type server struct {
	cmd  *exec.Cmd
	url  string
	data string
}

// startServer runs this binary's serve mode on a fresh database and waits until it
// accepts connections.
func startServer(ctx context.Context, o options, longPoll time.Duration) (*server, error) {
	database := o.database
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	data, err := os.MkdirTemp("", "kiln-bench-")
	if err != nil {
		return nil, err
	}
	args := []string{"serve", "-data", data, "-long-poll", longPoll.String(), "-sqlite-synchronous", o.sqliteSync}
	if database != "" {
		// A schema of its own per run, so that runs do not see each other's jobs.
		args = append(args, "-database", database, "-schema", "bench_"+strings.ToLower(rand.Text()[:8]))
	}
	cmd := exec.CommandContext(ctx, self, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ready ") {
		cmd.Process.Kill()
		return nil, fmt.Errorf("coordinator did not start: %q %v", line, err)
	}
	return &server{cmd: cmd, url: strings.TrimSpace(strings.TrimPrefix(line, "ready ")), data: data}, nil
}

func (s *server) stop() {
	s.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
	os.RemoveAll(s.data)
}

// rss reads the coordinator's resident memory and its peak, in bytes.
func (s *server) rss() (cur, peak int64, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			cur = kb << 10
		case "VmHWM:":
			peak = kb << 10
		}
	}
	return cur, peak, nil
}

// cpu reads the CPU time (user and system) the coordinator process has used.
func (s *server) cpu() (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command name (which is in parentheses) start with the state;
	// utime and stime are the 14th and 15th fields of the line, in clock ticks.
	_, rest, ok := strings.Cut(string(data), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		return 0, fmt.Errorf("reading /proc/%d/stat: unexpected format", s.cmd.Process.Pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("reading /proc/%d/stat: unexpected format", s.cmd.Process.Pid)
	}
	const tick = 10 * time.Millisecond // USER_HZ is 100 on Linux
	return time.Duration(utime+stime) * tick, nil
}

var transport = &http.Transport{MaxIdleConns: 10000, MaxIdleConnsPerHost: 10000, IdleConnTimeout: 5 * time.Minute}

var client = &http.Client{Transport: transport}

// setup asks the coordinator for a project whose pipelines have jobs jobs, and
// runners runners; it returns their tokens.
func (s *server) setup(ctx context.Context, runners, jobs int) ([]string, error) {
	var tokens []string
	err := postJSON(ctx, fmt.Sprintf("%s/bench/setup?runners=%d&jobs=%d", s.url, runners, jobs), &tokens)
	return tokens, err
}

// pipeline creates a pipeline and returns when its jobs became pending.
func (s *server) pipeline(ctx context.Context) (id int64, queued time.Time, err error) {
	var out struct {
		Pipeline int64 `json:"pipeline"`
		QueuedAt int64 `json:"queued_at"`
	}
	err = postJSON(ctx, s.url+"/bench/pipeline", &out)
	return out.Pipeline, time.Unix(0, out.QueuedAt), err
}

func postJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, "POST", url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("POST %s: %d %s", url, resp.StatusCode, body)
	}
	return json.Unmarshal(body, v)
}

// runnerInfo is what the simulated runners report (gitlab-runner's shell executor).
const runnerInfo = `{"name":"gitlab-runner","version":"19.4.0","platform":"linux","architecture":"amd64",
"executor":"shell","shell":"bash","features":{"variables":true,"artifacts":true,"cache":true,"refspecs":true,
"masking":true,"trace_reset":true,"trace_checksum":true,"trace_size":true,"cancelable":true,"return_exit_code":true}}`

// job is what a simulated runner reads of a 201.
type job struct {
	ID       int64  `json:"id"`
	Token    string `json:"token"`
	Received time.Time
	JobInfo  struct {
		PipelineID int64 `json:"pipeline_id"`
	} `json:"job_info"`
}

// runner is one simulated runner.
type runner struct {
	url, token, systemID, lastUpdate string
}

// request is POST /jobs/request; nil job on 204.
func (r *runner) request(ctx context.Context) (*job, error) {
	body := `{"info":` + runnerInfo + `,"token":"` + r.token + `","system_id":"` + r.systemID + `"`
	if r.lastUpdate != "" {
		body += `,"last_update":"` + r.lastUpdate + `"`
	}
	req, err := http.NewRequestWithContext(ctx, "POST", r.url+"/api/v4/jobs/request", strings.NewReader(body+"}"))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Runner-Token", r.token)
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	received := time.Now()
	record(fmt.Sprint("request", resp.StatusCode), received.Sub(start))
	if err != nil {
		return nil, err
	}
	r.lastUpdate = resp.Header.Get("X-Gitlab-Last-Update")
	switch resp.StatusCode {
	case http.StatusNoContent:
		return nil, nil
	case http.StatusCreated:
		var j job
		if err := json.Unmarshal(data, &j); err != nil {
			return nil, err
		}
		j.Received = received
		return &j, nil
	}
	return nil, fmt.Errorf("jobs/request: %d %s", resp.StatusCode, data)
}

// finish runs a job's lifecycle after the claim as gitlab-runner does: PUT running,
// one trace PATCH, the final PUT with the trace's checksum.
func (r *runner) finish(ctx context.Context, j *job) error {
	if err := r.do(ctx, "PUT", fmt.Sprintf("/api/v4/jobs/%d", j.ID), j.Token, "application/json", nil,
		[]byte(`{"info":`+runnerInfo+`,"token":"`+j.Token+`","state":"running","output":{}}`), 200); err != nil {
		return err
	}
	trace := []byte("\x1b[0KRunning with gitlab-runner 19.4.0\n$ true\nJob succeeded\n")
	if err := r.do(ctx, "PATCH", fmt.Sprintf("/api/v4/jobs/%d/trace?debug_trace=false", j.ID), j.Token, "text/plain",
		map[string]string{"Content-Range": fmt.Sprintf("0-%d", len(trace)-1)}, trace, 202); err != nil {
		return err
	}
	sum := fmt.Sprintf("crc32:%08x", crc32.ChecksumIEEE(trace))
	final := fmt.Sprintf(`{"info":%s,"token":%q,"state":"success","checksum":%q,"output":{"checksum":%q,"bytesize":%d}}`,
		runnerInfo, j.Token, sum, sum, len(trace))
	return r.do(ctx, "PUT", fmt.Sprintf("/api/v4/jobs/%d", j.ID), j.Token, "application/json", nil, []byte(final), 200)
}

var phaseTimes sync.Map // method+status → *phase

type phase struct {
	mu  sync.Mutex
	n   int
	sum time.Duration
}

func record(name string, d time.Duration) {
	v, _ := phaseTimes.LoadOrStore(name, &phase{})
	p := v.(*phase)
	p.mu.Lock()
	p.n++
	p.sum += d
	p.mu.Unlock()
}

func (r *runner) do(ctx context.Context, method, path, token, ctype string, headers map[string]string, body []byte, want int) error {
	start := time.Now()
	defer func() { record(fmt.Sprint(method, want, len(body) > 200), time.Since(start)) }()
	req, err := http.NewRequestWithContext(ctx, method, r.url+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Job-Token", token)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %d (want %d) %s", method, path, resp.StatusCode, want, data)
	}
	return nil
}
