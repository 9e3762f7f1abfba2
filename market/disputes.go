package market

import (
	"context"
	"errors"
	"fmt"
	"time"

	"entgo.io/contrib/entgql"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/audit"
	"github.com/jobsphere/jobsphere/auth"
	"github.com/jobsphere/jobsphere/auth/role"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/contract"
	"github.com/jobsphere/jobsphere/ent/dispute"
	"github.com/jobsphere/jobsphere/ent/escrow"
	"github.com/jobsphere/jobsphere/ent/job"
	"github.com/jobsphere/jobsphere/ent/predicate"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/ledger"
	"github.com/jobsphere/jobsphere/realtime"
)

// Disputes between a contract's customer and contractor. Opening one
// moves the escrow to DISPUTED, where no release, refund, cancel or
// auto-release can touch it; it ends SETTLED with a split of the escrow
// (by the parties' agreement, an admin, or by default when the other party
// never answers) or WITHDRAWN by its opener, the escrow back where it was.
//
// Every end takes the job's lock first (the lock order: job, escrow,
// contract, dispute, ledger) and re-reads the dispute under it, so of
// racing ends exactly one happens. Messages and proposals lock only the
// dispute row, with a conditional update on it being OPEN and undecided.
//
// A split of a card-funded escrow gives the customer's part back to the
// card: the outcome is first claimed and committed (the dispute's
// settledBy and contractorAmount, the escrow's card refund), then Stripe
// is asked, then the settlement recorded — as refundCard does, so a crash
// between leaves a claim that a retry or SweepCardRefunds finishes, never
// a second refund or a different outcome.

// MaxDisputeAttachments is how many uploads one dispute message may attach.
const MaxDisputeAttachments = 20

// OpenDisputeInput is a party's complaint about a contract.
type OpenDisputeInput struct {
	ContractID  pulid.ID
	Reason      dispute.Reason
	Description string
}

// DisputeMessageInput is an entry of a dispute's evidence trail.
type DisputeMessageInput struct {
	DisputeID pulid.ID
	Body      string
	MediaIDs  []pulid.ID
}

var (
	errAlreadyDisputed       = jobsphere.Errorf(jobsphere.Conflict, "This contract already has an open dispute")
	errSettlementInProgress  = jobsphere.Errorf(jobsphere.Conflict, "A settlement of this dispute is in progress")
	errNoProposal            = jobsphere.Errorf(jobsphere.Conflict, "There is no settlement proposal to accept")
	errOwnProposal           = jobsphere.Errorf(jobsphere.Conflict, "You cannot accept your own proposal")
	errProposalReplaced      = jobsphere.Errorf(jobsphere.Conflict, "A newer proposal replaced this one")
	errAnswered              = jobsphere.Errorf(jobsphere.Conflict, "The other party has answered: only a settlement or an admin ends this dispute")
	errOnlyOpenerMayWithdraw = jobsphere.Errorf(jobsphere.Forbidden, "Only the party who opened a dispute may withdraw it")
)

