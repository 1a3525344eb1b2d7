package ci

import (
	"fmt"
	"regexp"
	"slices"
)

// checker records structural findings. where is the location GitLab's messages start
// with, such as "jobs:build:artifacts".
type checker struct{ d *diags }

func (c checker) errorf(v *Value, format string, args ...any) {
	p := Pos{}
	if v != nil {
		p = v.Pos
	}
	c.d.errorf(p, format, args...)
}

// typeIs reports whether v has one of kinds, and records "<where> config should be
// <want>" when it has not.
func (c checker) typeIs(v *Value, where, want string, kinds ...Kind) bool {
	if v != nil && slices.Contains(kinds, v.Kind) {
		return true
	}
	c.errorf(v, "%s config should be %s", where, want)
	return false
}

// onlyKeys records "<where> config contains unknown keys: a, b".
func (c checker) onlyKeys(v *Value, where string, allowed ...string) {
	var unknown []string
	for _, p := range v.Pairs {
		if !slices.Contains(allowed, p.Key) {
			unknown = append(unknown, p.Key)
		}
	}
	if len(unknown) > 0 {
		c.d.errorf(v.keyPos(unknown[0]), "%s config contains unknown keys: %s", where, quoteList(unknown))
	}
}

// required records "<where> config missing required keys: a" for absent keys.
func (c checker) required(v *Value, where string, keys ...string) bool {
	var missing []string
	for _, k := range keys {
		if !v.Has(k) {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		c.errorf(v, "%s config missing required keys: %s", where, quoteList(missing))
		return false
	}
	return true
}

// str checks a string of at least minLen characters.
func (c checker) str(v *Value, where string, minLen int) bool {
	if !c.typeIs(v, where, "a string", KindString) {
		return false
	}
	if len([]rune(v.Str)) < minLen {
		c.errorf(v, "%s can't be blank", where)
		return false
	}
	return true
}

func (c checker) strMax(v *Value, where string, minLen, maxLen int) bool {
	if !c.str(v, where, minLen) {
		return false
	}
	if n := len([]rune(v.Str)); n > maxLen {
		c.errorf(v, "%s is too long (maximum is %d characters)", where, maxLen)
		return false
	}
	return true
}

func (c checker) boolean(v *Value, where string) bool {
	return c.typeIs(v, where, "a boolean value", KindBool)
}

func (c checker) enum(v *Value, where string, values ...string) bool {
	if v == nil || v.Kind != KindString || !slices.Contains(values, v.Str) {
		found := describe(v)
		if v.IsScalar() {
			found = fmt.Sprintf("%q", v.Str)
		}
		c.errorf(v, "%s should be one of: %s (not %s)", where, quoteList(values), found)
		return false
	}
	return true
}

func (c checker) pattern(v *Value, where string, re *regexp.Regexp, explain string) bool {
	if !c.typeIs(v, where, "a string", KindString) {
		return false
	}
	if !re.MatchString(v.Str) {
		c.errorf(v, "%s %s", where, explain)
		return false
	}
	return true
}

// strList checks an array of strings with at least minItems entries; a !reference
// stands for such an array.
func (c checker) strList(v *Value, where string, minItems int) bool {
	if v.IsReference() {
		return true
	}
	if !c.typeIs(v, where, "an array of strings", KindSeq) {
		return false
	}
	for _, it := range v.Items {
		if !it.IsString() && !it.IsReference() {
			c.errorf(it, "%s config should be an array of strings", where)
			return false
		}
	}
	if len(v.Items) < minItems {
		c.errorf(v, "%s config should contain at least %d item(s)", where, minItems)
		return false
	}
	return true
}

// unique checks that a sequence's scalars are distinct.
func (c checker) unique(v *Value, where string) bool {
	seen := map[string]bool{}
	for _, it := range v.Items {
		k := it.Kind.String() + ":" + it.Str
		if it.IsScalar() && seen[k] {
			c.errorf(it, "%s config has duplicate entry %q", where, it.Str)
			return false
		}
		seen[k] = true
	}
	return true
}

// stringOrStrings checks a string or an array of strings.
func (c checker) stringOrStrings(v *Value, where string, minItems int) bool {
	if v.IsString() {
		return true
	}
	if v.IsSeq() {
		return c.strList(v, where, minItems)
	}
	c.errorf(v, "%s config should be a string or an array of strings", where)
	return false
}
