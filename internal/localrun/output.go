package localrun

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
)

// maxNameWidth caps the padding of job names in prefixes; longer names overflow.
const maxNameWidth = 40

// Colours of the output (on a terminal, NO_COLOR unset).
const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiGrey   = "\x1b[90m"
)

// nameColours tell the jobs apart in the prefixes.
var nameColours = []string{"\x1b[34m", "\x1b[35m", "\x1b[36m", "\x1b[94m", "\x1b[95m", "\x1b[96m"}

// printer writes whole lines to the output, one at a time, so that the output of
// concurrent jobs interleaves by lines, never within one.
type printer struct {
	mu    sync.Mutex
	w     io.Writer
	color bool
	width int
	next  int // next name colour
}

func newPrinter(w io.Writer, color bool, width int) *printer {
	return &printer{w: w, color: color, width: width}
}

// Separator between a job's name and its output line.
const Separator = " | "

func (p *printer) prefix(name, colour string) string {
	pad := name
	if len(pad) < p.width {
		pad += strings.Repeat(" ", p.width-len(pad))
	}
	if p.color {
		return colour + pad + ansiReset + ansiGrey + Separator + ansiReset
	}
	return pad + Separator
}

func (p *printer) write(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, _ = io.WriteString(p.w, s)
}

// progress writes a line about a job's progress: "==> build-job: success in 1.2s".
func (p *printer) progress(colour, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if p.color {
		p.write(ansiBold + colour + "==> " + ansiReset + colour + msg + ansiReset + "\n")
		return
	}
	p.write("==> " + msg + "\n")
}

// jobWriter returns the writer of one job's log: each complete line is printed with
// the job's prefix; onLine (if not nil) sees each line without ANSI sequences.
func (p *printer) jobWriter(name string, onLine func(string)) *lineWriter {
	p.mu.Lock()
	colour := nameColours[p.next%len(nameColours)]
	p.next++
	p.mu.Unlock()
	return &lineWriter{p: p, prefix: p.prefix(name, colour), onLine: onLine}
}

// lineWriter cuts a job log into lines and prints them, rendering what a terminal
// cannot show as GitLab's log view does: section markers are dropped (a section's
// header stays), and a carriage return inside a line keeps what was written last.
// It is used by one job at a time (the runner serialises its log writes).
type lineWriter struct {
	p      *printer
	prefix string
	onLine func(string)
	buf    []byte
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.line(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) == 0 {
		w.buf = nil // let a large buffer go
	}
	return len(b), nil
}

// Flush prints a last line that has no newline.
func (w *lineWriter) Flush() {
	if len(w.buf) > 0 {
		w.line(string(w.buf))
		w.buf = nil
	}
}

func (w *lineWriter) line(raw string) {
	text, keep := renderLine(raw, w.p.color)
	if !keep {
		return
	}
	if w.onLine != nil {
		plain := text
		if w.p.color {
			plain = stripANSI(text)
		}
		w.onLine(plain)
	}
	if w.p.color {
		text += ansiReset
	}
	w.p.write(w.prefix + text + "\n")
}

var (
	// sectionMarker is GitLab's collapsible-section marker, as runners and scripts
	// write it: section_start:<time>:<name>[<options>]\r\e[0K, possibly after \e[0K.
	sectionMarker = regexp.MustCompile(`(?:\x1b\[0K)?section_(?:start|end):[0-9]+:[A-Za-z0-9_.\-]+(?:\[[^\]\r\n]*\])?\r\x1b\[0K`)
	ansiSequence  = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)
)

// renderLine turns a raw log line into what is shown; keep is false for a line that
// only held section markers.
func renderLine(raw string, color bool) (string, bool) {
	s := strings.TrimSuffix(raw, "\r")
	hadMarker := false
	if strings.Contains(s, "section_") {
		t := sectionMarker.ReplaceAllString(s, "")
		hadMarker = t != s
		s = t
	}
	if i := strings.LastIndexByte(s, '\r'); i >= 0 {
		s = s[i+1:]
	}
	if !color {
		s = stripANSI(s)
	}
	if hadMarker && strings.TrimSpace(stripANSI(s)) == "" {
		return "", false
	}
	return s, true
}

func stripANSI(s string) string {
	if !strings.Contains(s, "\x1b") {
		return s
	}
	return ansiSequence.ReplaceAllString(s, "")
}

// JobLines returns the lines printed for the job named name in kiln exec's output
// (without colours): the text after "<name, padded> | ", in order.
func JobLines(output, name string) []string {
	var out []string
	for _, l := range strings.Split(output, "\n") {
		rest, ok := strings.CutPrefix(l, name)
		if !ok {
			continue
		}
		rest = strings.TrimLeft(rest, " ")
		if text, ok := strings.CutPrefix(rest, strings.TrimLeft(Separator, " ")); ok {
			out = append(out, text)
		}
	}
	return out
}
