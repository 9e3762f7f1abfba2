package payments

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/auth"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/deposit"
	"github.com/jobsphere/jobsphere/ent/ledgertransaction"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/ledger"
	"github.com/jobsphere/jobsphere/realtime"
)

// Config is what the payments service needs from the configuration.
type Config struct {
	Currency       jobsphere.Currency
	Rates          ledger.Rates
	MinDeposit     int64
	PublishableKey string
	SuccessURL     string // default Checkout success page
	CancelURL      string // default Checkout cancel page
	ReturnURL      string // where a 3-D Secure redirect comes back
	PublicURL      string // base of the Connect return and refresh pages

	MinWithdrawal, MaxWithdrawal int64
	RequireWithdrawalApproval    bool
}

// Service runs deposits (and, later, payouts) against a Gateway.
type Service struct {
	client  *ent.Client
	ledger  *ledger.Ledger
	gateway Gateway
	limiter *auth.RateLimiter
	broker  realtime.Broker
	cfg     Config
	logger  *slog.Logger
	jobs    JobFunder // the marketplace, which job Checkouts fund
}

// NewService returns the payments service. A paid job Checkout is a money
// path: without the marketplace to fund there is no payments service.
func NewService(client *ent.Client, l *ledger.Ledger, g Gateway, limiter *auth.RateLimiter, b realtime.Broker, jobs JobFunder, cfg Config, logger *slog.Logger) (*Service, error) {
	if g == nil || jobs == nil {
		return nil, errors.New("payments: a gateway and a job funder are required")
	}
	return &Service{client: client, ledger: l, gateway: g, limiter: limiter, broker: b, jobs: jobs, cfg: cfg, logger: logger}, nil
}

// StripeConfig is what a client needs to start Stripe's SDK.
type StripeConfig struct {
	PublishableKey string
	Currency       string
	Sandbox        bool
}

// StripeConfig returns the client-side Stripe settings.
func (s *Service) StripeConfig() *StripeConfig {
	return &StripeConfig{PublishableKey: s.cfg.PublishableKey, Currency: s.cfg.Currency.Code, Sandbox: s.gateway.Sandbox()}
}

// DepositInput is a deposit request.
type DepositInput struct {
	Amount          int64
	PaymentMethodID string // empty: Checkout; pm_…: a PaymentIntent confirmed now
	SuccessURL      string
	CancelURL       string
}

// maxCharge is Stripe's largest charge: eight digits of minor units.
const maxCharge = 99_999_999

// DepositResult is what a deposit request returns.
type DepositResult struct {
	Deposit         *ent.Deposit
	Wallet          *ent.Wallet
	CheckoutURL     *string
	SessionID       *string
	RequiresAction  bool
	ClientSecret    *string
	PaymentIntentID *string
}

