package ci

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// converter turns yaml.v3 nodes into Values.
type converter struct {
	file string
	lim  Limits
	d    *diags
	cost map[*yaml.Node]nodeCost
}

type nodeCost struct {
	size, depth int
	busy        bool // being measured: an alias back to it is a cycle
}

func (c *converter) pos(n *yaml.Node) Pos { return Pos{File: c.file, Line: n.Line, Column: n.Column} }

func (c *converter) convertDocument(doc *yaml.Node) (*Value, bool) {
	root := doc
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) == 0 {
			return &Value{Kind: KindNull, Pos: c.pos(doc)}, true
		}
		root = doc.Content[0]
	}
	// Measure first: the expanded size and depth, aliases counted at every use, with
	// each node measured once. A file that would expand beyond the budget is refused
	// here, before anything is copied.
	c.cost = map[*yaml.Node]nodeCost{}
	written := 0
	countWritten(root, &written)
	size, depth, err := c.measure(root)
	if err != nil {
		c.d.errorf(c.pos(root), "%v", err)
		return nil, false
	}
	if budget := c.lim.nodeBudget(written); size > budget {
		c.d.errorf(c.pos(root), "%s expands to more than %d YAML nodes through its aliases (anchors used too many times); refusing to read it", c.file, budget)
		return nil, false
	}
	if depth > c.lim.MaxDepth {
		c.d.errorf(c.pos(root), "%s nests deeper than %d levels", c.file, c.lim.MaxDepth)
		return nil, false
	}
	before := len(c.d.list)
	v := c.convert(root)
	return v, !c.d.list[before:].HasErrors()
}

func countWritten(n *yaml.Node, count *int) {
	*count++
	for _, ch := range n.Content {
		countWritten(ch, count)
	}
}

const saturated = math.MaxInt32

func (c *converter) measure(n *yaml.Node) (size, depth int, err error) {
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return 0, 0, fmt.Errorf("line %d: unknown anchor %q", n.Line, n.Value)
		}
		return c.measure(n.Alias)
	}
	// Only anchored nodes can be reached twice (through aliases), so only they are
	// remembered; that keeps the walk linear in the nodes written.
	anchored := n.Anchor != ""
	if m, ok := c.cost[n]; ok && anchored {
		if m.busy {
			return 0, 0, fmt.Errorf("line %d: anchor %q contains an alias to itself", n.Line, n.Anchor)
		}
		return m.size, m.depth, nil
	}
	if anchored {
		c.cost[n] = nodeCost{busy: true}
	}
	size = 1
	for _, ch := range n.Content {
		s, dd, err := c.measure(ch)
		if err != nil {
			return 0, 0, err
		}
		size = min(size+s, saturated)
		depth = max(depth, dd)
	}
	if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
		depth++
	}
	if anchored {
		c.cost[n] = nodeCost{size: size, depth: depth}
	}
	return size, depth, nil
}

// psychBool holds the plain scalars that Ruby's YAML (1.1) reads as booleans.
var psychBool = map[string]bool{
	"true": true, "True": true, "TRUE": true, "yes": true, "Yes": true, "YES": true, "on": true, "On": true, "ON": true,
	"false": false, "False": false, "FALSE": false, "no": false, "No": false, "NO": false, "off": false, "Off": false, "OFF": false,
}

func (c *converter) convert(n *yaml.Node) *Value {
	if n.Kind == yaml.AliasNode {
		v := c.convert(n.Alias)
		return v
	}
	p := c.pos(n)
	tag := n.Tag
	if strings.HasPrefix(tag, "!") && !strings.HasPrefix(tag, "!!") && tag != "!" {
		if tag != tagReference {
			c.d.errorf(p, "unknown YAML tag %s (GitLab knows only !reference)", tag)
			return &Value{Kind: KindNull, Pos: p}
		}
		if n.Kind != yaml.SequenceNode {
			c.d.errorf(p, "!reference needs a sequence such as [.job, script], not a %s", nodeKind(n))
			return &Value{Kind: KindNull, Pos: p}
		}
	}
	switch n.Kind {
	case yaml.ScalarNode:
		return c.scalar(n, p)
	case yaml.SequenceNode:
		v := &Value{Kind: KindSeq, Pos: p, Items: make([]*Value, 0, len(n.Content))}
		if tag == tagReference {
			v.Tag = tagReference
		}
		for _, ch := range n.Content {
			v.Items = append(v.Items, c.convert(ch))
		}
		return v
	case yaml.MappingNode:
		return c.mapping(n, p)
	}
	return &Value{Kind: KindNull, Pos: p}
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "sequence"
	}
	return "scalar"
}

