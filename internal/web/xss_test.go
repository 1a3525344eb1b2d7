package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/kiln-ci/kiln/internal/coordinator"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/store"
)

// hostile is text that becomes markup wherever it is not escaped.
const hostile = `"'><script>alert(1)</script><img src=x onerror=alert(2)>`

// wantNoInjection parses a page as a browser does and fails when it holds markup the
// page did not make itself: a script other than its own, an image, an event handler
// attribute, a javascript: URL.
func wantNoInjection(t *testing.T, where, body string) {
	t.Helper()
	for _, problem := range injections(body) {
		t.Errorf("%s: %s", where, problem)
	}
}

// injections lists the markup in body that a page of ours never makes.
func injections(body string) []string {
	var out []string
	z := html.NewTokenizer(strings.NewReader(body))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return out
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			switch tok.Data {
			case "script":
				if len(tok.Attr) != 2 || tok.Attr[0].Key != "src" || !strings.HasPrefix(tok.Attr[0].Val, "/-/assets/kiln.js?v=") {
					out = append(out, "injected script "+tok.String())
				}
			case "img", "iframe", "object", "embed", "base", "meta", "style", "link":
				if tok.Data != "meta" && tok.Data != "link" || !ownHead(tok) {
					out = append(out, "injected element "+tok.String())
				}
			}
			for _, a := range tok.Attr {
				if strings.HasPrefix(strings.ToLower(a.Key), "on") {
					out = append(out, "event handler "+a.Key+" in "+tok.String())
				}
				if v := strings.ToLower(strings.TrimSpace(a.Val)); (a.Key == "href" || a.Key == "src" || a.Key == "action") && strings.HasPrefix(v, "javascript:") {
					out = append(out, "javascript: URL in "+tok.String())
				}
			}
		}
	}
}

// ownHead reports whether a meta or link element is one of the layout's own.
func ownHead(tok html.Token) bool {
	for _, a := range tok.Attr {
		if (a.Key == "charset" && a.Val == "utf-8") || (a.Key == "name" && a.Val == "viewport") ||
			(a.Key == "href" && strings.HasPrefix(a.Val, "/-/assets/kiln.css?v=")) {
			return true
		}
	}
	return false
}

func TestHostileNamesAndLogLinesAreEscapedEverywhere(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	jobName := `build <script>alert("job")</script> <img src=x onerror=alert(3)>`
	ci := fmt.Sprintf("%q:\n  script: [echo]\n  tags: [%q]\n", jobName, `x"><img src=x onerror=alert(4)>`)
	p := e.project(t, "app", store.VisibilityPublic, ci)
	p.Description = hostile
	if err := e.Store.Projects.UpdateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	// A self-managed runner whose tags match, with a hostile description and GPU report.
	r, _ := e.Runner(t, coordinator.CreateRunnerRequest{Description: hostile, Tags: []string{`x"><img src=x onerror=alert(4)>`}})
	e.Service.RecordContact(ctx, r, coordinator.Contact{SystemID: "s_0123456789ab", Info: protocol.Info{
		Version: hostile, Kiln: &protocol.KilnInfo{GPUs: []protocol.GPUInfo{{UUID: hostile, Model: hostile, HealthReason: hostile}}}}})
	pl := e.CreatePipeline(t, p, "main")
	job := e.MustTake(t, r, nil)
	if job.JobInfo.Name != jobName {
		t.Fatalf("job name %q", job.JobInfo.Name)
	}
	log := "<script>alert('log')</script>\n" +
		"\x1b[31m\"><img src=x onerror=alert(5)>\x1b[0m\n" +
		"section_start:1:evil\r\x1b[0K</div><script>alert(6)</script>\n" +
		"\x1b]8;;javascript:alert(7)\x07click me\x1b]8;;\x07\n" +
		"section_end:2:evil\r\x1b[0K\n"
	e.appendTrace(t, job, 0, log)

	admin := e.browser(t)
	admin.signIn(e.AdminToken)
	jobURL := fmt.Sprintf("/acme/app/-/jobs/%d", job.ID)
	pages := map[string]page{
		"projects":  admin.get("/"),
		"group":     admin.get("/acme"),
		"pipelines": admin.get("/acme/app/-/pipelines"),
		"pipeline":  admin.get(fmt.Sprintf("/acme/app/-/pipelines/%d", pl.ID)),
		"job":       admin.get(jobURL),
		"runners":   admin.get("/-/runners"),
		"runner":    admin.get(fmt.Sprintf("/-/runners/%d", r.ID)),
	}
	for name, pg := range pages {
		wantStatus(t, pg, http.StatusOK)
		wantNoInjection(t, name, pg.Body)
	}
	wantContains(t, pages["job"],
		`build &lt;script&gt;alert(&#34;job&#34;)&lt;/script&gt; &lt;img src=x onerror=alert(3)&gt;`,
		`&lt;script&gt;alert(&#39;log&#39;)&lt;/script&gt;`,
		`<span class="term-fg-red">&#34;&gt;&lt;img src=x onerror=alert(5)&gt;</span>`,
		`&lt;/div&gt;&lt;script&gt;alert(6)&lt;/script&gt;`,
		"click me")
	wantContains(t, pages["pipelines"], "&#34;&#39;&gt;&lt;script&gt;alert(1)&lt;/script&gt;")
	wantContains(t, pages["runner"], "&lt;img src=x onerror=alert(2)&gt;")

	// Follow mode's answers are escaped the same way.
	reply := admin.poll(jobURL, 0, "")
	wantNoInjection(t, "trace.json", reply.HTML)
	raw, _ := json.Marshal(reply)
	if strings.Contains(string(raw), "<script") {
		t.Errorf("trace.json carries a raw script tag: %s", raw)
	}

	// The raw log is text, never HTML.
	rawLog := admin.get(jobURL + "/raw")
	if ct := rawLog.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" || rawLog.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("raw log served as %q", ct)
	}

	// Errors that echo input escape it too.
	missing := admin.get("/acme/app/-/jobs/" + "1%3Cscript%3E")
	wantStatus(t, missing, http.StatusNotFound)
	wantNoInjection(t, "not found", missing.Body)
}

func TestAUsersNameIsEscapedInTheHeader(t *testing.T) {
	e := newEnv(t)
	u, token := e.user(t, "mallory", "read_api")
	u.Name = hostile
	if err := e.Store.Users.UpdateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	b := e.browser(t)
	b.signIn(token)
	home := b.get("/")
	wantNoInjection(t, "home", home.Body)
	wantContains(t, home, `title="&#34;&#39;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;"`)
}

func TestTheInjectionCheckCatchesMarkup(t *testing.T) {
	for _, bad := range []string{
		hostile, `<a href="JavaScript:alert(1)">x</a>`, `<div onclick=alert(1)>`, `<script src="/-/assets/kiln.js?v=1" defer></script><script>x</script>`,
		`<meta http-equiv="refresh" content="0;url=https://evil.example">`,
	} {
		if len(injections(bad)) == 0 {
			t.Errorf("%s passes the check", bad)
		}
	}
	if got := injections(`<p title="&#34;&gt;&lt;img src=x onerror=alert(1)&gt;">&lt;script&gt;</p>`); len(got) != 0 {
		t.Errorf("escaped text flagged: %v", got)
	}
}