// Deposit starts a wallet top-up. The money arrives only when Stripe's
// signed event says so (HandleEvent); until then it is pendingDeposits.
func (s *Service) Deposit(ctx context.Context, userID pulid.ID, in DepositInput) (*DepositResult, error) {
	if err := s.validateDeposit(ctx, userID, in); err != nil {
		return nil, err
	}
	if err := s.limiter.Allow(ctx, auth.DepositLimit, string(userID)); err != nil {
		return nil, err
	}
	method := deposit.MethodCHECKOUT
	if in.PaymentMethodID != "" {
		method = deposit.MethodPAYMENT_INTENT
	}
	var dep *ent.Deposit
	err := s.client.WithTx(ctx, func(tx *ent.Tx) error {
		var err error
		dep, err = tx.Deposit.Create().SetUserID(userID).SetAmount(in.Amount).SetMethod(method).Save(ctx)
		if err != nil {
			return fmt.Errorf("insert deposit: %w", err)
		}
		if err := s.ledger.AdjustPending(ctx, tx.Client(), userID, in.Amount); err != nil {
			return fmt.Errorf("pend deposit %s: %w", dep.ID, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	res, err := s.startPayment(ctx, dep, in)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("start payment of deposit %s: %w", dep.ID, err), s.abandon(ctx, dep, err))
	}
	if res.Deposit, err = s.client.Deposit.Get(ctx, dep.ID); err != nil {
		return nil, fmt.Errorf("read deposit %s: %w", dep.ID, err)
	}
	if res.Wallet, err = s.ledger.Wallet(ctx, userID); err != nil {
		return nil, fmt.Errorf("read wallet: %w", err)
	}
	return res, nil
}

func (s *Service) validateDeposit(ctx context.Context, userID pulid.ID, in DepositInput) error {
	if in.Amount < s.cfg.MinDeposit {
		return jobsphere.InvalidInput(jobsphere.FieldError{Field: "amount",
			Message: "Minimum deposit amount is " + s.cfg.Currency.Display(s.cfg.MinDeposit)})
	}
	if in.Amount > maxCharge {
		return jobsphere.InvalidInput(jobsphere.FieldError{Field: "amount",
			Message: "Maximum deposit amount is " + s.cfg.Currency.Display(maxCharge)})
	}
	if in.PaymentMethodID != "" && (!strings.HasPrefix(in.PaymentMethodID, "pm_") || len(in.PaymentMethodID) > jobsphere.MaxKeyLength) {
		return jobsphere.InvalidInput(jobsphere.FieldError{Field: "paymentMethodId",
			Message: "paymentMethodId must be a Stripe payment method id (pm_…)"})
	}
	if err := checkReturnURLs(in.SuccessURL, in.CancelURL); err != nil {
		return err
	}
	w, err := s.ledger.Wallet(ctx, userID)
	if err != nil {
		return err
	}
	return ledger.AcceptsDeposits(w)
}

// checkReturnURLs is the one rule for the pages a client asks Checkout to
// send the payer back to (deposit's and payForJob's): empty (our default
// page) or an absolute http(s) URL with a host and no credentials.
// Anything else — javascript:, data:, a scheme-relative //host — would be
// followed by the payer's browser from Stripe's (or the sandbox's) page.
func checkReturnURLs(successURL, cancelURL string) error {
	for _, f := range []struct{ field, url string }{{"successUrl", successURL}, {"cancelUrl", cancelURL}} {
		if f.url == "" {
			continue
		}
		u, err := url.Parse(f.url)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
			return jobsphere.InvalidInput(jobsphere.FieldError{Field: f.field,
				Message: f.field + " must be an absolute http(s) URL, like https://app.example.com/paid"})
		}
	}
	return nil
}

// startPayment asks the gateway for the payment and records what it
// answered. Our idempotency key is the deposit's id, so a retried call
// never creates a second payment.
func (s *Service) startPayment(ctx context.Context, dep *ent.Deposit, in DepositInput) (*DepositResult, error) {
	meta := map[string]string{"deposit_id": string(dep.ID), "user_id": string(dep.UserID), "kind": "wallet_deposit"}
	if dep.Method == deposit.MethodCHECKOUT {
		cs, err := s.gateway.CreateCheckoutSession(ctx, CheckoutParams{
			IdempotencyKey: "deposit:" + string(dep.ID), Amount: dep.Amount, Currency: s.cfg.Currency.Code,
			ProductName: "Wallet deposit", ClientReferenceID: string(dep.ID), Metadata: meta,
			SuccessURL: or(in.SuccessURL, s.cfg.SuccessURL), CancelURL: or(in.CancelURL, s.cfg.CancelURL),
		})
		if err != nil {
			return nil, err
		}
		if err := s.client.Deposit.UpdateOne(dep).SetStripeCheckoutSessionID(cs.ID).SetCheckoutURL(cs.URL).Exec(ctx); err != nil {
			return nil, fmt.Errorf("record checkout session of deposit %s: %w", dep.ID, err)
		}
		return &DepositResult{CheckoutURL: &cs.URL, SessionID: &cs.ID}, nil
	}
	pi, err := s.gateway.CreatePaymentIntent(ctx, PaymentIntentParams{
		IdempotencyKey: "deposit:" + string(dep.ID), Amount: dep.Amount, Currency: s.cfg.Currency.Code,
		PaymentMethodID: in.PaymentMethodID, Description: "Wallet deposit " + string(dep.ID),
		Metadata: meta, ReturnURL: s.cfg.ReturnURL,
	})
	if err != nil {
		return nil, err
	}
	res := &DepositResult{PaymentIntentID: &pi.ID, ClientSecret: &pi.ClientSecret, RequiresAction: pi.RequiresAction}
	setIntent := func(u *ent.DepositUpdate) { u.SetStripePaymentIntentID(pi.ID) }
	if !pi.RequiresAction {
		u := s.client.Deposit.Update().Where(deposit.ID(dep.ID))
		setIntent(u)
		if err := u.Exec(ctx); err != nil {
			return nil, fmt.Errorf("record payment intent of deposit %s: %w", dep.ID, err)
		}
		return res, nil
	}
	// Only while still pending: a CONFLICT is the webhook having settled
	// it already.
	if err := moveDeposit(ctx, s.client, dep, deposit.StatusREQUIRES_ACTION, setIntent); err != nil && jobsphere.ErrorCode(err) != jobsphere.Conflict {
		return nil, err
	}
	return res, nil
}

// abandon marks a deposit whose payment could not start FAILED and takes
// its amount out of pendingDeposits; nothing was posted.
func (s *Service) abandon(ctx context.Context, dep *ent.Deposit, cause error) error {
	reason := "Payment could not be started"
	var appErr *jobsphere.Error
	if errors.As(cause, &appErr) {
		reason = appErr.Message
	}
	err := s.settle(ctx, dep.ID, func(ctx context.Context, tx *ent.Tx, d *ent.Deposit) error {
		return s.fail(ctx, tx, d, deposit.StatusFAILED, reason)
	})
	if err != nil {
		return fmt.Errorf("abandon deposit %s: %w", dep.ID, err)
	}
	return nil
}

// Deposit returns a deposit of the user (or any, for an admin).
func (s *Service) GetDeposit(ctx context.Context, v auth.Viewer, id pulid.ID) (*ent.Deposit, error) {
	d, err := s.client.Deposit.Query().Where(deposit.ID(id), DepositsVisibleTo(v)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read deposit %s: %w", id, err)
	}
	return d, nil
}

// settle runs change on a deposit inside a transaction, conditional on the
// deposit's status not having moved since it was read: of two racing
// settlements (a webhook and its retry, two event types for one payment)
// exactly one applies, and the other sees the result.
func (s *Service) settle(ctx context.Context, id pulid.ID, change func(context.Context, *ent.Tx, *ent.Deposit) error) error {
	return s.client.WithTx(ctx, func(tx *ent.Tx) error {
		d, err := tx.Deposit.Get(ctx, id)
		if err != nil {
			return fmt.Errorf("read deposit %s: %w", id, err)
		}
		return change(ctx, tx, d)
	})
}

// depositMoves is a deposit's state machine. A payment that succeeds after
// its deposit was marked failed or expired is still credited: the money
// did arrive. A paid deposit is REFUNDED once an admin refunded (part of)
// it to the card (RefundDeposit; refundedAmount says how much).
var depositMoves = jobsphere.Transitions[deposit.Status]{Name: "Deposit", Moves: map[deposit.Status][]deposit.Status{
	deposit.StatusPENDING:         {deposit.StatusREQUIRES_ACTION, deposit.StatusSUCCEEDED, deposit.StatusFAILED, deposit.StatusEXPIRED},
	deposit.StatusREQUIRES_ACTION: {deposit.StatusSUCCEEDED, deposit.StatusFAILED, deposit.StatusEXPIRED},
	deposit.StatusFAILED:          {deposit.StatusSUCCEEDED},
	deposit.StatusEXPIRED:         {deposit.StatusSUCCEEDED},
	deposit.StatusSUCCEEDED:       {deposit.StatusREFUNDED},
}}

// moveDeposit moves a deposit from the status it was read in to another:
// every change of a deposit's status is this one conditional update. A row
// that moved since it was read, to a status the table would still leave,
// is errConcurrentSettlement (what the caller did with the status it read,
// such as pendingDeposits, no longer holds); any other refusal is CONFLICT
// naming the status the deposit is in.
func moveDeposit(ctx context.Context, client *ent.Client, d *ent.Deposit, to deposit.Status, mutate func(*ent.DepositUpdate)) error {
	err := depositMoves.Move(to, func(from []deposit.Status) (int, error) {
		u := client.Deposit.Update().Where(deposit.ID(d.ID), deposit.StatusIn(from...), deposit.StatusEQ(d.Status)).SetStatus(to)
		if mutate != nil {
			mutate(u)
		}
		return u.Save(ctx)
	}, func() (deposit.Status, error) {
		now, err := client.Deposit.Get(ctx, d.ID)
		if err != nil {
			return "", err
		}
		return now.Status, nil
	}, func(deposit.Status) error { return errConcurrentSettlement })
	if err != nil {
		return fmt.Errorf("move deposit %s to %s: %w", d.ID, to, err)
	}
	return nil
}

func isPending(st deposit.Status) bool {
	return st == deposit.StatusPENDING || st == deposit.StatusREQUIRES_ACTION
}

// credit settles a deposit as paid: the money is posted once (the ledger
// key is the deposit's), pendingDeposits drops if it was still pending,
// and the user's subscribers hear of it after commit. A payment that
// succeeds after its deposit was marked failed or expired is still
// credited: the money did arrive.
func (s *Service) credit(ctx context.Context, tx *ent.Tx, d *ent.Deposit, paymentIntentID string) error {
	if d.Status == deposit.StatusSUCCEEDED || d.Status == deposit.StatusREFUNDED {
		return nil
	}
	// What the user owes is paid back first; the postings show the split.
	// A pending deposit leaves pendingDeposits in the same wallet update.
	e := ledger.Entry{
		Key: "deposit:" + string(d.ID), Type: ledgertransaction.TypeDEPOSIT,
		Description:           "Wallet deposit of " + s.cfg.Currency.Display(d.Amount),
		StripePaymentIntentID: paymentIntentID, StripeCheckoutSessionID: deref(d.StripeCheckoutSessionID),
	}
	if isPending(d.Status) {
		e.Unpends = d.Amount
	}
	posted, err := s.ledger.CreditFromOutside(ctx, tx.Client(), d.UserID, d.Amount, e)
	if err != nil {
		return fmt.Errorf("credit deposit %s: %w", d.ID, err)
	}
	if err := moveDeposit(ctx, tx.Client(), d, deposit.StatusSUCCEEDED, func(u *ent.DepositUpdate) {
		u.SetCompletedAt(time.Now()).SetTransactionID(posted.Transaction.ID).ClearFailureReason()
		if paymentIntentID != "" {
			u.SetStripePaymentIntentID(paymentIntentID)
		}
	}); err != nil {
		return err
	}
	return s.publish(ctx, tx, d, "DEPOSIT_SUCCEEDED", posted.Transaction.ID)
}

// fail settles a pending deposit as failed or expired; a settled one is
// left alone.
func (s *Service) fail(ctx context.Context, tx *ent.Tx, d *ent.Deposit, to deposit.Status, reason string) error {
	if !isPending(d.Status) {
		return nil
	}
	if err := moveDeposit(ctx, tx.Client(), d, to, func(u *ent.DepositUpdate) {
		u.SetFailureReason(reason).SetCompletedAt(time.Now())
	}); err != nil {
		return err
	}
	if err := s.ledger.AdjustPending(ctx, tx.Client(), d.UserID, -d.Amount); err != nil {
		return fmt.Errorf("unpend deposit %s: %w", d.ID, err)
	}
	return s.publish(ctx, tx, d, "DEPOSIT_FAILED", "")
}

// errConcurrentSettlement: another transaction settled the deposit
// between our read and our write; ours rolls back and the caller (Stripe's
// retry) finds it settled.
var errConcurrentSettlement = fmt.Errorf("payments: deposit settled concurrently")

func (s *Service) publish(ctx context.Context, tx *ent.Tx, d *ent.Deposit, kind string, txnID pulid.ID) error {
	ids := map[string]string{"deposit": string(d.ID)}
	if txnID != "" {
		ids["transaction"] = string(txnID)
	}
	if err := s.broker.PublishTx(ctx, tx, realtime.Event{Topic: UserTopic(d.UserID), Kind: kind, IDs: ids}); err != nil {
		return fmt.Errorf("publish %s of deposit %s: %w", kind, d.ID, err)
	}
	return nil
}

// UserTopic is the realtime topic of everything one user may see.
func UserTopic(userID pulid.ID) string { return "user:" + string(userID) }

// or is the first of ss that is not empty.
func or(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
