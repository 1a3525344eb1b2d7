// Package expr is GitLab's CI/CD variable expression language: the language of
// `rules:if`, `workflow:rules:if` and `only:variables`/`except:variables`.
//
// It implements what GitLab's Gitlab::Ci::Pipeline::Expression does, quirks included,
// because users' pipelines depend on them:
//
//   - Tokens: $VARIABLE (ASCII letters, digits and _), "string" and 'string' (no
//     escapes; a string ends at its first closing quote and cannot span lines), null,
//     true and false, /pattern/flags, ==, !=, =~, !~, &&, ||, parentheses, and
//     $[[ inputs.name ]] (which evaluates to null here: job rules see no inputs).
//     ${VARIABLE} is not a token: GitLab rejects it in expressions. Anything else is
//     a syntax error. An expression may hold at most 99 tokens, as in GitLab.
//   - A /pattern/ needs at least two characters between its slashes; "\/" inside it is
//     a slash. Flags are i, s, m and U, passed to RE2 as (?flags). Patterns use RE2
//     syntax (Go's regexp), as GitLab's untrusted regexps do.
//   - Precedence: comparisons bind tighter than &&, which binds tighter than ||; all are
//     left-associative. Parsing follows GitLab's shunting-yard parser exactly, so some
//     oddly ordered expressions GitLab accepts (such as `$A $B ==`) are accepted too.
//   - Values are null (an undefined variable, null), strings (a defined variable, even
//     when empty), booleans (comparisons, true, false) and patterns. && and || return
//     one of their operands, as in Ruby: `$EMPTY && $X` is $X, because only null and
//     false are false inside && and ||. The expression as a whole is true when its value
//     is "present" in Ruby's sense: not null, not false, not a string of only
//     whitespace.
//   - == and != compare values: an undefined variable equals null, an empty one equals
//     "" and not null.
//   - =~ and !~ match the left value (null as "") against the right one: a pattern, or a
//     string holding "/pattern/flags" (a variable, typically). A right side that is
//     null or false never matches. A string that is not a valid pattern is searched for
//     the left value as a plain substring, as GitLab does (it does not report an error).
//
// Kiln departs from GitLab in two places, both where GitLab has no sensible answer:
// Parse rejects a /pattern/ compared (== or !=) with a value that is not a pattern
// (GitLab fails with an internal error) and a /pattern/ on the left of =~ or !~ (GitLab
// matches the description of a Ruby object, which holds a memory address). The true
// and false literals are GitLab's Lexeme::Boolean, added with spec:inputs rules; older
// GitLab versions rejected them. RE2 and Go's regexp accept the same syntax but for
// rarities (\C, size limits).
//
// Parse reports a *SyntaxError naming the byte offset and showing the expression. Eval
// reports an error only for what GitLab itself cannot evaluate (such as a pattern on
// the left of a comparison, found only at evaluation time). An *Expr is immutable and
// safe for concurrent use by many goroutines; Eval allocates nothing in the common case.
//
// The pipeline compiler (internal/ci) uses this package; it imports only the standard
// library and does no I/O. Nothing on the runner or coordinator side needs it.
package expr
