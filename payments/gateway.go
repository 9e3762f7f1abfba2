// Package payments talks to Stripe: every Stripe call is here, behind the
// Gateway interface, with two implementations — stripe-go v76 against
// Stripe (or stripe-mock in tests) and the sandbox for the embedded
// default. It also orchestrates deposits, whose money moves only through
// package ledger.
package payments

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/stripe/stripe-go/v76"

	"github.com/jobsphere/jobsphere"
)

// Gateway is what we ask of Stripe.
type Gateway interface {
	// CreateCheckoutSession starts a hosted Checkout payment.
	CreateCheckoutSession(ctx context.Context, p CheckoutParams) (*CheckoutSession, error)
	// CreatePaymentIntent creates and confirms a PaymentIntent server-side.
	CreatePaymentIntent(ctx context.Context, p PaymentIntentParams) (*PaymentIntent, error)
	// Refund returns money of a PaymentIntent to its card.
	Refund(ctx context.Context, p RefundParams) (string, error)
	// CreateConnectAccount makes an Express connected account.
	CreateConnectAccount(ctx context.Context, p ConnectAccountParams) (string, error)
	// CreateOnboardingLink makes a single-use Connect onboarding link.
	CreateOnboardingLink(ctx context.Context, p OnboardingLinkParams) (*OnboardingLink, error)
	// CreateTransfer sends money from the platform's balance to a
	// connected account.
	CreateTransfer(ctx context.Context, p TransferParams) (string, error)
	// CreateCustomer makes the Stripe customer of one of our users.
	CreateCustomer(ctx context.Context, p CustomerParams) (string, error)
	// CreateFinancialConnectionsSession starts linking a customer's US
	// bank accounts.
	CreateFinancialConnectionsSession(ctx context.Context, idempotencyKey, customerID string) (*FinancialConnectionsSession, error)
	// Sandbox reports whether this is the sandbox, not Stripe.
	Sandbox() bool
}

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
	Status       stripe.PaymentIntentStatus
	ClientSecret string
}

// RequiresAction reports whether the customer must authenticate (3-D
// Secure) before the payment can complete.
func (pi *PaymentIntent) RequiresAction() bool {
	return pi.Status == stripe.PaymentIntentStatusRequiresAction
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

// stripeRefused reports whether err is Stripe refusing a request, so that
// surely nothing was made: a 4xx answer, but not a rate limit nor an
// idempotency conflict (a request under that key may have been made).
// Timeouts and Stripe's own failures may hide a request carried out.
func stripeRefused(err error) bool {
	var se *stripe.Error
	if !errors.As(err, &se) {
		var appErr *jobsphere.Error
		return errors.As(err, &appErr) && appErr.Code == jobsphere.PaymentFailed // a card error
	}
	return se.HTTPStatusCode >= 400 && se.HTTPStatusCode < 500 &&
		se.HTTPStatusCode != http.StatusTooManyRequests && se.Type != stripe.ErrorTypeIdempotency
}

// paymentFailed turns a Stripe error into the client's error: card errors
// keep Stripe's codes (extensions.stripeCode, declineCode) with the seeds'
// message; anything else is an outage, not the customer's fault.
func paymentFailed(err error) error {
	var se *stripe.Error
	if !errors.As(err, &se) {
		return fmt.Errorf("payments: %w", err)
	}
	if se.Type == stripe.ErrorTypeIdempotency {
		return jobsphere.Errorf(jobsphere.Conflict, "This request was already made with different details")
	}
	if se.Type == stripe.ErrorTypeInvalidRequest && se.Param == "payment_method" {
		return jobsphere.InvalidInput(jobsphere.FieldError{Field: "paymentMethodId", Message: "No such payment method"})
	}
	if se.Type != stripe.ErrorTypeCard && se.Code != stripe.ErrorCodeRateLimit {
		return fmt.Errorf("payments: stripe %s (%s): %w", se.Type, se.Code, err)
	}
	msg, ok := cardMessages[string(se.DeclineCode)]
	if !ok {
		msg, ok = cardMessages[string(se.Code)]
	}
	if !ok {
		msg = cardMessages["card_declined"]
	}
	extra := map[string]any{"stripeCode": string(se.Code)}
	if se.DeclineCode != "" {
		extra["declineCode"] = string(se.DeclineCode)
	}
	return &jobsphere.Error{Code: jobsphere.PaymentFailed, Message: msg, Extra: extra}
}

// failureMessage is what a failed payment's record says, from the error
// Stripe attached to it.
func failureMessage(code, declineCode string) string {
	if m, ok := cardMessages[declineCode]; ok {
		return m
	}
	if m, ok := cardMessages[code]; ok {
		return m
	}
	return cardMessages["card_declined"]
}
