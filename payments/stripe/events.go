package stripe

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	stripego "github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/jobsphere/jobsphere/payments"
)

// APIVersion is the Stripe API version events must be written in: the one
// stripe-go v76 reads.
const APIVersion = stripego.APIVersion

// Verifier is the payments.EventVerifier of Stripe's webhook deliveries:
// an event must verify under one of its signing secrets.
type Verifier struct {
	secrets []string // the account endpoint's, then the Connect endpoint's
}

// NewVerifier returns the verifier of events signed with one of secrets
// (empty ones are skipped).
func NewVerifier(secrets ...string) *Verifier {
	var nonEmpty []string
	for _, s := range secrets {
		if s != "" {
			nonEmpty = append(nonEmpty, s)
		}
	}
	return &Verifier{secrets: nonEmpty}
}

// VerifyEvent implements payments.EventVerifier. The signature is checked
// with the default tolerance (5 minutes) against replays, and the event's
// API version must be stripe-go v76's (2023-10-16), or fields could be
// misread.
func (v *Verifier) VerifyEvent(payload []byte, signature string) (payments.Event, error) {
	if signature == "" {
		return payments.Event{}, &payments.UnverifiedEventError{Reason: "missing Stripe-Signature header"}
	}
	var lastErr error
	for _, secret := range v.secrets {
		ev, err := webhook.ConstructEventWithOptions(payload, signature, secret, webhook.ConstructEventOptions{})
		if err == nil {
			if ev.ID == "" || ev.Type == "" {
				return payments.Event{}, &payments.UnverifiedEventError{Reason: "event without id or type"}
			}
			return parseEvent(ev)
		}
		lastErr = err
	}
	return payments.Event{}, &payments.UnverifiedEventError{Reason: fmt.Sprintf("event does not verify: %v", lastErr)}
}

// parseEvent reads the object of a verified event into the payments.Event
// field of its kind, which the event type's prefix names (Stripe's types
// are "object.what_happened").
func parseEvent(ev stripego.Event) (payments.Event, error) {
	out := payments.Event{
		ID: ev.ID, Type: payments.EventType(ev.Type), Account: ev.Account,
		Created: time.Unix(ev.Created, 0), Livemode: ev.Livemode,
	}
	var err error
	typ := string(ev.Type)
	switch {
	case strings.HasPrefix(typ, "checkout.session."):
		var cs stripego.CheckoutSession
		if err = json.Unmarshal(ev.Data.Raw, &cs); err == nil {
			out.CheckoutSession = &payments.EventCheckoutSession{
				ID: cs.ID, ClientReferenceID: cs.ClientReferenceID, Metadata: cs.Metadata,
				Paid:        cs.PaymentStatus == stripego.CheckoutSessionPaymentStatusPaid,
				AmountTotal: cs.AmountTotal, Currency: string(cs.Currency),
			}
			if cs.PaymentIntent != nil {
				out.CheckoutSession.PaymentIntentID = cs.PaymentIntent.ID
			}
		}
	case strings.HasPrefix(typ, "payment_intent."):
		var pi stripego.PaymentIntent
		if err = json.Unmarshal(ev.Data.Raw, &pi); err == nil {
			out.PaymentIntent = &payments.EventPaymentIntent{ID: pi.ID, Metadata: pi.Metadata}
			if e := pi.LastPaymentError; e != nil {
				out.PaymentIntent.FailureCode, out.PaymentIntent.FailureDeclineCode = string(e.Code), string(e.DeclineCode)
			}
		}
	case typ == "account.updated": // other account.… events are about other objects
		var a stripego.Account
		if err = json.Unmarshal(ev.Data.Raw, &a); err == nil {
			out.ConnectAccount = connectAccount(&a)
		}
	case strings.HasPrefix(typ, "charge.dispute."):
		var d stripego.Dispute
		if err = json.Unmarshal(ev.Data.Raw, &d); err == nil {
			out.Dispute = dispute(&d)
		}
	case strings.HasPrefix(typ, "radar.early_fraud_warning."):
		var w stripego.RadarEarlyFraudWarning
		if err = json.Unmarshal(ev.Data.Raw, &w); err == nil {
			out.FraudWarning = &payments.EventFraudWarning{ID: w.ID, FraudType: string(w.FraudType), Actionable: w.Actionable}
			if w.Charge != nil {
				out.FraudWarning.ChargeID = w.Charge.ID
			}
			if w.PaymentIntent != nil {
				out.FraudWarning.PaymentIntentID = w.PaymentIntent.ID
			}
		}
	case typ == "charge.refunded": // other charge.… events are about refund objects
		var ch stripego.Charge
		if err = json.Unmarshal(ev.Data.Raw, &ch); err == nil {
			out.Charge = &payments.EventCharge{ID: ch.ID, Amount: ch.Amount, AmountRefunded: ch.AmountRefunded,
				Currency: string(ch.Currency), Metadata: ch.Metadata}
			if ch.PaymentIntent != nil {
				out.Charge.PaymentIntentID = ch.PaymentIntent.ID
			}
		}
	case strings.HasPrefix(typ, "payout."):
		var po stripego.Payout
		if err = json.Unmarshal(ev.Data.Raw, &po); err == nil {
			out.Payout = &payments.EventPayout{
				ID: po.ID, Amount: po.Amount, ArrivalDate: time.Unix(po.ArrivalDate, 0),
				FailureCode: string(po.FailureCode), FailureMessage: po.FailureMessage,
			}
		}
	case strings.HasPrefix(typ, "transfer."):
		var tr stripego.Transfer
		if err = json.Unmarshal(ev.Data.Raw, &tr); err == nil {
			out.Transfer = &payments.EventTransfer{ID: tr.ID}
		}
	}
	if err != nil {
		return out, fmt.Errorf("decode %s %s: %w", ev.Type, ev.ID, err)
	}
	return out, nil
}

