package joblog

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// MaxPartialLine is how long an unfinished last line may grow before Render shows it
// anyway (a progress bar that never prints a newline).
const MaxPartialLine = 64 << 10

// Render renders data, the log's bytes that follow what st has seen, as HTML lines
// into w and advances st. It renders complete lines only and returns how many bytes
// of data they took, so the next call starts there; with final set (the log is
// complete) it renders everything. An unfinished line longer than MaxPartialLine is
// rendered as it is.
//
// Each line is a <div class="line" id="L<n>"> with a line-number link; a section's
// header line has class section-header and data-section="s<id>" (and
// data-collapsed="true" when the log asked for it); the lines inside sections carry
// data-sections with the ids of the sections they are in, outermost first. A section
// closed in this chunk gets its duration in its header; one opened in an earlier
// chunk gets a hidden <div class="section-end"> with data-duration, for the page's
// script to put there.
func Render(w io.Writer, st *State, data []byte, final bool) (int, error) {
	r := renderer{st: st, out: make([]byte, 0, min(len(data)*6, 64<<20)+1024)}
	consumed := 0
	for consumed < len(data) {
		rest := data[consumed:]
		nl := bytes.IndexByte(rest, '\n')
		var line []byte
		switch {
		case nl >= 0:
			line = rest[:nl]
			consumed += nl + 1
		case final || len(rest) > MaxPartialLine:
			line = rest
			consumed = len(data)
		default:
			return consumed, r.flush(w)
		}
		r.line(line)
	}
	return consumed, r.flush(w)
}

// insert is a duration to splice into the output at a byte position.
type insert struct {
	pos  int
	text string
}

type renderer struct {
	st      *State
	out     []byte
	inserts []insert
	// opened are the sections opened in this chunk and still open, by id.
	opened map[int]*opened

	// The line being built.
	cur     []byte
	visible bool // cur holds text
	spanOn  bool // a <span> is open in cur
	tagFor  Style
	tag     string
	tags    map[Style]string
}

// line renders one line of the log (without its newline).
func (r *renderer) line(raw []byte) {
	raw = bytes.TrimRight(raw, "\r")
	header := 0       // the section whose header this line is, 0 for a plain line
	afterEnd := false // the line so far follows a section_end marker
	r.reset()
	for {
		i := bytes.Index(raw, []byte("section_"))
		if i < 0 {
			break
		}
		m, ok := parseMarker(raw[i:])
		if !ok {
			r.text(raw[:i+len("section_")])
			raw = raw[i+len("section_"):]
			continue
		}
		r.text(raw[:i])
		raw = raw[i+m.length:]
		if r.visible || header != 0 {
			r.emit(header)
		}
		header, afterEnd = 0, false
		r.reset()
		if m.start {
			header = r.open(m.name, m.time, m.options)
		} else {
			r.close(m.name, m.time)
			afterEnd = true
		}
	}
	r.text(raw)
	if header != 0 || r.visible || !afterEnd {
		r.emit(header)
	}
}

// open starts a section and returns its id (0 when nesting is too deep: the marker is
// then ignored).
func (r *renderer) open(name string, start int64, opts string) int {
	if len(r.st.Open) >= MaxOpenSections {
		return 0
	}
	r.st.Sections++
	id := r.st.Sections
	r.st.Open = append(r.st.Open, Section{ID: id, Name: name, Start: start, Header: r.st.Lines + 1})
	if r.opened == nil {
		r.opened = map[int]*opened{}
	}
	o := &opened{}
	for kv := range strings.SplitSeq(opts, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		switch {
		case k == "collapsed" && v == "true":
			o.collapsed = true
		case k == "hide_duration" && v == "true":
			o.hideDuration = true
		}
	}
	r.opened[id] = o
	r.st.Open[len(r.st.Open)-1].HideDuration = o.hideDuration
	return id
}

// opened is a section opened in the chunk being rendered.
type opened struct {
	collapsed, hideDuration bool
	pos                     int // where its header's duration goes in the output
}

// close ends the innermost open section named name and the sections inside it; a
// name that is not open is ignored.
func (r *renderer) close(name string, end int64) {
	for i := len(r.st.Open) - 1; i >= 0; i-- {
		if r.st.Open[i].Name != name {
			continue
		}
		s := r.st.Open[i]
		r.st.Open = r.st.Open[:i]
		dur := formatDuration(end - s.Start)
		if o, ok := r.opened[s.ID]; ok {
			if !o.hideDuration {
				r.inserts = append(r.inserts, insert{pos: o.pos, text: dur})
			}
			delete(r.opened, s.ID)
			return
		}
		if s.HideDuration {
			return
		}
		r.out = fmt.Appendf(r.out, `<div class="section-end" hidden data-section="s%d" data-duration="%s"></div>`+"\n", s.ID, dur)
		return
	}
}

// formatDuration shows seconds as GitLab shows a section's duration: mm:ss, or
// hh:mm:ss from an hour.
func formatDuration(sec int64) string {
	if sec < 0 {
		sec = 0
	}
	if sec >= 3600 {
		return fmt.Sprintf("%02d:%02d:%02d", sec/3600, sec/60%60, sec%60)
	}
	return fmt.Sprintf("%02d:%02d", sec/60, sec%60)
}

