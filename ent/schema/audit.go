package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/jobsphere/jobsphere/ent/schema/pulid"
)

// AuditEntry is one admin action — who did what to which target, the
// status before and after, the reason and the request — written by
// package audit in the action's own database transaction. Append-only,
// like postings: every field is immutable, the code has no path that
// changes or deletes one, and the database refuses to (app/database).
type AuditEntry struct{ ent.Schema }

// Mixin of the AuditEntry.
func (AuditEntry) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("aud"), CreatedMixin{}}
}

// Fields of the AuditEntry.
func (AuditEntry) Fields() []ent.Field {
	return []ent.Field{
		field.String("actor_id").GoType(pulid.ID("")).Immutable().Annotations(hidden),
		// One of audit's action names (APPROVE_RELEASE, FREEZE_WALLET, …).
		field.String("action").NotEmpty().Immutable(),
		// The contract, withdrawal, user, dispute, deposit or job acted on.
		field.String("target_id").GoType(pulid.ID("")).NotEmpty().Immutable().
			Annotations(entgql.Type("ID"), entgql.MapsTo("targetId")),
		field.String("before").Optional().Nillable().Immutable(),
		field.String("after").Optional().Nillable().Immutable(),
		field.String("reason").Optional().Nillable().Immutable(),
		field.String("request_id").Optional().Nillable().Immutable().Annotations(entgql.MapsTo("requestId")),
	}
}

// Edges of the AuditEntry.
func (AuditEntry) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("actor", User.Type).Field("actor_id").Unique().Required().Immutable(),
	}
}

// Indexes of the AuditEntry: the log is read newest first, by admin or
// by target.
func (AuditEntry) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("actor_id", "created_at"),
		index.Fields("target_id", "created_at"),
	}
}

// Annotations of the AuditEntry.
func (AuditEntry) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}
