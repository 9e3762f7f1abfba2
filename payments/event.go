package payments

import "time"

// EventType is a Stripe event's type, as Stripe names it.
type EventType string

// The event types HandleEvent acts on.
const (
	CheckoutSessionCompleted             EventType = "checkout.session.completed"
	CheckoutSessionAsyncPaymentSucceeded EventType = "checkout.session.async_payment_succeeded"
	CheckoutSessionAsyncPaymentFailed    EventType = "checkout.session.async_payment_failed"
	CheckoutSessionExpired               EventType = "checkout.session.expired"
	PaymentIntentSucceeded               EventType = "payment_intent.succeeded"
	PaymentIntentPaymentFailed           EventType = "payment_intent.payment_failed"
	PaymentIntentRequiresAction          EventType = "payment_intent.requires_action"
	AccountUpdated                       EventType = "account.updated"
	TransferReversed                     EventType = "transfer.reversed"
	// Connect events (event.account set): the contractor disconnected the
	// platform, and the bank payouts from their Stripe balance.
	AccountApplicationDeauthorized EventType = "account.application.deauthorized"
	PayoutFailed                   EventType = "payout.failed"
	PayoutPaid                     EventType = "payout.paid"
)

// Event is a verified Stripe event: what an EventVerifier makes of a
// webhook payload whose signature holds. The object it is about is decoded
// into the one field of its kind (checkout session, payment intent,
// connected account, transfer, payout); an event about another kind of
// object has none.
type Event struct {
	ID       string
	Type     EventType
	Account  string // the connected account whose event it is; empty for the platform's own
	Created  time.Time
	Livemode bool

	CheckoutSession *EventCheckoutSession
	PaymentIntent   *EventPaymentIntent
	ConnectAccount  *EventConnectAccount
	Transfer        *EventTransfer
	Payout          *EventPayout
}

// EventCheckoutSession is a Checkout session as an event reports it.
type EventCheckoutSession struct {
	ID                string
	ClientReferenceID string
	Metadata          map[string]string
	Paid              bool // payment_status paid (a delayed method completes unpaid)
	AmountTotal       int64
	Currency          string
	PaymentIntentID   string
}

// EventPaymentIntent is a PaymentIntent as an event reports it.
type EventPaymentIntent struct {
	ID       string
	Metadata map[string]string
	// The last payment error's codes, when the payment failed.
	FailureCode, FailureDeclineCode string
}

// EventConnectAccount is a connected account as an event reports it.
type EventConnectAccount struct {
	ID                                               string
	ChargesEnabled, PayoutsEnabled, DetailsSubmitted bool
	CurrentlyDue, PendingVerification                []string
	Errors                                           []string // the requirements' error reasons
	DisabledReason                                   string
}

// EventTransfer is a transfer as an event reports it.
type EventTransfer struct {
	ID string
}

// EventPayout is a payout (a connected account's Stripe balance to its
// bank) as an event reports it.
type EventPayout struct {
	ID                          string
	Amount                      int64
	ArrivalDate                 time.Time
	FailureCode, FailureMessage string // when it failed
}

// EventVerifier turns a webhook payload into an Event once its signature
// verifies. An *UnverifiedEventError says nothing in the payload can be
// trusted; any other error, that a verified event (its ID and Type set)
// could not be read.
type EventVerifier interface {
	VerifyEvent(payload []byte, signature string) (Event, error)
}

// UnverifiedEventError is a payload refused by an EventVerifier: no or a
// wrong signature, too old, or no event id or type.
type UnverifiedEventError struct{ Reason string }

func (e *UnverifiedEventError) Error() string { return "unverified event: " + e.Reason }