// emit writes the line being built as line number st.Lines+1. header is the section
// it heads, 0 for a plain line.
func (r *renderer) emit(header int) {
	if r.spanOn {
		r.cur = append(r.cur, "</span>"...)
		r.spanOn = false
	}
	r.st.Lines++
	n := r.st.Lines
	open := r.st.Open
	if header != 0 {
		open = open[:len(open)-1] // a header is inside its parents, not itself
	}
	r.out = append(r.out, `<div class="line`...)
	if header != 0 {
		r.out = append(r.out, ` section-header`...)
	}
	r.out = append(r.out, `" id="L`...)
	r.out = strconv.AppendInt(r.out, int64(n), 10)
	r.out = append(r.out, '"')
	if len(open) > 0 {
		r.out = append(r.out, ` data-sections="`...)
		for i, s := range open {
			if i > 0 {
				r.out = append(r.out, ' ')
			}
			r.out = append(r.out, 's')
			r.out = strconv.AppendInt(r.out, int64(s.ID), 10)
		}
		r.out = append(r.out, '"')
	}
	if header != 0 {
		r.out = fmt.Appendf(r.out, ` data-section="s%d"`, header)
		if r.opened[header].collapsed {
			r.out = append(r.out, ` data-collapsed="true"`...)
		}
	}
	r.out = append(r.out, `><a class="line-number" href="#L`...)
	r.out = strconv.AppendInt(r.out, int64(n), 10)
	r.out = append(r.out, `">`...)
	r.out = strconv.AppendInt(r.out, int64(n), 10)
	r.out = append(r.out, `</a>`...)
	if header != 0 {
		r.out = append(r.out, `<span class="section-toggle" aria-hidden="true"></span>`...)
	}
	r.out = append(r.out, `<span class="line-content">`...)
	r.out = append(r.out, r.cur...)
	r.out = append(r.out, `</span>`...)
	if header != 0 {
		r.out = append(r.out, `<span class="section-duration">`...)
		r.opened[header].pos = len(r.out)
		r.out = append(r.out, `</span>`...)
	}
	r.out = append(r.out, "</div>\n"...)
	r.reset()
}

// reset starts a new line's content.
func (r *renderer) reset() {
	r.cur, r.visible, r.spanOn = r.cur[:0], false, false
}

// flush writes the output with the durations spliced in.
func (r *renderer) flush(w io.Writer) error {
	slices.SortFunc(r.inserts, func(a, b insert) int { return a.pos - b.pos })
	at := 0
	for _, in := range r.inserts {
		if _, err := w.Write(r.out[at:in.pos]); err != nil {
			return err
		}
		if _, err := io.WriteString(w, in.text); err != nil {
			return err
		}
		at = in.pos
	}
	_, err := w.Write(r.out[at:])
	return err
}

// sectionMarker is a GitLab section marker:
// "section_start:<unix>:<name>[<options>]\r\e[0K" or "section_end:<unix>:<name>\r\e[0K".
type sectionMarker struct {
	start   bool
	time    int64
	name    string
	options string // between the brackets
	length  int    // bytes of the marker
}

// parseMarker reads the section marker at the start of b.
func parseMarker(b []byte) (m sectionMarker, ok bool) {
	rest := b
	switch {
	case bytes.HasPrefix(rest, []byte("section_start:")):
		m.start, rest = true, rest[len("section_start:"):]
	case bytes.HasPrefix(rest, []byte("section_end:")):
		rest = rest[len("section_end:"):]
	default:
		return m, false
	}
	digits := 0
	for digits < len(rest) && digits < 19 && rest[digits] >= '0' && rest[digits] <= '9' {
		m.time = m.time*10 + int64(rest[digits]-'0')
		digits++
	}
	if digits == 0 || digits >= len(rest) || rest[digits] != ':' {
		return m, false
	}
	rest = rest[digits+1:]
	name := 0
	for name < len(rest) && name <= 100 && nameByte(rest[name]) {
		name++
	}
	if name == 0 || name > 100 {
		return m, false
	}
	m.name, rest = string(rest[:name]), rest[name:]
	if len(rest) > 0 && rest[0] == '[' {
		end := bytes.IndexByte(rest, ']')
		if end < 0 || end > 201 || bytes.ContainsAny(rest[:end], "\r\n") {
			return m, false
		}
		m.options, rest = string(rest[1:end]), rest[end+1:]
	}
	switch {
	case bytes.HasPrefix(rest, []byte("\r\x1b[0K")):
		rest = rest[len("\r\x1b[0K"):]
	case bytes.HasPrefix(rest, []byte("\r\x1b[K")):
		rest = rest[len("\r\x1b[K"):]
	default:
		return m, false
	}
	m.length = len(b) - len(rest)
	return m, true
}

// nameByte reports whether c may be in a section name: GitLab's [A-Za-z0-9_.-].
func nameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-'
}
