package payments

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/auth"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/ledger"
	"github.com/jobsphere/jobsphere/market"
)

// The Skillhouse flow: a customer pays for a job by Stripe Checkout and the
// money goes straight into the job's escrow.

// JobFunder is the marketplace's side of a job paid by Checkout.
type JobFunder interface {
	CheckJobPayment(ctx context.Context, v auth.Viewer, jobID, freelancerID pulid.ID, rate int64) (ledger.Split, error)
	FundFromCheckout(ctx context.Context, tx *ent.Tx, p market.JobPayment) error
	CreditUnmatchedPayment(ctx context.Context, tx *ent.Tx, customerID pulid.ID, amount int64, sessionID, paymentIntentID string) error
	// CardRefundsOf is what we refunded (or are refunding) to a payment's card.
	CardRefundsOf(ctx context.Context, tx *ent.Tx, paymentIntentID string) (int64, error)
}

// PayForJobInput is payForJob's input.
type PayForJobInput struct {
	JobID, FreelancerID   pulid.ID
	Title                 string
	Rate                  int64
	SuccessURL, CancelURL string
}

// PayForJob starts a Checkout for rate + platform fee; the paid session's
// webhook creates the contract and its escrow. A cancelled or expired
// session creates nothing.
func (s *Service) PayForJob(ctx context.Context, v auth.Viewer, in PayForJobInput) (*CheckoutSession, error) {
	if err := jobsphere.CheckLengths(jobsphere.TextLimit{Field: "title", Label: "Title", Text: &in.Title, Max: jobsphere.MaxTitleLength}); err != nil {
		return nil, err
	}
	split, err := s.jobs.CheckJobPayment(ctx, v, in.JobID, in.FreelancerID, in.Rate)
	if err != nil {
		return nil, err
	}
	if err := checkReturnURLs(in.SuccessURL, in.CancelURL); err != nil {
		return nil, err
	}
	title := in.Title
	if title == "" {
		title = "Job payment"
	}
	amount := strconv.FormatInt(split.Amount, 10)
	return s.gateway.CreateCheckoutSession(ctx, CheckoutParams{
		// One session per job, freelancer and price: asking again returns it.
		IdempotencyKey: "job-payment:" + string(in.JobID) + ":" + string(in.FreelancerID) + ":" + amount,
		Amount:         split.TotalCharge, Currency: s.cfg.Currency.Code, ProductName: title,
		ClientReferenceID: string(in.JobID),
		Metadata: map[string]string{
			"kind": "job_payment", "job_id": string(in.JobID), "client_id": string(v.UserID),
			"freelancer_id": string(in.FreelancerID), "amount": amount,
		},
		SuccessURL: or(in.SuccessURL, s.cfg.SuccessURL), CancelURL: or(in.CancelURL, s.cfg.CancelURL),
	})
}

// onJobCheckout funds the job of a paid job Checkout session.
func (s *Service) onJobCheckout(ctx context.Context, tx *ent.Tx, cs *EventCheckoutSession) error {
	amount, err := strconv.ParseInt(cs.Metadata["amount"], 10, 64)
	if err != nil {
		return fmt.Errorf("read job checkout %s's amount: %w", cs.ID, err)
	}
	// The fees are computed again from the amount the session was made
	// for; the session's total must match, or it was not ours to trust.
	split, err := ledger.Fees(amount, s.cfg.Rates)
	if err != nil {
		return fmt.Errorf("fees of job checkout %s: %w", cs.ID, err)
	}
	if cs.AmountTotal != split.TotalCharge || cs.Currency != s.cfg.Currency.Code {
		// Not what we asked for (fees changed since, or not our session):
		// no contract on a wrong amount; the money paid goes to the wallet.
		s.logger.ErrorContext(ctx, "job checkout total does not match its job payment",
			"session", cs.ID, "total", cs.AmountTotal, "currency", cs.Currency, "amount", amount)
		if err := s.jobs.CreditUnmatchedPayment(ctx, tx, pulid.ID(cs.Metadata["client_id"]), cs.AmountTotal, cs.ID, cs.PaymentIntentID); err != nil {
			return fmt.Errorf("credit unmatched job checkout %s: %w", cs.ID, err)
		}
		return nil
	}
	if err := s.jobs.FundFromCheckout(ctx, tx, market.JobPayment{
		JobID: pulid.ID(cs.Metadata["job_id"]), CustomerID: pulid.ID(cs.Metadata["client_id"]),
		ContractorID: pulid.ID(cs.Metadata["freelancer_id"]), Split: split,
		SessionID: cs.ID, PaymentIntentID: cs.PaymentIntentID,
	}); err != nil {
		return fmt.Errorf("fund job from checkout %s: %w", cs.ID, err)
	}
	return nil
}

// CardRefunds refunds card payments through the gateway: the
// marketplace's market.CardRefunder, built before the marketplace (it needs
// the gateway only), so that the marketplace can be built with it.
type CardRefunds struct{ gateway Gateway }

// NewCardRefunds returns the card refunder of gateway g.
func NewCardRefunds(g Gateway) *CardRefunds { return &CardRefunds{gateway: g} }

// RefundCard implements market.CardRefunder: it refunds a card payment,
// once per key, and answers refused when the refund was surely not made
// (the gateway or the card refused it, or there is nothing to refund).
func (r *CardRefunds) RefundCard(ctx context.Context, key, paymentIntentID string, amount int64) (bool, error) {
	if paymentIntentID == "" {
		return true, jobsphere.Errorf(jobsphere.Conflict, "The payment has no Stripe PaymentIntent to refund")
	}
	// Refunded before (by this key or by hand) is no error: nothing is owed.
	if _, err := r.gateway.Refund(ctx, RefundParams{IdempotencyKey: key, PaymentIntentID: paymentIntentID, Amount: amount}); err != nil {
		// Unless refused, a timeout or Stripe's own failure: maybe refunded.
		return gatewayRefused(err), fmt.Errorf("refund %s: %w", paymentIntentID, err)
	}
	return false, nil
}
