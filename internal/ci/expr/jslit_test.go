package expr

import (
	"fmt"
	"strconv"
	"strings"
)

// jsParser reads the JavaScript literals that gitlab-ci-local's unit tests are made of
// (strings in all three quotes, numbers, true/false/null/undefined, identifiers,
// objects, arrays), so the conformance test can take its cases from those files as
// they are rather than from a copy.
type jsParser struct {
	s string
	i int
}

// jsIdent is an identifier used as a value (such as a variable name in a test).
type jsIdent string

func (p *jsParser) skip() {
	for p.i < len(p.s) {
		switch {
		case strings.HasPrefix(p.s[p.i:], "//"):
			if j := strings.IndexByte(p.s[p.i:], '\n'); j >= 0 {
				p.i += j + 1
			} else {
				p.i = len(p.s)
			}
		case strings.HasPrefix(p.s[p.i:], "/*"):
			if j := strings.Index(p.s[p.i+2:], "*/"); j >= 0 {
				p.i += j + 4
			} else {
				p.i = len(p.s)
			}
		case strings.ContainsRune(" \t\r\n", rune(p.s[p.i])):
			p.i++
		default:
			return
		}
	}
}

func (p *jsParser) peek() byte {
	p.skip()
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *jsParser) expect(c byte) error {
	if p.peek() != c {
		return fmt.Errorf("at %d: expected %q, found %.20q", p.i, c, p.s[p.i:])
	}
	p.i++
	return nil
}

// value parses one literal: string, number, keyword, identifier, object or array.
func (p *jsParser) value() (any, error) {
	switch c := p.peek(); {
	case c == '"' || c == '\'' || c == '`':
		return p.str()
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '-' || (c >= '0' && c <= '9'):
		j := p.i + 1
		for j < len(p.s) && (p.s[j] == '.' || (p.s[j] >= '0' && p.s[j] <= '9')) {
			j++
		}
		f, err := strconv.ParseFloat(p.s[p.i:j], 64)
		p.i = j
		return f, err
	case isIdentStart(c):
		id := p.ident()
		switch id {
		case "true":
			return true, nil
		case "false":
			return false, nil
		case "null", "undefined":
			return nil, nil
		}
		return jsIdent(id), nil
	}
	return nil, fmt.Errorf("at %d: unexpected %.20q", p.i, p.s[p.i:])
}

func isIdentStart(c byte) bool {
	return c == '_' || c == '$' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func (p *jsParser) ident() string {
	j := p.i
	for j < len(p.s) && (isIdentStart(p.s[j]) || (p.s[j] >= '0' && p.s[j] <= '9')) {
		j++
	}
	id := p.s[p.i:j]
	p.i = j
	return id
}

// str parses a string literal with JavaScript's escapes. Template literals must not
// interpolate.
func (p *jsParser) str() (string, error) {
	q := p.s[p.i]
	var b strings.Builder
	for j := p.i + 1; j < len(p.s); j++ {
		c := p.s[j]
		switch {
		case c == q:
			p.i = j + 1
			return b.String(), nil
		case q == '`' && c == '$' && j+1 < len(p.s) && p.s[j+1] == '{':
			return "", fmt.Errorf("at %d: template interpolation", j)
		case c == '\\' && j+1 < len(p.s):
			j++
			switch e := p.s[j]; e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'v':
				b.WriteByte('\v')
			case '0':
				b.WriteByte(0)
			case 'u', 'x':
				n := 4
				if e == 'x' {
					n = 2
				}
				r, err := strconv.ParseUint(p.s[j+1:j+1+n], 16, 32)
				if err != nil {
					return "", fmt.Errorf("at %d: bad escape: %v", j, err)
				}
				b.WriteRune(rune(r))
				j += n
			case '\n':
			default:
				b.WriteByte(e) // \\ \' \" \/ and any other: the character itself
			}
		case c == '\n' && q != '`':
			return "", fmt.Errorf("at %d: newline in string", j)
		default:
			b.WriteByte(c)
		}
	}
	return "", fmt.Errorf("at %d: unterminated string", p.i)
}

func (p *jsParser) object() (map[string]any, error) {
	if err := p.expect('{'); err != nil {
		return nil, err
	}
	m := map[string]any{}
	for p.peek() != '}' {
		var key string
		if c := p.peek(); c == '"' || c == '\'' {
			k, err := p.str()
			if err != nil {
				return nil, err
			}
			key = k
		} else if isIdentStart(c) {
			key = p.ident()
		} else {
			return nil, fmt.Errorf("at %d: bad object key %.20q", p.i, p.s[p.i:])
		}
		if err := p.expect(':'); err != nil {
			return nil, err
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		m[key] = v
		if p.peek() == ',' {
			p.i++
		}
	}
	p.i++
	p.skipCast()
	return m, nil
}

func (p *jsParser) array() ([]any, error) {
	if err := p.expect('['); err != nil {
		return nil, err
	}
	var a []any
	for p.peek() != ']' {
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		a = append(a, v)
		if p.peek() == ',' {
			p.i++
		}
	}
	p.i++
	return a, nil
}

// skipCast skips a TypeScript "as any" after a literal.
func (p *jsParser) skipCast() {
	save := p.i
	p.skip()
	if strings.HasPrefix(p.s[p.i:], "as ") {
		p.i += 3
		p.skip()
		p.ident()
		return
	}
	p.i = save
}

// valueAt parses the literal that starts at s[i:].
func valueAt(s string, i int) (any, int, error) {
	p := &jsParser{s: s, i: i}
	v, err := p.value()
	return v, p.i, err
}
