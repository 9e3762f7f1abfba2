package market

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	entsql "entgo.io/ent/dialect/sql"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/auth"
	"github.com/jobsphere/jobsphere/auth/role"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/escrow"
	"github.com/jobsphere/jobsphere/ent/job"
	"github.com/jobsphere/jobsphere/ent/jobapplication"
	"github.com/jobsphere/jobsphere/ent/ledgertransaction"
	"github.com/jobsphere/jobsphere/ent/offer"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/ledger"
)

// SendOfferInput is a customer's offer to an applicant.
type SendOfferInput struct {
	ApplicationID pulid.ID
	Amount        int64
	Timeline      string
	Description   string
}

// SendOfferResult is what sendOffer returns.
type SendOfferResult struct {
	Offer   *ent.Offer
	Wallet  *ent.Wallet
	Amounts ledger.Split
}

// SendOffer makes an offer on an application to the customer's own open
// job and holds its total charge (amount + platform fee) in escrow.
func (s *Service) SendOffer(ctx context.Context, v auth.Viewer, in SendOfferInput) (*SendOfferResult, error) {
	if err := requireRole(v, role.Customer); err != nil {
		return nil, err
	}
	if err := s.validateOffer(in); err != nil {
		return nil, err
	}
	split, err := ledger.Fees(in.Amount, s.cfg.Rates)
	if err != nil {
		return nil, err
	}
	var o *ent.Offer
	err = s.tx(ctx, func(tx *ent.Tx) error {
		app, err := applicationToOffer(ctx, tx, in.ApplicationID)
		if err != nil {
			return err
		}
		if app.JobPostedByID != v.UserID {
			return auth.NotAuthorized()
		}
		if app.JobStatus != job.StatusOPEN {
			return jobsphere.Errorf(jobsphere.Conflict, "Job is not open for offers")
		}
		o, err = tx.Offer.Create().
			SetJobID(app.JobID).SetApplicationID(app.ID).SetCustomerID(v.UserID).SetContractorID(app.ContractorID).
			SetAmount(split.Amount).SetPlatformFee(split.PlatformFee).SetServiceFee(split.ServiceFee).
			SetContractorPayout(split.ContractorPayout).SetTotalCharge(split.TotalCharge).
			SetCustomerFeeBps(s.cfg.Rates.CustomerBPS).SetContractorFeeBps(s.cfg.Rates.ContractorBPS).
			SetTimeline(strings.TrimSpace(in.Timeline)).SetDescription(strings.TrimSpace(in.Description)).
			SetExpiresAt(s.now().Add(s.cfg.OfferTTL)).
			Save(ctx)
		if ent.IsConstraintError(err) { // the partial unique index: one live offer per job
			return jobsphere.Errorf(jobsphere.Conflict, "An offer already exists for this job")
		}
		if err != nil {
			return fmt.Errorf("create offer: %w", err)
		}
		if err := moveApplication(ctx, tx, app.ID, jobapplication.StatusOFFERED); err != nil {
			return err
		}
		posted, err := s.ledger.Post(ctx, tx.Client(), ledger.Entry{
			Key: "offer:" + string(o.ID) + ":hold", Type: ledgertransaction.TypeESCROW_HOLD,
			Description: "Escrow hold for offer on " + app.JobTitle + " (" + s.money(split.TotalCharge) + ")",
			Moves:       []ledger.Move{{From: ledger.Available(v.UserID), To: ledger.Escrow(v.UserID), Amount: split.TotalCharge}},
			JobID:       app.JobID, OfferID: o.ID,
		})
		if err != nil {
			return fmt.Errorf("hold the offer's charge: %w", err)
		}
		return s.publishOffer(ctx, tx, o, "HOLD_PLACED", posted.Transaction.ID)
	})
	if err != nil {
		return nil, fmt.Errorf("send offer on %s: %w", in.ApplicationID, err)
	}
	w, err := s.ledger.Wallet(ctx, v.UserID)
	if err != nil {
		return nil, err
	}
	// Unwrap: o was made in the committed transaction; its edges (offer {
	// job }) must be loaded through the client.
	return &SendOfferResult{Offer: o.Unwrap(), Wallet: w, Amounts: split}, nil
}

