package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"

	"github.com/jobsphere/jobsphere/ent/schema/pulid"
)

// Wallet caches a user's balances. The ledger's postings are the truth;
// every column here is updated only by package ledger, in the same database
// transaction as the postings it summarises.
type Wallet struct{ ent.Schema }

// Mixin of the Wallet.
func (Wallet) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("wal"), TimeMixin{}}
}

// Fields of the Wallet.
func (Wallet) Fields() []ent.Field {
	return []ent.Field{
		field.String("user_id").GoType(pulid.ID("")).Unique().Immutable().Annotations(hidden),
		field.String("currency").NotEmpty(),
		field.Int64("balance").Annotations(decimal).Default(0),
		field.Int64("escrow_balance").Annotations(decimal).Default(0),
		field.Int64("pending_deposits").Annotations(decimal).Default(0),
		field.Int64("total_earnings").Annotations(decimal).Default(0),
		field.Int64("total_spent").Annotations(decimal).Default(0),
		field.Int64("total_withdrawals").Annotations(decimal).Default(0),
		field.Bool("is_active").Default(true),
		// What the user owes the platform: minus their RECEIVABLE account
		// (money taken back by a refund made at Stripe that their balance
		// could not cover).
		field.Int64("amount_owed").Annotations(decimal).Default(0),
		// Frozen: some reason holds; frozen_reason shows one (CHARGEBACK,
		// then FRAUD_WARNING, then ADMIN). ADMIN holds while frozen_note
		// (the admin's note) is set, CHARGEBACK while money is owed or a
		// chargeback case is open (chargeback_open), FRAUD_WARNING while
		// an early fraud warning is unresolved (fraud_warning_open);
		// package ledger keeps these columns in step.
		field.Bool("is_frozen").Default(false),
		field.Enum("frozen_reason").Values("ADMIN", "CHARGEBACK", "FRAUD_WARNING").Optional().Nillable().
			Annotations(entgql.Type("FreezeReason")),
		field.String("frozen_note").Optional().Nillable().Annotations(hidden),
		field.Bool("chargeback_open").Default(false).Annotations(hidden),
		field.Bool("fraud_warning_open").Default(false).Annotations(hidden),
	}
}

// Edges of the Wallet.
func (Wallet) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("user", User.Type).Ref("wallet").Field("user_id").Unique().Required().Immutable(),
	}
}

// Annotations of the Wallet.
func (Wallet) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(), // the admins' frozen wallets
		entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}
