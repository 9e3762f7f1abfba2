// Package payments runs the money that crosses Stripe: wallet deposits,
// withdrawals to Connect accounts, Connect onboarding, job Checkouts (which
// fund the marketplace's escrows), card refunds, and the handling of
// Stripe's verified events, with the wallet feeds that report them. Every
// balance change goes through package ledger. Every Stripe call goes
// through the Gateway interface defined here, implemented by package
// payments/stripe (the Stripe adapter) and package payments/sandbox (the
// embedded default's stand-in); Event is what the adapter makes of a
// verified webhook payload.
package payments

import (
	"context"
	"errors"
	"time"

	"github.com/jobsphere/jobsphere"
)

// Gateway is what we ask of Stripe. A card refused is answered with
// CardDeclined's error, any other request Stripe refused with a
// *RefusedError; a client's mistake (a reused idempotency key, an unknown
// payment method) is a jobsphere.Error; anything else may hide a request
// carried out.
type Gateway interface {
	// CreateCheckoutSession starts a hosted Checkout payment.
	CreateCheckoutSession(ctx context.Context, p CheckoutParams) (*CheckoutSession, error)
	// CreatePaymentIntent creates and confirms a PaymentIntent server-side.
	CreatePaymentIntent(ctx context.Context, p PaymentIntentParams) (*PaymentIntent, error)
	// Refund returns money of a PaymentIntent to its card. A payment
	// refunded before (by this key or by hand) is no error: nothing is
	// owed, and the id is empty.
	Refund(ctx context.Context, p RefundParams) (string, error)
	// CreateConnectAccount makes an Express connected account.
	CreateConnectAccount(ctx context.Context, p ConnectAccountParams) (string, error)
	// CreateOnboardingLink makes a single-use Connect onboarding link.
	CreateOnboardingLink(ctx context.Context, p OnboardingLinkParams) (*OnboardingLink, error)
	// CreateTransfer sends money from the platform's balance to a
	// connected account. Its refusal is a *RefusedError with the gateway's
	// reason, which the withdrawal records.
	CreateTransfer(ctx context.Context, p TransferParams) (string, error)
	// CreateCustomer makes the Stripe customer of one of our users.
	CreateCustomer(ctx context.Context, p CustomerParams) (string, error)
	// CreateFinancialConnectionsSession starts linking a customer's US
	// bank accounts.
	CreateFinancialConnectionsSession(ctx context.Context, idempotencyKey, customerID string) (*FinancialConnectionsSession, error)
	// BalanceTransactions lists every movement of the platform's Stripe
	// balance in currency created at or after since, oldest first.
	BalanceTransactions(ctx context.Context, since time.Time, currency string) ([]BalanceTransaction, error)
	// Balance is what the platform's Stripe balance holds in currency.
	Balance(ctx context.Context, currency string) (*PlatformBalance, error)
	// Sandbox reports whether this is the sandbox, not Stripe.
	Sandbox() bool
}

// BalanceTransaction is one movement of the platform's Stripe balance (a
// Stripe balance transaction), as reconciliation needs it.
type BalanceTransaction struct {
	ID string // txn_…
	// Type is Stripe's: charge, payment, refund, payment_refund, transfer,
	// transfer_refund (a reversal), adjustment (a dispute's funds),
	// stripe_fee, payout…
	Type string
	// Amount is signed: positive into the balance, negative out of it;
	// Fee is what Stripe kept (negative when it gave a fee back); Net is
	// Amount − Fee, what the balance moved by.
	Amount, Fee, Net int64
	// SourceID is the Stripe object that moved the money: ch_/py_, re_,
	// tr_, trr_, dp_, po_…; empty for Stripe's own fees.
	SourceID string
	// PaymentIntentID is the payment a charge, refund or dispute belongs
	// to; TransferID the transfer of a transfer or of its reversal.
	PaymentIntentID, TransferID string
	Created                     time.Time
}

// Balance transaction types reconciliation tells apart (Stripe's words).
const (
	BalanceCharge         = "charge"
	BalancePayment        = "payment"
	BalanceRefund         = "refund"
	BalancePaymentRefund  = "payment_refund"
	BalanceTransfer       = "transfer"
	BalanceTransferRefund = "transfer_refund"
	BalanceAdjustment     = "adjustment"
	BalancePayout         = "payout"
	BalancePayoutCancel   = "payout_cancel"
	BalancePayoutFailure  = "payout_failure"
	BalanceStripeFee      = "stripe_fee"
)

// PlatformBalance is the platform's Stripe balance in one currency.
type PlatformBalance struct {
	Available, Pending int64
}

// Total is all the balance holds, available or not.
func (b *PlatformBalance) Total() int64 { return b.Available + b.Pending }

