// Package pulid implements prefixed, sortable, opaque identifiers
// ("usr_01J…"): ent's prefixed-ULID pattern, so node(id) can tell an
// object's type from its id alone.
package pulid

import (
	"database/sql/driver"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/oklog/ulid/v2"

	"github.com/jobsphere/jobsphere/ent/schema/jsontext"
)

// ID is a prefixed ULID such as "usr_01JABCDEF…".
type ID string

// Separator divides the type prefix from the ULID.
const Separator = "_"

// New returns a fresh ID with the given prefix. ulid.Make is safe for
// concurrent use and monotonic within a millisecond.
func New(prefix string) ID { return ID(prefix + Separator + ulid.Make().String()) }

// Prefix returns the type prefix of the id, or "" when it has none.
func (u ID) Prefix() string {
	p, _, ok := strings.Cut(string(u), Separator)
	if !ok {
		return ""
	}
	return p
}

// UnmarshalGQL implements the graphql.Unmarshaler interface.
func (u *ID) UnmarshalGQL(v any) error { return u.Scan(v) }

// MarshalGQL implements the graphql.Marshaler interface.
func (u ID) MarshalGQL(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(string(u))) }

// Scan implements sql.Scanner.
func (u *ID) Scan(src any) error {
	switch src := src.(type) {
	case string:
		*u = ID(src)
	case []byte:
		*u = ID(src)
	case ID:
		*u = src
	case nil:
		return fmt.Errorf("pulid: expected a value")
	default:
		return fmt.Errorf("pulid: unexpected type %T", src)
	}
	return nil
}

// Value implements driver.Valuer.
func (u ID) Value() (driver.Value, error) { return string(u), nil }

// IDs is a list of ids kept in one JSON column, as JSON text (see
// package jsontext for why).
type IDs []ID

// Scan implements sql.Scanner.
func (ids *IDs) Scan(src any) error { return jsontext.Scan((*[]ID)(ids), src) }

// Value implements driver.Valuer.
func (ids IDs) Value() (driver.Value, error) { return jsontext.Value([]ID(ids)) }
