package userapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// paramError is a missing or malformed parameter: 400 {"error": "<name> is missing"},
// GitLab's (Grape's) shape. Its message names the parameter, never its value.
type paramError struct{ msg string }

func (e *paramError) Error() string { return e.msg }

func missing(name string) error { return &paramError{name + " is missing"} }
func invalid(name string) error { return &paramError{name + " is invalid"} }
func badValue(name string) error {
	return &paramError{name + " does not have a valid value"}
}
func badValueWhy(name, why string) error {
	return &paramError{name + " does not have a valid value: " + why}
}

// params are a request's parameters as GitLab's API reads them: the query string and
// a JSON, URL-encoded or multipart form body (a body value wins over the query).
// Values are strings, []any, map[string]any, bool or json.Number. Form fields named
// `name[]` are lists and `name[][field]` lists of objects, as Rack reads them.
type params map[string]any

// readParams reads the query and the body of r, at most maxBody bytes of it.
func readParams(w http.ResponseWriter, r *http.Request, maxBody int64) (params, error) {
	p := params{}
	p.addPairs(queryPairs(r.URL.RawQuery))
	if r.Body == nil || r.Body == http.NoBody {
		return p, nil
	}
	body := http.MaxBytesReader(w, r.Body, maxBody)
	ct, ctParams, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "multipart/form-data" {
		pairs, err := multipartPairs(multipart.NewReader(body, ctParams["boundary"]))
		if err != nil {
			return nil, bodyError(err, maxBody)
		}
		p.addPairs(pairs)
		return p, nil
	}
	data, err := io.ReadAll(body)
	if err != nil {
		return nil, bodyError(err, maxBody)
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return p, nil
	}
	switch {
	case ct == "application/json" || strings.HasSuffix(ct, "+json") || (ct == "" && data[0] == '{'):
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			return nil, &paramError{"the body is not a JSON object: " + jsonProblem(err)}
		}
		for k, v := range obj {
			p[k] = v
		}
	case ct == "application/x-www-form-urlencoded" || ct == "":
		p.addPairs(queryPairs(string(data)))
	default:
		return nil, &paramError{fmt.Sprintf("Content-Type %s is not supported: send application/json or a form", ct)}
	}
	return p, nil
}

func bodyError(err error, maxBody int64) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return &paramError{fmt.Sprintf("the body is over %d bytes", maxBody)}
	}
	return &paramError{"the body could not be read"}
}

// jsonProblem describes a JSON error without quoting the body (it may hold secrets).
func jsonProblem(err error) string {
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) {
		return fmt.Sprintf("syntax error at byte %d", syntaxErr.Offset)
	}
	return "unreadable"
}

type pair struct{ key, value string }

// queryPairs splits a URL-encoded string into its pairs, in order.
func queryPairs(raw string) []pair {
	var out []pair
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		key, err1 := url.QueryUnescape(k)
		value, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			continue
		}
		out = append(out, pair{key, value})
	}
	return out
}

// multipartPairs reads the form fields of a multipart body, in order (file parts
// are read as values too: GitLab accepts `content` as an uploaded file).
func multipartPairs(mr *multipart.Reader) ([]pair, error) {
	var out []pair
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(part)
		part.Close()
		if err != nil {
			return nil, err
		}
		out = append(out, pair{part.FormName(), string(b)})
	}
}

// addPairs merges form pairs: `a` is a value, `a[]` appends to a list, and
// `a[][f]` sets f on the list's last object, or starts a new object when that
// object has f already (Rack's rule).
func (p params) addPairs(pairs []pair) {
	for _, kv := range pairs {
		name, rest, nested := strings.Cut(kv.key, "[")
		switch {
		case !nested:
			p[name] = kv.value
		case rest == "]":
			list, _ := p[name].([]any)
			p[name] = append(list, kv.value)
		case strings.HasPrefix(rest, "][") && strings.HasSuffix(rest, "]"):
			field := rest[2 : len(rest)-1]
			list, _ := p[name].([]any)
			var last map[string]any
			if n := len(list); n > 0 {
				last, _ = list[n-1].(map[string]any)
			}
			if _, taken := last[field]; last == nil || taken {
				last = map[string]any{}
				list = append(list, last)
			}
			last[field] = kv.value
			p[name] = list
		case strings.HasSuffix(rest, "]"): // filter[environment_scope]
			p[name+"["+rest] = kv.value
		}
	}
}

