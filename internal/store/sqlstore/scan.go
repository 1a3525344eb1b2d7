package sqlstore

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// args collects query arguments and hands out their $N placeholders.
type args []any

// add appends v and returns its placeholder.
func (a *args) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// list appends each value and returns "$i, $j, ...".
func list[T any](a *args, vs []T) string {
	ps := make([]string, len(vs))
	for i, v := range vs {
		ps[i] = a.add(v)
	}
	return strings.Join(ps, ", ")
}

// timeArg is t as a query argument: NULL for the zero time, UTC otherwise.
func timeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}

// timeCol scans a nullable time column into *t: the zero time for NULL. It accepts
// time.Time (PostgreSQL, and SQLite TIMESTAMP columns) and int64 Unix microseconds
// (SQLite expressions without a declared type).
type timeCol struct{ t *time.Time }

func (c timeCol) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*c.t = time.Time{}
	case time.Time:
		*c.t = x.UTC()
	case int64:
		*c.t = time.UnixMicro(x).UTC()
	default:
		return fmt.Errorf("scanning a time: unexpected %T", v)
	}
	return nil
}

// jsonArg encodes v as a JSON query argument (a string, so that both TEXT and
// PostgreSQL's json/jsonb columns take it).
func jsonArg(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encoding %T: %w", v, err)
	}
	return string(b), nil
}

// rawArg is a raw JSON document as a query argument: NULL when empty.
func rawArg(m json.RawMessage) any {
	if len(m) == 0 {
		return nil
	}
	return string(m)
}

// jsonCol decodes a JSON column into v; NULL or empty leaves v alone.
type jsonCol struct{ v any }

func (c jsonCol) Scan(src any) error {
	b, err := bytesOf(src)
	if err != nil || len(b) == 0 {
		return err
	}
	// Most job columns hold an empty list or object: decode those without the JSON
	// decoder, exactly as it would (an empty, non-nil slice; a struct left as is).
	switch string(b) {
	case "[]":
		if v := reflect.ValueOf(c.v).Elem(); v.Kind() == reflect.Slice {
			v.Set(reflect.MakeSlice(v.Type(), 0, 0))
			return nil
		}
	case "{}":
		if reflect.ValueOf(c.v).Elem().Kind() == reflect.Struct {
			return nil
		}
	}
	if err := json.Unmarshal(b, c.v); err != nil {
		return fmt.Errorf("decoding a JSON column into %T: %w", c.v, err)
	}
	return nil
}

// rawCol scans a JSON column into a json.RawMessage, nil for NULL.
type rawCol struct{ m *json.RawMessage }

func (c rawCol) Scan(src any) error {
	b, err := bytesOf(src)
	if err != nil {
		return err
	}
	if len(b) == 0 {
		*c.m = nil
		return nil
	}
	*c.m = json.RawMessage(append([]byte(nil), b...))
	return nil
}

func bytesOf(src any) ([]byte, error) {
	switch x := src.(type) {
	case nil:
		return nil, nil
	case []byte:
		return x, nil
	case string:
		return []byte(x), nil
	default:
		return nil, fmt.Errorf("scanning JSON: unexpected %T", src)
	}
}

// nullInt64 maps 0 to NULL for optional references.
func nullInt64(v int64) any {
	if v == 0 {
		return nil
	}
	return v
}

// nullString maps "" to NULL.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// int64Col scans a nullable integer into *v (0 for NULL).
type int64Col struct{ v *int64 }

func (c int64Col) Scan(src any) error {
	var n sql.NullInt64
	if err := n.Scan(src); err != nil {
		return err
	}
	*c.v = n.Int64
	return nil
}

// stringCol scans a nullable text into *s ("" for NULL).
type stringCol struct{ s *string }

func (c stringCol) Scan(src any) error {
	var n sql.NullString
	if err := n.Scan(src); err != nil {
		return err
	}
	*c.s = n.String
	return nil
}

// intPtrCol scans a nullable integer into *p: nil for NULL.
type intPtrCol struct{ p **int }

func (c intPtrCol) Scan(src any) error {
	var n sql.NullInt64
	if err := n.Scan(src); err != nil {
		return err
	}
	*c.p = nil
	if n.Valid {
		v := int(n.Int64)
		*c.p = &v
	}
	return nil
}

// floatPtrCol scans a nullable number into *p: nil for NULL.
type floatPtrCol struct{ p **float64 }

func (c floatPtrCol) Scan(src any) error {
	var n sql.NullFloat64
	if err := n.Scan(src); err != nil {
		return err
	}
	*c.p = nil
	if n.Valid {
		v := n.Float64
		*c.p = &v
	}
	return nil
}

// secondsCol scans whole seconds into a duration.
type secondsCol struct{ d *time.Duration }

func (c secondsCol) Scan(src any) error {
	var n sql.NullInt64
	if err := n.Scan(src); err != nil {
		return err
	}
	*c.d = time.Duration(n.Int64) * time.Second
	return nil
}

// Compile-time checks.
var (
	_ sql.Scanner = intPtrCol{}
	_ sql.Scanner = floatPtrCol{}
	_ sql.Scanner = secondsCol{}
	_ sql.Scanner = timeCol{}
	_ sql.Scanner = jsonCol{}
	_ sql.Scanner = rawCol{}
	_ sql.Scanner = int64Col{}
	_ sql.Scanner = stringCol{}
)

// pageClause appends LIMIT/OFFSET for p.
func pageClause(a *args, limit, offset int) string {
	return " LIMIT " + a.add(limit) + " OFFSET " + a.add(offset)
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }
