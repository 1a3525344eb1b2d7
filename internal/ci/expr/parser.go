package expr

import (
	"fmt"
	"strings"
)

// Expr is a parsed expression. It is immutable and safe for concurrent use.
type Expr struct {
	src  string
	root *node
}

type nodeKind uint8

const (
	nodeVariable nodeKind = iota + 1
	nodeString
	nodePattern
	nodeNull
	nodeBool
	nodeInput
	nodeBinary
)

type node struct {
	kind nodeKind
	op   tokenKind // nodeBinary: the operator
	pos  int       // byte offset of the token (the operator, for nodeBinary)
	text string    // the token as written (leaves)
	// name is the variable or input name; for nodeString the string's content.
	name string
	b    bool     // nodeBool
	pat  *pattern // nodePattern; nodeString when the string is a valid /pattern/
	// dyn caches the pattern last built from a variable on the right of =~ or !~.
	dyn         *dynCache
	left, right *node
}

// Parse parses a rules:if (or only:variables) expression as GitLab does.
// Every error is a *SyntaxError.
func Parse(src string) (*Expr, error) {
	e, err := parse(src, maxTokens)
	if err != nil {
		return nil, err
	}
	return e, nil
}

// parse is Parse with a token limit (0: none), so tests can reparse String() output
// of expressions that GitLab accepted in a shorter, oddly ordered form.
func parse(src string, limit int) (*Expr, *SyntaxError) {
	toks, serr := lex(src, limit)
	if serr != nil {
		return nil, serr
	}
	if len(toks) == 0 {
		return nil, &SyntaxError{Expr: src, Pos: 0, Msg: "empty expression"}
	}
	leaves := make([]node, 0, len(toks))
	for _, t := range toks {
		if t.kind.isValue() {
			n, serr := leaf(src, t)
			if serr != nil {
				return nil, serr
			}
			leaves = append(leaves, n)
		}
	}
	root, ok := shuntingYard(toks, leaves)
	if !ok {
		// GitLab rejects it; find out where a conventional reading goes wrong.
		return nil, diagnose(src, toks)
	}
	if serr := checkStatic(src, root); serr != nil {
		return nil, serr
	}
	return &Expr{src: src, root: root}, nil
}

// leaf builds the node for a value token.
func leaf(src string, t token) (node, *SyntaxError) {
	n := node{pos: t.pos, text: t.text}
	switch t.kind {
	case tokVariable:
		n.kind, n.name = nodeVariable, t.text[1:]
	case tokString:
		n.kind, n.name = nodeString, t.text[1:len(t.text)-1]
		// A string on the right of =~ that holds a valid /pattern/ is a pattern.
		n.pat, _ = buildPattern(n.name)
	case tokPattern:
		p, err := buildPattern(t.text)
		if err != nil {
			return n, &SyntaxError{Expr: src, Pos: t.pos,
				Msg: fmt.Sprintf("invalid regular expression %s: %v", t.text, err)}
		}
		n.kind, n.pat = nodePattern, p
	case tokNull:
		n.kind = nodeNull
	case tokBool:
		n.kind, n.b = nodeBool, t.text == "true"
	case tokInput:
		n.kind, n.name = nodeInput, inputName(t.text)
	}
	return n, nil
}