// boolField names a boolean parameter and where it goes.
type boolField struct {
	name string
	dst  *bool
}

// has reports whether the parameter was given.
func (p params) has(name string) bool { _, ok := p[name]; return ok }

// str returns a string parameter ("" when absent). Numbers and booleans read as
// their text.
func (p params) str(name string) (string, error) {
	switch v := p[name].(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case json.Number:
		return v.String(), nil
	case bool:
		return strconv.FormatBool(v), nil
	}
	return "", invalid(name)
}

// required returns a string parameter that must be given and not blank.
func (p params) required(name string) (string, error) {
	s, err := p.str(name)
	if err != nil {
		return "", err
	}
	if strings.TrimSpace(s) == "" {
		return "", missing(name)
	}
	return s, nil
}

// id returns a positive integer parameter, 0 when absent.
func (p params) id(name string) (int64, error) {
	s, err := p.str(name)
	if err != nil || s == "" {
		return 0, err
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, invalid(name)
	}
	return n, nil
}

// integer returns an integer parameter, def when absent.
func (p params) integer(name string, def int) (int, error) {
	s, err := p.str(name)
	if err != nil || s == "" {
		return def, err
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, invalid(name)
	}
	return n, nil
}

// boolean returns a boolean parameter (true/false, 1/0, yes/no, t/f), def when absent.
func (p params) boolean(name string, def bool) (bool, error) {
	if b, ok := p[name].(bool); ok {
		return b, nil
	}
	s, err := p.str(name)
	if err != nil || s == "" {
		return def, err
	}
	switch strings.ToLower(s) {
	case "true", "1", "yes", "t", "y":
		return true, nil
	case "false", "0", "no", "f", "n":
		return false, nil
	}
	return false, invalid(name)
}

// optBool returns a boolean parameter, or nil when absent.
func (p params) optBool(name string) (*bool, error) {
	if !p.has(name) {
		return nil, nil
	}
	b, err := p.boolean(name, false)
	if err != nil {
		return nil, err
	}
	return &b, nil
}

// list returns a list of strings: a JSON array, `name[]` form fields, or a
// comma-separated string (as GitLab reads tag_list).
func (p params) list(name string) ([]string, error) {
	switch v := p[name].(type) {
	case nil:
		if alt, ok := p[name+"[]"]; ok { // a literal "name[]" JSON key
			return params{name: alt}.list(name)
		}
		return nil, nil
	case string:
		var out []string
		for s := range strings.SplitSeq(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
		return out, nil
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, invalid(name)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, invalid(name)
}

// objects returns a list of objects (JSON array of objects, or `name[][field]`).
func (p params) objects(name string) ([]map[string]any, error) {
	switch v := p[name].(type) {
	case nil:
		return nil, nil
	case []any:
		out := make([]map[string]any, 0, len(v))
		for _, e := range v {
			m, ok := e.(map[string]any)
			if !ok {
				return nil, invalid(name)
			}
			out = append(out, m)
		}
		return out, nil
	}
	return nil, invalid(name)
}

// date returns a "2006-01-02" date parameter (the end of that day, UTC), zero when
// absent.
func (p params) date(name string) (time.Time, error) {
	s, err := p.str(name)
	if err != nil || s == "" {
		return time.Time{}, err
	}
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, invalid(name)
	}
	return d, nil
}

// oneOf returns a string parameter that must be one of allowed (or absent: def).
func (p params) oneOf(name, def string, allowed ...string) (string, error) {
	s, err := p.str(name)
	if err != nil || s == "" {
		return def, err
	}
	for _, a := range allowed {
		if s == a {
			return s, nil
		}
	}
	return "", badValue(name)
}
