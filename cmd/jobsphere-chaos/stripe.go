package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stripe/stripe-go/v76"
)

// fakeStripe answers the Stripe API calls the server makes through
// stripe-go, as Stripe would: a unique id per object, Idempotency-Key
// honoured (the same key and parameters give the same response, other
// parameters an idempotency_error), objects remembered so the run can check
// what was paid, and the webhook events Stripe would send handed to emit.
// stripe-mock cannot stand in here: its ids are fixed fixtures.
type fakeStripe struct {
	secretKey                    string
	webhookSecret, connectSecret string
	baseURL                      string // its own address, for the pages it names
	tag                          string // makes ids unique across runs
	emit                         func(*stripeEvent)

	latencyMu sync.Mutex
	latencyRN *rand.Rand
	maxDelay  time.Duration

	// killCaller, while killing is on, SIGKILLs the process whose call
	// Stripe just carried out, before it hears the answer, with
	// probability killOdds for transfers and refunds (a fifth of it for
	// payments); it returns once the process is dead.
	killCaller func(proc int) <-chan struct{}
	killOdds   float64
	killing    atomic.Bool

	mu         sync.Mutex
	seq        int
	idem       map[string]*idemEntry
	sessions   map[string]*fsSession
	intents    map[string]*fsIntent
	refunds    map[string]*fsRefund
	accounts   map[string]*fsAccount
	transfers  map[string]*fsTransfer
	disputes   map[string]*fsDispute // by PaymentIntent: one dispute per payment
	customers  map[string]bool
	fcSessions int
	events     []*stripeEvent
	calls      map[string]int
	replays    int
	declines   int
	refusals   map[string]int // business refusals by code (balance, already refunded, …)
	anomalies  []string       // requests Stripe would refuse as malformed, or a second refund
	mismatches []string       // an idempotency key reused with other parameters (Stripe refuses it)
	balance    int64          // the platform's Stripe balance: paid in - refunded - transferred
}

type idemEntry struct {
	form   url.Values
	hash   string
	done   chan struct{}
	status int
	body   []byte
}

type fsSession struct {
	ID, Kind, Currency string
	Amount             int64
	Metadata, PIMeta   map[string]string
	ClientRef          string
	SuccessURL         string
	CancelURL          string
	Status             string // open, complete, expired
	Paid               bool
	PaymentIntent      string
	Created            int64
}

type fsIntent struct {
	ID, Currency, PaymentMethod, Description string
	Amount                                   int64
	Metadata                                 map[string]string
	Status                                   string // succeeded, requires_action, requires_payment_method
	ViaCheckout                              bool   // made by paying a Checkout session
	Refunded                                 int64
	FailureCode                              string
	Created                                  int64
}

type fsRefund struct {
	ID, PaymentIntent, Key string
	Amount                 int64
	Dashboard              bool // made in the Dashboard, not asked for by the server
}

type fsAccount struct {
	ID, Email, UserID string
	State             string // pending, verified, rejected
}

type fsTransfer struct {
	ID, Destination, WithdrawalID string
	Amount                        int64
	Reversed                      bool
}

// stripeEvent is one event as Stripe sends it: the payload is fixed at
// creation, each delivery is signed anew.
type stripeEvent struct {
	ID, Type string
	Connect  bool // signed with the Connect endpoint's secret
	Payload  []byte
}

func newFakeStripe(secretKey, webhookSecret, connectSecret string, seed uint64, maxDelay time.Duration) *fakeStripe {
	tag := strconv.FormatUint(seed%(36*36*36*36), 36)
	return &fakeStripe{
		secretKey: secretKey, webhookSecret: webhookSecret, connectSecret: connectSecret,
		tag: tag, latencyRN: rand.New(rand.NewPCG(seed, 7)), maxDelay: maxDelay,
		idem: map[string]*idemEntry{}, sessions: map[string]*fsSession{}, intents: map[string]*fsIntent{},
		refunds: map[string]*fsRefund{}, accounts: map[string]*fsAccount{}, transfers: map[string]*fsTransfer{},
		disputes:  map[string]*fsDispute{},
		customers: map[string]bool{}, calls: map[string]int{}, refusals: map[string]int{},
	}
}

// newID is a Stripe-looking id, unique in the run (and across runs).
func (s *fakeStripe) newID(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s_%s%07d", prefix, s.tag, s.seq)
}

