package ci

import (
	"bytes"
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Limits bound what a configuration may cost to read. The zero value of a field means
// its default.
type Limits struct {
	// MaxFileBytes is the largest file read (default 2 MiB).
	MaxFileBytes int
	// MaxDepth is the deepest nesting of mappings and sequences (default 150).
	MaxDepth int
	// MaxIncludes is how many files include may bring in, nested ones counted
	// (default 150, GitLab's).
	MaxIncludes int
	// MaxNodes bounds the nodes of one file after its aliases are expanded (default:
	// ten times the nodes written, at least 100,000 and at most 2,000,000), so that a
	// "billion laughs" file is refused before anything is expanded.
	MaxNodes int
}

// Default limits.
const (
	DefaultMaxFileBytes = 2 << 20
	DefaultMaxDepth     = 150
	DefaultMaxIncludes  = 150
)

func (l Limits) withDefaults() Limits {
	if l.MaxFileBytes <= 0 {
		l.MaxFileBytes = DefaultMaxFileBytes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxIncludes <= 0 {
		l.MaxIncludes = DefaultMaxIncludes
	}
	return l
}

func (l Limits) nodeBudget(written int) int {
	if l.MaxNodes > 0 {
		return l.MaxNodes
	}
	return min(max(100_000, 10*written), 2_000_000)
}

// yamlDoc is one file read: its body and, for a file that starts with a `spec:` header
// document, that header.
type yamlDoc struct {
	Header *Value
	Body   *Value
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAML reads one file the way GitLab does (YAML 1.1 booleans, merge keys, the
// !reference tag, duplicate keys last-wins with a warning) within lim.
func parseYAML(file string, data []byte, lim Limits) (yamlDoc, Diagnostics) {
	var d diags
	lim = lim.withDefaults()
	if len(data) > lim.MaxFileBytes {
		d.errorf(Pos{File: file}, "%s is too large: %d bytes, the limit is %d bytes", file, len(data), lim.MaxFileBytes)
		return yamlDoc{}, d.list
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			d.add(yamlError(file, data, err))
			return yamlDoc{}, d.list
		}
		docs = append(docs, &n)
		if len(docs) > 2 {
			break
		}
	}
	if len(docs) == 0 {
		return yamlDoc{Body: newMap(Pos{File: file, Line: 1, Column: 1})}, nil
	}
	var out yamlDoc
	c := converter{file: file, lim: lim, d: &d}
	first, ok := c.convertDocument(docs[0])
	if !ok {
		return yamlDoc{}, d.list
	}
	body := first
	if len(docs) > 1 {
		if first.IsMap() && len(first.Pairs) == 1 && first.Pairs[0].Key == "spec" {
			out.Header = first
			if body, ok = c.convertDocument(docs[1]); !ok {
				return yamlDoc{}, d.list
			}
			if len(docs) > 2 {
				d.warnf(Pos{File: file, Line: docs[2].Line, Column: docs[2].Column}, "%s has more than two YAML documents; only the spec: header and the first configuration document are read", file)
			}
		} else {
			d.warnf(Pos{File: file, Line: docs[1].Line, Column: docs[1].Column}, "%s has more than one YAML document; only the first is read, as GitLab does", file)
		}
	}
	if body.IsNull() {
		body = newMap(body.Pos)
	}
	out.Body = body
	return out, d.list
}

// yamlError turns a parse error into a diagnostic. The YAML library names only the
// line; the column is that line's first character that is not blank, so that the
// diagnostic still reads file:line:column and points into the line.
func yamlError(file string, data []byte, err error) Diagnostic {
	msg := err.Error()
	p := Pos{File: file}
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		p.Line, _ = strconv.Atoi(m[1])
		p.Column = firstColumn(data, p.Line)
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	return Diagnostic{Severity: SeverityError, Pos: p, Message: "invalid YAML: " + msg}
}

// firstColumn is the 1-based column of the first character of line (1-based) in data
// that is not a space or a tab; 1 for a blank line or one past the end.
func firstColumn(data []byte, line int) int {
	for i := 1; i < line; i++ {
		nl := bytes.IndexByte(data, '\n')
		if nl < 0 {
			return 1
		}
		data = data[nl+1:]
	}
	if nl := bytes.IndexByte(data, '\n'); nl >= 0 {
		data = data[:nl]
	}
	if i := bytes.IndexFunc(data, func(r rune) bool { return r != ' ' && r != '\t' }); i >= 0 {
		return 1 + utf8.RuneCount(data[:i])
	}
	return 1
}