// OpenDispute is a party's dispute of a contract whose escrow is held
// (FUNDED or RELEASE_REQUESTED): the escrow becomes DISPUTED. The other
// party has DISPUTE_RESPONSE_DAYS to answer.
func (s *Service) OpenDispute(ctx context.Context, v auth.Viewer, in OpenDisputeInput) (*ent.Dispute, error) {
	desc := trimmed(&in.Description)
	if err := jobsphere.CheckRequired(jobsphere.TextLimit{Field: "description", Label: "Description", Text: desc, Max: jobsphere.MaxProseLength}); err != nil {
		return nil, err
	}
	c, err := s.client.Contract.Get(ctx, in.ContractID)
	if ent.IsNotFound(err) {
		return nil, notFound("Contract")
	}
	if err != nil {
		return nil, fmt.Errorf("read contract %s: %w", in.ContractID, err)
	}
	if !isPartyOfContract(v, c) {
		return nil, auth.NotAuthorized()
	}
	var opened *ent.Dispute
	err = s.tx(ctx, func(tx *ent.Tx) error {
		locked, err := s.lockJob(ctx, tx, c.JobID)
		if err != nil {
			return err
		}
		if !isUnderWay(locked.Status) {
			return s.settleRefused(ctx, tx, c, "disputed")
		}
		esc, err := tx.Escrow.Query().Where(escrow.ContractID(c.ID)).Only(ctx)
		if err != nil {
			return fmt.Errorf("read escrow of %s: %w", c.ID, err)
		}
		if esc.Status == escrow.StatusDISPUTED {
			return errAlreadyDisputed
		}
		err = s.moveEscrow(ctx, tx, c.ID, escrow.StatusDISPUTED, func(u *ent.EscrowUpdate) {
			u.Where(escrow.StatusEQ(esc.Status), escrow.CardRefundStartedAtIsNil())
		})
		if err != nil {
			return err
		}
		opened, err = tx.Dispute.Create().SetContractID(c.ID).SetOpenedByID(v.UserID).SetOpenContractID(c.ID).
			SetReason(in.Reason).SetDescription(*desc).
			SetEscrowStatusBefore(dispute.EscrowStatusBefore(esc.Status)).
			SetRespondBy(s.now().AddDate(0, 0, s.cfg.DisputeResponseDays)).Save(ctx)
		if ent.IsConstraintError(err) {
			return errAlreadyDisputed
		}
		if err != nil {
			return fmt.Errorf("create dispute: %w", err)
		}
		return s.publishDispute(ctx, tx, opened.ID, c)
	})
	if err != nil {
		return nil, fmt.Errorf("open dispute of contract %s: %w", c.ID, err)
	}
	return s.client.Dispute.Get(ctx, opened.ID)
}

