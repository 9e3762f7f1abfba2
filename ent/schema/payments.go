package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/jobsphere/jobsphere/ent/schema/jsontext"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
)

// Deposit is a wallet top-up through Stripe. Only a verified Stripe event
// moves it to SUCCEEDED.
type Deposit struct{ ent.Schema }

// Mixin of the Deposit.
func (Deposit) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("dep"), TimeMixin{}}
}

// Fields of the Deposit.
func (Deposit) Fields() []ent.Field {
	return []ent.Field{
		field.String("user_id").GoType(pulid.ID("")).Immutable().Annotations(hidden),
		field.Int64("amount").Annotations(decimal).Immutable(),
		field.Enum("status").Values("PENDING", "REQUIRES_ACTION", "SUCCEEDED", "FAILED", "EXPIRED", "REFUNDED").
			Default("PENDING").Annotations(entgql.Type("DepositStatus")),
		field.Enum("method").Values("CHECKOUT", "PAYMENT_INTENT").Immutable().
			Annotations(entgql.Type("DepositMethod")),
		field.String("checkout_url").Optional().Nillable().Annotations(entgql.MapsTo("checkoutUrl")),
		field.String("stripe_checkout_session_id").Optional().Nillable().Unique().
			Annotations(entgql.MapsTo("stripeCheckoutSessionId")),
		field.String("stripe_payment_intent_id").Optional().Nillable().Unique().
			Annotations(entgql.MapsTo("stripePaymentIntentId")),
		field.String("failure_reason").Optional().Nillable(),
		field.String("transaction_id").GoType(pulid.ID("")).Optional().Nillable().Annotations(hidden),
		field.Time("completed_at").Optional().Nillable(),
		// What of it an admin refunded to the card (refundDeposit), a
		// refund in flight included: counted before Stripe is asked, so
		// that Stripe's charge.refunded for it is known as ours.
		field.Int64("refunded_amount").Annotations(decimal).Default(0),
		// The refund in flight: its ledger transaction (the money out of
		// the wallet), set and committed before Stripe is asked, cleared
		// once Stripe answered. Its key is the Stripe refund's idempotency
		// key: while it is set, a retry finishes that refund instead of
		// starting another.
		field.String("refund_transaction_id").GoType(pulid.ID("")).Optional().Nillable().Annotations(hidden),
		// The admin who asked for the refund in flight: whoever finishes it
		// (a retry, the sweeper) records it in the audit log as theirs.
		field.String("refund_admin_id").GoType(pulid.ID("")).Optional().Nillable().Annotations(hidden),
	}
}

// Edges of the Deposit.
func (Deposit) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("user", User.Type).Field("user_id").Unique().Required().Immutable().Annotations(hidden),
		edge.To("transaction", LedgerTransaction.Type).Field("transaction_id").Unique(),
	}
}

// Annotations of the Deposit.
func (Deposit) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(), // a user's deposits (User.deposits)
		entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}

// Withdrawal pays a contractor's available balance out to their Stripe
// Connect account.
type Withdrawal struct{ ent.Schema }

// Mixin of the Withdrawal.
func (Withdrawal) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("wdr"), TimeMixin{}}
}

// Fields of the Withdrawal.
func (Withdrawal) Fields() []ent.Field {
	return []ent.Field{
		field.String("user_id").GoType(pulid.ID("")).Immutable().Annotations(hidden),
		field.Int64("amount").Annotations(decimal).Immutable(),
		field.Enum("status").Values("PENDING", "COMPLETED", "FAILED", "REJECTED").
			Default("PENDING").Annotations(entgql.Type("WithdrawalStatus")),
		field.String("stripe_transfer_id").Optional().Nillable().Unique().Annotations(entgql.MapsTo("stripeTransferId")),
		field.String("failure_reason").Optional().Nillable(),
		field.String("reviewed_by_id").GoType(pulid.ID("")).Optional().Nillable().Annotations(hidden),
		// The WITHDRAWAL transaction the user sees (PENDING → COMPLETED or FAILED).
		field.String("transaction_id").GoType(pulid.ID("")).Optional().Nillable().Annotations(hidden),
		// The client's idempotency key, if it sent one: a retried request
		// finds the withdrawal it made instead of making another.
		field.String("request_key").Optional().Nillable().Immutable().Annotations(hidden),
		field.Time("requested_at").Default(time.Now).Immutable(),
		field.Time("completed_at").Optional().Nillable(),
		// Set, and committed, before the transfer is asked of Stripe: from
		// then on the withdrawal can only be paid out or fail on Stripe's
		// word (see payments.payOut), never be rejected and given back.
		field.Time("transfer_started_at").Optional().Nillable().Annotations(hidden),
	}
}

// Edges of the Withdrawal.
func (Withdrawal) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("user", User.Type).Field("user_id").Unique().Required().Immutable().Annotations(hidden),
	}
}

