package expr

import "fmt"

// SyntaxError is a malformed expression: what is wrong (Msg) and where (Pos, a byte
// offset into Expr; len(Expr) means "at the end").
type SyntaxError struct {
	// Keyword names where the expression came from, for the message: "rules:if" when
	// empty. The compiler may set "only:variables" or "workflow:rules:if".
	Keyword string
	Expr    string
	Pos     int
	Msg     string
}

// GitLabMessage is GitLab's own wording for every malformed expression
// ("jobs:<name> rules:rule if invalid expression syntax").
const GitLabMessage = "invalid expression syntax"

func (e *SyntaxError) Error() string {
	kw := e.Keyword
	if kw == "" {
		kw = "rules:if"
	}
	return fmt.Sprintf("%s %q at %d: %s", kw, e.Expr, e.Pos, e.Msg)
}

// EvalError is an expression that parsed but cannot be evaluated with the given
// variables, where GitLab itself fails (it raises an internal error).
type EvalError struct {
	Expr string
	Pos  int // byte offset of the operator or operand at fault
	Msg  string
}

func (e *EvalError) Error() string {
	return fmt.Sprintf("evaluating %q at %d: %s", e.Expr, e.Pos, e.Msg)
}
