package joblog

import (
	"errors"
	"strings"
)

// Color is a terminal colour: 0 is the default, 1–256 a palette entry (its index + 1:
// 1–8 the basic colours, 9–16 their bright variants, 17–256 the 256-colour cube and
// greys), and TrueColor|0xRRGGBB a 24-bit colour.
type Color int32

// TrueColor marks a 24-bit colour.
const TrueColor Color = 1 << 24

func palette(i int) Color   { return Color(i + 1) }
func rgb(r, g, b int) Color { return TrueColor | Color(r<<16|g<<8|b) }
func (c Color) valid() bool { return (c >= 0 && c <= 256) || (c >= TrueColor && c < TrueColor<<1) }

// Style flags.
const (
	Bold uint8 = 1 << iota
	Faint
	Italic
	Underline
	Strike
	allFlags = Bold | Faint | Italic | Underline | Strike
)

// Style is the SGR state of a terminal: colours and flags.
type Style struct {
	Fg    Color `json:"fg,omitempty"`
	Bg    Color `json:"bg,omitempty"`
	Flags uint8 `json:"flags,omitempty"`
}

func (s Style) check() error {
	if !s.Fg.valid() || !s.Bg.valid() || s.Flags&^allFlags != 0 {
		return errors.New("style out of range")
	}
	return nil
}

// apply applies the parameters of one SGR sequence ("ESC [ params m"): digits
// separated by ';' or ':'. Unknown parameters are ignored, as terminals do.
func (s *Style) apply(params []byte) {
	if len(params) == 0 {
		*s = Style{}
		return
	}
	var ps [16]int
	n, v := 0, 0 // an empty parameter is 0
	for i := 0; i <= len(params) && n < len(ps); i++ {
		if i == len(params) || params[i] == ';' || params[i] == ':' {
			if v > 255 {
				v = -1 // matches no case below: ignored
			}
			ps[n], v = v, 0
			n++
			continue
		}
		if v >= 0 && v <= 255 {
			v = v*10 + int(params[i]-'0')
		}
	}
	for i := 0; i < n; i++ {
		p := ps[i]
		switch {
		case p == 0:
			*s = Style{}
		case p == 1:
			s.Flags |= Bold
		case p == 2:
			s.Flags |= Faint
		case p == 3:
			s.Flags |= Italic
		case p == 4:
			s.Flags |= Underline
		case p == 9:
			s.Flags |= Strike
		case p == 21 || p == 22:
			s.Flags &^= Bold | Faint
		case p == 23:
			s.Flags &^= Italic
		case p == 24:
			s.Flags &^= Underline
		case p == 29:
			s.Flags &^= Strike
		case p >= 30 && p <= 37:
			s.Fg = palette(p - 30)
		case p >= 90 && p <= 97:
			s.Fg = palette(p - 90 + 8)
		case p == 39:
			s.Fg = 0
		case p >= 40 && p <= 47:
			s.Bg = palette(p - 40)
		case p >= 100 && p <= 107:
			s.Bg = palette(p - 100 + 8)
		case p == 49:
			s.Bg = 0
		case p == 38 || p == 48:
			c, used := extendedColor(ps[i+1 : n])
			i += used
			if c >= 0 {
				if p == 38 {
					s.Fg = c
				} else {
					s.Bg = c
				}
			}
		}
	}
}

// extendedColor reads "5;n" or "2;r;g;b" after a 38 or 48 and returns the colour
// (-1 when malformed) and how many parameters it used.
func extendedColor(ps []int) (Color, int) {
	switch {
	case len(ps) >= 2 && ps[0] == 5:
		if ps[1] < 0 {
			return -1, 2
		}
		return palette(ps[1]), 2
	case len(ps) >= 4 && ps[0] == 2:
		if ps[1] < 0 || ps[2] < 0 || ps[3] < 0 {
			return -1, 4
		}
		return rgb(ps[1], ps[2], ps[3]), 4
	}
	return -1, len(ps)
}

var colorNames = [8]string{"black", "red", "green", "yellow", "blue", "magenta", "cyan", "white"}

// cubeLevels are the six levels of xterm's 6×6×6 colour cube.
var cubeLevels = [6]int{0, 95, 135, 175, 215, 255}

// hex returns a 256-palette or true colour as #rrggbb.
func (c Color) hex() string {
	var r, g, b int
	switch {
	case c >= TrueColor:
		v := int(c &^ TrueColor)
		r, g, b = v>>16&0xff, v>>8&0xff, v&0xff
	case c > 232: // greys 232–255
		l := 8 + 10*(int(c)-1-232)
		r, g, b = l, l, l
	default: // the cube, 16–231
		i := int(c) - 1 - 16
		r, g, b = cubeLevels[i/36], cubeLevels[i/6%6], cubeLevels[i%6]
	}
	const digits = "0123456789abcdef"
	return string([]byte{'#', digits[r>>4], digits[r&15], digits[g>>4], digits[g&15], digits[b>>4], digits[b&15]})
}

// openTag returns the <span> that starts text in style s, or "" for the default style.
// Basic colours and flags are classes (term-fg-red, term-fg-l-red for bright,
// term-bg-…, term-bold, …); 256-palette and true colours are inline colours computed
// from numbers, never from the log's text.
func (s Style) openTag() string {
	if s == (Style{}) {
		return ""
	}
	var classes, style []string
	color := func(c Color, kind string) {
		switch {
		case c == 0:
		case c <= 16:
			i := int(c) - 1
			if i < 8 {
				classes = append(classes, "term-"+kind+"-"+colorNames[i])
			} else {
				classes = append(classes, "term-"+kind+"-l-"+colorNames[i-8])
			}
		case kind == "fg":
			style = append(style, "color:"+c.hex())
		default:
			style = append(style, "background-color:"+c.hex())
		}
	}
	color(s.Fg, "fg")
	color(s.Bg, "bg")
	for _, f := range []struct {
		flag  uint8
		class string
	}{{Bold, "term-bold"}, {Faint, "term-faint"}, {Italic, "term-italic"}, {Underline, "term-underline"}, {Strike, "term-strike"}} {
		if s.Flags&f.flag != 0 {
			classes = append(classes, f.class)
		}
	}
	var b strings.Builder
	b.WriteString("<span")
	if len(classes) > 0 {
		b.WriteString(` class="` + strings.Join(classes, " ") + `"`)
	}
	if len(style) > 0 {
		b.WriteString(` style="` + strings.Join(style, ";") + `"`)
	}
	b.WriteString(">")
	return b.String()
}