// delay is Stripe's latency: half before the work, half after, so a
// killed caller sometimes loses an answer to work Stripe did.
func (s *fakeStripe) delay() time.Duration {
	if s.maxDelay <= 0 {
		return 0
	}
	s.latencyMu.Lock()
	defer s.latencyMu.Unlock()
	return time.Duration(s.latencyRN.Int64N(int64(s.maxDelay))) / 2
}

// roll is true with probability p.
func (s *fakeStripe) roll(p float64) bool {
	s.latencyMu.Lock()
	defer s.latencyMu.Unlock()
	return s.latencyRN.Float64() < p
}

// callerPrefix starts the API base of process i: /proc/i.
const callerPrefix = "/proc/"

// caller splits /proc/i/v1/… into i and /v1/…; -1 without the prefix.
func caller(path string) (int, string) {
	rest, ok := strings.CutPrefix(path, callerPrefix)
	if !ok {
		return -1, path
	}
	n, rest, _ := strings.Cut(rest, "/")
	i, err := strconv.Atoi(n)
	if err != nil {
		return -1, path
	}
	return i, "/" + rest
}

// maybeKill kills the caller of a call Stripe carried out, at the odds of
// its kind: the answer is then lost, the work done.
func (s *fakeStripe) maybeKill(proc int, path string, status int) {
	odds := s.killOdds
	switch path {
	case "/v1/transfers", "/v1/refunds":
	case "/v1/payment_intents", "/v1/checkout/sessions":
		odds /= 5
	default:
		return
	}
	if proc < 0 || status != 200 || !s.killing.Load() || !s.roll(odds) {
		return
	}
	select {
	case <-s.killCaller(proc):
	case <-time.After(5 * time.Second):
	}
}

func (s *fakeStripe) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	proc, path := caller(r.URL.Path)
	r.URL.Path = path
	time.Sleep(s.delay())
	if r.Header.Get("Authorization") != "Bearer "+s.secretKey {
		writeStripe(w, 401, stripeError("invalid_request_error", "", "", "Invalid API Key provided"), false)
		return
	}
	if r.Method == http.MethodGet {
		status, body := s.retrieve(r.URL.Path)
		time.Sleep(s.delay())
		writeStripe(w, status, body, false)
		return
	}
	err := r.ParseForm()
	if err != nil && (errors.Is(err, io.ErrUnexpectedEOF) || r.Context().Err() != nil) {
		return // the caller was killed while sending its request: nothing was asked
	}
	if err != nil || r.Method != http.MethodPost {
		s.anomaly("unexpected Stripe request %s %s", r.Method, r.URL.Path)
		writeStripe(w, 404, stripeError("invalid_request_error", "", "", "Unrecognized request URL"), false)
		return
	}
	key := r.Header.Get("Idempotency-Key")
	hash := r.URL.Path + "?" + r.PostForm.Encode()
	s.mu.Lock()
	s.calls[r.URL.Path]++
	e := s.idem[key]
	if key != "" && e != nil {
		s.replays++
		s.mu.Unlock()
		<-e.done
		if e.hash != hash {
			s.mismatch(key, e.form, r.PostForm)
			writeStripe(w, 400, stripeError("idempotency_error", "", "",
				"Keys for idempotent requests can only be used with the same parameters they were first used with."), false)
			return
		}
		time.Sleep(s.delay())
		writeStripe(w, e.status, e.body, true)
		return
	}
	e = &idemEntry{form: r.PostForm, hash: hash, done: make(chan struct{})}
	if key != "" {
		s.idem[key] = e
	}
	e.status, e.body = s.handle(r.URL.Path, r.PostForm, key)
	s.mu.Unlock()
	close(e.done)
	time.Sleep(s.delay())
	s.maybeKill(proc, r.URL.Path, e.status)
	writeStripe(w, e.status, e.body, false)
}

