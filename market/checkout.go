package market

import (
	"context"
	"errors"
	"fmt"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/audit"
	"github.com/jobsphere/jobsphere/auth"
	"github.com/jobsphere/jobsphere/auth/role"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/contract"
	"github.com/jobsphere/jobsphere/ent/escrow"
	"github.com/jobsphere/jobsphere/ent/job"
	"github.com/jobsphere/jobsphere/ent/ledgertransaction"
	"github.com/jobsphere/jobsphere/ent/offer"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/ent/user"
	"github.com/jobsphere/jobsphere/ledger"
)

// The Skillhouse flow: a job paid directly by Stripe Checkout into escrow.

// JobPayment is a paid Checkout session for a job, as its metadata and
// Stripe describe it.
type JobPayment struct {
	JobID, CustomerID, ContractorID pulid.ID
	Split                           ledger.Split
	SessionID, PaymentIntentID      string
}

// CheckJobPayment validates a customer's payForJob before any Checkout
// session is made, and prices it at the current fee rates.
func (s *Service) CheckJobPayment(ctx context.Context, v auth.Viewer, jobID, freelancerID pulid.ID, rate int64) (ledger.Split, error) {
	if err := requireRole(v, role.Customer); err != nil {
		return ledger.Split{}, err
	}
	if rate < s.cfg.MinOffer || rate > s.cfg.MaxOffer {
		return ledger.Split{}, jobsphere.InvalidInput(jobsphere.FieldError{Field: "rate",
			Message: "Rate must be between " + s.money(s.cfg.MinOffer) + " and " + s.money(s.cfg.MaxOffer)})
	}
	j, err := s.client.Job.Get(ctx, jobID)
	if ent.IsNotFound(err) {
		return ledger.Split{}, notFound("Job")
	}
	if err != nil {
		return ledger.Split{}, err
	}
	if j.PostedByID != v.UserID {
		return ledger.Split{}, auth.NotAuthorized()
	}
	if j.Status != job.StatusOPEN {
		return ledger.Split{}, jobsphere.Errorf(jobsphere.Conflict, "Job is not open for offers")
	}
	ok, err := s.client.User.Query().Where(user.ID(freelancerID), user.RoleEQ(role.Contractor)).Exist(ctx)
	if err != nil {
		return ledger.Split{}, err
	}
	if !ok {
		return ledger.Split{}, jobsphere.InvalidInput(jobsphere.FieldError{Field: "freelancerId", Message: "No such freelancer"})
	}
	return ledger.Fees(rate, s.cfg.Rates)
}

