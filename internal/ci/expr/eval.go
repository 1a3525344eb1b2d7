package expr

import (
	"strings"
	"sync/atomic"
	"unicode"
	"unicode/utf8"
)

// Eval evaluates the expression with the variables that lookup returns (ok false:
// the variable is not defined, which is null; an empty value is the string "").
// It reports whether the result is true in GitLab's sense (Ruby's `present?`).
// GitLab evaluates job rules against the job's variables as written, not expanded
// (Build::Context#variables_hash): a variable whose value is "$OTHER" compares as
// the text "$OTHER".
//
// lookup is called at most once per variable reference and must be safe for
// concurrent use if Eval is called concurrently. An error (an *EvalError) comes only
// from an evaluation that GitLab itself cannot perform; a rule whose expression fails
// is not a match, and the caller should report the error.
func (e *Expr) Eval(lookup func(name string) (string, bool)) (bool, error) {
	v, err := e.eval(e.root, lookup)
	if err != nil {
		return false, err
	}
	return v.present(), nil
}

type valueKind uint8

const (
	valueNull valueKind = iota
	valueBool
	valueString
	valuePattern
)

// value is a Ruby value of GitLab's evaluator: nil, true/false, a String or a regexp.
type value struct {
	kind valueKind
	b    bool
	s    string
	pat  *pattern
	// literal marks a string from a "literal" token, whose pattern (pat, nil when the
	// string is not one) was built at parse time.
	literal bool
}

func (v value) truthy() bool {
	return v.kind != valueNull && !(v.kind == valueBool && !v.b)
}

// present is ActiveSupport's present?: nil, false and strings of only whitespace are
// blank.
func (v value) present() bool {
	switch v.kind {
	case valueNull:
		return false
	case valueBool:
		return v.b
	case valueString:
		return !blank(v.s)
	}
	return true
}

// blank is /\A[[:space:]]*\z/ on a UTF-8 string.
func blank(s string) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if !unicode.IsSpace(r) || (r == utf8.RuneError && size == 1) {
			return false
		}
		i += size
	}
	return true
}

func (e *Expr) eval(n *node, lookup func(string) (string, bool)) (value, error) {
	switch n.kind {
	case nodeVariable:
		s, ok := lookup(n.name)
		if !ok {
			return value{}, nil
		}
		return value{kind: valueString, s: s}, nil
	case nodeString:
		return value{kind: valueString, s: n.name, pat: n.pat, literal: true}, nil
	case nodePattern:
		return value{kind: valuePattern, pat: n.pat}, nil
	case nodeBool:
		return value{kind: valueBool, b: n.b}, nil
	case nodeNull, nodeInput:
		return value{}, nil
	}

	l, err := e.eval(n.left, lookup)
	if err != nil {
		return value{}, err
	}
	switch n.op {
	case tokAnd:
		if !l.truthy() {
			return l, nil
		}
		return e.eval(n.right, lookup)
	case tokOr:
		if l.truthy() {
			return l, nil
		}
		return e.eval(n.right, lookup)
	}
	r, err := e.eval(n.right, lookup)
	if err != nil {
		return value{}, err
	}
	var res bool
	switch n.op {
	case tokEquals, tokNotEquals:
		res, err = e.equal(n, l, r)
		res = res == (n.op == tokEquals)
	case tokMatches, tokNotMatches:
		res, err = e.match(n, l, r)
		res = res == (n.op == tokMatches)
	}
	if err != nil {
		return value{}, err
	}
	return value{kind: valueBool, b: res}, nil
}

// equal is Ruby's == on GitLab's values.
func (e *Expr) equal(n *node, l, r value) (bool, error) {
	if l.kind == valuePattern {
		if r.kind != valuePattern {
			return false, &EvalError{Expr: e.src, Pos: n.pos,
				Msg: "a /pattern/ can only be compared with another /pattern/"}
		}
		return l.pat.source == r.pat.source, nil
	}
	if l.kind != r.kind {
		return false, nil
	}
	switch l.kind {
	case valueBool:
		return l.b == r.b, nil
	case valueString:
		return l.s == r.s, nil
	}
	return true, nil // null == null
}

// match reports whether l =~ r in GitLab: the right side null or false never matches;
// a pattern, or a string holding a valid /pattern/, is matched against the left value
// (null as ""); another string is searched for the left value as plain text.
func (e *Expr) match(n *node, l, r value) (bool, error) {
	if !r.truthy() {
		return false, nil
	}
	var text string
	switch l.kind {
	case valueString:
		text = l.s
	case valueBool:
		text = "false"
		if l.b {
			text = "true"
		}
	case valuePattern:
		return false, &EvalError{Expr: e.src, Pos: n.pos,
			Msg: "a /pattern/ cannot be the left operand of " + n.text}
	}
	var p *pattern
	switch r.kind {
	case valuePattern:
		p = r.pat
	case valueBool:
		return false, &EvalError{Expr: e.src, Pos: n.pos,
			Msg: "the right operand of " + n.text + " is true, not a /pattern/"}
	case valueString:
		if r.literal {
			p = r.pat
		} else {
			p = n.dyn.get(r.s)
		}
	}
	if p == nil {
		return strings.Contains(r.s, text), nil
	}
	return p.re.MatchString(text), nil
}

// dynCache remembers the pattern last built from a string value on the right of one
// =~ or !~ node, so that evaluating a rule many times with the same variables compiles
// the regexp once.
type dynCache struct {
	last atomic.Pointer[dynEntry]
}

type dynEntry struct {
	s   string
	pat *pattern // nil: s is not a valid pattern
}

func (c *dynCache) get(s string) *pattern {
	if e := c.last.Load(); e != nil && e.s == s {
		return e.pat
	}
	p, _ := buildPattern(s)
	c.last.Store(&dynEntry{s: s, pat: p})
	return p
}
