package schema_test

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/jobsphere/jobsphere/auth/role"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/offer"
	"github.com/jobsphere/jobsphere/server/servertest"
)

// TestMoneyConstraints checks, on both databases, the unique constraints
// the money rules lean on: they must hold in the database itself, not in
// a read-then-write.
func TestMoneyConstraints(t *testing.T) {
	servertest.EachDatabase(t, func(t *testing.T, db servertest.Database) {
		ctx := context.Background()
		c := servertest.New(t, db).App.Client
		customer := c.User.Create().SetEmail("c@example.test").SetPasswordHash("x").SetName("C").SetRole(role.Customer).SaveX(ctx)
		contractor := c.User.Create().SetEmail("k@example.test").SetPasswordHash("x").SetName("K").SetRole(role.Contractor).SaveX(ctx)
		job := c.Job.Create().SetTitle("t").SetDescription("d").SetBudget(10000).SetPostedByID(customer.ID).SaveX(ctx)

		if !regexp.MustCompile(`^usr_[0-9A-HJKMNP-TV-Z]{26}$`).MatchString(string(customer.ID)) {
			t.Fatalf("user id %q is not a prefixed ULID", customer.ID)
		}
		if customer.ID >= contractor.ID {
			t.Fatalf("ids not sortable by creation: %s then %s", customer.ID, contractor.ID)
		}

		newOffer := func() *ent.OfferCreate {
			return c.Offer.Create().SetJobID(job.ID).SetCustomerID(customer.ID).SetContractorID(contractor.ID).
				SetAmount(10000).SetPlatformFee(500).SetServiceFee(2000).SetContractorPayout(8000).SetTotalCharge(10500).
				SetCustomerFeeBps(500).SetContractorFeeBps(2000).SetTimeline("7 days").SetDescription("a description").
				SetExpiresAt(time.Now().Add(time.Hour))
		}
		first := newOffer().SaveX(ctx)
		if _, err := newOffer().Save(ctx); !ent.IsConstraintError(err) {
			t.Fatalf("second live offer on a job: %v", err)
		}
		c.Offer.UpdateOne(first).SetStatus(offer.StatusREJECTED).ExecX(ctx)
		second := newOffer().SaveX(ctx) // the job is free again
		c.Offer.UpdateOne(second).SetStatus(offer.StatusACCEPTED).ExecX(ctx)
		if _, err := newOffer().Save(ctx); !ent.IsConstraintError(err) {
			t.Fatalf("offer beside an accepted one: %v", err)
		}

		txn := func(key string) error {
			return c.LedgerTransaction.Create().SetIdempotencyKey(key).SetRequestHash("h").
				SetType("DEPOSIT").SetAmount(1).SetCurrency("usd").Exec(ctx)
		}
		if err := txn("dep_1"); err != nil {
			t.Fatal(err)
		}
		if err := txn("dep_1"); !ent.IsConstraintError(err) {
			t.Fatalf("duplicate idempotency key: %v", err)
		}

		event := func() error {
			return c.StripeEvent.Create().SetStripeEventID("evt_1").SetType("checkout.session.completed").SetPayload([]byte("{}")).Exec(ctx)
		}
		if err := event(); err != nil {
			t.Fatal(err)
		}
		if err := event(); !ent.IsConstraintError(err) {
			t.Fatalf("duplicate stripe event: %v", err)
		}

		contract := c.Contract.Create().SetJobID(job.ID).SetCustomerID(customer.ID).SetContractorID(contractor.ID).SaveX(ctx)
		review := func() error {
			return c.Review.Create().SetContractID(contract.ID).SetClientID(customer.ID).SetFreelancerID(contractor.ID).
				SetRating(5).SetDescription("great").Exec(ctx)
		}
		if err := review(); err != nil {
			t.Fatal(err)
		}
		if err := review(); !ent.IsConstraintError(err) {
			t.Fatalf("second review of a contract: %v", err)
		}
	})
}