func (c *converter) scalar(n *yaml.Node, p Pos) *Value {
	s := n.Value
	short := n.ShortTag()
	tagged := n.Style&yaml.TaggedStyle != 0
	if n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 || (tagged && short == "!!str") {
		return &Value{Kind: KindString, Str: s, Pos: p}
	}
	if b, ok := psychBool[s]; ok && (!tagged || short == "!!bool") {
		return &Value{Kind: KindBool, Str: strconv.FormatBool(b), Pos: p}
	}
	switch short {
	case "!!null":
		return &Value{Kind: KindNull, Pos: p}
	case "!!bool":
		if b, err := strconv.ParseBool(strings.ToLower(s)); err == nil {
			return &Value{Kind: KindBool, Str: strconv.FormatBool(b), Pos: p}
		}
	case "!!int":
		clean := strings.ReplaceAll(s, "_", "")
		if i, err := strconv.ParseInt(clean, 0, 64); err == nil {
			return &Value{Kind: KindInt, Str: strconv.FormatInt(i, 10), Pos: p}
		}
		if f, err := strconv.ParseFloat(clean, 64); err == nil {
			return &Value{Kind: KindFloat, Str: formatFloat(f), Pos: p}
		}
	case "!!float":
		clean := strings.ReplaceAll(s, "_", "")
		switch strings.ToLower(clean) {
		case ".inf", "+.inf":
			return &Value{Kind: KindFloat, Str: "Infinity", Pos: p}
		case "-.inf":
			return &Value{Kind: KindFloat, Str: "-Infinity", Pos: p}
		case ".nan":
			return &Value{Kind: KindFloat, Str: "NaN", Pos: p}
		}
		if f, err := strconv.ParseFloat(clean, 64); err == nil {
			return &Value{Kind: KindFloat, Str: formatFloat(f), Pos: p}
		}
	}
	return &Value{Kind: KindString, Str: s, Pos: p}
}

// formatFloat prints a float as Ruby's Float#to_s does for ordinary values: "1.5",
// "2.0", "1.0e+20".
func formatFloat(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e16 {
		return strconv.FormatFloat(f, 'f', 1, 64)
	}
	if math.Abs(f) >= 1e16 || (f != 0 && math.Abs(f) < 1e-4) {
		s := strconv.FormatFloat(f, 'e', -1, 64)
		if mant, exp, ok := strings.Cut(s, "e"); ok {
			if !strings.Contains(mant, ".") {
				mant += ".0"
			}
			return mant + "e" + exp
		}
		return s
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

func (c *converter) mapping(n *yaml.Node, p Pos) *Value {
	v := &Value{Kind: KindMap, Pos: p, Pairs: make([]Pair, 0, len(n.Content)/2)}
	// Small mappings (most of them) find keys by scanning; large ones by index.
	var index map[string]int
	if len(n.Content) > 32 {
		index = make(map[string]int, len(n.Content)/2)
	}
	set := func(key string, kp Pos, val *Value) {
		i, ok := index[key]
		if index == nil {
			i = slices.IndexFunc(v.Pairs, func(pr Pair) bool { return pr.Key == key })
			ok = i >= 0
		}
		if ok {
			v.Pairs[i].Value = val
			return
		}
		if index != nil {
			index[key] = len(v.Pairs)
		}
		v.Pairs = append(v.Pairs, Pair{Key: key, KeyPos: kp, Value: val})
	}
	// Keys written (not merged) so far, to warn about duplicates.
	type written struct {
		key string
		pos Pos
	}
	var keys []written
	var keyIndex map[string]Pos
	if index != nil {
		keyIndex = make(map[string]Pos, len(n.Content)/2)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		if kn.Kind == yaml.AliasNode && kn.Alias != nil {
			kn = kn.Alias
		}
		kp := c.pos(kn)
		if kn.Kind != yaml.ScalarNode {
			c.d.errorf(kp, "a mapping key must be a scalar, not a %s", nodeKind(kn))
			continue
		}
		if kn.ShortTag() == "!!merge" && kn.Style == 0 {
			c.merge(vn, set)
			continue
		}
		key := kn.Value
		var first Pos
		dup := false
		if keyIndex != nil {
			if first, dup = keyIndex[key]; !dup {
				keyIndex[key] = kp
			}
		} else {
			if j := slices.IndexFunc(keys, func(w written) bool { return w.key == key }); j >= 0 {
				first, dup = keys[j].pos, true
			}
			keys = append(keys, written{key, kp})
		}
		if dup {
			c.d.warnf(kp, "duplicate key %q (first at line %d); the last one wins", key, first.Line)
		}
		set(key, kp, c.convert(vn))
	}
	return v
}

// merge applies a YAML merge key as Ruby's YAML does: the merged mapping's keys
// override keys written before `<<` and are overridden by keys written after it; in
// a list of mappings, the first that has a key wins.
func (c *converter) merge(vn *yaml.Node, set func(string, Pos, *Value)) {
	src := vn
	if src.Kind == yaml.AliasNode {
		src = src.Alias
	}
	var maps []*Value
	switch src.Kind {
	case yaml.MappingNode:
		maps = append(maps, c.convert(src))
	case yaml.SequenceNode:
		for _, it := range src.Content {
			m := c.convert(it)
			if !m.IsMap() {
				c.d.errorf(c.pos(it), "the merge key << takes a mapping or a list of mappings, not a %s", describe(m))
				return
			}
			maps = append(maps, m)
		}
	default:
		c.d.errorf(c.pos(vn), "the merge key << takes a mapping or a list of mappings, not a %s", nodeKind(src))
		return
	}
	seen := map[string]bool{}
	var order []Pair
	for _, m := range maps {
		for _, pr := range m.Pairs {
			if !seen[pr.Key] {
				seen[pr.Key] = true
				order = append(order, pr)
			}
		}
	}
	for _, pr := range order {
		set(pr.Key, pr.KeyPos, pr.Value)
	}
}
