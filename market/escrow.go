package market

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	entsql "entgo.io/ent/dialect/sql"

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
	"github.com/jobsphere/jobsphere/ledger"
	"github.com/jobsphere/jobsphere/realtime"
)

// CompleteJobResult is what completeJob returns.
type CompleteJobResult struct {
	Job              *ent.Job
	Contract         *ent.Contract
	Escrow           *ent.Escrow
	AwaitingApproval bool
	Payment          ledger.Split
}

// CompleteJob is the customer's "the work is done" on an IN_PROGRESS job:
// a release request, approved by an admin when REQUIRE_RELEASE_APPROVAL
// is on, else released at once.
func (s *Service) CompleteJob(ctx context.Context, v auth.Viewer, jobID pulid.ID) (*CompleteJobResult, error) {
	c, err := s.client.Contract.Query().Where(contract.JobID(jobID)).Only(ctx)
	if ent.IsNotFound(err) {
		j, jerr := s.client.Job.Get(ctx, jobID)
		if ent.IsNotFound(jerr) {
			return nil, notFound("Job")
		}
		if jerr != nil {
			return nil, jerr
		}
		if j.PostedByID != v.UserID {
			return nil, auth.NotAuthorized()
		}
		return nil, jobsphere.Errorf(jobsphere.Conflict, "Job is %s and has no contract to complete", j.Status)
	}
	if err != nil {
		return nil, err
	}
	if c.CustomerID != v.UserID {
		return nil, auth.NotAuthorized()
	}
	j, err := s.requestRelease(ctx, c, func(j *ent.Job) error {
		if j.Status != job.StatusIN_PROGRESS {
			return jobsphere.Errorf(jobsphere.Conflict, "Job is %s; only an IN_PROGRESS job can be completed", j.Status)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.completeResult(ctx, c, j)
}

// RequestFundRelease is CompleteJob by contract (the Skillhouse name);
// the job need not have been marked IN_PROGRESS.
func (s *Service) RequestFundRelease(ctx context.Context, v auth.Viewer, contractID pulid.ID) (*ent.Contract, error) {
	c, err := s.client.Contract.Get(ctx, contractID)
	if ent.IsNotFound(err) {
		return nil, notFound("Contract")
	}
	if err != nil {
		return nil, err
	}
	if c.CustomerID != v.UserID {
		return nil, auth.NotAuthorized()
	}
	if _, err := s.requestRelease(ctx, c, nil); err != nil {
		return nil, err
	}
	return s.client.Contract.Get(ctx, contractID)
}

// requestRelease asks for a contract's escrow to be released (and
// releases it at once without REQUIRE_RELEASE_APPROVAL), while admit (nil:
// any job under way) lets the job, as locked. It returns the job as it
// locked it.
func (s *Service) requestRelease(ctx context.Context, c *ent.Contract, admit func(*ent.Job) error) (*ent.Job, error) {
	var locked *ent.Job
	err := s.tx(ctx, func(tx *ent.Tx) (err error) {
		if locked, err = s.lockJob(ctx, tx, c.JobID); err != nil {
			return err
		}
		if admit != nil {
			if err := admit(locked); err != nil {
				return err
			}
		}
		if !isUnderWay(locked.Status) {
			return s.settleRefused(ctx, tx, c, "released")
		}
		err = s.moveEscrow(ctx, tx, c.ID, escrow.StatusRELEASE_REQUESTED, func(u *ent.EscrowUpdate) {
			u.Where(escrow.CardRefundStartedAtIsNil()).SetReleaseRequestedAt(s.now())
		})
		if err != nil {
			return err
		}
		if s.cfg.RequireReleaseApproval {
			return s.broker.PublishTx(ctx, tx, realtime.Event{Topic: AdminTopic, Kind: KindReleaseRequested,
				IDs: map[string]string{"contract": string(c.ID), "job": string(c.JobID)}})
		}
		_, err = s.release(ctx, tx, c.ID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("request release of contract %s: %w", c.ID, err)
	}
	return locked.Unwrap(), nil
}

// ApproveFundRelease is an admin's approval of a requested release.
func (s *Service) ApproveFundRelease(ctx context.Context, v auth.Viewer, contractID pulid.ID) (*ent.Escrow, error) {
	if err := requireRole(v, role.Admin); err != nil {
		return nil, err
	}
	var released *ent.Escrow
	err := s.tx(ctx, func(tx *ent.Tx) (err error) {
		if released, err = s.release(ctx, tx, contractID); err != nil {
			return err
		}
		return s.auditAdmin(ctx, tx, v, audit.Entry{Action: audit.ApproveRelease, Target: contractID,
			Before: escrow.StatusRELEASE_REQUESTED.String(), After: escrow.StatusRELEASED.String()})
	})
	if err != nil {
		return nil, fmt.Errorf("approve release of contract %s: %w", contractID, err)
	}
	return released, nil
}

// release pays a RELEASE_REQUESTED escrow out: the service fee to revenue,
// the rest to the contractor; job and contract COMPLETED (settleEscrow).
// It returns the escrow, with its contract, as it wrote them: the answer
// needs no read of them after commit.
func (s *Service) release(ctx context.Context, tx *ent.Tx, contractID pulid.ID) (*ent.Escrow, error) {
	// With the job's lock, so that the moves see what it waited for.
	c, err := tx.Contract.Query().Where(contract.ID(contractID)).
		Modify(func(s *entsql.Selector) { joinLockedJob(s, s.C(contract.FieldJobID)) }).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, notFound("Contract")
	}
	if err != nil {
		return nil, fmt.Errorf("read contract %s: %w", contractID, err)
	}
	esc, err := tx.Escrow.Query().Where(escrow.ContractID(contractID)).Only(ctx)
	if err != nil {
		return nil, fmt.Errorf("read escrow of %s: %w", contractID, err)
	}
	// At the database's precision, so that the answer below is what a
	// read of the rows would give.
	now := s.now().Truncate(time.Microsecond)
	err = s.settleEscrow(ctx, tx, c, escrow.StatusRELEASED, now, false, nil,
		func(u *ent.EscrowUpdate) { u.Where(escrow.CardRefundStartedAtIsNil()) },
		func(job.Status) error { return s.settleRefused(ctx, tx, c, "released") })
	if err != nil {
		return nil, err
	}
	if err := s.postPayout(ctx, tx, c, esc, esc.ServiceFee, esc.FreelancerEarning); err != nil {
		return nil, err
	}
	if err := s.publishJobTx(ctx, tx, c.JobID, c.CustomerID, c.ContractorID); err != nil {
		return nil, err
	}
	// What settleEscrow wrote, and nothing else: a release sets no other
	// field of the escrow or the contract.
	esc, c = esc.Unwrap(), c.Unwrap()
	esc.Status, esc.ReleasedAt, esc.UpdatedAt = escrow.StatusRELEASED, &now, now
	c.Status, c.CompletedAt, c.UpdatedAt = contract.StatusCOMPLETED, &now, now
	esc.Edges.Contract = c
	return esc, nil
}

// postPayout posts the contractor's part of an ending escrow: the service
// fee to revenue and the rest to the contractor.
func (s *Service) postPayout(ctx context.Context, tx *ent.Tx, c *ent.Contract, esc *ent.Escrow, serviceFee, payout int64) error {
	from := ledger.Escrow(c.CustomerID)
	link := escrowEntry(c)
	fee := link
	fee.Key, fee.Type = "escrow:"+string(esc.ID)+":service-fee", ledgertransaction.TypeSERVICE_FEE
	fee.Description = "Service fee " + s.money(serviceFee)
	fee.Moves = []ledger.Move{{From: from, To: ledger.Revenue, Amount: serviceFee}}
	pay := link
	pay.Key, pay.Type = "escrow:"+string(esc.ID)+":payout", ledgertransaction.TypeCONTRACTOR_PAYOUT
	pay.Description = "Payout for completed job " + s.money(payout)
	pay.Moves = []ledger.Move{{From: from, To: ledger.Available(c.ContractorID), Amount: payout}}
	var entries []ledger.Entry
	for _, e := range []ledger.Entry{fee, pay} {
		if e.Moves[0].Amount > 0 {
			entries = append(entries, e)
		}
	}
	if len(entries) == 0 {
		return nil
	}
	posted, err := s.ledger.PostAll(ctx, tx.Client(), entries...)
	if err != nil {
		return err
	}
	for i, e := range entries {
		if err := s.publishWallets(ctx, tx, e.Type, posted[i].Transaction.ID, c.CustomerID, c.ContractorID); err != nil {
			return err
		}
	}
	return nil
}

// postRefund posts the customer's part of an ending escrow: fromEscrow of
// the escrow and feeBack of the platform fee to the wallet, or with toCard
// through it to the card (the Stripe refund already made).
func (s *Service) postRefund(ctx context.Context, tx *ent.Tx, c *ent.Contract, esc *ent.Escrow, fromEscrow, feeBack int64, toCard bool, description string) error {
	wallet := ledger.Available(c.CustomerID)
	var moves []ledger.Move
	if fromEscrow > 0 {
		moves = append(moves, ledger.Move{From: ledger.Escrow(c.CustomerID), To: wallet, Amount: fromEscrow})
	}
	if feeBack > 0 {
		moves = append(moves, ledger.Move{From: ledger.Revenue, To: wallet, Amount: feeBack})
	}
	if len(moves) == 0 {
		return nil
	}
	e := escrowEntry(c)
	if toCard { // through the wallet and out to the card, in one transaction
		moves = append(moves, ledger.Move{From: wallet, To: ledger.External, Amount: fromEscrow + feeBack})
		e.StripePaymentIntentID = deref(esc.StripePaymentIntentID) // the payment refunded, for reconciliation
	}
	e.Key, e.Type, e.Description, e.Moves = "escrow:"+string(esc.ID)+":refund", ledgertransaction.TypeREFUND, description, moves
	posted, err := s.ledger.Post(ctx, tx.Client(), e)
	if err != nil {
		return fmt.Errorf("post refund of escrow %s: %w", esc.ID, err)
	}
	return s.publishWallets(ctx, tx, ledgertransaction.TypeREFUND, posted.Transaction.ID, c.CustomerID)
}

// escrowEntry is a ledger entry linked to a contract's job, contract and
// offer, for its escrow's postings.
func escrowEntry(c *ent.Contract) ledger.Entry {
	return ledger.Entry{JobID: c.JobID, ContractID: c.ID, OfferID: deref(c.OfferID)}
}

// CancelJobResult is what cancelJob returns.
type CancelJobResult struct {
	Job          *ent.Job
	RefundAmount int64
}

// CancelJob cancels a job for its customer or an admin. Before an offer
// is accepted, a pending offer's hold is released; after, the escrow and
// the platform fee go back to the customer in full (a card-paid escrow to
// the card: customers cannot withdraw wallet money).
//
// The job is cancelled from the stage it was seen in: OPEN (no contract),
// or under way with the contract read here (a job's contract never
// changes once made). An accept or a job checkout that assigns the job
// meanwhile wins, and the cancel says so, instead of cancelling a job
// whose new escrow it never saw.
func (s *Service) CancelJob(ctx context.Context, v auth.Viewer, jobID pulid.ID, reason *string) (*CancelJobResult, error) {
	if err := jobsphere.CheckLengths(reasonLimit("reason", reason)); err != nil {
		return nil, err
	}
	j, err := s.client.Job.Query().Where(job.ID(jobID)).WithContract(func(q *ent.ContractQuery) { q.WithEscrow() }).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, notFound("Job")
	}
	if err != nil {
		return nil, fmt.Errorf("read job %s: %w", jobID, err)
	}
	if !mayManageJob(v, j) {
		return nil, auth.NotAuthorized()
	}
	if j.Status == job.StatusCOMPLETED || j.Status == job.StatusCANCELLED {
		return nil, jobsphere.Errorf(jobsphere.Conflict, "Job is %s and cannot be cancelled", j.Status)
	}
	c := j.Edges.Contract
	seen := []job.Status{job.StatusOPEN}
	toCard := false
	if c != nil {
		seen = underWay
		esc := c.Edges.Escrow
		if toCard = esc.FundingSource == escrow.FundingSourceCHECKOUT; toCard && isHeld(esc.Status) {
			if err := s.refundCard(ctx, v, audit.CancelJob, esc, reason, nil); err != nil {
				return nil, err
			}
		}
	}
	var refund int64
	cancelled := audit.Entry{Action: audit.CancelJob, Target: jobID,
		Before: j.Status.String(), After: job.StatusCANCELLED.String(), Reason: deref(trimmed(reason))}
	err = s.tx(ctx, func(tx *ent.Tx) error {
		// Only from the stage seen above: an accept or a checkout that
		// assigned the job meanwhile wins.
		setJob := func(u *ent.JobUpdate) {
			u.Where(job.StatusIn(seen...)).SetNillableCancellationReason(trimmed(reason))
		}
		if c != nil {
			amount, err := s.refundEscrow(ctx, tx, c, reason, nil, toCard, setJob, cancelRefused)
			refund += amount
			if err != nil || toCard {
				return err // to the card, refundEscrow records the action that claimed the refund
			}
			return s.auditAdmin(ctx, tx, v, cancelled)
		}
		err := moveJob(ctx, tx, jobID, job.StatusCANCELLED, func(u *ent.JobUpdate) { setJob(u); u.SetCancelledAt(s.now()) }, cancelRefused)
		if err != nil {
			return err
		}
		pending, err := tx.Offer.Query().Where(offer.JobID(jobID), offer.StatusEQ(offer.StatusPENDING)).All(ctx)
		if err != nil {
			return fmt.Errorf("read pending offers of %s: %w", jobID, err)
		}
		for _, o := range pending {
			refund += o.TotalCharge
			if err := s.releaseOffer(ctx, tx, o, offer.StatusWITHDRAWN, nil); err != nil {
				return err
			}
		}
		if err := s.publishJobTx(ctx, tx, jobID, j.PostedByID, ""); err != nil {
			return err
		}
		return s.auditAdmin(ctx, tx, v, cancelled)
	})
	if err != nil {
		return nil, fmt.Errorf("cancel job %s: %w", jobID, err)
	}
	j, err = s.client.Job.Get(ctx, jobID)
	if err != nil {
		return nil, fmt.Errorf("read cancelled job %s: %w", jobID, err)
	}
	return &CancelJobResult{Job: j, RefundAmount: refund}, nil
}

// reasonLimit is the limit of a cancel or rejection reason.
func reasonLimit(field string, reason *string) jobsphere.TextLimit {
	return jobsphere.TextLimit{Field: field, Label: "Reason", Text: trimmed(reason), Max: jobsphere.MaxReasonLength}
}

// cancelRefused names the status a job reached while it was being
// cancelled.
func cancelRefused(now job.Status) error {
	if now == job.StatusASSIGNED || now == job.StatusIN_PROGRESS {
		return jobsphere.Errorf(jobsphere.Conflict,
			"Job is %s: it was assigned while being cancelled; cancel it again to refund its escrow", now)
	}
	return jobsphere.Errorf(jobsphere.Conflict, "Job is %s and cannot be cancelled", now)
}

// settleRefused explains why a contract's escrow cannot be released or
// refunded (done): the escrow is no longer held, or its job is no longer
// under way.
func (s *Service) settleRefused(ctx context.Context, tx *ent.Tx, c *ent.Contract, done string) error {
	esc, err := tx.Escrow.Query().Where(escrow.ContractID(c.ID)).Only(ctx)
	if err != nil {
		return fmt.Errorf("read escrow of %s: %w", c.ID, err)
	}
	if esc.Status == escrow.StatusRELEASED || esc.Status == escrow.StatusREFUNDED || esc.CardRefundStartedAt != nil {
		return s.escrowConflict(ctx, tx, c.ID)
	}
	j, err := tx.Job.Get(ctx, c.JobID)
	if err != nil {
		return fmt.Errorf("read job %s: %w", c.JobID, err)
	}
	return jobsphere.Errorf(jobsphere.Conflict, "Job is %s; its escrow cannot be %s", j.Status, done)
}

// settleEscrow ends a contract's escrow — RELEASED to the contractor,
// REFUNDED to the customer, or SETTLED between them as a dispute ends
// (disputed: the escrow leaves DISPUTED, and only then) — and with it the
// contract and the job (COMPLETED, or CANCELLED when all went back), in
// the lock order: job, escrow, contract. The job moves only from under
// way, so a cancelled job's escrow is never paid out and a completed job's
// never refunded; explainJob explains a job that was not. setJob and
// setEscrow add the moves' fields and guards. The caller holds the job's
// lock (moveTogether).
func (s *Service) settleEscrow(ctx context.Context, tx *ent.Tx, c *ent.Contract, to escrow.Status, now time.Time, disputed bool,
	setJob func(*ent.JobUpdate), setEscrow func(*ent.EscrowUpdate), explainJob func(job.Status) error) error {
	jobTo, contractTo := job.StatusCOMPLETED, contract.StatusCOMPLETED
	if to == escrow.StatusREFUNDED {
		jobTo, contractTo = job.StatusCANCELLED, contract.StatusCANCELLED
	}
	// One statement on PostgreSQL (moveTogether).
	return moveTogether(ctx, tx, func(ctx context.Context) error {
		err := moveJob(ctx, tx, c.JobID, jobTo, func(u *ent.JobUpdate) {
			u.Where(job.StatusIn(underWay...)).SetUpdatedAt(now)
			if jobTo == job.StatusCOMPLETED {
				u.SetCompletedAt(now)
			} else {
				u.SetCancelledAt(now)
			}
			if setJob != nil {
				setJob(u)
			}
		}, explainJob)
		if err != nil {
			return err
		}
		err = s.moveEscrowFrom(ctx, tx, c.ID, to, disputed, func(u *ent.EscrowUpdate) {
			u.SetUpdatedAt(now)
			if to != escrow.StatusREFUNDED {
				u.SetReleasedAt(now)
			}
			if to != escrow.StatusRELEASED {
				u.SetRefundedAt(now)
			}
			if setEscrow != nil {
				setEscrow(u)
			}
		})
		if err != nil {
			return err
		}
		return moveContract(ctx, tx, c.ID, contractTo, func(u *ent.ContractUpdate) {
			u.SetUpdatedAt(now)
			if contractTo == contract.StatusCOMPLETED {
				u.SetCompletedAt(now)
			}
		})
	})
}

// refundEscrow gives an escrow's amount and platform fee back to the
// customer — to the wallet, or with toCard through it to the card (after
// refundCard, and then with the audit entry of the admin action that
// claimed it, if an admin's) — and cancels the contract and the job
// (settleEscrow; setJob and explainJob as there). Once released, nothing
// comes back.
func (s *Service) refundEscrow(ctx context.Context, tx *ent.Tx, c *ent.Contract, reason, description *string, toCard bool,
	setJob func(*ent.JobUpdate), explainJob func(job.Status) error) (int64, error) {
	// The job's lock first, as settleEscrow needs.
	if _, err := s.lockJob(ctx, tx, c.JobID); err != nil {
		return 0, err
	}
	esc, err := tx.Escrow.Query().Where(escrow.ContractID(c.ID)).Only(ctx)
	if err != nil {
		return 0, fmt.Errorf("read escrow of %s: %w", c.ID, err)
	}
	if toCard && esc.CardRefundStartedAt == nil {
		if !isHeld(esc.Status) { // disputed or ended since it was read: say so
			return 0, s.escrowConflict(ctx, tx, c.ID)
		}
		return 0, fmt.Errorf("market: refund of %s to the card before refundCard", esc.ID)
	}
	var claimed *audit.Entry
	if toCard {
		if claimed, err = claimedAdminAction(ctx, tx, c, esc); err != nil {
			return 0, err
		}
	}
	err = s.settleEscrow(ctx, tx, c, escrow.StatusREFUNDED, s.now(), false, setJob, func(u *ent.EscrowUpdate) {
		u.SetNillableCancelReason(trimmed(reason)).SetNillableCancelReasonDescription(trimmed(description))
		// To the wallet never once a refund to the card has asked Stripe.
		if toCard {
			u.Where(escrow.CardRefundStartedAtNotNil())
		} else {
			u.Where(escrow.CardRefundStartedAtIsNil())
		}
	}, explainJob)
	if err != nil {
		return 0, err
	}
	if err := s.postRefund(ctx, tx, c, esc, esc.Amount, esc.PlatformFee, toCard,
		"Refund of "+s.money(esc.Amount+esc.PlatformFee)+" for a cancelled job"); err != nil {
		return 0, err
	}
	if claimed != nil {
		if err := audit.Record(claimedRequest(ctx, esc), tx.Client(), *claimed); err != nil {
			return 0, err
		}
	}
	return esc.Amount + esc.PlatformFee, s.publishJobTx(ctx, tx, c.JobID, c.CustomerID, c.ContractorID)
}

// refundCard gives a card-funded escrow's money back to the card, before
// the transaction that records it (refundEscrow). First it commits a claim
// on the escrow (card_refund_started_at, with who asked: v doing action,
// for the audit log, and the request): from then on no release can take
// it, so a process that dies after Stripe refunded cannot leave money both
// refunded and paid out. Then it asks Stripe, with a key of the escrow's:
// a retry (by the client, or SweepCardRefunds) refunds once. A refusal
// that surely moved nothing lifts the claim.
func (s *Service) refundCard(ctx context.Context, v auth.Viewer, action string, esc *ent.Escrow, reason, description *string) error {
	if esc.StripePaymentIntentID == nil {
		return jobsphere.Errorf(jobsphere.Conflict, "This payment cannot be refunded to the card; refund it to the wallet")
	}
	live := escrow.StatusIn(escrow.StatusFUNDED, escrow.StatusRELEASE_REQUESTED)
	err := s.tx(ctx, func(tx *ent.Tx) error {
		claim := tx.Escrow.Update().Where(escrow.ID(esc.ID), live, escrow.CardRefundStartedAtIsNil()).
			SetCardRefundStartedAt(s.now()).SetCardRefundAmount(esc.Amount + esc.PlatformFee).
			SetNillableCancelReason(trimmed(reason)).SetNillableCancelReasonDescription(trimmed(description)).
			SetNillableCardRefundRequestID(nillable(audit.RequestID(ctx)))
		if admin := actingAdmin(v); admin != nil {
			claim.SetCardRefundAdminID(*admin).SetCardRefundAdminAction(action)
		}
		n, err := claim.Save(ctx)
		if err != nil || n == 1 {
			return err
		}
		if started, err := tx.Escrow.Query().Where(escrow.ID(esc.ID), live, escrow.CardRefundStartedAtNotNil()).Exist(ctx); started || err != nil {
			return err // a retry: the claim is ours to finish
		}
		return s.escrowConflict(ctx, tx, esc.ContractID)
	})
	if err != nil {
		return err
	}
	refused, err := s.refunder.RefundCard(ctx, "escrow:"+string(esc.ID)+":refund", *esc.StripePaymentIntentID, esc.Amount+esc.PlatformFee)
	if err != nil && refused {
		lerr := s.client.Escrow.Update().Where(escrow.ID(esc.ID), live).ClearCardRefundStartedAt().ClearCardRefundAmount().
			ClearCancelReason().ClearCancelReasonDescription().
			ClearCardRefundAdminID().ClearCardRefundAdminAction().ClearCardRefundRequestID().Exec(ctx)
		if lerr != nil {
			return errors.Join(err, lerr)
		}
	}
	return err
}

// claimedAdminAction is the audit entry of the admin action that claimed
// esc's refund to the card (refundCard), or nil when no admin's did. Read
// before the job moves: for a cancel, its status now is its status before.
func claimedAdminAction(ctx context.Context, tx *ent.Tx, c *ent.Contract, esc *ent.Escrow) (*audit.Entry, error) {
	if esc.CardRefundAdminID == nil {
		return nil, nil
	}
	e := audit.Entry{Actor: *esc.CardRefundAdminID, Action: deref(esc.CardRefundAdminAction), Reason: deref(esc.CancelReason),
		Target: c.ID, Before: esc.Status.String(), After: escrow.StatusREFUNDED.String()}
	if e.Action == audit.CancelJob {
		j, err := tx.Job.Get(ctx, c.JobID)
		if err != nil {
			return nil, fmt.Errorf("read job %s: %w", c.JobID, err)
		}
		e.Target, e.Before, e.After = c.JobID, j.Status.String(), job.StatusCANCELLED.String()
	}
	return &e, nil
}

// claimedRequest is ctx carrying the id of the request that claimed esc's
// refund to the card, for the audit entry of whichever transaction
// finishes it: that request's, a retry's or the sweep's.
func claimedRequest(ctx context.Context, esc *ent.Escrow) context.Context {
	if esc.CardRefundRequestID == nil {
		return ctx
	}
	return audit.WithRequestID(ctx, *esc.CardRefundRequestID)
}

var errCardRefundInProgress = jobsphere.Errorf(jobsphere.Conflict, "A refund to the card is in progress for this escrow")

// SweepCardRefunds finishes refunds to the card whose process stopped
// between asking Stripe and recording the refund, once they are older than
// grace. It returns how many it finished.
func (s *Service) SweepCardRefunds(ctx context.Context, grace time.Duration) (int, error) {
	done, err := s.finishClaimedSettlements(ctx, grace)
	if err != nil {
		return done, err
	}
	stuck, err := s.client.Escrow.Query().Where(
		escrow.StatusIn(escrow.StatusFUNDED, escrow.StatusRELEASE_REQUESTED),
		escrow.CardRefundStartedAtLT(s.now().Add(-grace))).All(ctx)
	if err != nil {
		return done, err
	}
	to := escrow.FundingSourceCHECKOUT
	for _, esc := range stuck {
		_, err := s.RefundEscrow(ctx, auth.Viewer{Role: role.Admin}, RefundEscrowInput{ContractID: esc.ContractID, RefundTo: &to,
			CancelReason: esc.CancelReason, CancelReasonDescription: esc.CancelReasonDescription})
		if jobsphere.ErrorCode(err) == jobsphere.Conflict {
			continue // another replica finished it first
		}
		if err != nil {
			return done, fmt.Errorf("market: finish the card refund of %s: %w", esc.ID, err)
		}
		done++
	}
	return done, nil
}

func (s *Service) escrowConflict(ctx context.Context, tx *ent.Tx, contractID pulid.ID) error {
	esc, err := tx.Escrow.Query().Where(escrow.ContractID(contractID)).Only(ctx)
	if err != nil {
		return err
	}
	if esc.CardRefundStartedAt != nil && (esc.Status == escrow.StatusFUNDED || esc.Status == escrow.StatusRELEASE_REQUESTED) {
		return errCardRefundInProgress
	}
	return conflict("Escrow", esc.Status)
}

// completeResult is completeJob's answer after commit: the escrow, read,
// with j, the job as the release request locked it (the request does not
// change it), unless the release went through at once, which completed
// the job and the contract: then both are read again.
func (s *Service) completeResult(ctx context.Context, c *ent.Contract, j *ent.Job) (*CompleteJobResult, error) {
	esc, err := s.client.Escrow.Query().Where(escrow.ContractID(c.ID)).Only(ctx)
	if err != nil {
		return nil, fmt.Errorf("read escrow of %s: %w", c.ID, err)
	}
	if esc.Status != escrow.StatusRELEASE_REQUESTED {
		if c, err = s.client.Contract.Get(ctx, c.ID); err != nil {
			return nil, fmt.Errorf("read contract %s: %w", c.ID, err)
		}
		if j, err = s.client.Job.Get(ctx, c.JobID); err != nil {
			return nil, fmt.Errorf("read job %s: %w", c.JobID, err)
		}
	}
	c.Edges.Job, c.Edges.Escrow = j, esc
	return &CompleteJobResult{
		Job: j, Contract: c, Escrow: esc, AwaitingApproval: esc.Status == escrow.StatusRELEASE_REQUESTED,
		Payment: ledger.Split{
			Amount: esc.Amount, PlatformFee: esc.PlatformFee, ServiceFee: esc.ServiceFee,
			ContractorPayout: esc.FreelancerEarning, TotalCharge: esc.Amount + esc.PlatformFee,
			AdminTotal: esc.PlatformFee + esc.ServiceFee,
		},
	}, nil
}

// underWay are the statuses of a job under contract, before it ends.
var underWay = []job.Status{job.StatusASSIGNED, job.StatusIN_PROGRESS}

func isUnderWay(st job.Status) bool { return slices.Contains(underWay, st) }

// isHeld reports whether an escrow in status st is held and may still be
// released or refunded (a DISPUTED one only as its dispute ends).
func isHeld(st escrow.Status) bool {
	return st == escrow.StatusFUNDED || st == escrow.StatusRELEASE_REQUESTED
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
