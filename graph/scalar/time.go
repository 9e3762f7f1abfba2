package scalar

import (
	"time"

	"github.com/99designs/gqlgen/graphql"
)

// MarshalTime writes a Time in UTC (RFC 3339), whatever zone the value
// came with: the same instant reads the same whether it came from
// PostgreSQL (the session's zone), SQLite or memory (the server's zone).
func MarshalTime(t time.Time) graphql.Marshaler { return graphql.MarshalTime(t.UTC()) }

// UnmarshalTime reads an RFC 3339 Time, any offset.
func UnmarshalTime(v any) (time.Time, error) { return graphql.UnmarshalTime(v) }