func writeStripe(w http.ResponseWriter, status int, body []byte, replayed bool) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Request-Id", "req_chaos")
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func stripeError(typ, code, param, msg string) []byte {
	e := map[string]any{"type": typ, "message": msg}
	if code != "" {
		e["code"] = code
	}
	if param != "" {
		e["param"] = param
	}
	return mustJSON(map[string]any{"error": e})
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// anomaly records something Stripe would refuse that a correct server
// never sends. Callers hold s.mu or not, as the name says.
func (s *fakeStripe) anomaly(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.anomalyLocked(format, args...)
}

func (s *fakeStripe) anomalyLocked(format string, args ...any) {
	s.anomalies = append(s.anomalies, fmt.Sprintf(format, args...))
}

// retrieve answers GET /v1/<objects>/<id> with the object as it is now,
// for a server that asks Stripe rather than trusting an event's copy.
func (s *fakeStripe) retrieve(path string) (int, []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls["GET "+path[:strings.LastIndex(path, "/")+1]+"{id}"]++
	kind, id := path[:strings.LastIndex(path, "/")], path[strings.LastIndex(path, "/")+1:]
	var obj map[string]any
	switch kind {
	case "/v1/accounts":
		if a := s.accounts[id]; a != nil {
			obj = s.accountObject(a)
		}
	case "/v1/checkout/sessions":
		if cs := s.sessions[id]; cs != nil {
			obj = s.sessionObject(cs)
		}
	case "/v1/payment_intents":
		if pi := s.intents[id]; pi != nil {
			obj = s.intentObject(pi)
		}
	case "/v1/transfers":
		if t := s.transfers[id]; t != nil {
			obj = transferObject(t, "usd", map[string]string{"withdrawal_id": t.WithdrawalID})
		}
	case "/v1/refunds":
		if r := s.refunds[id]; r != nil {
			obj = map[string]any{"id": r.ID, "object": "refund", "amount": r.Amount, "payment_intent": r.PaymentIntent, "status": "succeeded"}
		}
	default:
		s.anomalyLocked("unexpected Stripe request GET %s", path)
	}
	if obj == nil {
		return 404, stripeError("invalid_request_error", "resource_missing", "id", "No such object: '"+id+"'")
	}
	return 200, mustJSON(obj)
}

// mismatch records what differed when a key was reused.
func (s *fakeStripe) mismatch(key string, was, now url.Values) {
	var diff []string
	for k := range was {
		if was.Get(k) != now.Get(k) {
			diff = append(diff, fmt.Sprintf("%s %q → %q", k, was.Get(k), now.Get(k)))
		}
	}
	for k := range now {
		if _, ok := was[k]; !ok {
			diff = append(diff, fmt.Sprintf("%s (new) %q", k, now.Get(k)))
		}
	}
	sort.Strings(diff)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mismatches = append(s.mismatches, fmt.Sprintf("key %q: %s", key, strings.Join(diff, ", ")))
}

// handle does the work of one new (not replayed) request; s.mu is held.
func (s *fakeStripe) handle(path string, f url.Values, key string) (int, []byte) {
	switch path {
	case "/v1/checkout/sessions":
		return s.createSession(f)
	case "/v1/payment_intents":
		return s.createIntent(f)
	case "/v1/refunds":
		return s.createRefund(f, key)
	case "/v1/accounts":
		return s.createAccount(f)
	case "/v1/account_links":
		return s.createAccountLink(f)
	case "/v1/transfers":
		return s.createTransfer(f)
	case "/v1/customers":
		id := s.newID("cus")
		s.customers[id] = true
		return 200, mustJSON(map[string]any{"id": id, "object": "customer", "email": f.Get("email"), "name": f.Get("name"),
			"metadata": prefixed(f, "metadata"), "created": time.Now().Unix(), "livemode": false})
	case "/v1/financial_connections/sessions":
		if !s.customers[f.Get("account_holder[customer]")] || f.Get("account_holder[type]") != "customer" {
			return s.malformed("account_holder[customer]", "No such customer: %q", f.Get("account_holder[customer]"))
		}
		s.fcSessions++
		id := s.newID("fcsess")
		return 200, mustJSON(map[string]any{"id": id, "object": "financial_connections.session",
			"client_secret": id + "_secret_chaos", "accounts": map[string]any{"object": "list", "data": []any{}}, "livemode": false})
	}
	s.anomalyLocked("unexpected Stripe endpoint POST %s", path)
	return 404, stripeError("invalid_request_error", "", "", "Unrecognized request URL (POST: "+path+")")
}

func (s *fakeStripe) malformed(param, format string, args ...any) (int, []byte) {
	msg := fmt.Sprintf(format, args...)
	s.anomalyLocked("Stripe would refuse a request: %s (%s)", msg, param)
	return 400, stripeError("invalid_request_error", "parameter_invalid", param, msg)
}

func (s *fakeStripe) refuse(status int, code, msg string) (int, []byte) {
	s.refusals[code]++
	return status, stripeError("invalid_request_error", code, "", msg)
}

// prefixed collects name[key]=value parameters (metadata) into a map.
func prefixed(f url.Values, name string) map[string]string {
	out := map[string]string{}
	for k, v := range f {
		if strings.HasPrefix(k, name+"[") && strings.HasSuffix(k, "]") && len(v) > 0 {
			inner := k[len(name)+1 : len(k)-1]
			if !strings.Contains(inner, "[") {
				out[inner] = v[0]
			}
		}
	}
	return out
}

func positive(f url.Values, name string) (int64, bool) {
	n, err := strconv.ParseInt(f.Get(name), 10, 64)
	return n, err == nil && n > 0
}

func (s *fakeStripe) createSession(f url.Values) (int, []byte) {
	unit, ok := positive(f, "line_items[0][price_data][unit_amount]")
	if !ok {
		return s.malformed("line_items[0][price_data][unit_amount]", "unit_amount must be a positive integer")
	}
	qty, ok := positive(f, "line_items[0][quantity]")
	if !ok {
		return s.malformed("line_items[0][quantity]", "quantity must be a positive integer")
	}
	if f.Get("mode") != "payment" || f.Get("success_url") == "" || f.Get("cancel_url") == "" ||
		f.Get("line_items[0][price_data][currency]") == "" || f.Get("line_items[0][price_data][product_data][name]") == "" {
		return s.malformed("mode", "a payment session needs mode, success_url, cancel_url, currency and a product name")
	}
	cs := &fsSession{
		ID: s.newID("cs_test"), Amount: unit * qty, Currency: f.Get("line_items[0][price_data][currency]"),
		Metadata: prefixed(f, "metadata"), PIMeta: prefixed(f, "payment_intent_data[metadata]"),
		ClientRef: f.Get("client_reference_id"), SuccessURL: f.Get("success_url"), CancelURL: f.Get("cancel_url"),
		Status: "open", Created: time.Now().Unix(),
	}
	cs.Kind = cs.Metadata["kind"]
	s.sessions[cs.ID] = cs
	return 200, mustJSON(s.sessionObject(cs))
}

func (s *fakeStripe) sessionObject(cs *fsSession) map[string]any {
	payment := "unpaid"
	if cs.Paid {
		payment = "paid"
	}
	var pi any
	if cs.PaymentIntent != "" {
		pi = cs.PaymentIntent
	}
	return map[string]any{
		"id": cs.ID, "object": "checkout.session", "mode": "payment", "url": s.baseURL + "/pay/" + cs.ID,
		"amount_total": cs.Amount, "amount_subtotal": cs.Amount, "currency": cs.Currency, "metadata": cs.Metadata,
		"client_reference_id": cs.ClientRef, "payment_status": payment, "status": cs.Status, "payment_intent": pi,
		"success_url": cs.SuccessURL, "cancel_url": cs.CancelURL, "created": cs.Created,
		"expires_at": cs.Created + 24*3600, "livemode": false,
	}
}

func (s *fakeStripe) intentObject(pi *fsIntent) map[string]any {
	o := map[string]any{
		"id": pi.ID, "object": "payment_intent", "amount": pi.Amount, "currency": pi.Currency, "status": pi.Status,
		"metadata": pi.Metadata, "client_secret": pi.ID + "_secret_chaos", "payment_method": pi.PaymentMethod,
		"description": pi.Description, "created": pi.Created, "livemode": false,
		"capture_method": "automatic", "confirmation_method": "automatic", "amount_received": int64(0),
	}
	switch pi.Status {
	case "succeeded":
		o["amount_received"] = pi.Amount
		o["latest_charge"] = chargeOf(pi.ID)
	case "requires_action":
		o["next_action"] = map[string]any{"type": "redirect_to_url",
			"redirect_to_url": map[string]any{"url": s.baseURL + "/3ds/" + pi.ID, "return_url": "https://example.test/return"}}
	case "requires_payment_method":
		if pi.FailureCode != "" {
			o["last_payment_error"] = map[string]any{"type": "card_error", "code": pi.FailureCode, "message": "The payment failed"}
		}
	}
	return o
}

// cardOutcomes are Stripe's test payment methods the run uses.
var cardOutcomes = map[string]struct{ status, code, decline string }{
	"pm_card_visa":                            {status: "succeeded"},
	"pm_card_authenticationRequired":          {status: "requires_action"},
	"pm_card_chargeDeclined":                  {status: "declined", code: "card_declined", decline: "generic_decline"},
	"pm_card_chargeDeclinedInsufficientFunds": {status: "declined", code: "card_declined", decline: "insufficient_funds"},
}

func (s *fakeStripe) createIntent(f url.Values) (int, []byte) {
	amount, ok := positive(f, "amount")
	if !ok || f.Get("currency") == "" {
		return s.malformed("amount", "amount and currency are required")
	}
	pm := f.Get("payment_method")
	outcome, known := cardOutcomes[pm]
	if !known {
		return 400, stripeError("invalid_request_error", "resource_missing", "payment_method", "No such PaymentMethod: '"+pm+"'")
	}
	if f.Get("confirm") == "true" && f.Get("return_url") == "" {
		return s.malformed("return_url", "confirming server-side needs return_url or automatic_payment_methods[allow_redirects]=never")
	}
	pi := &fsIntent{ID: s.newID("pi"), Amount: amount, Currency: f.Get("currency"), PaymentMethod: pm,
		Description: f.Get("description"), Metadata: prefixed(f, "metadata"), Status: outcome.status, Created: time.Now().Unix()}
	s.intents[pi.ID] = pi
	switch outcome.status {
	case "succeeded":
		s.balance += amount
		s.event(stripe.EventTypePaymentIntentSucceeded, s.intentObject(pi), "")
	case "requires_action":
		s.event(stripe.EventTypePaymentIntentRequiresAction, s.intentObject(pi), "")
	default:
		s.declines++
		pi.Status, pi.FailureCode = "requires_payment_method", outcome.code
		obj := s.intentObject(pi)
		s.event(stripe.EventTypePaymentIntentPaymentFailed, obj, "")
		return 402, mustJSON(map[string]any{"error": map[string]any{
			"type": "card_error", "code": outcome.code, "decline_code": outcome.decline,
			"message": "Your card was declined.", "payment_intent": obj,
		}})
	}
	return 200, mustJSON(s.intentObject(pi))
}

func (s *fakeStripe) createRefund(f url.Values, key string) (int, []byte) {
	pi := s.intents[f.Get("payment_intent")]
	if pi == nil {
		return s.malformed("payment_intent", "No such payment_intent: %q", f.Get("payment_intent"))
	}
	amount := pi.Amount - pi.Refunded
	if f.Get("amount") != "" {
		var ok bool
		if amount, ok = positive(f, "amount"); !ok {
			return s.malformed("amount", "amount must be a positive integer")
		}
	}
	if pi.Status != "succeeded" {
		return s.malformed("payment_intent", "PaymentIntent %s has not succeeded; nothing to refund", pi.ID)
	}
	if s.disputes[pi.ID] != nil {
		return s.refuse(400, "charge_disputed", "Charge "+chargeOf(pi.ID)+" has been charged back; cannot issue a refund.")
	}
	if amount > pi.Amount-pi.Refunded {
		s.anomalyLocked("a refund of %d for %s (key %q) after %d of %d was already refunded under another key",
			amount, pi.ID, key, pi.Refunded, pi.Amount)
		return s.refuse(400, "charge_already_refunded", "Charge for "+pi.ID+" has already been refunded.")
	}
	pi.Refunded += amount
	s.balance -= amount
	r := &fsRefund{ID: s.newID("re"), PaymentIntent: pi.ID, Amount: amount, Key: key}
	s.refunds[r.ID] = r
	s.event("charge.refunded", s.chargeObject(pi), "")
	return 200, mustJSON(map[string]any{"id": r.ID, "object": "refund", "amount": amount, "payment_intent": pi.ID,
		"charge": chargeOf(pi.ID), "currency": pi.Currency, "status": "succeeded", "created": time.Now().Unix()})
}

// chargeObject is a succeeded PaymentIntent's charge, with its running
// total refunded.
func (s *fakeStripe) chargeObject(pi *fsIntent) map[string]any {
	return map[string]any{"id": chargeOf(pi.ID), "object": "charge", "amount": pi.Amount,
		"amount_refunded": pi.Refunded, "payment_intent": pi.ID, "refunded": pi.Refunded == pi.Amount,
		"currency": pi.Currency, "metadata": pi.Metadata, "livemode": false}
}

func (s *fakeStripe) createAccount(f url.Values) (int, []byte) {
	if f.Get("type") != "express" || f.Get("capabilities[transfers][requested]") != "true" {
		return s.malformed("type", "an Express account with the transfers capability was expected")
	}
	a := &fsAccount{ID: s.newID("acct"), Email: f.Get("email"), UserID: prefixed(f, "metadata")["user_id"], State: "pending"}
	s.accounts[a.ID] = a
	obj := s.accountObject(a)
	s.event(stripe.EventTypeAccountUpdated, obj, a.ID)
	return 200, mustJSON(obj)
}

func (s *fakeStripe) accountObject(a *fsAccount) map[string]any {
	enabled := a.State == "verified"
	due := []string{}
	var disabled any
	switch a.State {
	case "pending":
		due = []string{"external_account", "individual.verification.document"}
		disabled = "requirements.past_due"
	case "rejected":
		disabled = "rejected.other"
	}
	return map[string]any{
		"id": a.ID, "object": "account", "type": "express", "email": a.Email,
		"charges_enabled": enabled, "payouts_enabled": enabled, "details_submitted": a.State != "pending",
		"metadata": map[string]string{"user_id": a.UserID},
		"requirements": map[string]any{"currently_due": due, "eventually_due": due, "past_due": due,
			"pending_verification": []string{}, "errors": []any{}, "disabled_reason": disabled},
	}
}

func (s *fakeStripe) createAccountLink(f url.Values) (int, []byte) {
	if s.accounts[f.Get("account")] == nil {
		return s.malformed("account", "No such account: %q", f.Get("account"))
	}
	if f.Get("refresh_url") == "" || f.Get("return_url") == "" || f.Get("type") != "account_onboarding" {
		return s.malformed("type", "an account_onboarding link needs refresh_url and return_url")
	}
	now := time.Now().Unix()
	return 200, mustJSON(map[string]any{"object": "account_link", "created": now, "expires_at": now + 300,
		"url": s.baseURL + "/onboard/" + f.Get("account")})
}

func (s *fakeStripe) createTransfer(f url.Values) (int, []byte) {
	amount, ok := positive(f, "amount")
	if !ok || f.Get("currency") == "" {
		return s.malformed("amount", "amount and currency are required")
	}
	a := s.accounts[f.Get("destination")]
	if a == nil {
		return s.malformed("destination", "No such destination: %q", f.Get("destination"))
	}
	if a.State != "verified" {
		return s.refuse(400, "insufficient_capabilities_for_transfer",
			"Your destination account needs to have at least one of the following capabilities enabled: transfers")
	}
	if amount > s.balance {
		return s.refuse(400, "balance_insufficient", "Insufficient funds in Stripe account.")
	}
	s.balance -= amount
	meta := prefixed(f, "metadata")
	t := &fsTransfer{ID: s.newID("tr"), Destination: a.ID, Amount: amount, WithdrawalID: meta["withdrawal_id"]}
	s.transfers[t.ID] = t
	obj := transferObject(t, f.Get("currency"), meta)
	s.event("transfer.created", obj, "")
	return 200, mustJSON(obj)
}

func transferObject(t *fsTransfer, currency string, meta map[string]string) map[string]any {
	reversed := int64(0)
	if t.Reversed {
		reversed = t.Amount
	}
	return map[string]any{"id": t.ID, "object": "transfer", "amount": t.Amount, "currency": currency,
		"destination": t.Destination, "metadata": meta, "reversed": t.Reversed, "amount_reversed": reversed,
		"created": time.Now().Unix(), "livemode": false}
}

// event makes an event Stripe would send now (s.mu held) and hands it on.
// account names the connected account of a Connect event.
func (s *fakeStripe) event(typ stripe.EventType, object map[string]any, account string) {
	ev := map[string]any{
		"id": s.newID("evt"), "object": "event", "api_version": stripe.APIVersion, "created": time.Now().Unix(),
		"type": typ, "livemode": false, "pending_webhooks": 1,
		"request": map[string]any{"id": nil, "idempotency_key": nil}, "data": map[string]any{"object": object},
	}
	if account != "" {
		ev["account"] = account
	}
	e := &stripeEvent{ID: ev["id"].(string), Type: string(typ), Connect: account != "", Payload: mustJSON(ev)}
	s.events = append(s.events, e)
	if s.emit != nil {
		s.emit(e)
	}
}

// The payer's and the platform's side: what a browser, a bank or the
// dashboard does to Stripe objects.

// openSession runs fn on a session that is still open; false if it is
// not.
func (s *fakeStripe) openSession(id string, fn func(*fsSession)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.sessions[id]
	if cs == nil || cs.Status != "open" {
		return false
	}
	fn(cs)
	return true
}

// PaySession pays an open Checkout session with a card; false if it was
// not open.
func (s *fakeStripe) PaySession(id string) bool {
	return s.openSession(id, func(cs *fsSession) {
		pi := &fsIntent{ID: s.newID("pi"), Amount: cs.Amount, Currency: cs.Currency, PaymentMethod: "pm_card_visa",
			Metadata: cs.PIMeta, Status: "succeeded", ViaCheckout: true, Created: time.Now().Unix()}
		s.intents[pi.ID] = pi
		cs.Status, cs.Paid, cs.PaymentIntent = "complete", true, pi.ID
		s.balance += cs.Amount
		s.event(stripe.EventTypeCheckoutSessionCompleted, s.sessionObject(cs), "")
		s.event(stripe.EventTypePaymentIntentSucceeded, s.intentObject(pi), "")
	})
}

// ExpireSession expires an open session (the payer walked away).
func (s *fakeStripe) ExpireSession(id string) bool {
	return s.openSession(id, func(cs *fsSession) {
		cs.Status = "expired"
		s.event(stripe.EventTypeCheckoutSessionExpired, s.sessionObject(cs), "")
	})
}

// Authenticate finishes (or fails) 3-D Secure of a PaymentIntent.
func (s *fakeStripe) Authenticate(id string, succeed bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	pi := s.intents[id]
	if pi == nil || pi.Status != "requires_action" {
		return false
	}
	if succeed {
		pi.Status = "succeeded"
		s.balance += pi.Amount
		s.event(stripe.EventTypePaymentIntentSucceeded, s.intentObject(pi), "")
		return true
	}
	pi.Status, pi.FailureCode = "requires_payment_method", "payment_intent_authentication_failure"
	s.event(stripe.EventTypePaymentIntentPaymentFailed, s.intentObject(pi), "")
	return true
}

// SetAccountState finishes onboarding: verified, or rejected by Stripe.
func (s *fakeStripe) SetAccountState(id, state string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[id]
	if a == nil || a.State != "pending" {
		return false
	}
	a.State = state
	s.event(stripe.EventTypeAccountUpdated, s.accountObject(a), a.ID)
	return true
}

// ReverseTransfer reverses a transfer (from the dashboard).
func (s *fakeStripe) ReverseTransfer(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.transfers[id]
	if t == nil || t.Reversed {
		return false
	}
	t.Reversed = true
	s.balance += t.Amount
	s.event(stripe.EventTypeTransferReversed, transferObject(t, "usd", map[string]string{"withdrawal_id": t.WithdrawalID}), "")
	return true
}

// RequiresAction lists the PaymentIntents waiting for 3-D Secure.
func (s *fakeStripe) RequiresAction() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id, pi := range s.intents {
		if pi.Status == "requires_action" {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// Finish ends what is still open, as time would: open sessions expire,
// 3-D Secure left waiting is finished or abandoned.
func (s *fakeStripe) Finish(rng *rand.Rand) {
	s.mu.Lock()
	var open []string
	for id, cs := range s.sessions {
		if cs.Status == "open" {
			open = append(open, id)
		}
	}
	s.mu.Unlock()
	sort.Strings(open)
	for _, id := range open {
		s.ExpireSession(id)
	}
	for _, id := range s.RequiresAction() {
		s.Authenticate(id, rng.IntN(2) == 0)
	}
}