// FundFromCheckout applies a paid job Checkout inside the webhook's
// transaction: the money comes in to the customer's escrow, the platform
// fee goes to revenue, and a contract with a FUNDED escrow (funding
// CHECKOUT) assigns the job. Delivered twice, it creates one of each (the
// session id is unique on the escrow). If the job is no longer open, the
// money the customer paid lands in their wallet instead of being lost.
func (s *Service) FundFromCheckout(ctx context.Context, tx *ent.Tx, p JobPayment) error {
	seen, err := tx.Escrow.Query().Where(escrow.StripeCheckoutSessionID(p.SessionID)).Exist(ctx)
	if err != nil || seen {
		return err
	}
	in := ledger.Entry{
		Key: "checkout:" + p.SessionID + ":funding", Type: ledgertransaction.TypeDEPOSIT,
		Description:             "Card payment of " + s.money(p.Split.TotalCharge) + " for a job",
		StripeCheckoutSessionID: p.SessionID, StripePaymentIntentID: p.PaymentIntentID, JobID: p.JobID,
	}
	err = moveJob(ctx, tx, p.JobID, job.StatusASSIGNED,
		func(u *ent.JobUpdate) {
			u.Where(job.PostedByID(p.CustomerID)).SetContractorID(p.ContractorID).SetAssignedAt(s.now())
		},
		func(job.Status) error { return errJobNotOpen })
	if errors.Is(err, errJobNotOpen) || jobsphere.ErrorCode(err) == jobsphere.NotFound {
		return s.CreditUnmatchedPayment(ctx, tx, p.CustomerID, p.Split.TotalCharge, p.SessionID, p.PaymentIntentID)
	}
	if err != nil {
		return err
	}
	in.Moves = []ledger.Move{{From: ledger.External, To: ledger.Escrow(p.CustomerID), Amount: p.Split.TotalCharge}}
	if _, err := s.ledger.Post(ctx, tx.Client(), in); err != nil {
		return err
	}
	pending, err := tx.Offer.Query().Where(offer.JobID(p.JobID), offer.StatusEQ(offer.StatusPENDING)).All(ctx)
	if err != nil {
		return err
	}
	for _, o := range pending { // the job is taken: pending offers' holds go back
		if err := s.releaseOffer(ctx, tx, o, offer.StatusWITHDRAWN, nil); err != nil {
			return err
		}
	}
	c, err := tx.Contract.Create().SetJobID(p.JobID).SetCustomerID(p.CustomerID).SetContractorID(p.ContractorID).Save(ctx)
	if err != nil {
		return err
	}
	esc, err := tx.Escrow.Create().SetContractID(c.ID).SetAmount(p.Split.Amount).SetPlatformFee(p.Split.PlatformFee).
		SetServiceFee(p.Split.ServiceFee).SetFreelancerEarning(p.Split.ContractorPayout).SetContractorFeeBps(s.cfg.Rates.ContractorBPS).
		SetFundingSource(escrow.FundingSourceCHECKOUT).SetStripeCheckoutSessionID(p.SessionID).
		SetStripePaymentIntentID(p.PaymentIntentID).Save(ctx)
	if err != nil {
		return err
	}
	if p.Split.PlatformFee > 0 {
		_, err := s.ledger.Post(ctx, tx.Client(), ledger.Entry{
			Key: "escrow:" + string(esc.ID) + ":platform-fee", Type: ledgertransaction.TypePLATFORM_FEE,
			Description: "Platform fee " + s.money(p.Split.PlatformFee),
			Moves:       []ledger.Move{{From: ledger.Escrow(p.CustomerID), To: ledger.Revenue, Amount: p.Split.PlatformFee}},
			JobID:       p.JobID, ContractID: c.ID,
		})
		if err != nil {
			return err
		}
	}
	return s.publishJobTx(ctx, tx, p.JobID, p.CustomerID, p.ContractorID)
}

// errJobNotOpen: a paid job Checkout's job was taken, cancelled or is not
// the customer's; the payment goes to the wallet.
var errJobNotOpen = errors.New("market: the job is not open for this payment")

// CreditUnmatchedPayment puts a card payment that cannot fund its job (the
// job is taken, or the amount is not the one asked for) in the customer's
// wallet, so no money is lost; once per Checkout session.
func (s *Service) CreditUnmatchedPayment(ctx context.Context, tx *ent.Tx, customerID pulid.ID, amount int64, sessionID, paymentIntentID string) error {
	if amount <= 0 {
		return nil
	}
	posted, err := s.ledger.Post(ctx, tx.Client(), ledger.Entry{
		Key: "checkout:" + sessionID + ":funding", Type: ledgertransaction.TypeDEPOSIT,
		Description:             "Card payment of " + s.money(amount) + " credited to the wallet (it could not fund its job)",
		StripeCheckoutSessionID: sessionID, StripePaymentIntentID: paymentIntentID,
		Moves: []ledger.Move{{From: ledger.External, To: ledger.Available(customerID), Amount: amount}},
	})
	if err != nil {
		return err
	}
	return s.publishWallets(ctx, tx, ledgertransaction.TypeREFUND, posted.Transaction.ID, customerID)
}

