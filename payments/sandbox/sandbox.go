// Package sandbox is the payments.Gateway of the embedded default: a
// stand-in for Stripe that needs no account and no network, with its own
// hosted pages (Checkout, 3-D Secure, Connect onboarding).
package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/payments"
	"github.com/jobsphere/jobsphere/payments/stripe"
)

// Sandbox is the Gateway of the embedded default: no Stripe account, no
// network. Its hosted pages are served by this server, and what Stripe
// would report it sends as properly signed Stripe-shaped events through the
// same webhook code, so everything above the gateway runs as in
// production. Its state lives in memory (a restart forgets open sessions),
// except its books of the platform balance, which live in the database.
type Sandbox struct {
	publicURL string
	secret    string // the webhook signing secret it signs with
	currency  jobsphere.Currency
	db        *ent.Client // its books (books.go)
	logger    *slog.Logger

	mu       sync.Mutex
	deliver  func(ctx context.Context, payload []byte, signature string) error
	sessions map[string]*sandboxSession
	intents  map[string]*sandboxIntent
	charges  map[string]*sandboxCharge // by payment intent id: the payments made
	byKey    map[string]any            // idempotency key → the session, intent or refund it made (refundInProgress while it is made)
	balances map[string]int64          // connected account → what its transfers brought, not yet paid out to its bank
}

type sandboxSession struct {
	ID, URL               string
	Amount                int64
	Currency              string
	ClientReferenceID     string
	Metadata              map[string]string
	SuccessURL, CancelURL string
	PaymentIntentID       string
	Complete              bool
	paying                bool // a payment's event is being delivered
}

type sandboxIntent struct {
	ID, ClientSecret string
	Amount           int64
	Currency         string
	Metadata         map[string]string
	Status           intentStatus
}

// intentStatus is a PaymentIntent's status, in Stripe's words.
type intentStatus string

const (
	intentSucceeded             intentStatus = "succeeded"
	intentRequiresAction        intentStatus = "requires_action"
	intentRequiresPaymentMethod intentStatus = "requires_payment_method"
)

// New returns the sandbox gateway. Its links start with publicURL;
// its events are signed with secret.
func New(publicURL, secret string, currency jobsphere.Currency, db *ent.Client, logger *slog.Logger) *Sandbox {
	return &Sandbox{
		publicURL: publicURL, secret: secret, currency: currency, db: db, logger: logger,
		sessions: map[string]*sandboxSession{}, intents: map[string]*sandboxIntent{},
		charges: map[string]*sandboxCharge{}, byKey: map[string]any{}, balances: map[string]int64{},
	}
}

// DeliverTo sets where the sandbox sends its signed events: the webhook
// endpoint's Receive.
func (sb *Sandbox) DeliverTo(deliver func(ctx context.Context, payload []byte, signature string) error) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	sb.deliver = deliver
}

// Sandbox implements payments.Gateway.
func (*Sandbox) Sandbox() bool { return true }

// CreateCheckoutSession implements payments.Gateway: the session's URL is the
// sandbox's own checkout page.
func (sb *Sandbox) CreateCheckoutSession(_ context.Context, p payments.CheckoutParams) (*payments.CheckoutSession, error) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if prior, ok := sb.byKey[p.IdempotencyKey].(*sandboxSession); ok {
		return &payments.CheckoutSession{ID: prior.ID, URL: prior.URL}, nil
	}
	id := "cs_test_sandbox_" + ulidOf("x")
	s := &sandboxSession{
		ID: id, URL: sb.publicURL + "/sandbox/checkout/" + id,
		Amount: p.Amount, Currency: p.Currency, ClientReferenceID: p.ClientReferenceID, Metadata: p.Metadata,
		SuccessURL: strings.ReplaceAll(p.SuccessURL, "{CHECKOUT_SESSION_ID}", id), CancelURL: p.CancelURL,
	}
	sb.sessions[id] = s
	sb.byKey[p.IdempotencyKey] = s
	return &payments.CheckoutSession{ID: s.ID, URL: s.URL}, nil
}

