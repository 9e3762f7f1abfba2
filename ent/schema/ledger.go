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

// LedgerAccount is one side of double-entry postings: a user's available
// or escrow money or what they owe (receivable), the platform's revenue or
// losses, or the outside world.
type LedgerAccount struct{ ent.Schema }

// Mixin of the LedgerAccount.
func (LedgerAccount) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("acc"), CreatedMixin{}}
}

// Fields of the LedgerAccount.
func (LedgerAccount) Fields() []ent.Field {
	return []ent.Field{
		// Stable name such as "usr_…:available" or "platform:revenue".
		field.String("code").Unique().NotEmpty().Immutable(),
		field.Enum("kind").Values("AVAILABLE", "ESCROW", "RECEIVABLE", "REVENUE", "LOSSES", "EXTERNAL").Immutable(),
		field.String("user_id").GoType(pulid.ID("")).Optional().Nillable().Immutable(),
		field.String("currency").NotEmpty().Immutable(),
	}
}

// Edges of the LedgerAccount.
func (LedgerAccount) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("user", User.Type).Field("user_id").Unique().Immutable(),
		edge.To("postings", Posting.Type),
	}
}

// Annotations of the LedgerAccount.
func (LedgerAccount) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// LedgerTransaction is one money movement: two or more postings summing to
// zero, written once under a unique idempotency key. Shown to users as a
// Transaction.
type LedgerTransaction struct{ ent.Schema }

// Mixin of the LedgerTransaction.
func (LedgerTransaction) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("txn"), CreatedMixin{}}
}

// Fields of the LedgerTransaction.
func (LedgerTransaction) Fields() []ent.Field {
	return []ent.Field{
		field.String("idempotency_key").Unique().NotEmpty().Immutable().Annotations(hidden),
		// Hash of the request that first used the key: the same key with a
		// different request is a conflict, not a replay.
		field.String("request_hash").NotEmpty().Immutable().Annotations(hidden),
		field.Enum("type").Values(
			"DEPOSIT", "WITHDRAWAL", "ESCROW_HOLD", "ESCROW_RELEASE", "PLATFORM_FEE",
			"SERVICE_FEE", "CONTRACTOR_PAYOUT", "REFUND", "WALLET_TRANSFER",
			"CHARGEBACK", "CHARGEBACK_REVERSAL",
		).Immutable().Annotations(entgql.Type("TransactionType")),
		field.Enum("status").Values("PENDING", "COMPLETED", "FAILED", "REVERSED").
			Default("COMPLETED").Annotations(entgql.Type("TransactionStatus")),
		field.Int64("amount").Annotations(decimal).Immutable(),
		field.String("currency").NotEmpty().Immutable(),
		field.String("description").Default(""),
		field.String("from_user_id").GoType(pulid.ID("")).Optional().Nillable().Immutable().Annotations(hidden),
		field.String("to_user_id").GoType(pulid.ID("")).Optional().Nillable().Immutable().Annotations(hidden),
		field.String("job_id").GoType(pulid.ID("")).Optional().Nillable().Immutable().Annotations(hidden),
		field.String("offer_id").GoType(pulid.ID("")).Optional().Nillable().Immutable().Annotations(hidden),
		field.String("contract_id").GoType(pulid.ID("")).Optional().Nillable().Immutable().Annotations(hidden),
		field.String("stripe_payment_intent_id").Optional().Nillable().Annotations(entgql.MapsTo("stripePaymentIntentId")),
		field.String("stripe_checkout_session_id").Optional().Nillable().Annotations(entgql.MapsTo("stripeCheckoutSessionId")),
		field.String("stripe_transfer_id").Optional().Nillable().Annotations(entgql.MapsTo("stripeTransferId")),
		field.String("failure_reason").Optional().Nillable(),
		field.Time("completed_at").Optional().Nillable(),
		// Set on a reversing transaction; unique, so a transaction is
		// reversed at most once.
		field.String("reversal_of_id").GoType(pulid.ID("")).Optional().Nillable().Unique().Immutable().Annotations(hidden),
	}
}

// Edges of the LedgerTransaction.
func (LedgerTransaction) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("postings", Posting.Type).Annotations(hidden),
		edge.To("from", User.Type).Field("from_user_id").Unique().Immutable(),
		edge.To("to", User.Type).Field("to_user_id").Unique().Immutable(),
		edge.To("job", Job.Type).Field("job_id").Unique().Immutable(),
		edge.To("offer", Offer.Type).Field("offer_id").Unique().Immutable(),
		edge.To("contract", Contract.Type).Field("contract_id").Unique().Immutable(),
		// An explicit inverse: a unique self-edge alone would be a
		// two-way (spouse-like) link, setting the column on both rows.
		edge.To("reversals", LedgerTransaction.Type).Annotations(hidden),
		edge.From("reversal_of", LedgerTransaction.Type).Ref("reversals").
			Field("reversal_of_id").Unique().Immutable().Annotations(hidden),
	}
}

// Indexes of the LedgerTransaction.
func (LedgerTransaction) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("from_user_id", "created_at"),
		index.Fields("to_user_id", "created_at"),
	}
}

// Annotations of the LedgerTransaction.
func (LedgerTransaction) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.Type("Transaction"),
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}

// Posting is one signed line of a ledger transaction. Append-only: a
// correction is a reversing transaction, never an update.
type Posting struct{ ent.Schema }

// Mixin of the Posting.
func (Posting) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("pst"), CreatedMixin{}}
}

// Fields of the Posting.
func (Posting) Fields() []ent.Field {
	return []ent.Field{
		field.String("transaction_id").GoType(pulid.ID("")).Immutable(),
		field.String("account_id").GoType(pulid.ID("")).Immutable(),
		// Positive credits the account, negative debits it.
		field.Int64("amount").Immutable(),
		// Postings come in pairs, one pair per move from one account to
		// another; the pair shares this index within its transaction.
		field.Int("move").Immutable(),
	}
}

// Edges of the Posting.
func (Posting) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("transaction", LedgerTransaction.Type).Ref("postings").
			Field("transaction_id").Unique().Required().Immutable(),
		edge.From("account", LedgerAccount.Type).Ref("postings").
			Field("account_id").Unique().Required().Immutable(),
	}
}

// Annotations of the Posting.
func (Posting) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}
