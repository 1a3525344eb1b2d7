package joblog_test

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/kiln-ci/kiln/internal/web/joblog"
)

// render renders a whole log in one chunk.
func render(t *testing.T, log string) string {
	t.Helper()
	var st joblog.State
	var b bytes.Buffer
	n, err := joblog.Render(&b, &st, []byte(log), true)
	if err != nil || n != len(log) {
		t.Fatalf("Render = %d, %v; want %d, nil", n, err, len(log))
	}
	return b.String()
}

var (
	tagRE     = regexp.MustCompile(`<[^>]*>`)
	contentRE = regexp.MustCompile(`<span class="line-content">(.*?)</span></div>|<span class="line-content">(.*)</span><span class="section-duration">`)
)

// contents returns each line's content markup (spans and text).
func contents(html string) []string {
	var out []string
	for _, line := range strings.Split(strings.TrimSuffix(html, "\n"), "\n") {
		if strings.HasPrefix(line, `<div class="section-end"`) {
			continue
		}
		i := strings.Index(line, `<span class="line-content">`)
		if i < 0 {
			out = append(out, "?"+line)
			continue
		}
		c := line[i+len(`<span class="line-content">`):]
		if j := strings.Index(c, `</span><span class="section-duration">`); j >= 0 {
			c = c[:j]
		} else {
			c = strings.TrimSuffix(c, "</span></div>")
		}
		out = append(out, c)
	}
	return out
}

func TestANSIColoursAndStylesBecomeClasses(t *testing.T) {
	cases := []struct{ name, log, want string }{
		{"plain text", "hello", "hello"},
		{"gitlab-runner bold green", "\x1b[32;1mJob succeeded\x1b[0;m", `<span class="term-fg-green term-bold">Job succeeded</span>`},
		{"bright foreground", "\x1b[91mx", `<span class="term-fg-l-red">x</span>`},
		{"background", "\x1b[44mx\x1b[49my", `<span class="term-bg-blue">x</span>y`},
		{"italic underline strike", "\x1b[3;4;9mx", `<span class="term-italic term-underline term-strike">x</span>`},
		{"reset by empty SGR", "\x1b[1ma\x1b[mb", `<span class="term-bold">a</span>b`},
		{"22 ends bold", "\x1b[1ma\x1b[22mb", `<span class="term-bold">a</span>b`},
		{"256 colours inline", "\x1b[38;5;196mx", `<span style="color:#ff0000">x</span>`},
		{"256 greys", "\x1b[48;5;232mx", `<span style="background-color:#080808">x</span>`},
		{"256 basic entries are classes", "\x1b[38;5;2mx", `<span class="term-fg-green">x</span>`},
		{"true colour", "\x1b[38;2;1;2;3mx", `<span style="color:#010203">x</span>`},
		{"colon sub-parameters", "\x1b[38:5:21mx", `<span style="color:#0000ff">x</span>`},
		{"out-of-range parameter ignored", "\x1b[38;5;999;1mx", `<span class="term-bold">x</span>`},
		{"erase line dropped", "\x1b[0Ka\x1b[2Kb", "ab"},
		{"cursor movement dropped", "a\x1b[1Ab\x1b[?25l", "ab"},
		{"OSC hyperlink dropped, text kept", "\x1b]8;;https://evil.example\x07link\x1b]8;;\x1b\\", "link"},
		{"charset selection dropped", "\x1b(Bx", "x"},
		{"cut-off sequence dropped", "a\x1b[3", "a"},
		{"carriage return overwrites", "10%\r20%\r30%", "30%"},
		{"CRLF line ending", "done\r", "done"},
		{"style survives a carriage return", "\x1b[31m1\r2", `<span class="term-fg-red">2</span>`},
		{"control characters dropped, tabs kept", "a\x00\x07\bb\tc\x7f", "ab\tc"},
		{"invalid UTF-8 replaced", "a\xffb", "a\uFFFDb"},
		{"unicode kept", "✓ passed", "✓ passed"},
		{"markup escaped", `<script>alert("x")</script>&'`, `&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&amp;&#39;`},
		{"escaped inside colour", "\x1b[31m<img src=x onerror=alert(1)>", `<span class="term-fg-red">&lt;img src=x onerror=alert(1)&gt;</span>`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := contents(render(t, c.log))
			if len(got) != 1 || got[0] != c.want {
				t.Errorf("log %q renders %q, want %q", c.log, got, c.want)
			}
		})
	}
}

func TestStyleCarriesOverToTheNextLine(t *testing.T) {
	got := contents(render(t, "\x1b[33mone\ntwo\x1b[0m\nthree"))
	want := []string{`<span class="term-fg-yellow">one</span>`, `<span class="term-fg-yellow">two</span>`, "three"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("lines %q, want %q", got, want)
	}
}

