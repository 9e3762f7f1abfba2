package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/jobsphere/jobsphere/ent/schema/pulid"
)

// Job is work a customer posts.
type Job struct{ ent.Schema }

// Mixin of the Job.
func (Job) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("job"), TimeMixin{}}
}

// Fields of the Job.
func (Job) Fields() []ent.Field {
	return []ent.Field{
		field.String("title").NotEmpty(),
		field.Text("description").NotEmpty(),
		field.Int64("budget").Annotations(decimal, entgql.OrderField("BUDGET")),
		field.String("category").Optional().Nillable(),
		field.String("location").Optional().Nillable(),
		field.Enum("status").Values("OPEN", "ASSIGNED", "IN_PROGRESS", "COMPLETED", "CANCELLED").
			Default("OPEN").Annotations(entgql.Type("JobStatus")),
		field.String("posted_by_id").GoType(pulid.ID("")).Immutable().Annotations(hidden),
		field.String("contractor_id").GoType(pulid.ID("")).Optional().Nillable().Annotations(hidden),
		field.Time("assigned_at").Optional().Nillable(),
		field.Time("completed_at").Optional().Nillable(),
		field.Time("cancelled_at").Optional().Nillable(),
		field.String("cancellation_reason").Optional().Nillable(),
		// The contractor's latest delivery (submitWork): when, what they
		// said and which of their uploads they attached (the note and the
		// attachments are for the parties: Job.delivery).
		field.Time("delivered_at").Optional().Nillable(),
		field.Text("delivery_note").Optional().Nillable().Annotations(hidden),
		field.String("delivery_media_ids").GoType(pulid.IDs{}).SchemaType(jsonColumn).Optional().Annotations(hidden),
		// When the sweeper completes a delivered job the customer left
		// alone (AUTO_RELEASE_DAYS after delivered_at), and when it
		// reminded them, 48 hours before: set once per delivery.
		field.Time("auto_release_at").Optional().Nillable(),
		field.Time("auto_release_reminded_at").Optional().Nillable().Annotations(hidden),
	}
}

// Edges of the Job.
func (Job) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("posted_by", User.Type).Ref("posted_jobs").Field("posted_by_id").Unique().Required().Immutable(),
		edge.To("contractor", User.Type).Field("contractor_id").Unique(),
		// Private to the job's parties: served by resolvers that check the
		// viewer, never by generated edges or filters.
		edge.To("applications", JobApplication.Type).Annotations(hidden),
		edge.To("offers", Offer.Type).Annotations(hidden),
		edge.To("contract", Contract.Type).Unique().Annotations(hidden),
	}
}

// Indexes of the Job.
func (Job) Indexes() []ent.Index {
	return []ent.Index{index.Fields("status", "created_at"), index.Fields("status", "auto_release_at")}
}

// Annotations of the Job.
func (Job) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}

// JobApplication is a contractor's bid on an open job.
type JobApplication struct{ ent.Schema }

// Mixin of the JobApplication.
func (JobApplication) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("app"), TimeMixin{}}
}

// Fields of the JobApplication.
func (JobApplication) Fields() []ent.Field {
	return []ent.Field{
		field.String("job_id").GoType(pulid.ID("")).Immutable().Annotations(hidden),
		field.String("contractor_id").GoType(pulid.ID("")).Immutable().Annotations(hidden),
		field.Text("cover_letter").Optional().Nillable(),
		field.Int64("proposed_amount").Annotations(decimal).Optional().Nillable(),
		field.Enum("status").Values("PENDING", "OFFERED", "ACCEPTED", "REJECTED").
			Default("PENDING").Annotations(entgql.Type("ApplicationStatus")),
	}
}

// Edges of the JobApplication.
func (JobApplication) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("job", Job.Type).Ref("applications").Field("job_id").Unique().Required().Immutable(),
		edge.From("contractor", User.Type).Ref("applications").Field("contractor_id").Unique().Required().Immutable(),
	}
}

// Indexes of the JobApplication: a contractor applies to a job once.
func (JobApplication) Indexes() []ent.Index {
	return []ent.Index{index.Fields("job_id", "contractor_id").Unique()}
}

// Annotations of the JobApplication.
func (JobApplication) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}

// Offer is a customer's priced proposal to an applicant; its total charge
// is held in escrow from the moment it is sent.
type Offer struct{ ent.Schema }

// Mixin of the Offer.
func (Offer) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("ofr"), TimeMixin{}}
}