// CardRefundsOf is what this server has refunded, or is refunding, to the
// card of a payment: the card refunds of the escrows it funded (whole, or a
// dispute settlement's customer part). Each is
// claimed (card_refund_started_at) before Stripe is asked, so by the time
// Stripe reports a refund of ours it is counted here.
func (s *Service) CardRefundsOf(ctx context.Context, tx *ent.Tx, paymentIntentID string) (int64, error) {
	escs, err := tx.Escrow.Query().
		Where(escrow.StripePaymentIntentID(paymentIntentID), escrow.CardRefundStartedAtNotNil()).All(ctx)
	if err != nil {
		return 0, fmt.Errorf("read card refunds of %s: %w", paymentIntentID, err)
	}
	var total int64
	for _, e := range escs {
		if e.CardRefundAmount != nil {
			total += *e.CardRefundAmount
		} else { // claimed before the amount was recorded: always whole
			total += e.Amount + e.PlatformFee
		}
	}
	return total, nil
}

// CardRefunder refunds a card payment through Stripe (package payments),
// once per key. refused reports that the refund was surely not made (the
// request was refused): any other error may hide a refund made.
type CardRefunder interface {
	RefundCard(ctx context.Context, key, paymentIntentID string, amount int64) (refused bool, err error)
}

// RefundEscrowInput asks for an escrow's money back.
type RefundEscrowInput struct {
	ContractID              pulid.ID
	CancelReason            *string
	CancelReasonDescription *string
	RefundTo                *escrow.FundingSource // default: where the money came from
}

// RefundEscrow gives a contract's escrow back to its customer, for an
// admin or the customer, before release. A wallet-funded escrow goes back
// to the wallet; a card-funded one to the card through a Stripe refund,
// or to the wallet when refundTo is WALLET. The platform fee comes back
// too. The contract and its job are CANCELLED.
func (s *Service) RefundEscrow(ctx context.Context, v auth.Viewer, in RefundEscrowInput) (*ent.Escrow, error) {
	if err := jobsphere.CheckLengths(reasonLimit("cancelReason", in.CancelReason),
		jobsphere.TextLimit{Field: "cancelReasonDescription", Label: "Cancel reason description",
			Text: trimmed(in.CancelReasonDescription), Max: jobsphere.MaxProseLength}); err != nil {
		return nil, err
	}
	c, err := s.client.Contract.Query().Where(contract.ID(in.ContractID)).WithEscrow().Only(ctx)
	if ent.IsNotFound(err) {
		return nil, notFound("Contract")
	}
	if err != nil {
		return nil, err
	}
	if c.CustomerID != v.UserID && !v.IsAdmin() {
		return nil, auth.NotAuthorized()
	}
	esc := c.Edges.Escrow
	to := esc.FundingSource
	if in.RefundTo != nil {
		to = *in.RefundTo
	}
	if esc.FundingSource == escrow.FundingSourceWALLET && to == escrow.FundingSourceCHECKOUT {
		return nil, jobsphere.InvalidInput(jobsphere.FieldError{Field: "refundTo", Message: "A wallet-funded escrow can only be refunded to the wallet"})
	}
	toCard := to == escrow.FundingSourceCHECKOUT
	if toCard {
		if err := s.refundCard(ctx, v, audit.RefundEscrow, esc, in.CancelReason, in.CancelReasonDescription); err != nil {
			return nil, err
		}
	}
	err = s.tx(ctx, func(tx *ent.Tx) error {
		_, err := s.refundEscrow(ctx, tx, c, in.CancelReason, in.CancelReasonDescription, toCard,
			func(u *ent.JobUpdate) { u.SetNillableCancellationReason(trimmed(in.CancelReason)) },
			func(job.Status) error { return s.settleRefused(ctx, tx, c, "refunded") })
		if err != nil || toCard {
			return err // to the card, refundEscrow records the action that claimed the refund
		}
		return s.auditAdmin(ctx, tx, v, audit.Entry{Action: audit.RefundEscrow, Target: c.ID,
			Before: esc.Status.String(), After: escrow.StatusREFUNDED.String(), Reason: deref(trimmed(in.CancelReason))})
	})
	if err != nil {
		return nil, fmt.Errorf("refund escrow of contract %s: %w", c.ID, err)
	}
	return s.client.Escrow.Get(ctx, esc.ID)
}