// offeredApplication is an application with what an offer on it needs of
// its job.
type offeredApplication struct {
	ent.JobApplication
	JobStatus     job.Status `sql:"job_status"`
	JobPostedByID pulid.ID   `sql:"job_posted_by_id"`
	JobTitle      string     `sql:"job_title"`
}

// applicationToOffer reads an application and its job in one statement,
// with the job's row lock (lockJob's): a cancel or a job checkout cannot
// slip in between the check that the job is OPEN and the offer.
func applicationToOffer(ctx context.Context, tx *ent.Tx, id pulid.ID) (*offeredApplication, error) {
	var apps []*offeredApplication
	err := tx.JobApplication.Query().Where(jobapplication.ID(id)).Modify(func(s *entsql.Selector) {
		j := joinLockedJob(s, s.C(jobapplication.FieldJobID))
		s.AppendSelectAs(j.C(job.FieldStatus), "job_status").
			AppendSelectAs(j.C(job.FieldPostedByID), "job_posted_by_id").
			AppendSelectAs(j.C(job.FieldTitle), "job_title")
	}).Scan(ctx, &apps)
	if err != nil {
		return nil, fmt.Errorf("read application %s: %w", id, err)
	}
	if len(apps) == 0 {
		return nil, notFound("Application")
	}
	return apps[0], nil
}

func (s *Service) validateOffer(in SendOfferInput) error {
	var fields []jobsphere.FieldError
	if in.Amount < s.cfg.MinOffer || in.Amount > s.cfg.MaxOffer {
		fields = append(fields, jobsphere.FieldError{Field: "amount",
			Message: "Amount must be between " + s.money(s.cfg.MinOffer) + " and " + s.money(s.cfg.MaxOffer)})
	}
	if n := utf8.RuneCountInString(strings.TrimSpace(in.Timeline)); n < 1 || n > 100 {
		fields = append(fields, jobsphere.FieldError{Field: "timeline", Message: "Timeline must be 1-100 characters"})
	}
	if n := utf8.RuneCountInString(strings.TrimSpace(in.Description)); n < 10 || n > 1000 {
		fields = append(fields, jobsphere.FieldError{Field: "description", Message: "Description must be 10-1000 characters"})
	}
	if len(fields) > 0 {
		return jobsphere.InvalidInput(fields...)
	}
	return nil
}

// AcceptOfferResult is what acceptOffer returns.
type AcceptOfferResult struct {
	Offer    *ent.Offer
	Job      *ent.Job
	Contract *ent.Contract
	Payment  ledger.Split
}