// Fields of the Offer. Fees and their rates are copied on at sending, so a
// later change of configuration never rewrites an agreed deal.
func (Offer) Fields() []ent.Field {
	return []ent.Field{
		field.String("job_id").GoType(pulid.ID("")).Immutable().Annotations(hidden),
		field.String("application_id").GoType(pulid.ID("")).Optional().Nillable().Immutable().Annotations(hidden),
		field.String("customer_id").GoType(pulid.ID("")).Immutable().Annotations(hidden),
		field.String("contractor_id").GoType(pulid.ID("")).Immutable().Annotations(hidden),
		field.Int64("amount").Annotations(decimal).Immutable(),
		field.Int64("platform_fee").Annotations(decimal).Immutable(),
		field.Int64("service_fee").Annotations(decimal).Immutable(),
		field.Int64("contractor_payout").Annotations(decimal).Immutable(),
		field.Int64("total_charge").Annotations(decimal).Immutable(),
		field.Int("customer_fee_bps").Immutable().Annotations(hidden),
		field.Int("contractor_fee_bps").Immutable().Annotations(hidden),
		field.String("timeline").NotEmpty(),
		field.Text("description").NotEmpty(),
		field.Enum("status").Values("PENDING", "ACCEPTED", "REJECTED", "EXPIRED", "WITHDRAWN").
			Default("PENDING").Annotations(entgql.Type("OfferStatus")),
		field.Time("expires_at"),
		field.Time("accepted_at").Optional().Nillable(),
		field.Time("rejected_at").Optional().Nillable(),
		field.String("rejection_reason").Optional().Nillable(),
	}
}

// Edges of the Offer.
func (Offer) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("job", Job.Type).Ref("offers").Field("job_id").Unique().Required().Immutable(),
		edge.To("application", JobApplication.Type).Field("application_id").Unique().Immutable(),
		edge.To("customer", User.Type).Field("customer_id").Unique().Required().Immutable(),
		edge.To("contractor", User.Type).Field("contractor_id").Unique().Required().Immutable(),
	}
}

// Indexes of the Offer: one live (pending or accepted) offer per job,
// enforced by the database, not by a read-then-write.
func (Offer) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("job_id").Unique().
			Annotations(entsql.IndexWhere("status IN ('PENDING', 'ACCEPTED')")),
		index.Fields("status", "expires_at"),
	}
}

// Annotations of the Offer.
func (Offer) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}

// Contract binds a customer and a contractor on a job once the money for it
// is held in escrow.
type Contract struct{ ent.Schema }

// Mixin of the Contract.
func (Contract) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("ctr"), TimeMixin{}}
}

// Fields of the Contract.
func (Contract) Fields() []ent.Field {
	return []ent.Field{
		field.String("job_id").GoType(pulid.ID("")).Unique().Immutable().Annotations(hidden),
		field.String("customer_id").GoType(pulid.ID("")).Immutable().Annotations(hidden),
		field.String("contractor_id").GoType(pulid.ID("")).Immutable().Annotations(hidden),
		field.String("offer_id").GoType(pulid.ID("")).Optional().Nillable().Unique().Immutable().Annotations(hidden),
		field.Enum("status").Values("ACTIVE", "COMPLETED", "CANCELLED").
			Default("ACTIVE").Annotations(entgql.Type("ContractStatus")),
		field.Time("completed_at").Optional().Nillable(),
	}
}

// Edges of the Contract.
func (Contract) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("job", Job.Type).Ref("contract").Field("job_id").Unique().Required().Immutable(),
		edge.To("customer", User.Type).Field("customer_id").Unique().Required().Immutable(),
		edge.To("contractor", User.Type).Field("contractor_id").Unique().Required().Immutable(),
		edge.To("offer", Offer.Type).Field("offer_id").Unique().Immutable().
			Annotations(entgql.Skip(entgql.SkipType)), // parties only: graph/market.graphqls
		edge.To("escrow", Escrow.Type).Unique().Annotations(entgql.Skip(entgql.SkipType)), // non-null in the contract: graph/market.graphqls
		edge.To("review", Review.Type).Unique().Annotations(hidden),
		edge.To("disputes", Dispute.Type).Annotations(hidden), // its latest: Contract.dispute
	}
}

// Annotations of the Contract.
func (Contract) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}