// shuntingYard builds the tree exactly as GitLab's Parser does: the tokens are put in
// reverse Polish order with the shunting-yard algorithm (an operator pops operators
// of lower or equal precedence number; a closing parenthesis pops to its opening one),
// then the order is evaluated; any operator without two operands, any parenthesis
// left over and any value left over make the expression invalid.
func shuntingYard(toks []token, leaves []node) (*node, bool) {
	output := make([]int, 0, len(toks)) // indexes into toks
	ops := make([]int, 0, 8)
	for i, t := range toks {
		switch {
		case t.kind.isValue():
			output = append(output, i)
		case t.kind.isOperator():
			for len(ops) > 0 && consumes(t.kind, toks[ops[len(ops)-1]].kind) {
				output = append(output, ops[len(ops)-1])
				ops = ops[:len(ops)-1]
			}
			ops = append(ops, i)
		case t.kind == tokOpen:
			ops = append(ops, i)
		case t.kind == tokClose:
			for len(ops) > 0 && toks[ops[len(ops)-1]].kind != tokOpen {
				output = append(output, ops[len(ops)-1])
				ops = ops[:len(ops)-1]
			}
			if len(ops) == 0 {
				return nil, false // unmatched parenthesis
			}
			ops = ops[:len(ops)-1]
		}
	}
	for i := len(ops) - 1; i >= 0; i-- {
		output = append(output, ops[i])
	}

	nodes := make([]node, len(toks)-len(leaves))
	stack := make([]*node, 0, len(leaves))
	nl, nb := 0, 0
	for _, i := range output {
		t := toks[i]
		switch {
		case t.kind.isValue():
			stack = append(stack, &leaves[nl])
			nl++
		case t.kind.isOperator():
			if len(stack) < 2 {
				return nil, false
			}
			n := &nodes[nb]
			nb++
			*n = node{kind: nodeBinary, op: t.kind, pos: t.pos, text: t.text,
				left: stack[len(stack)-2], right: stack[len(stack)-1]}
			if t.kind == tokMatches || t.kind == tokNotMatches {
				n.dyn = new(dynCache)
			}
			stack = stack[:len(stack)-2]
			stack = append(stack, n)
		default:
			return nil, false // an opening parenthesis never closed
		}
	}
	if len(stack) != 1 {
		return nil, false
	}
	return stack[0], true
}

// consumes is GitLab's Lexeme::Base.consume?: the incoming operator pops the one on the
// stack when its precedence number is greater or equal (parentheses have 900 and 901,
// so an operator never pops an opening parenthesis).
func consumes(incoming, top tokenKind) bool {
	if top == tokOpen {
		return false
	}
	return incoming.precedence() >= top.precedence()
}

// checkStatic rejects what GitLab accepts at parse time but cannot evaluate: a
// /pattern/ compared (== or !=) with a value that is not a pattern, and true as the
// pattern of =~ or !~, both of which make GitLab fail with an internal error; and a
// /pattern/ on the left of =~ or !~, which GitLab matches against the description of
// a Ruby object (so its result depends on a memory address).
func checkStatic(src string, n *node) *SyntaxError {
	if n.kind != nodeBinary {
		return nil
	}
	switch n.op {
	case tokEquals, tokNotEquals:
		if n.left.kind == nodePattern && n.right.kind != nodePattern && n.right.kind != nodeBinary {
			return &SyntaxError{Expr: src, Pos: n.left.pos,
				Msg: fmt.Sprintf("a /pattern/ cannot be compared with %s; match it with =~ or !~", n.right.text)}
		}
	case tokMatches, tokNotMatches:
		if n.left.kind == nodePattern {
			return &SyntaxError{Expr: src, Pos: n.left.pos,
				Msg: fmt.Sprintf("a /pattern/ cannot be the left operand of %s; put it on the right", n.text)}
		}
		if n.right.kind == nodeBool && n.right.b {
			return &SyntaxError{Expr: src, Pos: n.right.pos,
				Msg: fmt.Sprintf("the right operand of %s must be a /pattern/ or a string holding one, not true", n.text)}
		}
	}
	if err := checkStatic(src, n.left); err != nil {
		return err
	}
	return checkStatic(src, n.right)
}

// diagnose reads toks as a conventional infix expression (which GitLab's parser always
// accepts) and reports the first place where that reading fails.
func diagnose(src string, toks []token) *SyntaxError {
	d := diagnoser{src: src, toks: toks}
	if err := d.or(); err != nil {
		return err
	}
	if d.i < len(toks) {
		t := toks[d.i]
		switch {
		case t.kind == tokClose:
			return d.errAt(t.pos, "unmatched )")
		case t.kind == tokOpen || t.kind.isValue():
			return d.errAt(t.pos, fmt.Sprintf("expected an operator (==, !=, =~, !~, &&, ||) before %s", t.text))
		}
		return d.errAt(t.pos, fmt.Sprintf("unexpected %s", t.text))
	}
	// Unreachable: GitLab's parser accepts whatever this reading accepts.
	return d.errAt(0, GitLabMessage)
}