// testPaymentMethods are Stripe's test payment method ids the sandbox
// honours: the outcome each one has on Stripe in test mode.
var testPaymentMethods = map[string]struct {
	code, decline string // a card error, or "" for success
	action        bool   // needs 3-D Secure
}{
	"pm_card_visa":                            {},
	"pm_card_mastercard":                      {},
	"pm_card_chargeDeclined":                  {code: "card_declined", decline: "generic_decline"},
	"pm_card_chargeDeclinedInsufficientFunds": {code: "card_declined", decline: "insufficient_funds"},
	"pm_card_chargeDeclinedExpiredCard":       {code: "expired_card"},
	"pm_card_chargeDeclinedIncorrectCvc":      {code: "incorrect_cvc"},
	"pm_card_chargeDeclinedProcessingError":   {code: "processing_error"},
	"pm_card_authenticationRequired":          {action: true},
}

// CreatePaymentIntent implements payments.Gateway with Stripe's test payment
// methods. A payment that succeeds at once is reported, as on Stripe, by a
// payment_intent.succeeded event — sent before this returns.
func (sb *Sandbox) CreatePaymentIntent(ctx context.Context, p payments.PaymentIntentParams) (*payments.PaymentIntent, error) {
	outcome, known := testPaymentMethods[p.PaymentMethodID]
	if !known {
		return nil, jobsphere.InvalidInput(jobsphere.FieldError{Field: "paymentMethodId",
			Message: "The sandbox knows Stripe's test payment methods only, e.g. pm_card_visa"})
	}
	if outcome.code != "" {
		return nil, payments.CardDeclined(outcome.code, outcome.decline)
	}
	sb.mu.Lock()
	pi, replay := sb.byKey[p.IdempotencyKey].(*sandboxIntent)
	if !replay {
		id := "pi_sandbox_" + ulidOf("x")
		pi = &sandboxIntent{ID: id, ClientSecret: id + "_secret_sandbox", Amount: p.Amount, Currency: p.Currency,
			Metadata: p.Metadata, Status: intentSucceeded}
		if outcome.action {
			pi.Status = intentRequiresAction
		}
		sb.intents[id] = pi
		sb.byKey[p.IdempotencyKey] = pi
	}
	sb.mu.Unlock()
	if !replay && pi.Status == intentSucceeded {
		if err := sb.send(ctx, payments.PaymentIntentSucceeded, sb.intentObject(pi, "", "")); err != nil {
			return nil, err
		}
		sb.charged(ctx, pi.ID, pi.Amount, pi.Currency)
	}
	return &payments.PaymentIntent{ID: pi.ID, ClientSecret: pi.ClientSecret, RequiresAction: pi.Status == intentRequiresAction}, nil
}

// idFor returns the id made earlier under an idempotency key, or a new one
// with the prefix: what Stripe's idempotency keys do for a created object.
func (sb *Sandbox) idFor(key, prefix string) string {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	id, _ := sb.idForLocked(key, prefix)
	return id
}

// idForLocked is idFor with sb.mu held; made says the id is new.
func (sb *Sandbox) idForLocked(key, prefix string) (id string, made bool) {
	if prior, ok := sb.byKey[key].(string); ok {
		return prior, false
	}
	id = prefix + ulidOf("x")
	sb.byKey[key] = id
	return id, true
}

// CreateConnectAccount implements payments.Gateway: an account whose onboarding is
// the sandbox's own page.
func (sb *Sandbox) CreateConnectAccount(_ context.Context, p payments.ConnectAccountParams) (string, error) {
	return sb.idFor(p.IdempotencyKey, "acct_sandbox_"), nil
}

// CreateOnboardingLink implements payments.Gateway.
func (sb *Sandbox) CreateOnboardingLink(_ context.Context, p payments.OnboardingLinkParams) (*payments.OnboardingLink, error) {
	return &payments.OnboardingLink{
		URL:       sb.publicURL + "/sandbox/connect/" + p.AccountID + "/onboard",
		ExpiresAt: time.Now().Add(5 * time.Minute).Truncate(time.Second),
	}, nil
}

// Onboard finishes a connected account's onboarding as Stripe would report
// it: a signed account.updated event, verified (charges and payouts
// enabled, nothing due) or rejected.
func (sb *Sandbox) Onboard(ctx context.Context, accountID string, verified bool) error {
	account := map[string]any{
		"id": accountID, "object": "account", "type": "express",
		"charges_enabled": verified, "payouts_enabled": verified, "details_submitted": true,
		"requirements": map[string]any{"currently_due": []string{}, "pending_verification": []string{}, "errors": []any{}},
	}
	if !verified {
		account["requirements"] = map[string]any{
			"currently_due": []string{}, "pending_verification": []string{}, "errors": []any{},
			"disabled_reason": "rejected.other",
		}
	}
	return sb.sendFor(ctx, accountID, payments.AccountUpdated, account)
}

