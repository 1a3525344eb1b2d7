package ci

import (
	"encoding/json"
	"strconv"
	"strings"
)

// Kind is the type of a Value.
type Kind uint8

// Kinds of values, as YAML (read the way GitLab's Ruby YAML reader reads them) gives them.
const (
	KindNull Kind = iota
	KindBool
	KindInt
	KindFloat
	KindString
	KindSeq
	KindMap
)

func (k Kind) String() string {
	return [...]string{"null", "boolean", "integer", "number", "string", "array", "hash"}[k]
}

// tagReference is GitLab's custom YAML tag.
const tagReference = "!reference"

// Value is one node of a parsed configuration: a scalar, a sequence or an ordered
// mapping, with the place it was written. Values form a tree; aliases are expanded
// into copies when the file is read, so no two parents share a child.
//
// A Value is mutable while the configuration is being assembled (includes, extends,
// !reference) and treated as read-only afterwards.
type Value struct {
	Kind Kind
	// Str is a scalar's text in canonical form: "true"/"false", the decimal form of a
	// number, or the string itself.
	Str   string
	Items []*Value // KindSeq
	Pairs []Pair   // KindMap, keys unique, in the order written
	// Tag is "!reference" for GitLab's reference tag, otherwise empty.
	Tag string
	Pos Pos
}

// Pair is one key of a mapping.
type Pair struct {
	Key    string
	KeyPos Pos
	Value  *Value
}

// Get returns the value of key in a mapping, or nil.
func (v *Value) Get(key string) *Value {
	if v == nil || v.Kind != KindMap {
		return nil
	}
	for i := range v.Pairs {
		if v.Pairs[i].Key == key {
			return v.Pairs[i].Value
		}
	}
	return nil
}

// Has reports whether a mapping has key (even with a null value).
func (v *Value) Has(key string) bool { return v.pair(key) != nil }

func (v *Value) pair(key string) *Pair {
	if v == nil || v.Kind != KindMap {
		return nil
	}
	for i := range v.Pairs {
		if v.Pairs[i].Key == key {
			return &v.Pairs[i]
		}
	}
	return nil
}

// keyPos returns where key was written in a mapping, or the mapping's own place.
func (v *Value) keyPos(key string) Pos {
	if p := v.pair(key); p != nil {
		return p.KeyPos
	}
	if v == nil {
		return Pos{}
	}
	return v.Pos
}

// Set replaces key's value, or appends key.
func (v *Value) Set(key string, val *Value, pos Pos) {
	if p := v.pair(key); p != nil {
		p.Value = val
		return
	}
	v.Pairs = append(v.Pairs, Pair{Key: key, KeyPos: pos, Value: val})
}

// Delete removes key from a mapping.
func (v *Value) Delete(key string) {
	if v == nil || v.Kind != KindMap {
		return
	}
	for i := range v.Pairs {
		if v.Pairs[i].Key == key {
			v.Pairs = append(v.Pairs[:i:i], v.Pairs[i+1:]...)
			return
		}
	}
}

// IsNull reports whether v is absent or null.
func (v *Value) IsNull() bool { return v == nil || v.Kind == KindNull }

// IsScalar reports whether v is a string, number or boolean.
func (v *Value) IsScalar() bool {
	return v != nil && (v.Kind == KindString || v.Kind == KindInt || v.Kind == KindFloat || v.Kind == KindBool)
}

// IsString reports whether v is a string.
func (v *Value) IsString() bool { return v != nil && v.Kind == KindString }

// IsMap reports whether v is a mapping.
func (v *Value) IsMap() bool { return v != nil && v.Kind == KindMap }

// IsSeq reports whether v is a sequence.
func (v *Value) IsSeq() bool { return v != nil && v.Kind == KindSeq }

// IsReference reports whether v is a !reference tag.
func (v *Value) IsReference() bool { return v != nil && v.Tag == tagReference }

// Bool returns a boolean's value.
func (v *Value) Bool() bool { return v != nil && v.Kind == KindBool && v.Str == "true" }

// Int returns an integer's value and whether v is one.
func (v *Value) Int() (int64, bool) {
	if v == nil || v.Kind != KindInt {
		return 0, false
	}
	n, err := strconv.ParseInt(v.Str, 10, 64)
	return n, err == nil
}

// Clone returns a deep copy of v.
func (v *Value) Clone() *Value {
	if v == nil {
		return nil
	}
	c := *v
	if v.Items != nil {
		c.Items = make([]*Value, len(v.Items))
		for i, it := range v.Items {
			c.Items[i] = it.Clone()
		}
	}
	if v.Pairs != nil {
		c.Pairs = make([]Pair, len(v.Pairs))
		for i, p := range v.Pairs {
			c.Pairs[i] = Pair{Key: p.Key, KeyPos: p.KeyPos, Value: p.Value.Clone()}
		}
	}
	return &c
}

// shallow copies a mapping's list of keys; the values are shared.
func (v *Value) shallow() *Value {
	c := *v
	c.Pairs = append(make([]Pair, 0, len(v.Pairs)+4), v.Pairs...)
	return &c
}

// Strings returns the strings of a sequence of strings (or of a single string), and
// whether v was of that shape.
func (v *Value) Strings() ([]string, bool) {
	switch {
	case v.IsNull():
		return nil, true
	case v.Kind == KindString:
		return []string{v.Str}, true
	case v.Kind == KindSeq:
		out := make([]string, 0, len(v.Items))
		for _, it := range v.Items {
			if it == nil || it.Kind != KindString {
				return nil, false
			}
			out = append(out, it.Str)
		}
		return out, true
	}
	return nil, false
}

// Text returns a scalar's text ("" for null and collections).
func (v *Value) Text() string {
	if v.IsScalar() {
		return v.Str
	}
	return ""
}

// newString makes a string value.
func newString(s string, p Pos) *Value { return &Value{Kind: KindString, Str: s, Pos: p} }

// newMap makes an empty mapping.
func newMap(p Pos) *Value { return &Value{Kind: KindMap, Pos: p} }

// describe names v's type the way GitLab's messages do.
func describe(v *Value) string {
	if v == nil {
		return "null"
	}
	return v.Kind.String()
}

// quoteList formats names as GitLab lists them: "a, b".
func quoteList(names []string) string { return strings.Join(names, ", ") }

// MarshalJSON writes v as JSON, keeping the order of mapping keys. Integers and
// floats are numbers, booleans booleans; a !reference is written as its list.
func (v *Value) MarshalJSON() ([]byte, error) {
	var b []byte
	return v.appendJSON(b), nil
}

func (v *Value) appendJSON(b []byte) []byte {
	if v == nil {
		return append(b, "null"...)
	}
	switch v.Kind {
	case KindNull:
		return append(b, "null"...)
	case KindBool, KindInt:
		return append(b, v.Str...)
	case KindFloat:
		if _, err := strconv.ParseFloat(v.Str, 64); err != nil {
			return strconv.AppendQuote(b, v.Str) // Infinity, NaN
		}
		return append(b, v.Str...)
	case KindString:
		return appendJSONString(b, v.Str)
	case KindSeq:
		b = append(b, '[')
		for i, it := range v.Items {
			if i > 0 {
				b = append(b, ',')
			}
			b = it.appendJSON(b)
		}
		return append(b, ']')
	}
	b = append(b, '{')
	for i, p := range v.Pairs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, p.Key)
		b = append(b, ':')
		b = p.Value.appendJSON(b)
	}
	return append(b, '}')
}

func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s)
	return append(b, q...)
}
