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
	ChargeRefunded                       EventType = "charge.refunded"
	// A card dispute (chargeback) of a payment of ours: the case and its
	// outcome, and the money it moves in the platform's Stripe balance.
	ChargeDisputeCreated         EventType = "charge.dispute.created"
	ChargeDisputeClosed          EventType = "charge.dispute.closed"
	ChargeDisputeFundsWithdrawn  EventType = "charge.dispute.funds_withdrawn"
	ChargeDisputeFundsReinstated EventType = "charge.dispute.funds_reinstated"
	// The card's issuer reports a payment as likely fraud (Stripe Radar);
	// updated says when the warning stops being actionable.
	RadarEarlyFraudWarningCreated EventType = "radar.early_fraud_warning.created"
	RadarEarlyFraudWarningUpdated EventType = "radar.early_fraud_warning.updated"
	// Connect events (event.account set): the contractor disconnected the
	// platform, and the bank payouts from their Stripe balance.
	AccountApplicationDeauthorized EventType = "account.application.deauthorized"
	PayoutFailed                   EventType = "payout.failed"
	PayoutPaid                     EventType = "payout.paid"
)

// Event is a verified Stripe event: what an EventVerifier makes of a
// webhook payload whose signature holds. The object it is about is decoded
// into the one field of its kind (checkout session, payment intent,
// connected account, transfer, payout, charge, dispute, early fraud
// warning); an event about another kind of object has none.
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
	Charge          *EventCharge
	Payout          *EventPayout
	Dispute         *EventDispute
	FraudWarning    *EventFraudWarning
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

// EventCharge is a charge as a charge.refunded event reports it. Stripe
// (API 2023-10-16) no longer lists the refunds on the charge, so what was
// refunded is the running total, AmountRefunded.
type EventCharge struct {
	ID              string
	PaymentIntentID string
	Amount          int64
	AmountRefunded  int64 // every refund of the charge so far, ours and any made in the Dashboard
	Currency        string
	Metadata        map[string]string
}

// EventDispute is a card dispute as its events report it (API 2023-10-16:
// the charge and payment intent as ids).
type EventDispute struct {
	ID, ChargeID, PaymentIntentID string
	Amount                        int64 // disputed
	Currency                      string
	Reason                        string // Stripe's: fraudulent, product_not_received, …
	Status                        string // Stripe's: needs_response, under_review, won, lost, warning_…
	// What the dispute moved in the platform's balance so far, from its
	// balance transactions: the funds withdrawn and the dispute fee
	// charged with them; the funds reinstated and the fee returned.
	Withdrawn, WithdrawnFee, Reinstated, FeeReturned int64
}

// EventFraudWarning is an early fraud warning as its events report it.
type EventFraudWarning struct {
	ID, ChargeID, PaymentIntentID string
	FraudType                     string // the issuer's: made_with_stolen_card, …
	// Actionable: neither refunded in full nor disputed yet.
	Actionable bool
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