// Escrow is the money held for a contract until it is released to the
// contractor or refunded to the customer. It is our own ledger hold on
// funds in the platform's balance, not a Stripe feature.
type Escrow struct{ ent.Schema }

// Mixin of the Escrow.
func (Escrow) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("esc"), TimeMixin{}}
}

// Fields of the Escrow.
func (Escrow) Fields() []ent.Field {
	return []ent.Field{
		field.String("contract_id").GoType(pulid.ID("")).Unique().Immutable().Annotations(hidden),
		field.Int64("amount").Annotations(decimal).Immutable(),
		field.Int64("platform_fee").Annotations(decimal).Immutable(),
		field.Int64("service_fee").Annotations(decimal).Immutable(),
		field.Int64("freelancer_earning").Annotations(decimal).Immutable(),
		// The service-fee rate of the deal, for a dispute's split of it.
		// Empty on escrows made before it was recorded (see
		// market.contractorRate).
		field.Int("contractor_fee_bps").Optional().Nillable().Immutable().Annotations(hidden),
		field.Enum("status").Values("FUNDED", "RELEASE_REQUESTED", "RELEASED", "REFUNDED", "DISPUTED", "SETTLED").
			Default("FUNDED").Annotations(entgql.Type("EscrowStatus")),
		field.Enum("funding_source").Values("WALLET", "CHECKOUT").Immutable().
			Annotations(entgql.Type("FundingSource")),
		field.String("stripe_checkout_session_id").Optional().Nillable().Unique().Immutable().Annotations(hidden),
		field.String("stripe_payment_intent_id").Optional().Nillable().Annotations(hidden),
		field.Time("release_requested_at").Optional().Nillable(),
		field.Time("released_at").Optional().Nillable(),
		field.Time("refunded_at").Optional().Nillable(),
		field.String("cancel_reason").Optional().Nillable(),
		field.String("cancel_reason_description").Optional().Nillable(),
		// Set, and committed, before a refund to the card is asked of
		// Stripe: from then on the escrow can only end refunded (see
		// market.refundCard), whatever happens to the process.
		field.Time("card_refund_started_at").Optional().Nillable().Annotations(hidden),
		// What that refund asks of Stripe: the whole escrow and platform
		// fee, or a dispute settlement's customer part. Empty on refunds
		// claimed before it was recorded, which were always whole.
		field.Int64("card_refund_amount").Optional().Nillable().Annotations(hidden),
		// Who claimed that refund, set with the claim (and cleared with it
		// when Stripe refuses): the admin and their action (REFUND_ESCROW
		// or CANCEL_JOB; empty when a party claimed it, or a dispute's
		// settlement, whose resolver is on the dispute), and the request.
		// The transaction that finishes the refund — the request's own, a
		// retry's or the sweep's — records the admin's action in the audit
		// log as theirs, with that request's id.
		field.String("card_refund_admin_id").GoType(pulid.ID("")).Optional().Nillable().Annotations(hidden),
		field.String("card_refund_admin_action").Optional().Nillable().Annotations(hidden),
		field.String("card_refund_request_id").Optional().Nillable().Annotations(hidden),
	}
}

// Edges of the Escrow.
func (Escrow) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("contract", Contract.Type).Ref("escrow").Field("contract_id").Unique().Required().Immutable(),
	}
}

// Annotations of the Escrow.
func (Escrow) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}

// Review is a customer's rating of the contractor on a completed contract;
// one per contract.
type Review struct{ ent.Schema }

// Mixin of the Review.
func (Review) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("rev"), CreatedMixin{}}
}

// Fields of the Review.
func (Review) Fields() []ent.Field {
	return []ent.Field{
		field.String("contract_id").GoType(pulid.ID("")).Unique().Immutable().Annotations(hidden),
		field.String("client_id").GoType(pulid.ID("")).Immutable().Annotations(hidden),
		field.String("freelancer_id").GoType(pulid.ID("")).Immutable().Annotations(hidden),
		field.Int("rating").Range(1, 5).Immutable(),
		field.Text("description").Immutable(),
	}
}

// Edges of the Review.
func (Review) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("contract", Contract.Type).Ref("review").Field("contract_id").Unique().Required().Immutable(),
		edge.To("client", User.Type).Field("client_id").Unique().Required().Immutable(),
		edge.From("freelancer", User.Type).Ref("reviews_received").Field("freelancer_id").Unique().Required().Immutable(),
	}
}

// Annotations of the Review.
func (Review) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}