// CreateTransfer implements payments.Gateway. Transfers succeed, except amounts
// ending in .13, which fail: the failure path, by hand. What they bring
// waits in the account's balance for its bank payout (Payout).
func (sb *Sandbox) CreateTransfer(ctx context.Context, p payments.TransferParams) (string, error) {
	if p.Amount%100 == 13 {
		msg := "Sandbox: transfers of amounts ending in .13 fail"
		return "", &payments.RefusedError{Message: msg, Err: errors.New("sandbox: balance_insufficient: " + msg)}
	}
	sb.mu.Lock()
	defer sb.mu.Unlock()
	id, made := sb.idForLocked(p.IdempotencyKey, "tr_sandbox_")
	if made {
		if err := sb.book(ctx, payments.BalanceTransaction{Type: payments.BalanceTransfer, Amount: -p.Amount, SourceID: id, TransferID: id}); err != nil {
			delete(sb.byKey, p.IdempotencyKey) // not made: a retry makes it anew
			return "", err
		}
		sb.balances[p.Destination] += p.Amount
	}
	return id, nil
}

// Deauthorize disconnects the platform from a connected account, as its
// owner would in their Stripe Dashboard: a signed
// account.application.deauthorized event.
func (sb *Sandbox) Deauthorize(ctx context.Context, accountID string) error {
	return sb.sendFor(ctx, accountID, payments.AccountApplicationDeauthorized, map[string]any{
		"id": "ca_sandbox", "object": "application", "name": "JobSphere (sandbox)",
	})
}

// Payout pays a connected account's balance out to its bank, as Stripe
// does on the account's schedule: a signed payout.paid, or, when fail is
// set, payout.failed (the bank account was closed) and the money stays in
// the balance for the next one.
func (sb *Sandbox) Payout(ctx context.Context, accountID string, fail bool) error {
	sb.mu.Lock()
	amount := sb.balances[accountID]
	sb.mu.Unlock()
	if amount == 0 {
		return jobsphere.Errorf(jobsphere.Conflict, "Nothing to pay out yet: withdraw to this account first")
	}
	payout := map[string]any{
		"id": "po_sandbox_" + ulidOf("x"), "object": "payout", "amount": amount, "currency": sb.currency.Code,
		"arrival_date": time.Now().AddDate(0, 0, 2).Unix(), "method": "standard", "type": "bank_account", "status": "paid",
	}
	typ := payments.PayoutPaid
	if fail {
		typ = payments.PayoutFailed
		payout["status"], payout["failure_code"], payout["failure_message"] = "failed", "account_closed", "The bank account has been closed"
	}
	if err := sb.sendFor(ctx, accountID, typ, payout); err != nil {
		return err
	}
	if !fail {
		sb.mu.Lock()
		sb.balances[accountID] -= amount
		sb.mu.Unlock()
	}
	return nil
}

// CreateCustomer implements payments.Gateway.
func (sb *Sandbox) CreateCustomer(_ context.Context, p payments.CustomerParams) (string, error) {
	return sb.idFor(p.IdempotencyKey, "cus_sandbox_"), nil
}

// CreateFinancialConnectionsSession implements payments.Gateway with a labelled
// fake: the client secret works with no Stripe SDK.
func (sb *Sandbox) CreateFinancialConnectionsSession(_ context.Context, _, _ string) (*payments.FinancialConnectionsSession, error) {
	id := "fcsess_sandbox_" + ulidOf("x")
	return &payments.FinancialConnectionsSession{SessionID: id, ClientSecret: id + "_secret_SANDBOX_NOT_A_REAL_SECRET"}, nil
}