func TestLinesAreNumberedAndLinked(t *testing.T) {
	html := render(t, "a\n\nb\n")
	for _, want := range []string{
		`<div class="line" id="L1"><a class="line-number" href="#L1">1</a><span class="line-content">a</span></div>`,
		`<div class="line" id="L2"><a class="line-number" href="#L2">2</a><span class="line-content"></span></div>`,
		`<div class="line" id="L3"><a class="line-number" href="#L3">3</a><span class="line-content">b</span></div>`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("missing %s in\n%s", want, html)
		}
	}
	if strings.Contains(html, `id="L4"`) {
		t.Errorf("a trailing newline made an extra line:\n%s", html)
	}
}

const sections = "before\n" +
	"section_start:1700000000:prepare_executor[collapsed=true]\r\x1b[0K\x1b[36;1mPreparing the \"docker\" executor\x1b[0;m\n" +
	"Using Docker\n" +
	"section_start:1700000001:pull\r\x1b[0KPulling\n" +
	"pulled\n" +
	"section_end:1700000004:pull\r\x1b[0K\n" +
	"section_end:1700003725:prepare_executor\r\x1b[0K\n" +
	"after\n"

func TestSectionsBecomeCollapsibleHeadersWithDurations(t *testing.T) {
	html := render(t, sections)
	for _, want := range []string{
		`<div class="line" id="L1"><a class="line-number" href="#L1">1</a><span class="line-content">before</span></div>`,
		`<div class="line section-header" id="L2" data-section="s1" data-collapsed="true">`,
		`<span class="section-toggle" aria-hidden="true"></span><span class="line-content"><span class="term-fg-cyan term-bold">Preparing the &#34;docker&#34; executor</span></span><span class="section-duration">01:02:05</span></div>`,
		`<div class="line" id="L3" data-sections="s1">`,
		`<div class="line section-header" id="L4" data-sections="s1" data-section="s2">`,
		`Pulling</span><span class="section-duration">00:03</span>`,
		`<div class="line" id="L5" data-sections="s1 s2">`,
		`<div class="line" id="L6"><a class="line-number" href="#L6">6</a><span class="line-content">after</span></div>`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("missing %s in\n%s", want, html)
		}
	}
	if strings.Contains(html, "section_") {
		t.Errorf("markers left in the output:\n%s", html)
	}
}