// AcceptOffer is the offer's contractor's yes: the platform fee goes to
// revenue, the job is ASSIGNED, other applications are REJECTED, and a
// contract with a FUNDED wallet escrow is made.
func (s *Service) AcceptOffer(ctx context.Context, v auth.Viewer, offerID pulid.ID) (*AcceptOfferResult, error) {
	var res AcceptOfferResult
	err := s.tx(ctx, func(tx *ent.Tx) error {
		o, err := s.partyOffer(ctx, tx, v, offerID, false)
		if err != nil {
			return err
		}
		// At the database's precision: the answer's offer is o as written
		// here, not read back.
		now := s.now().Truncate(time.Microsecond)
		if o.Status != offer.StatusPENDING {
			return conflict("Offer", o.Status)
		}
		if now.After(o.ExpiresAt) {
			return jobsphere.Errorf(jobsphere.Conflict, "Offer is EXPIRED")
		}
		// The job first, as cancelJob and job checkouts lock it: one order
		// for everyone, so they wait for each other instead of deadlocking.
		// The moves are one statement on PostgreSQL (moveTogether).
		err = moveTogether(ctx, tx, func(ctx context.Context) error {
			err := moveJobInto(ctx, tx, o.JobID, job.StatusASSIGNED,
				func(u *ent.JobUpdate) { u.SetContractorID(o.ContractorID).SetAssignedAt(now) },
				func(st job.Status) error {
					return jobsphere.Errorf(jobsphere.Conflict, "Job is %s and no longer open", st)
				}, &res.Job)
			if err != nil {
				return err
			}
			if err := moveOffer(ctx, tx, o.ID, offer.StatusACCEPTED, func(u *ent.OfferUpdate) { u.SetAcceptedAt(now).SetUpdatedAt(now) }); err != nil {
				return err
			}
			if o.ApplicationID == nil {
				return nil
			}
			if err := moveApplication(ctx, tx, *o.ApplicationID, jobapplication.StatusACCEPTED); err != nil {
				return err
			}
			// Every other application of the job is turned down.
			_, err = moveApplications(ctx, tx, jobapplication.StatusREJECTED,
				jobapplication.JobID(o.JobID), jobapplication.IDNEQ(*o.ApplicationID))
			return err
		})
		if err != nil {
			return err
		}
		var feeTxn pulid.ID
		if o.PlatformFee > 0 {
			posted, err := s.ledger.Post(ctx, tx.Client(), ledger.Entry{
				Key: "offer:" + string(o.ID) + ":platform-fee", Type: ledgertransaction.TypePLATFORM_FEE,
				Description: "Platform fee " + s.money(o.PlatformFee),
				Moves:       []ledger.Move{{From: ledger.Escrow(o.CustomerID), To: ledger.Revenue, Amount: o.PlatformFee}},
				JobID:       o.JobID, OfferID: o.ID,
			})
			if err != nil {
				return fmt.Errorf("post platform fee: %w", err)
			}
			feeTxn = posted.Transaction.ID
		}
		c, err := tx.Contract.Create().SetCreatedAt(now).SetUpdatedAt(now).SetJobID(o.JobID).SetCustomerID(o.CustomerID).
			SetContractorID(o.ContractorID).SetOfferID(o.ID).Save(ctx)
		if err != nil {
			return fmt.Errorf("create contract: %w", err)
		}
		esc, err := tx.Escrow.Create().SetCreatedAt(now).SetUpdatedAt(now).SetContractID(c.ID).SetAmount(o.Amount).SetPlatformFee(o.PlatformFee).
			SetServiceFee(o.ServiceFee).SetFreelancerEarning(o.ContractorPayout).SetContractorFeeBps(o.ContractorFeeBps).
			SetFundingSource(escrow.FundingSourceWALLET).Save(ctx)
		if err != nil {
			return fmt.Errorf("create escrow: %w", err)
		}
		// The offer, contract and escrow as written (and the job as moved),
		// out of the transaction: the answer needs no read after commit.
		res.Offer = o.Unwrap()
		res.Offer.Status, res.Offer.AcceptedAt, res.Offer.UpdatedAt = offer.StatusACCEPTED, &now, now
		res.Contract = c.Unwrap()
		res.Contract.Edges.Escrow = esc.Unwrap()
		res.Payment = splitOf(o)
		if err := s.publishOffer(ctx, tx, o, "FEE_CHARGED", feeTxn); err != nil {
			return err
		}
		return s.publishJobTx(ctx, tx, o.JobID, o.CustomerID, o.ContractorID)
	})
	if err != nil {
		return nil, fmt.Errorf("accept offer %s: %w", offerID, err)
	}
	res.Job = res.Job.Unwrap()
	return &res, nil
}

// RejectOfferResult is what rejectOffer and withdrawOffer return.
type RejectOfferResult struct {
	Offer        *ent.Offer
	RefundAmount int64
}

// RejectOffer is the offer's contractor's no: the hold is released in
// full and the application returns to PENDING; the job stays OPEN.
func (s *Service) RejectOffer(ctx context.Context, v auth.Viewer, offerID pulid.ID, reason *string) (*RejectOfferResult, error) {
	if err := jobsphere.CheckLengths(reasonLimit("reason", reason)); err != nil {
		return nil, err
	}
	return s.endOffer(ctx, v, offerID, false, offer.StatusREJECTED, trimmed(reason))
}

// WithdrawOffer is the customer taking back a pending offer: the hold is
// released in full.
func (s *Service) WithdrawOffer(ctx context.Context, v auth.Viewer, offerID pulid.ID) (*RejectOfferResult, error) {
	return s.endOffer(ctx, v, offerID, true, offer.StatusWITHDRAWN, nil)
}

func (s *Service) endOffer(ctx context.Context, v auth.Viewer, offerID pulid.ID, byCustomer bool, to offer.Status, reason *string) (*RejectOfferResult, error) {
	var refund int64
	err := s.tx(ctx, func(tx *ent.Tx) error {
		o, err := s.partyOffer(ctx, tx, v, offerID, byCustomer)
		if err != nil {
			return err
		}
		if o.Status != offer.StatusPENDING {
			return conflict("Offer", o.Status)
		}
		refund = o.TotalCharge
		return s.releaseOffer(ctx, tx, o, to, reason)
	})
	if err != nil {
		return nil, fmt.Errorf("end offer %s (%s): %w", offerID, to, err)
	}
	o, err := s.client.Offer.Get(ctx, offerID)
	if err != nil {
		return nil, err
	}
	return &RejectOfferResult{Offer: o, RefundAmount: refund}, nil
}

