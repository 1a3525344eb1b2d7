package joblog

import (
	"unicode/utf8"
)

const esc = 0x1b

// text renders a piece of a line: ANSI escape sequences change the style (SGR) or are
// dropped (every other CSI, OSC and two-byte sequence), a carriage return starts the
// line over as a terminal overwrites it, tabs stay, other control characters are
// dropped, invalid UTF-8 becomes U+FFFD, and text is HTML-escaped.
func (r *renderer) text(b []byte) {
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c == esc:
			i = r.escape(b, i)
		case c == '\r':
			r.reset()
			i++
		case c == '\t' || (c >= 0x20 && c != 0x7f):
			j := i + 1
			for j < len(b) && (b[j] == '\t' || (b[j] >= 0x20 && b[j] != 0x7f)) {
				j++
			}
			r.write(b[i:j])
			i = j
		default: // other C0 controls and DEL
			i++
		}
	}
}

// escape handles the escape sequence at b[i] (an ESC) and returns the index after it.
// A sequence cut off by the end of the line is dropped.
func (r *renderer) escape(b []byte, i int) int {
	if i+1 >= len(b) {
		return len(b)
	}
	switch b[i+1] {
	case '[': // CSI: parameters 0x30–0x3f, intermediates 0x20–0x2f, final 0x40–0x7e
		j := i + 2
		for j < len(b) && b[j] >= 0x30 && b[j] <= 0x3f {
			j++
		}
		params := b[i+2 : j]
		for j < len(b) && b[j] >= 0x20 && b[j] <= 0x2f {
			j++
		}
		if j >= len(b) {
			return len(b)
		}
		if b[j] == 'm' && j == i+2+len(params) && plainParams(params) {
			r.st.Style.apply(params)
		}
		if b[j] >= 0x40 && b[j] <= 0x7e {
			return j + 1
		}
		return j // not a sequence after all: the byte is read as text
	case ']': // OSC, ended by BEL or ST (ESC \)
		for j := i + 2; j < len(b); j++ {
			if b[j] == 0x07 {
				return j + 1
			}
			if b[j] == esc && j+1 < len(b) && b[j+1] == '\\' {
				return j + 2
			}
		}
		return len(b)
	case '(', ')', '*', '+', '#', '%': // character set selection: ESC ( B
		return min(i+3, len(b))
	}
	return i + 2
}

// plainParams reports whether SGR parameters are digits and separators only.
func plainParams(p []byte) bool {
	for _, c := range p {
		if (c < '0' || c > '9') && c != ';' && c != ':' {
			return false
		}
	}
	return true
}

// write appends text in the current style, escaped.
func (r *renderer) write(t []byte) {
	if len(t) == 0 {
		return
	}
	if !r.spanOn || r.tagFor != r.st.Style {
		if r.spanOn {
			r.cur = append(r.cur, "</span>"...)
			r.spanOn = false
		}
		if r.tagFor != r.st.Style || r.tag == "" {
			r.tagFor, r.tag = r.st.Style, r.openTag(r.st.Style)
		}
		if r.tag != "" {
			r.cur = append(r.cur, r.tag...)
			r.spanOn = true
		}
	}
	r.visible = true
	if utf8.Valid(t) {
		r.cur = appendEscaped(r.cur, t)
		return
	}
	for len(t) > 0 {
		ru, n := utf8.DecodeRune(t)
		if ru == utf8.RuneError && n <= 1 {
			r.cur = append(r.cur, "\uFFFD"...)
		} else {
			r.cur = appendEscaped(r.cur, t[:n])
		}
		t = t[n:]
	}
}

// appendEscaped appends valid UTF-8 text with &, <, >, " and ' escaped, copying the
// runs between them whole.
func appendEscaped(dst, t []byte) []byte {
	start := 0
	for i, c := range t {
		var rep string
		switch c {
		case '&':
			rep = "&amp;"
		case '<':
			rep = "&lt;"
		case '>':
			rep = "&gt;"
		case '"':
			rep = "&#34;"
		case '\'':
			rep = "&#39;"
		default:
			continue
		}
		dst = append(dst, t[start:i]...)
		dst = append(dst, rep...)
		start = i + 1
	}
	return append(dst, t[start:]...)
}

// openTag returns Style.openTag, remembered per style for the chunk.
func (r *renderer) openTag(s Style) string {
	if s == (Style{}) {
		return ""
	}
	tag, ok := r.tags[s]
	if !ok {
		if r.tags == nil {
			r.tags = map[Style]string{}
		}
		tag = s.openTag()
		r.tags[s] = tag
	}
	return tag
}
