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

// Dispute is a disagreement between a contract's customer and contractor
// about its escrow, opened by one of them: while it is OPEN the escrow is
// DISPUTED and nothing but the dispute's end moves it.
type Dispute struct{ ent.Schema }

// Mixin of the Dispute.
func (Dispute) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("dsp"), TimeMixin{}}
}

// Fields of the Dispute.
func (Dispute) Fields() []ent.Field {
	return []ent.Field{
		field.String("contract_id").GoType(pulid.ID("")).Immutable().Annotations(hidden),
		field.String("opened_by_id").GoType(pulid.ID("")).Immutable().Annotations(hidden),
		// The contract while the dispute is OPEN, cleared when it ends: its
		// unique index makes one open dispute per contract a database rule.
		field.String("open_contract_id").GoType(pulid.ID("")).Optional().Nillable().Unique().Annotations(hidden),
		field.Enum("reason").Values("NOT_DELIVERED", "QUALITY", "NOT_AS_DESCRIBED", "UNRESPONSIVE", "OTHER").
			Immutable().Annotations(entgql.Type("DisputeReason")),
		field.Text("description").Immutable(),
		field.Enum("status").Values("OPEN", "SETTLED", "WITHDRAWN").Default("OPEN").
			Annotations(entgql.Type("DisputeStatus")),
		// The escrow's status when the dispute was opened: where a
		// withdrawal returns it.
		field.Enum("escrow_status_before").Values("FUNDED", "RELEASE_REQUESTED").Immutable().Annotations(hidden),
		field.Time("respond_by").Immutable(),
		// When the other party first posted (a message or a proposal): from
		// then on there is no default outcome.
		field.Time("responded_at").Optional().Nillable().Annotations(hidden),
		field.String("latest_proposal_id").GoType(pulid.ID("")).Optional().Nillable().Annotations(hidden),
		field.Enum("settled_by").Values("AGREEMENT", "ADMIN", "DEFAULT").Optional().Nillable().
			Annotations(entgql.Type("DisputeSettledBy")),
		field.Int64("contractor_amount").Optional().Nillable().Annotations(decimal),
		field.Int64("customer_refund").Optional().Nillable().Annotations(decimal),
		field.String("resolution_note").Optional().Nillable().Annotations(hidden),
		field.String("resolved_by_id").GoType(pulid.ID("")).Optional().Nillable().Annotations(hidden),
		field.Time("settled_at").Optional().Nillable(),
		field.Time("withdrawn_at").Optional().Nillable().Annotations(hidden),
	}
}

// Edges of the Dispute.
func (Dispute) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("contract", Contract.Type).Ref("disputes").Field("contract_id").Unique().Required().Immutable(),
		edge.To("opened_by", User.Type).Field("opened_by_id").Unique().Required().Immutable(),
		edge.To("messages", DisputeMessage.Type).Annotations(entgql.RelayConnection()),
		edge.To("proposals", SettlementProposal.Type).Annotations(hidden),
	}
}

// Indexes of the Dispute: the admins' queue is the open ones, oldest first.
func (Dispute) Indexes() []ent.Index {
	return []ent.Index{index.Fields("status", "created_at"), index.Fields("contract_id")}
}

// Annotations of the Dispute.
func (Dispute) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}

// DisputeMessage is one entry of a dispute's evidence trail, by a party or
// an admin. Messages are never edited or deleted.
type DisputeMessage struct{ ent.Schema }

// Mixin of the DisputeMessage.
func (DisputeMessage) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("dsm"), CreatedMixin{}}
}

// Fields of the DisputeMessage.
func (DisputeMessage) Fields() []ent.Field {
	return []ent.Field{
		field.String("dispute_id").GoType(pulid.ID("")).Immutable().Annotations(hidden),
		field.String("author_id").GoType(pulid.ID("")).Immutable().Annotations(hidden),
		field.Text("body").Immutable(),
		field.String("media_ids").GoType(pulid.IDs{}).SchemaType(jsonColumn).Optional().Immutable().Annotations(hidden),
	}
}

// Edges of the DisputeMessage.
func (DisputeMessage) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("dispute", Dispute.Type).Ref("messages").Field("dispute_id").Unique().Required().Immutable(),
		edge.To("author", User.Type).Field("author_id").Unique().Required().Immutable(),
	}
}

// Indexes of the DisputeMessage.
func (DisputeMessage) Indexes() []ent.Index {
	return []ent.Index{index.Fields("dispute_id", "created_at")}
}

// Annotations of the DisputeMessage.
func (DisputeMessage) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}

// SettlementProposal is a party's offer to end a dispute with a split:
// the contractor's share of the escrow. The newest replaces the older.
type SettlementProposal struct{ ent.Schema }

// Mixin of the SettlementProposal.
func (SettlementProposal) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("stp"), CreatedMixin{}}
}

// Fields of the SettlementProposal.
func (SettlementProposal) Fields() []ent.Field {
	return []ent.Field{
		field.String("dispute_id").GoType(pulid.ID("")).Immutable().Annotations(hidden),
		field.String("proposed_by_id").GoType(pulid.ID("")).Immutable().Annotations(hidden),
		field.Int64("contractor_amount").Immutable().Annotations(decimal),
	}
}

// Edges of the SettlementProposal.
func (SettlementProposal) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("dispute", Dispute.Type).Ref("proposals").Field("dispute_id").Unique().Required().Immutable(),
		edge.To("proposed_by", User.Type).Field("proposed_by_id").Unique().Required().Immutable(),
	}
}

// Annotations of the SettlementProposal.
func (SettlementProposal) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}
