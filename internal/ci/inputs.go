package ci

import (
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/kiln-ci/kiln/internal/jobspec"
)

// Inputs: a file may start with a `spec:` header document declaring inputs, which
// the rest of the file uses as $[[ inputs.NAME ]]. include:local passes values with
// `inputs:`; the main file uses the defaults. Values are checked against the
// declaration (type, options, regex) and interpolated into keys and values, GitLab's
// Ci::Config::Interpolation: a string that is exactly one block takes the input's
// own type (a list, a number, a boolean); inside longer text a list is written as
// JSON. Blocks may apply up to three functions: expand_vars, truncate(offset,length)
// and posix_escape.

// maxInputFunctions is GitLab's limit on functions in one interpolation block.
const maxInputFunctions = 3

var (
	interpolationRE = regexp.MustCompile(`\$\[\[\s*(.*?)\s*\]\]`)
	inputRefRE      = regexp.MustCompile(`^inputs\.([a-zA-Z0-9_-]+)$`)
	truncateRE      = regexp.MustCompile(`^truncate\(\s*(\d+)\s*,\s*(\d+)\s*\)$`)
)

// inputs resolves the header's inputs with the given values (nil for the main file)
// and interpolates them into body. env expands variables for expand_vars.
func applyInputs(header, given, body *Value, where Pos, env *ruleEnv) (*Value, Diagnostics) {
	var d diags
	spec := header.Get("spec")
	checker{d: &d}.spec(spec)
	if d.hasErrors() {
		return body, d.list
	}
	values := resolveInputs(spec.Get("inputs"), given, where, env, &d)
	if d.hasErrors() {
		return body, d.list
	}
	it := interpolator{values: values, env: env, d: &d}
	return it.value(body), d.list
}

func resolveInputs(decl, given *Value, where Pos, env *ruleEnv, d *diags) map[string]*Value {
	values := map[string]*Value{}
	for _, p := range given.mapPairs() {
		if !decl.Has(p.Key) {
			d.errorf(p.KeyPos, "unknown input name provided: `%s`", p.Key)
		}
	}
	for _, p := range decl.mapPairs() {
		name, in := p.Key, p.Value
		typ := in.Get("type").Text()
		if typ == "" {
			typ = "string"
		}
		val, has := given.Get(name), given.Has(name)
		def, hasDef := in.Get("default"), in.Has("default")
		options := in.Get("options")
		if rules := in.Get("rules"); rules.IsSeq() {
			if r := firstInputRule(rules, env, d); r != nil {
				def, hasDef = r.Get("default"), r.Has("default")
				options = r.Get("options")
			}
		}
		if !has {
			if !hasDef {
				d.errorf(where, "`%s` input: required value has not been provided", name)
				continue
			}
			val = def
		}
		if !inputDefaultFits(typ, val, false) {
			d.errorf(posOr(val, where), "`%s` input: provided value is not a %s.", name, typ)
			continue
		}
		if options.IsSeq() && len(options.Items) > 0 {
			candidates := []*Value{val}
			if val.IsSeq() {
				candidates = val.Items
			}
			for _, c := range candidates {
				if !slices.ContainsFunc(options.Items, func(o *Value) bool { return o.IsScalar() && o.Str == c.Str }) {
					d.errorf(posOr(c, where), "`%s` input: `%s` cannot be used because it is not in the list of allowed options.", name, c.Text())
				}
			}
		}
		if re := in.Get("regex").Text(); re != "" && typ == "string" {
			compiled, err := regexp.Compile(re)
			switch {
			case err != nil:
				d.errorf(in.Pos, "`%s` input: regex `%s` is not a valid regular expression.", name, re)
			case !compiled.MatchString(val.Str):
				d.errorf(posOr(val, where), "`%s` input: `%s` does not match required regex: %s.", name, val.Str, re)
			}
		}
		values[name] = val
	}
	return values
}

// firstInputRule returns the first spec:inputs rule whose if holds.
func firstInputRule(rules *Value, env *ruleEnv, d *diags) *Value {
	dc := decoder{d: d}
	for _, r := range rules.Items {
		if !r.IsMap() {
			continue
		}
		x := r.Get("if")
		if !x.IsString() {
			return r
		}
		if e := dc.expression(x, "spec:inputs:rules:rule if"); e != nil {
			if ok, err := e.Eval(env.lookup); err == nil && ok {
				return r
			}
		}
	}
	return nil
}

func posOr(v *Value, p Pos) Pos {
	if v != nil && v.Pos.Line > 0 {
		return v.Pos
	}
	return p
}