// Indexes of the Withdrawal.
func (Withdrawal) Indexes() []ent.Index {
	return []ent.Index{index.Fields("user_id", "request_key").Unique()}
}

// Annotations of the Withdrawal.
func (Withdrawal) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}

// ConnectAccount is a contractor's Stripe Connect Express account, kept in
// step by account.updated events. A contractor has one at a time: after a
// deauthorization a new onboarding replaces its Stripe account.
type ConnectAccount struct{ ent.Schema }

// Mixin of the ConnectAccount.
func (ConnectAccount) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("cac"), TimeMixin{}}
}

// Fields of the ConnectAccount.
func (ConnectAccount) Fields() []ent.Field {
	return []ent.Field{
		field.String("user_id").GoType(pulid.ID("")).Unique().Immutable(),
		field.String("stripe_account_id").Unique().NotEmpty(),
		field.Enum("status").Values("PENDING", "VERIFIED", "REJECTED", "DISCONNECTED").Default("PENDING"),
		field.Bool("charges_enabled").Default(false),
		field.Bool("payouts_enabled").Default(false),
		field.Bool("details_submitted").Default(false),
		field.String("currently_due").GoType(jsontext.Strings{}).SchemaType(jsonColumn).Optional(),
		field.String("pending_verification").GoType(jsontext.Strings{}).SchemaType(jsonColumn).Optional(),
		field.String("errors").GoType(jsontext.Strings{}).SchemaType(jsonColumn).Optional(),
		field.String("disabled_reason").Optional().Nillable(),
		// When Stripe made the account.updated event last applied: Stripe
		// does not deliver events in order, and an older one must not
		// undo a newer one.
		field.Time("state_as_of").Optional().Nillable().Annotations(hidden),
		// The last bank payout's failure on the connected account
		// (payout.failed: "code: message"), until a later one is paid.
		field.String("payout_failure").Optional().Nillable(),
		field.String("failed_payout_id").Optional().Nillable(),
		// When Stripe made the payout event last applied: the state_as_of
		// of payouts.
		field.Time("payout_state_as_of").Optional().Nillable().Annotations(hidden),
	}
}

// Edges of the ConnectAccount.
func (ConnectAccount) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("user", User.Type).Ref("connect_account").Field("user_id").Unique().Required().Immutable(),
	}
}

// Annotations of the ConnectAccount.
func (ConnectAccount) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// StripeEvent logs every verified webhook event; its unique Stripe id makes
// each event processed once.
type StripeEvent struct{ ent.Schema }

// Mixin of the StripeEvent.
func (StripeEvent) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("evt"), CreatedMixin{}}
}

// Fields of the StripeEvent.
func (StripeEvent) Fields() []ent.Field {
	return []ent.Field{
		field.String("stripe_event_id").Unique().NotEmpty().Immutable(),
		field.String("type").NotEmpty().Immutable(),
		field.String("account").Optional().Nillable().Immutable(),
		field.Bool("livemode").Default(false).Immutable(),
		field.Bytes("payload").Immutable(),
		field.Enum("status").Values("RECEIVED", "PROCESSED", "FAILED").Default("RECEIVED"),
		field.String("error").Optional().Nillable(),
		field.Time("processed_at").Optional().Nillable(),
	}
}

// Annotations of the StripeEvent.
func (StripeEvent) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// SandboxBalanceTransaction is a movement of the platform's balance as the
// sandbox payments gateway books it, in place of Stripe's balance
// transactions. It lives in the database, not in the sandbox's memory, so
// that every process of a deployment (serve, seed, reconcile) and every
// restart see the same books and the embedded default reconciles clean.
type SandboxBalanceTransaction struct{ ent.Schema }

// Mixin of the SandboxBalanceTransaction.
func (SandboxBalanceTransaction) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("sbt"), CreatedMixin{}}
}

// Fields of the SandboxBalanceTransaction: payments.BalanceTransaction's.
func (SandboxBalanceTransaction) Fields() []ent.Field {
	return []ent.Field{
		field.String("stripe_id").Unique().NotEmpty().Immutable(), // txn_sandbox_…
		field.String("type").NotEmpty().Immutable(),
		field.String("currency").NotEmpty().Immutable(),
		field.Int64("amount").Immutable(),
		field.Int64("fee").Immutable(),
		field.String("source_id").Default("").Immutable(),
		field.String("payment_intent_id").Default("").Immutable(),
		field.String("transfer_id").Default("").Immutable(),
	}
}

// Indexes of the SandboxBalanceTransaction: reconciliation lists a period.
func (SandboxBalanceTransaction) Indexes() []ent.Index {
	return []ent.Index{index.Fields("created_at")}
}

// Annotations of the SandboxBalanceTransaction.
func (SandboxBalanceTransaction) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}
