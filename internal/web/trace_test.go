package web_test

import (
	"encoding/json"
	"fmt"
	"hash/crc32"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/kiln-ci/kiln/internal/coordinator"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/store"
	"github.com/kiln-ci/kiln/internal/web"
)

// traceReply is what trace.json answers.
type traceReply struct {
	Offset   int64  `json:"offset"`
	State    string `json:"state"`
	Size     int64  `json:"size"`
	HTML     string `json:"html"`
	Reset    bool   `json:"reset"`
	Complete bool   `json:"complete"`
	Status   string `json:"status"`
}

func (b *browser) poll(jobURL string, offset int64, state string) traceReply {
	b.t.Helper()
	p := b.get(jobURL + "/trace.json?offset=" + strconv.FormatInt(offset, 10) + "&state=" + url.QueryEscape(state))
	if p.Status != http.StatusOK || p.Header.Get("Content-Type") != "application/json" {
		b.t.Fatalf("trace.json: %d %s\n%s", p.Status, p.Header.Get("Content-Type"), p.Body)
	}
	var r traceReply
	if err := json.Unmarshal([]byte(p.Body), &r); err != nil {
		b.t.Fatal(err)
	}
	return r
}

var followRE = regexp.MustCompile(`data-trace-url="([^"]+)" data-offset="(\d+)" data-state="([^"]*)" data-follow="(\w+)" data-poll-ms="(\d+)"`)

func TestFollowModePollsTheLogByOffset(t *testing.T) {
	e := newEnv(t)
	p := e.project(t, "app", store.VisibilityPublic, threeStages)
	r := e.small(t)
	e.CreatePipeline(t, p, "main")
	job := e.take(t, r)
	jobURL := fmt.Sprintf("/acme/app/-/jobs/%d", job.ID)
	first := "section_start:1700000000:step_script\r\x1b[0K\x1b[36;1mExecuting \"step_script\"\x1b[0;m\n\x1b[32;1m$ train.py\x1b[0;m\nepoch 1"
	size := e.appendTrace(t, job, 0, first)

	b := e.browser(t)
	page := b.get(jobURL)
	wantContains(t, page, `<span class="ci-badge ci-running">`, `<span class="log-follow small" id="log-follow">`,
		`Executing &#34;step_script&#34;`)
	wantNotContains(t, page, "epoch 1") // an unfinished line waits for its end
	m := followRE.FindStringSubmatch(page.Body)
	if m == nil {
		t.Fatalf("no follow-mode attributes on the log:\n%s", page.Body)
	}
	if m[1] != jobURL+"/trace.json" || m[4] != "true" || m[5] != "3000" {
		t.Errorf("follow attributes %q", m[1:])
	}
	offset, _ := strconv.ParseInt(m[2], 10, 64)
	state := html.UnescapeString(m[3])
	if want := int64(strings.LastIndex(first, "\n") + 1); offset != want {
		t.Errorf("page offset %d, want %d (after the last complete line)", offset, want)
	}

	// Nothing new: an empty answer at the same place.
	reply := b.poll(jobURL, offset, state)
	if reply.HTML != "" || reply.Offset != offset || reply.Complete || reply.Size != size || reply.Status != "running" {
		t.Errorf("idle poll: %+v", reply)
	}

	// More log: the rest of the line and the section's end, inside the open section.
	size = e.appendTrace(t, job, size, " loss=0.3\nepoch 2 loss=0.1\nsection_end:1700000065:step_script\r\x1b[0K\n")
	reply = b.poll(jobURL, offset, state)
	if reply.Offset != size || reply.Complete {
		t.Errorf("poll after appending: offset %d complete %v, want %d false", reply.Offset, reply.Complete, size)
	}
	for _, want := range []string{
		`<div class="line" id="L3" data-sections="s1">`, "epoch 1 loss=0.3", "epoch 2 loss=0.1",
		`<div class="section-end" hidden data-section="s1" data-duration="01:05"></div>`,
	} {
		if !strings.Contains(reply.HTML, want) {
			t.Errorf("poll misses %q:\n%s", want, reply.HTML)
		}
	}

	// The job finishes: the last poll says so.
	e.appendTrace(t, job, size, "\x1b[32;1mJob succeeded\x1b[0;m")
	j, _ := e.Service.AuthenticateJob(t.Context(), job.Token)
	full := e.Trace(t, job.ID)
	if _, err := e.Service.UpdateJob(t.Context(), j, jobUpdate(protocol.StateSuccess, full)); err != nil {
		t.Fatal(err)
	}
	last := b.poll(jobURL, reply.Offset, reply.State)
	if !last.Complete || last.Status != "success" || !strings.Contains(last.HTML, `<span class="term-fg-green term-bold">Job succeeded</span>`) {
		t.Errorf("final poll: %+v", last)
	}
	wantContains(t, b.get(jobURL), `data-follow="false"`)
}