// dispute reads a dispute; its balance transactions say what it moved:
// a debit of the platform's balance is the funds withdrawn (with the
// dispute fee), a credit the funds reinstated (a negative fee: the fee
// returned).
func dispute(d *stripego.Dispute) *payments.EventDispute {
	out := &payments.EventDispute{ID: d.ID, Amount: d.Amount, Currency: string(d.Currency),
		Reason: string(d.Reason), Status: string(d.Status)}
	if d.Charge != nil {
		out.ChargeID = d.Charge.ID
	}
	if d.PaymentIntent != nil {
		out.PaymentIntentID = d.PaymentIntent.ID
	}
	for _, bt := range d.BalanceTransactions {
		switch {
		case bt == nil:
		case bt.Amount < 0:
			out.Withdrawn += -bt.Amount
			out.WithdrawnFee += max(bt.Fee, 0)
		case bt.Amount > 0:
			out.Reinstated += bt.Amount
			out.FeeReturned += max(-bt.Fee, 0)
		}
	}
	return out
}

func connectAccount(a *stripego.Account) *payments.EventConnectAccount {
	out := &payments.EventConnectAccount{
		ID: a.ID, ChargesEnabled: a.ChargesEnabled, PayoutsEnabled: a.PayoutsEnabled, DetailsSubmitted: a.DetailsSubmitted,
	}
	if r := a.Requirements; r != nil {
		out.CurrentlyDue, out.PendingVerification = r.CurrentlyDue, r.PendingVerification
		for _, e := range r.Errors {
			out.Errors = append(out.Errors, e.Reason)
		}
		out.DisabledReason = string(r.DisabledReason)
	}
	return out
}

// SignedPayload signs an event's payload as Stripe would, now, with a
// webhook signing secret: the Stripe-Signature header to deliver it with.
func SignedPayload(payload []byte, secret string) (signature string) {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret}).Header
}
