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

// Chargeback is a card dispute a customer's bank opened at Stripe against
// a payment of ours (a deposit or a job Checkout): one row per Stripe
// dispute, made by whichever of its events arrives first. Its money moves
// on the ledger (CHARGEBACK, CHARGEBACK_REVERSAL); this row records the
// case and its outcome. Admins only.
type Chargeback struct{ ent.Schema }

// Mixin of the Chargeback.
func (Chargeback) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("cbk"), CreatedMixin{}}
}

// Fields of the Chargeback.
func (Chargeback) Fields() []ent.Field {
	return []ent.Field{
		field.String("customer_id").GoType(pulid.ID("")).Immutable().Annotations(hidden),
		// The deposit, or the job Checkout's contract, the disputed payment made.
		field.String("deposit_id").GoType(pulid.ID("")).Optional().Nillable().Immutable().Annotations(hidden),
		field.String("contract_id").GoType(pulid.ID("")).Optional().Nillable().Immutable().Annotations(hidden),
		field.String("stripe_dispute_id").Unique().NotEmpty().Immutable().Annotations(entgql.MapsTo("stripeDisputeId")),
		field.String("stripe_payment_intent_id").NotEmpty().Immutable().Annotations(hidden),
		// The disputed amount, and Stripe's dispute fee the platform bears
		// (what Stripe withdrew, less what it returned).
		field.Int64("amount").Annotations(decimal),
		field.Int64("fee").Annotations(decimal).Default(0),
		field.String("reason").Default(""),
		field.Enum("status").Values("OPEN", "WON", "LOST").Default("OPEN").
			Annotations(entgql.Type("ChargebackStatus")),
		field.Time("closed_at").Optional().Nillable(),
	}
}

// Edges of the Chargeback.
func (Chargeback) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("customer", User.Type).Field("customer_id").Unique().Required().Immutable(),
		edge.To("deposit", Deposit.Type).Field("deposit_id").Unique().Immutable(),
		edge.To("contract", Contract.Type).Field("contract_id").Unique().Immutable(),
	}
}

// Indexes of the Chargeback: a customer's open cases freeze their wallet.
func (Chargeback) Indexes() []ent.Index {
	return []ent.Index{index.Fields("customer_id", "status")}
}

// Annotations of the Chargeback.
func (Chargeback) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}

// FraudWarning is an early fraud warning (Stripe Radar) on a payment of
// ours: the card's issuer reported the payment as likely fraudulent, and a
// chargeback may follow. The customer's wallet is frozen (FRAUD_WARNING)
// until the warning is resolved: the payment refunded or disputed.
// Admins only.
type FraudWarning struct{ ent.Schema }

// Mixin of the FraudWarning.
func (FraudWarning) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("efw"), CreatedMixin{}}
}

// Fields of the FraudWarning.
func (FraudWarning) Fields() []ent.Field {
	return []ent.Field{
		field.String("customer_id").GoType(pulid.ID("")).Immutable().Annotations(hidden),
		field.String("deposit_id").GoType(pulid.ID("")).Optional().Nillable().Immutable().Annotations(hidden),
		field.String("contract_id").GoType(pulid.ID("")).Optional().Nillable().Immutable().Annotations(hidden),
		field.String("stripe_warning_id").Unique().NotEmpty().Immutable().Annotations(entgql.MapsTo("stripeWarningId")),
		field.String("stripe_charge_id").Default("").Immutable().Annotations(entgql.MapsTo("stripeChargeId")),
		field.String("stripe_payment_intent_id").NotEmpty().Immutable().Annotations(entgql.MapsTo("stripePaymentIntentId")),
		// The issuer's word: made_with_stolen_card, unauthorized_use_of_card, …
		field.String("fraud_type").Default("").Immutable(),
		// Set when the payment is refunded or disputed: the wallet's
		// FRAUD_WARNING freeze holds while a warning is unresolved.
		field.Time("resolved_at").Optional().Nillable(),
	}
}

// Edges of the FraudWarning.
func (FraudWarning) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("customer", User.Type).Field("customer_id").Unique().Required().Immutable(),
		edge.To("deposit", Deposit.Type).Field("deposit_id").Unique().Immutable(),
		edge.To("contract", Contract.Type).Field("contract_id").Unique().Immutable(),
	}
}

// Indexes of the FraudWarning: a payment's warnings are resolved together.
func (FraudWarning) Indexes() []ent.Index {
	return []ent.Index{index.Fields("stripe_payment_intent_id"), index.Fields("customer_id")}
}

// Annotations of the FraudWarning.
func (FraudWarning) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}