// AddDisputeMessage adds to an open dispute's evidence trail, for its
// parties and admins; attachments are the author's own uploads. A first
// message of the other party is their answer: no default outcome then.
func (s *Service) AddDisputeMessage(ctx context.Context, v auth.Viewer, in DisputeMessageInput) (*ent.DisputeMessage, error) {
	body := trimmed(&in.Body)
	if err := jobsphere.CheckRequired(jobsphere.TextLimit{Field: "body", Label: "Message", Text: body, Max: jobsphere.MaxProseLength}); err != nil {
		return nil, err
	}
	ids, err := s.ownUploads(ctx, v, in.MediaIDs, MaxDisputeAttachments)
	if err != nil {
		return nil, err
	}
	d, c, err := s.disputeOf(ctx, v, in.DisputeID, auth.Viewer.Is)
	if err != nil {
		return nil, err
	}
	var m *ent.DisputeMessage
	err = s.post(ctx, v, d, c, nil, func(tx *ent.Tx) (err error) {
		m, err = tx.DisputeMessage.Create().SetDisputeID(d.ID).SetAuthorID(v.UserID).SetBody(*body).SetMediaIds(ids).Save(ctx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("add message to dispute %s: %w", d.ID, err)
	}
	return m, nil
}

// ProposeSettlement is a party's proposal to end a dispute with
// contractorAmount of the escrow to the contractor; it replaces the
// party's and the other party's earlier proposals.
func (s *Service) ProposeSettlement(ctx context.Context, v auth.Viewer, disputeID pulid.ID, contractorAmount int64) (*ent.Dispute, error) {
	d, c, err := s.disputeOf(ctx, v, disputeID, isParty)
	if err != nil {
		return nil, err
	}
	if err := s.checkShare(ctx, c, contractorAmount); err != nil {
		return nil, err
	}
	id := pulid.New("stp")
	err = s.post(ctx, v, d, c, &id, func(tx *ent.Tx) error {
		return tx.SettlementProposal.Create().SetID(id).SetDisputeID(d.ID).SetProposedByID(v.UserID).
			SetContractorAmount(contractorAmount).Exec(ctx)
	})
	if err != nil {
		return nil, fmt.Errorf("propose settlement of dispute %s: %w", d.ID, err)
	}
	return s.client.Dispute.Get(ctx, d.ID)
}

// AcceptSettlement settles a dispute with the other party's latest
// proposal. proposalID, when given, must still be the latest: a party
// never accepts a proposal it has not seen.
func (s *Service) AcceptSettlement(ctx context.Context, v auth.Viewer, disputeID pulid.ID, proposalID *pulid.ID) (*ent.Dispute, error) {
	d, _, err := s.disputeOf(ctx, v, disputeID, isParty)
	if err != nil {
		return nil, err
	}
	if d.LatestProposalID == nil {
		return nil, errNoProposal
	}
	if proposalID != nil && *proposalID != *d.LatestProposalID {
		return nil, errProposalReplaced
	}
	p, err := s.client.SettlementProposal.Get(ctx, *d.LatestProposalID)
	if err != nil {
		return nil, fmt.Errorf("read proposal %s: %w", *d.LatestProposalID, err)
	}
	if p.ProposedByID == v.UserID {
		return nil, errOwnProposal
	}
	err = s.settle(ctx, d.ID, outcome{by: dispute.SettledByAGREEMENT, share: p.ContractorAmount,
		guard: dispute.LatestProposalID(p.ID), refused: errProposalReplaced})
	if err != nil {
		return nil, fmt.Errorf("accept settlement of dispute %s: %w", d.ID, err)
	}
	return s.client.Dispute.Get(ctx, d.ID)
}

// ResolveDispute is an admin's settlement, at any time: contractorAmount
// of the escrow to the contractor, the rest back to the customer.
func (s *Service) ResolveDispute(ctx context.Context, v auth.Viewer, disputeID pulid.ID, contractorAmount int64, note string) (*ent.Dispute, error) {
	if err := requireRole(v, role.Admin); err != nil {
		return nil, err
	}
	n := trimmed(&note)
	if err := jobsphere.CheckRequired(jobsphere.TextLimit{Field: "note", Label: "Note", Text: n, Max: jobsphere.MaxReasonLength}); err != nil {
		return nil, err
	}
	d, c, err := s.disputeOf(ctx, v, disputeID, auth.Viewer.Is)
	if err != nil {
		return nil, err
	}
	if err := s.checkShare(ctx, c, contractorAmount); err != nil {
		return nil, err
	}
	err = s.settle(ctx, d.ID, outcome{by: dispute.SettledByADMIN, share: contractorAmount, note: n, resolver: v.UserID})
	if err != nil {
		return nil, fmt.Errorf("resolve dispute %s: %w", d.ID, err)
	}
	return s.client.Dispute.Get(ctx, d.ID)
}

// WithdrawDispute is the opener's withdrawal of an open dispute: the
// escrow returns to the status it had when the dispute was opened.
func (s *Service) WithdrawDispute(ctx context.Context, v auth.Viewer, disputeID pulid.ID) (*ent.Dispute, error) {
	d, c, err := s.disputeOf(ctx, v, disputeID, isParty)
	if err != nil {
		return nil, err
	}
	if d.OpenedByID != v.UserID {
		return nil, errOnlyOpenerMayWithdraw
	}
	err = s.tx(ctx, func(tx *ent.Tx) error {
		if _, err := s.lockJob(ctx, tx, c.JobID); err != nil {
			return err
		}
		if err := undecided(ctx, tx, d.ID); err != nil {
			return err
		}
		err := s.moveDisputedEscrow(ctx, tx, c.ID, escrow.Status(d.EscrowStatusBefore), func(u *ent.EscrowUpdate) {
			u.Where(escrow.CardRefundStartedAtIsNil())
		})
		if err != nil {
			return err
		}
		err = moveDispute(ctx, tx, d.ID, dispute.StatusWITHDRAWN, func(u *ent.DisputeUpdate) {
			u.Where(dispute.SettledByIsNil()).SetWithdrawnAt(s.now()).ClearOpenContractID()
		}, explainUndecided)
		if err != nil {
			return err
		}
		return s.publishDispute(ctx, tx, d.ID, c)
	})
	if err != nil {
		return nil, fmt.Errorf("withdraw dispute %s: %w", d.ID, err)
	}
	return s.client.Dispute.Get(ctx, d.ID)
}

// SettleUnanswered settles, for their openers, the open disputes whose
// other party posted nothing by respondBy: the contractor's in full to
// the contractor, the customer's in full back to the customer. Safe with
// many sweepers: each settlement is guarded by the dispute still being
// unanswered. It returns how many it settled.
func (s *Service) SettleUnanswered(ctx context.Context) (int, error) {
	now := s.now()
	unanswered := []predicate.Dispute{dispute.StatusEQ(dispute.StatusOPEN), dispute.SettledByIsNil(),
		dispute.RespondedAtIsNil(), dispute.RespondByLTE(now)}
	due, err := s.client.Dispute.Query().Where(unanswered...).
		WithContract(func(q *ent.ContractQuery) { q.WithEscrow() }).All(ctx)
	if err != nil {
		return 0, fmt.Errorf("read unanswered disputes: %w", err)
	}
	settled := 0
	for _, d := range due {
		c := d.Edges.Contract
		share := int64(0)
		if d.OpenedByID == c.ContractorID {
			share = c.Edges.Escrow.Amount
		}
		err := s.settle(ctx, d.ID, outcome{by: dispute.SettledByDEFAULT, share: share,
			guard: dispute.And(unanswered...), refused: errAnswered})
		switch {
		case err == nil:
			settled++
		case jobsphere.ErrorCode(err) == jobsphere.Conflict:
			// answered, settled or withdrawn meanwhile, or by another replica
		default:
			return settled, fmt.Errorf("settle unanswered dispute %s: %w", d.ID, err)
		}
	}
	return settled, nil
}

// finishClaimedSettlements finishes the settlements whose refund to the
// card was claimed longer than grace ago but never recorded (the process
// stopped between Stripe and the database).
func (s *Service) finishClaimedSettlements(ctx context.Context, grace time.Duration) (int, error) {
	claimed, err := s.client.Dispute.Query().Where(dispute.StatusEQ(dispute.StatusOPEN), dispute.SettledByNotNil(),
		dispute.HasContractWith(contract.HasEscrowWith(escrow.CardRefundStartedAtLT(s.now().Add(-grace))))).All(ctx)
	if err != nil {
		return 0, fmt.Errorf("read claimed settlements: %w", err)
	}
	done := 0
	for _, d := range claimed {
		err := s.settle(ctx, d.ID, outcome{by: *d.SettledBy, share: deref(d.ContractorAmount), note: d.ResolutionNote, resolver: deref(d.ResolvedByID)})
		if jobsphere.ErrorCode(err) == jobsphere.Conflict {
			continue // another replica finished it first
		}
		if err != nil {
			return done, fmt.Errorf("finish the settlement of dispute %s: %w", d.ID, err)
		}
		done++
	}
	return done, nil
}

// outcome is how a dispute is to end: share of the escrow to the
// contractor, decided by whom. guard is the outcome's own condition on the
// dispute (the accepted proposal still the latest; nobody answered), and
// refused what it means when it no longer holds.
type outcome struct {
	by       dispute.SettledBy
	share    int64
	note     *string
	resolver pulid.ID
	guard    predicate.Dispute
	refused  error
}

// settle ends a dispute with an outcome: for a card-funded escrow whose
// customer gets something back, claim, refund to the card, record;
// otherwise record at once.
func (s *Service) settle(ctx context.Context, disputeID pulid.ID, out outcome) error {
	d, err := s.client.Dispute.Query().Where(dispute.ID(disputeID)).
		WithContract(func(q *ent.ContractQuery) { q.WithEscrow() }).Only(ctx)
	if err != nil {
		return fmt.Errorf("read dispute %s: %w", disputeID, err)
	}
	c := d.Edges.Contract
	esc := c.Edges.Escrow
	split, err := s.splitOf(ctx, c, esc, out.share)
	if err != nil {
		return err
	}
	back := split.CustomerRefund + split.PlatformFeeRefund
	toCard := esc.FundingSource == escrow.FundingSourceCHECKOUT && esc.StripePaymentIntentID != nil && back > 0
	if toCard {
		if err := s.claimSettlement(ctx, d, c, out, back); err != nil {
			return err
		}
		refused, err := s.refunder.RefundCard(ctx, "dispute:"+string(d.ID)+":refund", *esc.StripePaymentIntentID, back)
		if err != nil {
			if refused {
				return errors.Join(err, s.liftClaim(ctx, d, c))
			}
			return err
		}
	}
	return s.tx(ctx, func(tx *ent.Tx) error {
		if _, err := s.lockJob(ctx, tx, c.JobID); err != nil {
			return err
		}
		return s.recordSettlement(ctx, tx, d, c, esc, split, out, toCard)
	})
}

// claimSettlement commits the outcome and the escrow's card refund before
// Stripe is asked; a retry of the same outcome finds its claim and goes on.
func (s *Service) claimSettlement(ctx context.Context, d *ent.Dispute, c *ent.Contract, out outcome, back int64) error {
	return s.tx(ctx, func(tx *ent.Tx) error {
		if _, err := s.lockJob(ctx, tx, c.JobID); err != nil {
			return err
		}
		fresh, err := tx.Dispute.Get(ctx, d.ID)
		if err != nil {
			return fmt.Errorf("read dispute %s: %w", d.ID, err)
		}
		if fresh.Status != dispute.StatusOPEN {
			return conflict("Dispute", fresh.Status)
		}
		if fresh.SettledBy != nil {
			if claimedAs(fresh, out) {
				return nil // a retry: the claim is ours to finish
			}
			return errSettlementInProgress
		}
		n, err := tx.Dispute.Update().Where(dispute.ID(d.ID), dispute.StatusEQ(dispute.StatusOPEN), dispute.SettledByIsNil()).
			Where(guards(out)...).
			SetSettledBy(out.by).SetContractorAmount(out.share).SetCustomerRefund(back).
			SetNillableResolutionNote(out.note).SetNillableResolvedByID(nillable(out.resolver)).Save(ctx)
		if err != nil {
			return fmt.Errorf("claim settlement of dispute %s: %w", d.ID, err)
		}
		if n == 0 {
			return out.refused
		}
		n, err = tx.Escrow.Update().Where(escrow.ContractID(c.ID), escrow.StatusEQ(escrow.StatusDISPUTED), escrow.CardRefundStartedAtIsNil()).
			SetCardRefundStartedAt(s.now()).SetCardRefundAmount(back).SetNillableCardRefundRequestID(nillable(audit.RequestID(ctx))).Save(ctx)
		if err != nil {
			return fmt.Errorf("claim the card refund of contract %s: %w", c.ID, err)
		}
		if n == 0 {
			return s.escrowConflict(ctx, tx, c.ID)
		}
		return nil
	})
}

// liftClaim undoes a claim whose refund Stripe surely refused.
func (s *Service) liftClaim(ctx context.Context, d *ent.Dispute, c *ent.Contract) error {
	return s.tx(ctx, func(tx *ent.Tx) error {
		err := tx.Escrow.Update().Where(escrow.ContractID(c.ID), escrow.StatusEQ(escrow.StatusDISPUTED)).
			ClearCardRefundStartedAt().ClearCardRefundAmount().ClearCardRefundRequestID().Exec(ctx)
		if err != nil {
			return fmt.Errorf("lift the card refund claim of contract %s: %w", c.ID, err)
		}
		return tx.Dispute.Update().Where(dispute.ID(d.ID), dispute.StatusEQ(dispute.StatusOPEN)).
			ClearSettledBy().ClearContractorAmount().ClearCustomerRefund().ClearResolutionNote().ClearResolvedByID().Exec(ctx)
	})
}

// recordSettlement ends the dispute and its escrow with split, under the
// job's lock: all to the contractor RELEASED (job COMPLETED), nothing
// REFUNDED (job CANCELLED), anything between SETTLED (job COMPLETED).
func (s *Service) recordSettlement(ctx context.Context, tx *ent.Tx, d *ent.Dispute, c *ent.Contract, esc *ent.Escrow,
	split ledger.Settlement, out outcome, toCard bool) error {
	fresh, err := tx.Dispute.Get(ctx, d.ID)
	if err != nil {
		return fmt.Errorf("read dispute %s: %w", d.ID, err)
	}
	switch {
	case fresh.Status != dispute.StatusOPEN:
		return conflict("Dispute", fresh.Status)
	case toCard != (fresh.SettledBy != nil), toCard && !claimedAs(fresh, out):
		return errSettlementInProgress
	}
	to := escrow.StatusSETTLED
	switch split.Share {
	case esc.Amount:
		to = escrow.StatusRELEASED
	case 0:
		to = escrow.StatusREFUNDED
	}
	err = s.settleEscrow(ctx, tx, c, to, s.now(), true, nil, func(u *ent.EscrowUpdate) {
		if toCard {
			u.Where(escrow.CardRefundStartedAtNotNil())
		} else {
			u.Where(escrow.CardRefundStartedAtIsNil())
		}
	}, func(now job.Status) error {
		return jobsphere.Errorf(jobsphere.Conflict, "Job is %s; its escrow cannot be settled", now)
	})
	if err != nil {
		return err
	}
	back := split.CustomerRefund + split.PlatformFeeRefund
	err = moveDispute(ctx, tx, d.ID, dispute.StatusSETTLED, func(u *ent.DisputeUpdate) {
		if !toCard {
			u.Where(dispute.SettledByIsNil()).Where(guards(out)...)
		}
		u.SetSettledBy(out.by).SetContractorAmount(split.Share).SetCustomerRefund(back).SetSettledAt(s.now()).
			SetNillableResolutionNote(out.note).SetNillableResolvedByID(nillable(out.resolver)).ClearOpenContractID()
	}, func(*ent.Dispute) error {
		if out.refused != nil {
			return out.refused
		}
		return errSettlementInProgress
	})
	if err != nil {
		return err
	}
	if err := s.postPayout(ctx, tx, c, esc, split.ServiceFee, split.ContractorPayout); err != nil {
		return err
	}
	err = s.postRefund(ctx, tx, c, esc, split.CustomerRefund, split.PlatformFeeRefund, toCard,
		"Refund of "+s.money(back)+" as a dispute was settled")
	if err != nil {
		return err
	}
	if err := s.publishJobTx(ctx, tx, c.JobID, c.CustomerID, c.ContractorID); err != nil {
		return err
	}
	if out.by == dispute.SettledByADMIN {
		// Here, where the settlement is recorded, also when a refund to the
		// card was claimed in an earlier transaction: then with the id of
		// the request that claimed it (esc read before this call's own
		// claim has none, and ctx is that request).
		err := audit.Record(claimedRequest(ctx, esc), tx.Client(), audit.Entry{Actor: out.resolver, Action: audit.ResolveDispute, Target: d.ID,
			Before: dispute.StatusOPEN.String(), Reason: deref(out.note),
			After: fmt.Sprintf("%s contractorAmount=%s customerRefund=%s", dispute.StatusSETTLED,
				s.cfg.Currency.Format(split.Share), s.cfg.Currency.Format(back))})
		if err != nil {
			return err
		}
	}
	return s.publishDispute(ctx, tx, d.ID, c)
}

// post writes a post of viewer v on an open, undecided dispute (speak)
// and tells its parties and admins, in one transaction.
func (s *Service) post(ctx context.Context, v auth.Viewer, d *ent.Dispute, c *ent.Contract, proposal *pulid.ID, write func(*ent.Tx) error) error {
	return s.tx(ctx, func(tx *ent.Tx) error {
		if err := s.speak(ctx, tx, v, d, c, proposal); err != nil {
			return err
		}
		if err := write(tx); err != nil {
			return err
		}
		return s.publishDispute(ctx, tx, d.ID, c)
	})
}

// speak records that viewer v posted on an open, undecided dispute — a
// message, or with proposal a proposal that becomes the latest — under the
// dispute's row lock. The other party's first post is their answer.
func (s *Service) speak(ctx context.Context, tx *ent.Tx, v auth.Viewer, d *ent.Dispute, c *ent.Contract, proposal *pulid.ID) error {
	u := tx.Dispute.Update().Where(dispute.ID(d.ID), dispute.StatusEQ(dispute.StatusOPEN), dispute.SettledByIsNil()).
		SetUpdatedAt(s.now())
	if isPartyOfContract(v, c) && v.UserID != d.OpenedByID && d.RespondedAt == nil {
		u.SetRespondedAt(s.now())
	}
	if proposal != nil {
		u.SetLatestProposalID(*proposal)
	}
	n, err := u.Save(ctx)
	if err != nil {
		return fmt.Errorf("update dispute %s: %w", d.ID, err)
	}
	if n == 0 {
		return undecided(ctx, tx, d.ID)
	}
	return nil
}

// undecided refuses when a dispute is no longer OPEN, or its settlement
// was decided and is being made.
func undecided(ctx context.Context, tx *ent.Tx, id pulid.ID) error {
	d, err := tx.Dispute.Get(ctx, id)
	if err != nil {
		return fmt.Errorf("read dispute %s: %w", id, err)
	}
	if d.Status != dispute.StatusOPEN {
		return conflict("Dispute", d.Status)
	}
	return explainUndecided(d)
}

func explainUndecided(d *ent.Dispute) error {
	if d.SettledBy != nil {
		return errSettlementInProgress
	}
	return nil
}

// disputeOf reads a dispute and its contract for a viewer that may act on
// it (may: the parties, or the parties and admins).
func (s *Service) disputeOf(ctx context.Context, v auth.Viewer, id pulid.ID, may func(auth.Viewer, ...pulid.ID) bool) (*ent.Dispute, *ent.Contract, error) {
	d, err := s.client.Dispute.Query().Where(dispute.ID(id)).WithContract().Only(ctx)
	if ent.IsNotFound(err) {
		return nil, nil, notFound("Dispute")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read dispute %s: %w", id, err)
	}
	c := d.Edges.Contract
	if !may(v, c.CustomerID, c.ContractorID) {
		return nil, nil, auth.NotAuthorized()
	}
	return d, c, nil
}

// checkShare refuses a contractor share outside 0..the contract's escrow
// amount.
func (s *Service) checkShare(ctx context.Context, c *ent.Contract, share int64) error {
	esc, err := s.client.Escrow.Query().Where(escrow.ContractID(c.ID)).Only(ctx)
	if err != nil {
		return fmt.Errorf("read escrow of %s: %w", c.ID, err)
	}
	if share < 0 || share > esc.Amount {
		return jobsphere.InvalidInput(jobsphere.FieldError{Field: "contractorAmount",
			Message: "Contractor amount must be between " + s.money(0) + " and " + s.money(esc.Amount) + " (the escrow)"})
	}
	return nil
}

// splitOf is what settling contract c's escrow with the contractor's
// share comes to: ledger.Settle at the contract's rate.
func (s *Service) splitOf(ctx context.Context, c *ent.Contract, esc *ent.Escrow, share int64) (ledger.Settlement, error) {
	rate, err := s.contractorRate(ctx, c, esc)
	if err != nil {
		return ledger.Settlement{}, err
	}
	split, err := ledger.Settle(esc.Amount, esc.PlatformFee, share, rate)
	if err != nil {
		return ledger.Settlement{}, jobsphere.InvalidInput(jobsphere.FieldError{Field: "contractorAmount", Message: err.Error()})
	}
	return split, nil
}

// contractorRate is the service-fee rate a contract was agreed at: the
// escrow's, or for escrows made before it was recorded there the offer's
// (a job Checkout's: today's rate, the only one it can have had since).
func (s *Service) contractorRate(ctx context.Context, c *ent.Contract, esc *ent.Escrow) (int, error) {
	if esc.ContractorFeeBps != nil {
		return *esc.ContractorFeeBps, nil
	}
	if c.OfferID == nil {
		return s.cfg.Rates.ContractorBPS, nil
	}
	o, err := s.client.Offer.Get(ctx, *c.OfferID)
	if err != nil {
		return 0, fmt.Errorf("read offer %s: %w", *c.OfferID, err)
	}
	return o.ContractorFeeBps, nil
}

func claimedAs(d *ent.Dispute, out outcome) bool {
	return d.SettledBy != nil && *d.SettledBy == out.by && deref(d.ContractorAmount) == out.share
}

func guards(out outcome) []predicate.Dispute {
	if out.guard == nil {
		return nil
	}
	return []predicate.Dispute{out.guard}
}

// nillable is v, or nil when it is the zero value.
func nillable[T comparable](v T) *T {
	var zero T
	if v == zero {
		return nil
	}
	return &v
}

// publishDispute tells a dispute's parties and admins it changed.
func (s *Service) publishDispute(ctx context.Context, tx *ent.Tx, id pulid.ID, c *ent.Contract) error {
	for _, topic := range []string{userTopic(c.CustomerID), userTopic(c.ContractorID), AdminTopic} {
		ev := realtime.Event{Topic: topic, Kind: KindDispute, IDs: map[string]string{"dispute": string(id)}}
		if err := s.broker.PublishTx(ctx, tx, ev); err != nil {
			return err
		}
	}
	return nil
}

// Dispute is one dispute for its parties and admins; nil for others and
// when there is none (the two look alike).
func (s *Service) Dispute(ctx context.Context, v auth.Viewer, id pulid.ID) (*ent.Dispute, error) {
	d, err := s.client.Dispute.Query().Where(dispute.ID(id), DisputesVisibleTo(v)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	return d, err
}

// oldestDisputes: the queue is worked oldest first.
var oldestDisputes = &ent.DisputeOrder{Direction: entgql.OrderDirectionAsc, Field: ent.DisputeOrderFieldCreatedAt}

// Disputes pages the disputes of the viewer's contracts (every dispute
// for admins), oldest first; status filters (OPEN: the admins' queue).
func (s *Service) Disputes(ctx context.Context, v auth.Viewer, status *dispute.Status, p Page) (*ent.DisputeConnection, error) {
	q := s.client.Dispute.Query().Where(DisputesVisibleTo(v))
	if status != nil {
		q.Where(dispute.StatusEQ(*status))
	}
	return q.Paginate(ctx, p.After, p.First, p.Before, p.Last, ent.WithDisputeOrder(oldestDisputes))
}

// DisputeFeed delivers the viewer's disputes (every dispute for admins) as
// they change; one dispute's when disputeID is set.
func (s *Service) DisputeFeed(ctx context.Context, v auth.Viewer, disputeID *pulid.ID) (<-chan *ent.Dispute, error) {
	return realtime.Feed(ctx, s.broker, viewerTopic(v), func(ev realtime.Event) (*ent.Dispute, bool) {
		id, ok := ev.About("dispute", string(deref(disputeID)), KindDispute)
		if !ok {
			return nil, false
		}
		d, err := s.client.Dispute.Query().Where(dispute.ID(pulid.ID(id)), DisputesVisibleTo(v)).Only(ctx)
		return d, err == nil
	})
}
