// Package jsontext keeps lists in JSON columns as JSON text. ent's JSON
// fields send bytes, which lib/pq's binary_parameters mode (one round trip
// per statement) passes as binary data — and a jsonb column refuses that —
// so the project's list columns are these types instead: text going in,
// text or bytes coming out.
package jsontext

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
)

// Strings is a list of strings in one JSON column.
type Strings []string

// Scan implements sql.Scanner.
func (s *Strings) Scan(src any) error { return Scan((*[]string)(s), src) }

// Value implements driver.Valuer.
func (s Strings) Value() (driver.Value, error) { return Value([]string(s)) }

// Scan reads a JSON list (text or bytes) into dst; NULL is no list.
func Scan[T any](dst *[]T, src any) error {
	var raw []byte
	switch v := src.(type) {
	case nil:
		*dst = nil
		return nil
	case string:
		raw = []byte(v)
	case []byte:
		raw = v
	default:
		return fmt.Errorf("jsontext: cannot scan %T into a list", src)
	}
	var out []T
	if err := json.Unmarshal(raw, &out); err != nil {
		return fmt.Errorf("jsontext: scan: %w", err)
	}
	*dst = out
	return nil
}

// Value is list as JSON text; nil is NULL.
func Value[T any](list []T) (driver.Value, error) {
	if list == nil {
		return nil, nil
	}
	raw, err := json.Marshal(list)
	return string(raw), err
}