// ConnectAccountParams asks for an Express account able to receive
// transfers, tagged with our user id.
type ConnectAccountParams struct {
	IdempotencyKey string
	UserID, Email  string
}

// OnboardingLinkParams asks for an onboarding link; RefreshURL must lead
// to a new link (links are single-use and expire within minutes).
type OnboardingLinkParams struct {
	IdempotencyKey        string // one per link: a retry of this request, not of a refresh
	AccountID             string
	RefreshURL, ReturnURL string
}

// OnboardingLink is a created Account Link.
type OnboardingLink struct {
	URL       string
	ExpiresAt time.Time
}

// TransferParams asks for a transfer to a connected account.
type TransferParams struct {
	IdempotencyKey string
	Amount         int64
	Currency       string
	Destination    string
	Metadata       map[string]string
}

// CustomerParams describes one of our users to Stripe.
type CustomerParams struct {
	IdempotencyKey      string
	UserID, Email, Name string
}

// FinancialConnectionsSession is a session an app completes with
// collectFinancialConnectionsAccounts(clientSecret).
type FinancialConnectionsSession struct {
	SessionID    string
	ClientSecret string
}

// RefundParams asks for a refund of (part of) a PaymentIntent.
type RefundParams struct {
	IdempotencyKey  string
	PaymentIntentID string
	Amount          int64
}

// CheckoutParams asks for a one-line Checkout session in payment mode.
type CheckoutParams struct {
	IdempotencyKey    string // derived from our record id
	Amount            int64  // minor units
	Currency          string // lower case ISO code
	ProductName       string
	ClientReferenceID string
	Metadata          map[string]string // also set on the PaymentIntent Checkout creates
	SuccessURL        string
	CancelURL         string
}

// CheckoutSession is a created Checkout session.
type CheckoutSession struct {
	ID  string
	URL string
}

// SessionID and CheckoutURL are the names the API gives them.
func (c *CheckoutSession) SessionID() string { return c.ID }

// CheckoutURL is the page to send the payer to.
func (c *CheckoutSession) CheckoutURL() string { return c.URL }

// PaymentIntentParams asks for a PaymentIntent confirmed at once with a
// payment method the client tokenised (pm_…).
type PaymentIntentParams struct {
	IdempotencyKey  string
	Amount          int64
	Currency        string
	PaymentMethodID string
	Description     string
	Metadata        map[string]string
	ReturnURL       string // where 3-D Secure redirects come back
}

// PaymentIntent is a PaymentIntent's state after confirmation.
type PaymentIntent struct {
	ID           string
	ClientSecret string
	// RequiresAction: the customer must authenticate (3-D Secure) before
	// the payment can complete.
	RequiresAction bool
}

// RefusedError is a gateway's refusal of a request, so that surely nothing
// was made: Stripe's 4xx answer, but not a rate limit nor an idempotency
// conflict (a request under that key may have been made). Any other error
// of a gateway (a timeout, Stripe's own failure) may hide a request
// carried out.
type RefusedError struct {
	Message string // the gateway's explanation, e.g. "Insufficient funds in the platform balance"
	Err     error
}

func (e *RefusedError) Error() string { return "refused: " + e.Err.Error() }

func (e *RefusedError) Unwrap() error { return e.Err }

// gatewayRefused reports whether err is a gateway's refusal (a card error is one
// too): surely nothing was made.
func gatewayRefused(err error) bool {
	var r *RefusedError
	return errors.As(err, &r) || jobsphere.ErrorCode(err) == jobsphere.PaymentFailed
}

// cardMessages are the seeds' words for Stripe's card error codes.
var cardMessages = map[string]string{
	"card_declined":      "Your card was declined",
	"insufficient_funds": "Your card has insufficient funds",
	"expired_card":       "Your card has expired",
	"incorrect_cvc":      "Your card's security code is incorrect",
	"processing_error":   "An error occurred. Please try again",
	"rate_limit":         "Too many attempts. Try again later",
}

// FailureMessage is what a failed card payment says, from the error codes
// Stripe gives it (code, and declineCode when the bank declined).
func FailureMessage(code, declineCode string) string {
	if m, ok := cardMessages[declineCode]; ok {
		return m
	}
	if m, ok := cardMessages[code]; ok {
		return m
	}
	return cardMessages["card_declined"]
}

// CardDeclined is the client's error for a card payment refused: Stripe's
// codes (extensions.stripeCode, declineCode) with the seeds' message.
func CardDeclined(code, declineCode string) *jobsphere.Error {
	extra := map[string]any{"stripeCode": code}
	if declineCode != "" {
		extra["declineCode"] = declineCode
	}
	return &jobsphere.Error{Code: jobsphere.PaymentFailed, Message: FailureMessage(code, declineCode), Extra: extra}
}
