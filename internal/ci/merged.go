package ci

import (
	"bytes"
	"fmt"

	"gopkg.in/yaml.v3"
)

// MarshalYAML writes v as a YAML document with two-space indentation, the way
// `kiln lint --merged` prints a configuration.
func MarshalYAML(v *Value) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(toNode(v)); err != nil {
		return nil, fmt.Errorf("writing YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("writing YAML: %w", err)
	}
	return buf.Bytes(), nil
}

func toNode(v *Value) *yaml.Node {
	if v == nil {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
	}
	switch v.Kind {
	case KindSeq:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		if v.Tag == tagReference {
			n.Tag = tagReference
			n.Style = yaml.FlowStyle
		}
		for _, it := range v.Items {
			n.Content = append(n.Content, toNode(it))
		}
		return n
	case KindMap:
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		for _, p := range v.Pairs {
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: p.Key}, toNode(p.Value))
		}
		return n
	case KindBool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: v.Str}
	case KindInt:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: v.Str}
	case KindFloat:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: v.Str}
	case KindString:
		n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v.Str}
		if _, isBool := psychBool[v.Str]; isBool {
			n.Style = yaml.DoubleQuotedStyle // stay a string for YAML 1.1 readers
		}
		return n
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
}