type diagnoser struct {
	src  string
	toks []token
	i    int
}

func (d *diagnoser) errAt(pos int, msg string) *SyntaxError {
	return &SyntaxError{Expr: d.src, Pos: pos, Msg: msg}
}

func (d *diagnoser) peek() (token, bool) {
	if d.i < len(d.toks) {
		return d.toks[d.i], true
	}
	return token{}, false
}

func (d *diagnoser) or() *SyntaxError {
	return d.binary(d.and, tokOr)
}

func (d *diagnoser) and() *SyntaxError {
	return d.binary(d.comparison, tokAnd)
}

func (d *diagnoser) comparison() *SyntaxError {
	return d.binary(d.operand, tokEquals, tokNotEquals, tokMatches, tokNotMatches)
}

func (d *diagnoser) binary(next func() *SyntaxError, kinds ...tokenKind) *SyntaxError {
	if err := next(); err != nil {
		return err
	}
	for {
		t, ok := d.peek()
		if !ok || !containsKind(kinds, t.kind) {
			return nil
		}
		d.i++
		if err := next(); err != nil {
			return err
		}
	}
}

func containsKind(kinds []tokenKind, k tokenKind) bool {
	for _, c := range kinds {
		if c == k {
			return true
		}
	}
	return false
}

func (d *diagnoser) operand() *SyntaxError {
	t, ok := d.peek()
	switch {
	case !ok:
		return d.errAt(len(d.src), "expected a value")
	case t.kind.isValue():
		d.i++
		return nil
	case t.kind == tokOpen:
		d.i++
		if err := d.or(); err != nil {
			return err
		}
		if c, ok := d.peek(); !ok || c.kind != tokClose {
			pos := len(d.src)
			if ok {
				pos = c.pos
			}
			return d.errAt(pos, fmt.Sprintf("expected ) to close the ( at %d", t.pos))
		}
		d.i++
		return nil
	}
	return d.errAt(t.pos, fmt.Sprintf("expected a value, found %s", t.text))
}

// Variables returns the names of the variables the expression reads, in order of first
// appearance.
func (e *Expr) Variables() []string {
	var names []string
	var walk func(n *node)
	walk = func(n *node) {
		switch n.kind {
		case nodeVariable:
			for _, s := range names {
				if s == n.name {
					return
				}
			}
			names = append(names, n.name)
		case nodeBinary:
			walk(n.left)
			walk(n.right)
		}
	}
	walk(e.root)
	return names
}

// Source returns the expression as it was written.
func (e *Expr) Source() string { return e.src }

// String returns the expression in canonical form: tokens as written, separated by
// single spaces, with the parentheses that precedence requires and no others. It
// parses to an equivalent expression (for an oddly ordered expression that GitLab
// accepts, such as `$A $B $C == ==`, it may need more than GitLab's 99 tokens).
func (e *Expr) String() string {
	var b strings.Builder
	writeNode(&b, e.root)
	return b.String()
}

func writeNode(b *strings.Builder, n *node) {
	if n.kind != nodeBinary {
		b.WriteString(n.text)
		return
	}
	p := n.op.precedence()
	writeOperand(b, n.left, n.left.kind == nodeBinary && n.left.op.precedence() > p)
	b.WriteByte(' ')
	b.WriteString(n.text)
	b.WriteByte(' ')
	writeOperand(b, n.right, n.right.kind == nodeBinary && n.right.op.precedence() >= p)
}

func writeOperand(b *strings.Builder, n *node, parens bool) {
	if parens {
		b.WriteByte('(')
	}
	writeNode(b, n)
	if parens {
		b.WriteByte(')')
	}
}
