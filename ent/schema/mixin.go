package schema

import (
	"entgo.io/ent/dialect"
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/mixin"
)

// TimeMixin stamps creation and last update.
type TimeMixin struct{ mixin.Schema }

// Fields of the TimeMixin.
func (TimeMixin) Fields() []ent.Field {
	return []ent.Field{
		field.Time("created_at").Default(time.Now).Immutable().
			Annotations(entgql.OrderField("CREATED_AT")),
		field.Time("updated_at").Default(time.Now).UpdateDefault(time.Now).
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
	}
}

// CreatedMixin stamps creation only, for append-only records.
type CreatedMixin struct{ mixin.Schema }

// Fields of the CreatedMixin.
func (CreatedMixin) Fields() []ent.Field {
	return []ent.Field{
		field.Time("created_at").Default(time.Now).Immutable().
			Annotations(entgql.OrderField("CREATED_AT")),
	}
}

// decimal marks an int64 amount in the currency's minor units (cents,
// paise), exposed in GraphQL as the exact Decimal scalar.
var decimal = entgql.Type("Decimal")

// hidden keeps a field out of the generated GraphQL schema.
var hidden = entgql.Skip(entgql.SkipAll)

// jsonColumn is the type of a column holding a JSON value that the Go side
// reads and writes as text (pulid.IDs): jsonb on PostgreSQL, json on SQLite.
var jsonColumn = map[string]string{dialect.Postgres: "jsonb", dialect.SQLite: "json"}