func TestARewrittenLogResetsThePage(t *testing.T) {
	e := newEnv(t)
	p := e.project(t, "app", store.VisibilityPublic, threeStages)
	r := e.small(t)
	e.CreatePipeline(t, p, "main")
	job := e.take(t, r)
	e.appendTrace(t, job, 0, "short\n")
	reply := e.browser(t).poll(fmt.Sprintf("/acme/app/-/jobs/%d", job.ID), 500, "")
	if !reply.Reset || reply.Offset != 6 || !strings.Contains(reply.HTML, "short") {
		t.Errorf("poll past the end: %+v, want a reset with the whole log", reply)
	}
}

func TestTraceJSONRefusesBadOffsetsAndStates(t *testing.T) {
	e := newEnv(t)
	p := e.project(t, "app", store.VisibilityPrivate, threeStages)
	r := e.small(t)
	e.CreatePipeline(t, p, "main")
	job := e.take(t, r)
	jobURL := fmt.Sprintf("/acme/app/-/jobs/%d", job.ID)
	b := e.browser(t)
	wantStatus(t, b.get(jobURL+"/trace.json"), http.StatusNotFound) // private, anonymous
	b.signIn(e.AdminToken)
	for query, want := range map[string]string{
		"offset=-1":              "offset must be a byte offset",
		"offset=ten":             "offset must be a byte offset",
		"state=%21%21":           "state: bad log state",
		"state=eyJsaW5lcyI6LTF9": "state: bad log state: negative line or section count",
	} {
		p := b.get(jobURL + "/trace.json?" + query)
		if p.Status != http.StatusBadRequest || !strings.Contains(p.Body, want) {
			t.Errorf("%s: %d %s, want 400 with %q", query, p.Status, p.Body, want)
		}
	}
}

// jobUpdate is a runner's final update for a job whose whole log is trace.
func jobUpdate(state, trace string) coordinator.JobUpdate {
	return coordinator.JobUpdate{State: state, Checksum: fmt.Sprintf("crc32:%08x", crc32.ChecksumIEEE([]byte(trace))),
		Bytesize: int64(len(trace))}
}

func TestAPollFarBehindStartsOverAtTheLogsLastPart(t *testing.T) {
	e := newEnv(t)
	p := e.project(t, "app", store.VisibilityPublic, threeStages)
	r := e.small(t)
	e.CreatePipeline(t, p, "main")
	job := e.take(t, r)
	var log strings.Builder
	for i := 0; log.Len() < 3*web.DefaultMaxLogBytes; i++ {
		fmt.Fprintf(&log, "line %07d\n", i)
	}
	size := e.appendTrace(t, job, 0, log.String())
	reply := e.browser(t).poll(fmt.Sprintf("/acme/app/-/jobs/%d", job.ID), 0, "")
	if !reply.Reset || reply.Offset != size || strings.Contains(reply.HTML, "line 0000000") ||
		!strings.Contains(reply.HTML, strings.TrimSpace(log.String()[strings.LastIndex(strings.TrimSuffix(log.String(), "\n"), "\n")+1:])) {
		t.Errorf("a poll from 0 of a %d-byte log: reset %v offset %d (want %d), %d bytes of HTML", size, reply.Reset, reply.Offset, size, len(reply.HTML))
	}
}