// mapPairs returns a mapping's pairs (none for anything else).
func (v *Value) mapPairs() []Pair {
	if !v.IsMap() {
		return nil
	}
	return v.Pairs
}

type interpolator struct {
	values map[string]*Value
	env    *ruleEnv
	d      *diags
}

func (it interpolator) value(v *Value) *Value {
	switch {
	case v == nil:
		return v
	case v.IsString():
		return it.text(v)
	case v.IsSeq():
		out := *v
		out.Items = make([]*Value, len(v.Items))
		for i, x := range v.Items {
			out.Items[i] = it.value(x)
		}
		return &out
	case v.IsMap():
		out := *v
		out.Pairs = make([]Pair, 0, len(v.Pairs))
		for _, p := range v.Pairs {
			key := p.Key
			if strings.Contains(key, "$[[") {
				key = it.text(newString(key, p.KeyPos)).Text()
			}
			out.Pairs = append(out.Pairs, Pair{Key: key, KeyPos: p.KeyPos, Value: it.value(p.Value)})
		}
		return &out
	}
	return v
}

// text interpolates one string: a string that is exactly one block becomes the
// input's value; otherwise each block is replaced by the value's text.
func (it interpolator) text(v *Value) *Value {
	if !strings.Contains(v.Str, "$[[") {
		return v
	}
	blocks := interpolationRE.FindAllStringSubmatchIndex(v.Str, -1)
	if len(blocks) == 1 && blocks[0][0] == 0 && blocks[0][1] == len(v.Str) {
		if val, ok := it.block(v.Str[blocks[0][2]:blocks[0][3]], v.Pos); ok {
			c := val.Clone()
			setPos(c, v.Pos)
			return c
		}
		return v
	}
	var b strings.Builder
	last := 0
	for _, m := range blocks {
		b.WriteString(v.Str[last:m[0]])
		if val, ok := it.block(v.Str[m[2]:m[3]], v.Pos); ok {
			b.WriteString(inputText(val))
		} else {
			b.WriteString(v.Str[m[0]:m[1]])
		}
		last = m[1]
	}
	b.WriteString(v.Str[last:])
	return newString(b.String(), v.Pos)
}

// block evaluates the inside of $[[ ... ]]. Blocks that do not use inputs (such as
// $[[ matrix.NAME ]] in needs) are left alone: ok is false.
func (it interpolator) block(src string, p Pos) (*Value, bool) {
	parts := strings.Split(src, "|")
	ref := strings.TrimSpace(parts[0])
	m := inputRefRE.FindStringSubmatch(ref)
	if m == nil {
		if strings.HasPrefix(ref, "inputs.") {
			it.d.errorf(p, "invalid interpolation block `%s`.", src)
		}
		return nil, false
	}
	val, ok := it.values[m[1]]
	if !ok {
		it.d.errorf(p, "unknown interpolation key: `%s`.", m[1])
		return nil, false
	}
	funcs := parts[1:]
	if len(funcs) > maxInputFunctions {
		it.d.errorf(p, "too many functions in interpolation block.")
		return nil, false
	}
	for _, f := range funcs {
		s := inputText(val)
		switch f = strings.TrimSpace(f); {
		case f == "expand_vars":
			s = jobspec.ExpandExisting(s, it.env.lookup)
		case f == "posix_escape":
			s = posixEscape(s)
		case truncateRE.MatchString(f):
			n := truncateRE.FindStringSubmatch(f)
			off, _ := strconv.Atoi(n[1])
			length, _ := strconv.Atoi(n[2])
			r := []rune(s)
			off = min(off, len(r))
			s = string(r[off:min(off+length, len(r))])
		default:
			it.d.errorf(p, "no function matching `%s`: check that the function name, arguments, and types are correct", f)
			return nil, false
		}
		val = newString(s, p)
	}
	return val, true
}

// inputText is how a value reads inside a longer string.
func inputText(v *Value) string {
	if v.IsSeq() || v.IsMap() {
		b, err := v.MarshalJSON()
		if err != nil {
			return ""
		}
		return string(b)
	}
	return v.Text()
}

func setPos(v *Value, p Pos) {
	v.Pos = p
	for _, it := range v.Items {
		setPos(it, p)
	}
	for i := range v.Pairs {
		v.Pairs[i].KeyPos = p
		setPos(v.Pairs[i].Value, p)
	}
}

// posixEscape quotes s for a POSIX shell as Ruby's Shellwords.escape does.
func posixEscape(s string) string {
	if s == "" {
		return "''"
	}
	var b strings.Builder
	for _, r := range s {
		if r == '\n' {
			b.WriteString("'\n'")
			continue
		}
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_-.,:+/@", r)) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