// AuthenticateIntent finishes (or fails) a PaymentIntent's 3-D Secure
// challenge, as the customer's bank would.
func (sb *Sandbox) AuthenticateIntent(ctx context.Context, id string, approve bool) error {
	sb.mu.Lock()
	pi := sb.intents[id]
	if pi == nil || pi.Status != intentRequiresAction {
		sb.mu.Unlock()
		return jobsphere.Errorf(jobsphere.NotFound, "No PaymentIntent %s awaits authentication", id)
	}
	if approve {
		pi.Status = intentSucceeded
	} else {
		pi.Status = intentRequiresPaymentMethod
	}
	sb.mu.Unlock()
	if approve {
		if err := sb.send(ctx, payments.PaymentIntentSucceeded, sb.intentObject(pi, "", "")); err != nil {
			return err
		}
		sb.charged(ctx, pi.ID, pi.Amount, pi.Currency)
		return nil
	}
	return sb.send(ctx, payments.PaymentIntentPaymentFailed,
		sb.intentObject(pi, "payment_intent_authentication_failure", ""))
}

// cardOutcome is what paying with a test card does.
type cardOutcome struct {
	code, decline string // a card error, or "" for a payment that succeeds
	action        bool   // needs 3-D Secure first
	// After it succeeds, as on Stripe in test mode: the cardholder's bank
	// disputes it (a chargeback), or the issuer warns of fraud.
	disputed, fraudWarning bool
	label                  string
}

// testCards are the seeds' test card numbers, and Stripe's for disputes and
// fraud warnings, and what paying with each does on the sandbox checkout
// page.
var testCards = map[string]cardOutcome{
	"4242424242424242": {label: "Success"},
	"4000000000000002": {code: "card_declined", decline: "generic_decline", label: "Declined"},
	"4000000000000341": {code: "card_declined", decline: "generic_decline", label: "Declined (generic)"},
	"4000000000009995": {code: "card_declined", decline: "insufficient_funds", label: "Declined (insufficient funds)"},
	"4000000000000069": {code: "expired_card", label: "Expired card"},
	"4000000000000127": {code: "incorrect_cvc", label: "Incorrect CVC"},
	"4000002760003184": {action: true, label: "Requires 3-D Secure"},
	"4000000000000259": {disputed: true, label: "Succeeds, then is disputed (a chargeback: the payment's page closes the case)"},
	"4000000000005423": {fraudWarning: true, label: "Succeeds, then an early fraud warning"},
}

// CheckoutOutcome is what paying a sandbox checkout session led to.
type CheckoutOutcome struct {
	Session     *sandboxSession
	Paid        bool
	NeedsAction bool   // show the 3-D Secure step
	Declined    string // the seeds' message, when declined
	RedirectURL string // where to send the browser when paid
}

// PayCheckout pays a session with a test card number.
func (sb *Sandbox) PayCheckout(ctx context.Context, sessionID, card string) (*CheckoutOutcome, error) {
	s, err := sb.openSession(sessionID)
	if err != nil {
		return nil, err
	}
	outcome, ok := testCards[digits(card)]
	if !ok {
		return nil, jobsphere.InvalidInput(jobsphere.FieldError{Field: "card", Message: "Use one of the test cards listed on this page"})
	}
	if outcome.action {
		return &CheckoutOutcome{Session: s, NeedsAction: true}, nil
	}
	return sb.finishCheckout(ctx, s, outcome)
}

// AuthenticateCheckout completes or fails a session's 3-D Secure step.
func (sb *Sandbox) AuthenticateCheckout(ctx context.Context, sessionID string, approve bool) (*CheckoutOutcome, error) {
	s, err := sb.openSession(sessionID)
	if err != nil {
		return nil, err
	}
	if approve {
		return sb.finishCheckout(ctx, s, cardOutcome{})
	}
	return sb.finishCheckout(ctx, s, cardOutcome{code: "payment_intent_authentication_failure"})
}