func TestSectionsSpanningChunksReportTheirEndForThePageScript(t *testing.T) {
	var st joblog.State
	var first, second bytes.Buffer
	cut := strings.Index(sections, "pulled\n")
	n, err := joblog.Render(&first, &st, []byte(sections[:cut]), false)
	if err != nil || n != cut {
		t.Fatalf("first chunk: %d, %v", n, err)
	}
	if len(st.Open) != 2 || st.Lines != 4 {
		t.Fatalf("state after the first chunk: %+v", st)
	}
	// The state travels through the browser.
	st, err = joblog.Decode(st.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := joblog.Render(&second, &st, []byte(sections[cut:]), true); err != nil {
		t.Fatal(err)
	}
	if first.String()+second.String() == render(t, sections) {
		t.Fatal("chunked output has no section-end markers")
	}
	for _, want := range []string{
		`<div class="line" id="L5" data-sections="s1 s2">`,
		`<div class="section-end" hidden data-section="s2" data-duration="00:03"></div>`,
		`<div class="section-end" hidden data-section="s1" data-duration="01:02:05"></div>`,
		`<div class="line" id="L6">`,
	} {
		if !strings.Contains(second.String(), want) {
			t.Errorf("second chunk misses %s:\n%s", want, second.String())
		}
	}
}

func TestChunkedRenderingMatchesWholeRenderingLineForLine(t *testing.T) {
	log := "\x1b[32mgreen\nstill green\x1b[0m\n" + sections + "tail without newline"
	whole := contents(render(t, log))
	for cut := 0; cut <= len(log); cut++ {
		var st joblog.State
		var b bytes.Buffer
		n, err := joblog.Render(&b, &st, []byte(log[:cut]), false)
		if err != nil {
			t.Fatal(err)
		}
		if n > cut || (n > 0 && log[n-1] != '\n') {
			t.Fatalf("cut %d: consumed %d, not at a line end", cut, n)
		}
		st, _ = joblog.Decode(st.Encode())
		if _, err := joblog.Render(&b, &st, []byte(log[n:]), true); err != nil {
			t.Fatal(err)
		}
		if got := contents(b.String()); strings.Join(got, "\n") != strings.Join(whole, "\n") {
			t.Fatalf("cut at %d renders\n%q\nwant\n%q", cut, got, whole)
		}
	}
}

func TestAnUnfinishedLineWaitsUnlessItIsTooLong(t *testing.T) {
	var st joblog.State
	var b bytes.Buffer
	if n, _ := joblog.Render(&b, &st, []byte("done\nprogress 50%"), false); n != 5 {
		t.Errorf("consumed %d, want 5 (the complete line)", n)
	}
	long := strings.Repeat("x", joblog.MaxPartialLine+1)
	if n, _ := joblog.Render(&b, &st, []byte(long), false); n != len(long) {
		t.Errorf("a line over MaxPartialLine waited: consumed %d", n)
	}
}

func TestMarkersMidLineAndUnknownSectionEnds(t *testing.T) {
	html := render(t, "text section_start:1:a\r\x1b[0Khead\nsection_end:2:nope\r\x1b[0K\nx section_end:3:a\r\x1b[0Ky\nsection_start:x:b not a marker")
	got := contents(html)
	want := []string{"text ", "head", "x ", "y", "section_start:x:b not a marker"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("lines %q, want %q\n%s", got, want, html)
	}
}

func TestHideDurationOption(t *testing.T) {
	html := render(t, "section_start:1:a[hide_duration=true]\r\x1b[0Khead\nsection_end:9:a\r\x1b[0K\n")
	if !strings.Contains(html, `<span class="section-duration"></span>`) {
		t.Errorf("hide_duration=true still shows a duration:\n%s", html)
	}
}

func TestNestingIsBounded(t *testing.T) {
	var log strings.Builder
	for i := range joblog.MaxOpenSections + 5 {
		log.WriteString("section_start:1:s" + strings.Repeat("x", i%3) + "\r\x1b[0Kh\n")
	}
	var st joblog.State
	var b bytes.Buffer
	joblog.Render(&b, &st, []byte(log.String()), true)
	if len(st.Open) != joblog.MaxOpenSections {
		t.Errorf("%d sections open, want at most %d", len(st.Open), joblog.MaxOpenSections)
	}
	if _, err := joblog.Decode(st.Encode()); err != nil {
		t.Errorf("a state Render made does not decode: %v", err)
	}
}

func TestDecodeRefusesForgedStates(t *testing.T) {
	for name, token := range map[string]string{
		"not base64":       "!!!",
		"not JSON":         "bm90IGpzb24",
		"negative lines":   joblog.State{Lines: -1}.Encode(),
		"bad colour":       joblog.State{Style: joblog.Style{Fg: -5}}.Encode(),
		"bad flags":        joblog.State{Style: joblog.Style{Flags: 0xff}}.Encode(),
		"bad section name": joblog.State{Lines: 1, Sections: 1, Open: []joblog.Section{{ID: 1, Name: `"><script>`, Header: 1}}}.Encode(),
		"section past the count": joblog.State{Lines: 1, Sections: 1,
			Open: []joblog.Section{{ID: 2, Name: "a", Header: 1}}}.Encode(),
		"too long": strings.Repeat("A", 10000),
	} {
		if _, err := joblog.Decode(token); !errors.Is(err, joblog.ErrBadState) {
			t.Errorf("%s: Decode = %v, want ErrBadState", name, err)
		}
	}
	ok := joblog.State{Lines: 3, Sections: 1, Open: []joblog.Section{{ID: 1, Name: "step_script", Header: 2, Start: 5}},
		Style: joblog.Style{Fg: joblog.TrueColor | 0x102030, Flags: joblog.Bold}}
	got, err := joblog.Decode(ok.Encode())
	if err != nil || got.Lines != 3 || got.Open[0].Name != "step_script" || got.Style != ok.Style {
		t.Errorf("round trip: %+v, %v", got, err)
	}
}

func TestNothingInTheLogBecomesMarkup(t *testing.T) {
	hostile := "<script>alert(1)</script>\n\x1b[31m\"><img src=x onerror=alert(2)>\n" +
		"section_start:1:x\r\x1b[0K</div><script>alert(3)</script>\n" +
		"\x1b]8;;javascript:alert(4)\x07click\x1b]8;;\x07\n" +
		"\x1b[38;2;0;0;0;\"onmouseover=alert(5)mx\n"
	html := render(t, hostile)
	stripped := tagRE.ReplaceAllStringFunc(html, func(tag string) string {
		if regexp.MustCompile(`^</?(div|span|a)( (class|id|href|style|hidden|data-[a-z]+|aria-hidden)(="[^"<>]*")?)*>$`).MatchString(tag) {
			return ""
		}
		t.Errorf("unexpected tag %s", tag)
		return ""
	})
	if strings.ContainsAny(stripped, "<>") {
		t.Errorf("raw markup characters left in text: %q", stripped)
	}
	if strings.Contains(html, "javascript:") {
		t.Errorf("an OSC link target reached the page:\n%s", html)
	}
}