// releaseOffer ends a pending offer (rejected, withdrawn, expired) and
// returns its whole hold to the customer's available balance.
func (s *Service) releaseOffer(ctx context.Context, tx *ent.Tx, o *ent.Offer, to offer.Status, reason *string) error {
	err := moveOffer(ctx, tx, o.ID, to, func(u *ent.OfferUpdate) {
		if to == offer.StatusREJECTED {
			u.SetRejectedAt(s.now()).SetNillableRejectionReason(reason)
		}
	})
	if err != nil {
		return err
	}
	if o.ApplicationID != nil { // open to offers again
		if _, err := moveApplications(ctx, tx, jobapplication.StatusPENDING, jobapplication.ID(*o.ApplicationID)); err != nil {
			return err
		}
	}
	posted, err := s.ledger.Post(ctx, tx.Client(), ledger.Entry{
		Key: "offer:" + string(o.ID) + ":release", Type: ledgertransaction.TypeREFUND,
		Description: "Offer " + strings.ToLower(string(to)) + ": hold of " + s.money(o.TotalCharge) + " released",
		Moves:       []ledger.Move{{From: ledger.Escrow(o.CustomerID), To: ledger.Available(o.CustomerID), Amount: o.TotalCharge}},
		JobID:       o.JobID, OfferID: o.ID,
	})
	if err != nil {
		return fmt.Errorf("release the hold of offer %s: %w", o.ID, err)
	}
	return s.publishOffer(ctx, tx, o, "HOLD_RELEASED", posted.Transaction.ID)
}

// ExpireOffers ends every pending offer past its expiry and releases its
// hold. Each offer moves in its own transaction, conditional on still
// being PENDING, so sweepers on several replicas expire each offer once.
func (s *Service) ExpireOffers(ctx context.Context) (int, error) {
	due, err := s.client.Offer.Query().
		Where(offer.StatusEQ(offer.StatusPENDING), offer.ExpiresAtLT(s.now())).
		IDs(ctx)
	if err != nil {
		return 0, err
	}
	expired := 0
	for _, id := range due {
		err := s.tx(ctx, func(tx *ent.Tx) error {
			o, err := tx.Offer.Get(ctx, id)
			if err != nil {
				return err
			}
			if o.Status != offer.StatusPENDING {
				return errAlreadyMoved
			}
			if _, err := s.lockJob(ctx, tx, o.JobID); err != nil {
				return err
			}
			return s.releaseOffer(ctx, tx, o, offer.StatusEXPIRED, nil)
		})
		switch {
		case err == nil:
			expired++
		case errors.Is(err, errAlreadyMoved) || jobsphere.ErrorCode(err) == jobsphere.Conflict:
			// another replica, or the contractor, got there first
		default:
			return expired, err
		}
	}
	return expired, nil
}

var errAlreadyMoved = errors.New("market: moved by someone else")

// partyOffer loads an offer, with its job's lock, for its contractor (or,
// with byCustomer, its customer); anyone else gets FORBIDDEN.
func (s *Service) partyOffer(ctx context.Context, tx *ent.Tx, v auth.Viewer, id pulid.ID, byCustomer bool) (*ent.Offer, error) {
	o, err := tx.Offer.Query().Where(offer.ID(id)).
		Modify(func(s *entsql.Selector) { joinLockedJob(s, s.C(offer.FieldJobID)) }).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, notFound("Offer")
	}
	if err != nil {
		return nil, err
	}
	party := o.ContractorID
	if byCustomer {
		party = o.CustomerID
	}
	if party != v.UserID {
		return nil, auth.NotAuthorized()
	}
	return o, nil
}

func splitOf(o *ent.Offer) ledger.Split {
	return ledger.Split{
		Amount: o.Amount, PlatformFee: o.PlatformFee, ServiceFee: o.ServiceFee,
		ContractorPayout: o.ContractorPayout, TotalCharge: o.TotalCharge, AdminTotal: o.PlatformFee + o.ServiceFee,
	}
}
