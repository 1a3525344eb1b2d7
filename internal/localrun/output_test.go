package localrun

import (
	"bytes"
	"strings"
	"testing"
)

func TestRenderLineShowsWhatGitLabsLogViewShows(t *testing.T) {
	cases := []struct {
		name, raw string
		color     bool
		want      string
		keep      bool
	}{
		{"a plain line", "hello", false, "hello", true},
		{"a section start keeps its header", "section_start:1700000000:step_script\r\x1b[0K\x1b[36;1mExecuting step\x1b[0;m", false, "Executing step", true},
		{"a section start with options", "section_start:1:build[collapsed=true]\r\x1b[0KBuilding", false, "Building", true},
		{"a script's own section marker", "\x1b[0Ksection_start:1000000:my_section\r\x1b[0KMy Section Title", false, "My Section Title", true},
		{"a section end is dropped", "section_end:1700000000:step_script\r\x1b[0K", false, "", false},
		{"colours are kept on a terminal", "\x1b[32;1m$ make\x1b[0;m", true, "\x1b[32;1m$ make\x1b[0;m", true},
		{"colours are removed otherwise", "\x1b[32;1m$ make\x1b[0;m", false, "$ make", true},
		{"a progress bar keeps its last state", "10%\r50%\r100%", false, "100%", true},
		{"a CRLF line ending", "windows\r", false, "windows", true},
		{"an empty line is a line", "", false, "", true},
		{"text that only mentions sections", "see section_start: in the docs", false, "see section_start: in the docs", true},
	}
	for _, c := range cases {
		got, keep := renderLine(c.raw, c.color)
		if got != c.want || keep != c.keep {
			t.Errorf("%s: renderLine(%q) = %q, %v; want %q, %v", c.name, c.raw, got, keep, c.want, c.keep)
		}
	}
}

func TestJobOutputIsPrefixedByLineAcrossWrites(t *testing.T) {
	var out bytes.Buffer
	p := newPrinter(&out, false, 8)
	var seen []string
	w := p.jobWriter("build", func(s string) { seen = append(seen, s) })
	for _, chunk := range []string{"first li", "ne\nsecond\nthi", "rd without newline"} {
		w.Write([]byte(chunk))
	}
	w.Flush()
	want := "build    | first line\nbuild    | second\nbuild    | third without newline\n"
	if out.String() != want {
		t.Errorf("output = %q, want %q", out.String(), want)
	}
	if len(seen) != 3 || seen[2] != "third without newline" {
		t.Errorf("lines seen = %q", seen)
	}
	if got := JobLines(out.String(), "build"); len(got) != 3 || got[0] != "first line" {
		t.Errorf("JobLines = %q", got)
	}
}

func TestColouredOutputResetsEachLineAndNamesJobsInColour(t *testing.T) {
	var out bytes.Buffer
	p := newPrinter(&out, true, 5)
	w := p.jobWriter("build", nil)
	w.Write([]byte("\x1b[31mred without reset\n"))
	p.progress(ansiGreen, "build: success in %s", "1.00s")
	s := out.String()
	if !strings.Contains(s, "red without reset"+ansiReset+"\n") {
		t.Errorf("a job's colour leaks into the next line: %q", s)
	}
	if !strings.HasPrefix(s, nameColours[0]+"build"+ansiReset) {
		t.Errorf("the name is not coloured: %q", s)
	}
	if !strings.Contains(s, "==> "+ansiReset+ansiGreen+"build: success in 1.00s") {
		t.Errorf("progress line = %q", s)
	}
}

func TestCoverageTakesTheLastMatchAsGitLabDoes(t *testing.T) {
	var c coverageScanner
	c.compile(`/^\s*Lines:\s*(\d+.\d+)\%/`)
	for _, l := range []string{"  Lines:   48.46% (510/650)", "unrelated", "  Lines:   78.46% (510/650)", "done"} {
		c.line(l)
	}
	if v := c.value(); v == nil || *v != 78.46 {
		t.Errorf("coverage = %v, want 78.46", v)
	}
	var none coverageScanner
	none.compile(`/Total: (\d+)%/i`)
	none.line("no coverage here")
	if v := none.value(); v != nil {
		t.Errorf("coverage = %v, want none", *v)
	}
}