// finishCheckout pays or declines a session. A session counts as paid only
// once the server has recorded its checkout.session.completed event: if
// delivery fails, the page says so and the session can be paid again (the
// event is idempotent on the session id). A card that is disputed or
// warned of after paying has that happen next (afterPayment).
func (sb *Sandbox) finishCheckout(ctx context.Context, s *sandboxSession, outcome cardOutcome) (*CheckoutOutcome, error) {
	code, decline := outcome.code, outcome.decline
	sb.mu.Lock()
	if s.Complete || s.paying {
		sb.mu.Unlock()
		return nil, jobsphere.Errorf(jobsphere.Conflict, "This checkout session is already paid")
	}
	if s.PaymentIntentID == "" {
		s.PaymentIntentID = "pi_sandbox_" + ulidOf("x")
	}
	pi := &sandboxIntent{ID: s.PaymentIntentID, Amount: s.Amount, Currency: s.Currency, Metadata: s.Metadata,
		ClientSecret: s.PaymentIntentID + "_secret_sandbox"}
	s.paying = code == ""
	sb.mu.Unlock()
	if code != "" {
		pi.Status = intentRequiresPaymentMethod
		if err := sb.send(ctx, payments.PaymentIntentPaymentFailed, sb.intentObject(pi, code, decline)); err != nil {
			return nil, err
		}
		return &CheckoutOutcome{Session: s, Declined: payments.FailureMessage(code, decline)}, nil
	}
	err := sb.send(ctx, payments.CheckoutSessionCompleted, map[string]any{
		"id": s.ID, "object": "checkout.session", "mode": "payment", "status": "complete",
		"payment_status": "paid", "amount_total": s.Amount, "currency": s.Currency,
		"client_reference_id": s.ClientReferenceID, "metadata": s.Metadata, "payment_intent": s.PaymentIntentID,
		"url": nil,
	})
	sb.mu.Lock()
	s.paying, s.Complete = false, err == nil
	sb.mu.Unlock()
	if err != nil {
		return nil, err
	}
	sb.charged(ctx, s.PaymentIntentID, s.Amount, s.Currency)
	sb.afterPayment(ctx, s.PaymentIntentID, outcome)
	return &CheckoutOutcome{Session: s, Paid: true, RedirectURL: s.SuccessURL}, nil
}

// Session returns an open (unpaid) session, for its page.
func (sb *Sandbox) openSession(id string) (*sandboxSession, error) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	s := sb.sessions[id]
	if s == nil {
		return nil, jobsphere.Errorf(jobsphere.NotFound, "No such checkout session (the sandbox forgets sessions when the server restarts)")
	}
	if s.Complete {
		return nil, jobsphere.Errorf(jobsphere.Conflict, "This checkout session is already paid")
	}
	return s, nil
}

func (sb *Sandbox) intentObject(pi *sandboxIntent, code, decline string) map[string]any {
	obj := map[string]any{
		"id": pi.ID, "object": "payment_intent", "amount": pi.Amount, "currency": pi.Currency,
		"status": pi.Status, "metadata": pi.Metadata, "client_secret": pi.ClientSecret,
	}
	if code != "" {
		obj["last_payment_error"] = map[string]any{
			"type": "card_error", "code": code, "decline_code": decline, "message": payments.FailureMessage(code, decline),
		}
	}
	return obj
}

// send signs a Stripe-shaped event and delivers it to the webhook code.
func (sb *Sandbox) send(ctx context.Context, typ payments.EventType, object map[string]any) error {
	return sb.sendFor(ctx, "", typ, object)
}

// sendFor sends an event, as of a connected account when account is set
// (Connect events carry it in event.account).
func (sb *Sandbox) sendFor(ctx context.Context, account string, typ payments.EventType, object map[string]any) error {
	data, err := json.Marshal(object)
	if err != nil {
		return err
	}
	ev := map[string]any{
		"id": "evt_sandbox_" + ulidOf("x"), "object": "event", "api_version": stripe.APIVersion,
		"created": time.Now().Unix(), "type": typ, "livemode": false, "pending_webhooks": 1,
		"data": map[string]any{"object": json.RawMessage(data)},
	}
	if account != "" {
		ev["account"] = account
	}
	payload, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	signature := stripe.SignedPayload(payload, sb.secret)
	sb.mu.Lock()
	deliver := sb.deliver
	sb.mu.Unlock()
	if deliver == nil {
		return fmt.Errorf("sandbox: no webhook endpoint to deliver %s to", typ)
	}
	return deliver(ctx, payload, signature)
}

// Amount formats a session's amount for its page.
func (sb *Sandbox) Amount(s *sandboxSession) string { return sb.currency.Display(s.Amount) }

// ulidOf is the ULID part of a fresh id: sandbox object ids look like
// Stripe's and sort by creation.
func ulidOf(prefix string) string { return strings.TrimPrefix(string(pulid.New(prefix)), prefix+"_") }

func digits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}
