package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"

	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/deposit"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/ent/stripeevent"
	"github.com/jobsphere/jobsphere/ent/wallet"
	"github.com/jobsphere/jobsphere/realtime"
	"github.com/jobsphere/jobsphere/realtime/natstest"
	"github.com/jobsphere/jobsphere/server/servertest"
)

const depositMutation = `mutation($input: DepositInput!) { deposit(input: $input) {
  deposit { id status method amount checkoutUrl stripePaymentIntentId failureReason transaction { id type } }
  wallet { balance pendingDeposits }
  checkoutUrl sessionId requiresAction clientSecret paymentIntentId } }`

type depositResult struct {
	Deposit struct {
		Deposit struct {
			ID, Status, Method, Amount string
			FailureReason              *string
			Transaction                *struct{ ID, Type string }
		}
		Wallet                                                struct{ Balance, PendingDeposits string }
		CheckoutURL, SessionID, ClientSecret, PaymentIntentID *string
		RequiresAction                                        bool
	}
}

func startDeposit(t *testing.T, c *servertest.Client, input map[string]any) depositResult {
	t.Helper()
	var out depositResult
	c.MustDo(t, depositMutation, map[string]any{"input": input}, &out)
	return out
}

func readWallet(t *testing.T, c *servertest.Client) walletResult {
	t.Helper()
	var w walletResult
	c.MustDo(t, walletQuery, nil, &w)
	return w
}

// noRedirects lets a test see the sandbox's redirect instead of following it.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func payCheckout(t *testing.T, checkoutURL, card string) (*http.Response, string) {
	t.Helper()
	resp, err := noRedirects.PostForm(checkoutURL+"/pay", url.Values{"card": {card}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

const walletSubscription = `subscription { walletUpdated { kind wallet { balance pendingDeposits } deposit { id status } transaction { type amount } } }`
const depositSubscription = `subscription($id: ID) { depositCompleted(depositId: $id) { id status amount failureReason } }`

// TestSandboxDepositEndToEnd is the embedded default's whole deposit
// path over real HTTP and websocket: Checkout page, test cards, signed
// events through the webhook code, subscriptions.
func TestSandboxDepositEndToEnd(t *testing.T) {
	servertest.EachDatabase(t, func(t *testing.T, db servertest.Database) {
		srv := servertest.New(t, db)
		customer := srv.Register(t, "CUSTOMER")
		c := srv.Client(customer.AccessToken)

		var cfg struct {
			StripeConfig struct {
				PublishableKey, Currency string
				Sandbox                  bool
			}
		}
		c.MustDo(t, `{ stripeConfig { publishableKey currency sandbox } }`, nil, &cfg)
		if !cfg.StripeConfig.Sandbox || cfg.StripeConfig.Currency != "usd" || cfg.StripeConfig.PublishableKey == "" {
			t.Fatalf("stripeConfig: %+v", cfg.StripeConfig)
		}

		ws, err := srv.DialWebsocket(t, servertest.TransportWS, map[string]any{"Authorization": "Bearer " + customer.AccessToken}, nil)
		if err != nil {
			t.Fatal(err)
		}
		walletSub := ws.Subscribe(t, walletSubscription, nil)
		depositSub := ws.Subscribe(t, depositSubscription, nil)

		d := startDeposit(t, c, map[string]any{"amount": "200"})
		if d.Deposit.CheckoutURL == nil || d.Deposit.Deposit.Status != "PENDING" || d.Deposit.Deposit.Method != "CHECKOUT" ||
			d.Deposit.Wallet.PendingDeposits != "200.00" || d.Deposit.Wallet.Balance != "0.00" {
			t.Fatalf("deposit: %+v", d.Deposit)
		}
		page, body := srv.Get(t, strings.TrimPrefix(*d.Deposit.CheckoutURL, srv.URL))
		if page.StatusCode != http.StatusOK || !strings.Contains(body, "SANDBOX") || !strings.Contains(body, "$200.00") {
			t.Fatalf("checkout page: %d %.300s", page.StatusCode, body)
		}
		resp, _ := payCheckout(t, *d.Deposit.CheckoutURL, "4242 4242 4242 4242")
		if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "/payments/return?result=success") {
			t.Fatalf("pay: %d → %s", resp.StatusCode, resp.Header.Get("Location"))
		}

		// Both subscriptions are pushed.
		got := map[string]servertest.Response{}
		for len(got) < 2 {
			id, r := ws.Next(t)
			got[id] = r
		}
		var we struct {
			WalletUpdated struct {
				Kind        string
				Wallet      struct{ Balance, PendingDeposits string }
				Deposit     *struct{ ID, Status string }
				Transaction *struct{ Type, Amount string }
			}
		}
		if err := json.Unmarshal(got[walletSub].Data, &we); err != nil || we.WalletUpdated.Kind != "DEPOSIT_SUCCEEDED" ||
			we.WalletUpdated.Wallet.Balance != "200.00" || we.WalletUpdated.Transaction == nil || we.WalletUpdated.Transaction.Type != "DEPOSIT" {
			t.Fatalf("walletUpdated: %s %v", got[walletSub].Data, err)
		}
		var dc struct{ DepositCompleted struct{ ID, Status string } }
		if err := json.Unmarshal(got[depositSub].Data, &dc); err != nil || dc.DepositCompleted.Status != "SUCCEEDED" || dc.DepositCompleted.ID != d.Deposit.Deposit.ID {
			t.Fatalf("depositCompleted: %s %v", got[depositSub].Data, err)
		}
		w := readWallet(t, c)
		if w.Wallet.Balance != "200.00" || w.Wallet.PendingDeposits != "0.00" {
			t.Fatalf("wallet after paying: %+v", w.Wallet)
		}
		var page2 txnPage
		c.MustDo(t, transactionsQuery, map[string]any{"type": "DEPOSIT"}, &page2)
		if page2.Transactions.TotalCount != 1 || page2.Transactions.Edges[0].Node.Amount != "200.00" {
			t.Fatalf("history: %+v", page2.Transactions)
		}

		// A declined card fails the deposit and changes no balance.
		d2 := startDeposit(t, c, map[string]any{"amount": 50})
		resp, body = payCheckout(t, *d2.Deposit.CheckoutURL, "4000 0000 0000 0002")
		if resp.StatusCode != http.StatusPaymentRequired || !strings.Contains(body, "Your card was declined") {
			t.Fatalf("declined: %d %.300s", resp.StatusCode, body)
		}
		for {
			id, r := ws.Next(t)
			if id != depositSub {
				continue
			}
			if err := json.Unmarshal(r.Data, &dc); err != nil || dc.DepositCompleted.Status != "FAILED" || dc.DepositCompleted.ID != d2.Deposit.Deposit.ID {
				t.Fatalf("depositCompleted after decline: %s %v", r.Data, err)
			}
			break
		}
		w = readWallet(t, c)
		if w.Wallet.Balance != "200.00" || w.Wallet.PendingDeposits != "0.00" {
			t.Fatalf("wallet after decline: %+v", w.Wallet)
		}

		// 3-D Secure on the checkout page.
		d3 := startDeposit(t, c, map[string]any{"amount": "10.00"})
		resp, body = payCheckout(t, *d3.Deposit.CheckoutURL, "4000002760003184")
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "3-D Secure") {
			t.Fatalf("3DS page: %d %.300s", resp.StatusCode, body)
		}
		r3, err := noRedirects.PostForm(*d3.Deposit.CheckoutURL+"/authenticate", url.Values{"outcome": {"approve"}})
		if err != nil || r3.StatusCode != http.StatusSeeOther {
			t.Fatalf("authenticate: %v %v", r3, err)
		}
		r3.Body.Close()
		if w = readWallet(t, c); w.Wallet.Balance != "210.00" {
			t.Fatalf("after 3DS: %+v", w.Wallet)
		}
		srv.RequireLedgerVerified(t)
	})
}

func TestSandboxPaymentIntents(t *testing.T) {
	srv := servertest.New(t, servertest.SQLite)
	c := srv.Client(srv.Register(t, "CUSTOMER").AccessToken)

	// pm_card_visa: confirmed at once; the sandbox's signed event credits it.
	d := startDeposit(t, c, map[string]any{"amount": "20.00", "paymentMethodId": "pm_card_visa"})
	if d.Deposit.RequiresAction || d.Deposit.PaymentIntentID == nil || d.Deposit.Deposit.Status != "SUCCEEDED" || d.Deposit.Wallet.Balance != "20.00" {
		t.Fatalf("pm_card_visa: %+v", d.Deposit)
	}

	// 3-D Secure: requiresAction with a client secret, finished by the bank.
	d = startDeposit(t, c, map[string]any{"amount": "15.00", "paymentMethodId": "pm_card_authenticationRequired"})
	if !d.Deposit.RequiresAction || d.Deposit.ClientSecret == nil || d.Deposit.Deposit.Status != "REQUIRES_ACTION" || d.Deposit.Wallet.PendingDeposits != "15.00" {
		t.Fatalf("3DS: %+v", d.Deposit)
	}
	resp, err := http.PostForm(srv.URL+"/sandbox/payment_intents/"+*d.Deposit.PaymentIntentID+"/authenticate", url.Values{"outcome": {"approve"}})
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("authenticate: %v %v", resp, err)
	}
	resp.Body.Close()
	if w := readWallet(t, c); w.Wallet.Balance != "35.00" || w.Wallet.PendingDeposits != "0.00" {
		t.Fatalf("after 3DS: %+v", w.Wallet)
	}

	// Declines: PAYMENT_FAILED with the seeds' words and Stripe's codes
	// (another customer: five deposits an hour each).
	srv.RequireLedgerVerified(t)
	c = srv.Client(srv.Register(t, "CUSTOMER").AccessToken)
	for pm, want := range map[string][3]string{
		"pm_card_chargeDeclined":                  {"Your card was declined", "card_declined", "generic_decline"},
		"pm_card_chargeDeclinedInsufficientFunds": {"Your card has insufficient funds", "card_declined", "insufficient_funds"},
		"pm_card_chargeDeclinedExpiredCard":       {"Your card has expired", "expired_card", ""},
		"pm_card_chargeDeclinedIncorrectCvc":      {"Your card's security code is incorrect", "incorrect_cvc", ""},
	} {
		e := c.Do(t, depositMutation, map[string]any{"input": map[string]any{"amount": "12.00", "paymentMethodId": pm}}).RequireError(t, "PAYMENT_FAILED")
		if e.Message != want[0] || e.Extensions["stripeCode"] != want[1] || (want[2] != "" && e.Extensions["declineCode"] != want[2]) {
			t.Fatalf("%s: %q %v", pm, e.Message, e.Extensions)
		}
	}
	if w := readWallet(t, c); w.Wallet.Balance != "0.00" || w.Wallet.PendingDeposits != "0.00" {
		t.Fatalf("after declines: %+v", w.Wallet)
	}
	srv.RequireLedgerVerified(t)
}

func TestDepositValidationAndRateLimit(t *testing.T) {
	servertest.EachDatabase(t, func(t *testing.T, db servertest.Database) {
		env := servertest.Env(t, db)
		a := servertest.Start(t, env)
		customer := a.Register(t, "CUSTOMER")
		c := a.Client(customer.AccessToken)

		for amount, msg := range map[any]string{
			"9.99": "Minimum deposit amount is $10.00", 5: "Minimum deposit amount is $10.00",
			"10.001": "", "-10": "", "1e3": "",
		} {
			e := c.Do(t, depositMutation, map[string]any{"input": map[string]any{"amount": amount}}).RequireError(t, "BAD_USER_INPUT")
			if msg != "" && e.Message != msg {
				t.Fatalf("%v: %q", amount, e.Message)
			}
			if f := e.Fields(); len(f) == 0 || f[0].Field != "amount" {
				t.Fatalf("%v: fields %+v", amount, f)
			}
		}
		c.Do(t, `{ deposit(id: "dep_nope") { id } }`, nil)

		admin := a.Admin(t)
		freeze := `mutation($u: ID!) { freezeWallet(userId: $u, reason: "review") { isFrozen } }`
		a.Client(admin.AccessToken).MustDo(t, freeze, map[string]any{"u": customer.ID}, nil)
		c.Do(t, depositMutation, map[string]any{"input": map[string]any{"amount": 20}}).RequireError(t, "WALLET_FROZEN")
		a.Client(admin.AccessToken).MustDo(t, `mutation($u: ID!) { unfreezeWallet(userId: $u) { isFrozen } }`, map[string]any{"u": customer.ID}, nil)

		// Five an hour, counted in the database: with PostgreSQL, across
		// two instances.
		b := a
		if db == servertest.Postgres {
			b = servertest.Start(t, withoutPublicURL(env))
		}
		for i := range 5 {
			srv := []*servertest.Server{a, b}[i%2]
			startDeposit(t, srv.Client(customer.AccessToken), map[string]any{"amount": 10})
		}
		e := b.Client(customer.AccessToken).Do(t, depositMutation, map[string]any{"input": map[string]any{"amount": 10}}).RequireError(t, "RATE_LIMITED")
		if !strings.HasPrefix(e.Message, "Too many requests. Please try again in ") || e.Extensions["retryAfterSeconds"] == nil {
			t.Fatalf("rate limited: %q %v", e.Message, e.Extensions)
		}
		a.RequireLedgerVerified(t)
	})
}

func withoutPublicURL(env map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range env {
		if k != "PUBLIC_URL" {
			out[k] = v
		}
	}
	return out
}

// stripeServer is a test server set up for Stripe (webhooks signed with
// servertest.WebhookSecret); its gateway is never called here.
func stripeServer(t *testing.T, db servertest.Database) (*servertest.Server, map[string]string) {
	env := stripeEnv(t, db)
	return servertest.Start(t, env), env
}

// stripeEnv is the environment of a stripeServer.
func stripeEnv(t *testing.T, db servertest.Database) map[string]string {
	env := servertest.Env(t, db)
	env["STRIPE_SECRET_KEY"], env["STRIPE_PUBLISHABLE_KEY"] = "sk_test_123", "pk_test_123"
	env["STRIPE_WEBHOOK_SECRET"], env["STRIPE_API_BASE"] = servertest.WebhookSecret, "http://127.0.0.1:1"
	return env
}

// startedDeposit is a deposit as Deposit leaves it before Stripe answers.
func startedDeposit(t *testing.T, srv *servertest.Server, userID string, amount int64) *ent.Deposit {
	t.Helper()
	ctx := context.Background()
	var d *ent.Deposit
	err := srv.App.Client.WithTx(ctx, func(tx *ent.Tx) error {
		var err error
		d, err = tx.Deposit.Create().SetUserID(pulid.ID(userID)).SetAmount(amount).SetMethod(deposit.MethodCHECKOUT).
			SetStripeCheckoutSessionID("cs_test_" + string(pulid.New("x"))).Save(ctx)
		if err != nil {
			return err
		}
		return srv.App.Ledger.AdjustPending(ctx, tx.Client(), pulid.ID(userID), amount)
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func sessionCompleted(t *testing.T, d *ent.Deposit, eventID string) []byte {
	return servertest.StripeEvent(t, eventID, stripe.EventTypeCheckoutSessionCompleted, map[string]any{
		"id": *d.StripeCheckoutSessionID, "object": "checkout.session", "payment_status": "paid", "status": "complete",
		"client_reference_id": string(d.ID), "metadata": map[string]string{"deposit_id": string(d.ID)},
		"payment_intent": "pi_for_" + string(d.ID), "amount_total": d.Amount, "currency": "usd",
	})
}

func intentSucceeded(t *testing.T, d *ent.Deposit, eventID string) []byte {
	return servertest.StripeEvent(t, eventID, stripe.EventTypePaymentIntentSucceeded, map[string]any{
		"id": "pi_for_" + string(d.ID), "object": "payment_intent", "status": "succeeded", "amount": d.Amount,
		"currency": "usd", "metadata": map[string]string{"deposit_id": string(d.ID)},
	})
}

func TestStripeWebhooks(t *testing.T) {
	servertest.EachDatabase(t, func(t *testing.T, db servertest.Database) {
		srv, _ := stripeServer(t, db)
		ctx := context.Background()
		u := srv.Register(t, "CUSTOMER")
		c := srv.Client(u.AccessToken)
		deliver := func(path string, payload []byte) int {
			return srv.PostWebhook(t, path, payload, servertest.Sign(payload, servertest.WebhookSecret, time.Time{}))
		}

		// The same event three times, on the three routes: credited once.
		d1 := startedDeposit(t, srv, u.ID, 5000)
		ev := sessionCompleted(t, d1, "evt_1")
		for _, path := range []string{"/webhooks/stripe", "/webhook", "/api/webhooks/stripe"} {
			if code := deliver(path, ev); code != http.StatusOK {
				t.Fatalf("%s: %d", path, code)
			}
		}
		// The overlapping event type for the same payment, after: no change.
		if code := deliver("/webhooks/stripe", intentSucceeded(t, d1, "evt_2")); code != http.StatusOK {
			t.Fatalf("payment_intent.succeeded: %d", code)
		}
		if w := readWallet(t, c); w.Wallet.Balance != "50.00" || w.Wallet.PendingDeposits != "0.00" {
			t.Fatalf("after duplicates: %+v", w.Wallet)
		}
		// And in the other order for another payment.
		d2 := startedDeposit(t, srv, u.ID, 2500)
		deliver("/webhooks/stripe", intentSucceeded(t, d2, "evt_3"))
		deliver("/webhooks/stripe", sessionCompleted(t, d2, "evt_4"))
		deliver("/webhooks/stripe", intentSucceeded(t, d2, "evt_3"))
		if w := readWallet(t, c); w.Wallet.Balance != "75.00" || w.Wallet.PendingDeposits != "0.00" {
			t.Fatalf("after reversed order: %+v", w.Wallet)
		}
		srv.RequireLedgerVerified(t)

		// Refused deliveries: 400 and nothing recorded or changed.
		d3 := startedDeposit(t, srv, u.ID, 1000)
		good := sessionCompleted(t, d3, "evt_5")
		for name, sig := range map[string]string{
			"missing signature": "",
			"wrong secret":      servertest.Sign(good, "whsec_wrong", time.Time{}),
			"too old":           servertest.Sign(good, servertest.WebhookSecret, time.Now().Add(-10*time.Minute)),
			"garbage":           "t=1,v1=deadbeef",
		} {
			if code := srv.PostWebhook(t, "/webhooks/stripe", good, sig); code != http.StatusBadRequest {
				t.Fatalf("%s: %d", name, code)
			}
		}
		malformed := []byte(`{"id": "evt_6", "type": "checkout.session.completed", "data": `)
		if code := deliver("/webhooks/stripe", malformed); code != http.StatusBadRequest {
			t.Fatalf("malformed JSON: %d", code)
		}
		if n := srv.App.Client.StripeEvent.Query().Where(stripeevent.StripeEventIDIn("evt_5", "evt_6")).CountX(ctx); n != 0 {
			t.Fatalf("refused events recorded: %d", n)
		}
		if w := readWallet(t, c); w.Wallet.Balance != "75.00" || w.Wallet.PendingDeposits != "10.00" {
			t.Fatalf("after refused deliveries: %+v", w.Wallet)
		}

		// Unknown event types are accepted and ignored.
		unknown := servertest.StripeEvent(t, "evt_7", "customer.created", map[string]any{"id": "cus_1", "object": "customer"})
		if code := deliver("/webhooks/stripe", unknown); code != http.StatusOK {
			t.Fatalf("unknown type: %d", code)
		}

		// A failing handler answers 500 and records nothing; Stripe's retry
		// then credits exactly once. (The failure: the wallet row is gone.)
		w3 := srv.App.Client.Wallet.Query().Where(wallet.UserID(pulid.ID(u.ID))).OnlyX(ctx)
		srv.App.Client.Wallet.DeleteOne(w3).ExecX(ctx)
		if code := deliver("/webhooks/stripe", good); code != http.StatusInternalServerError {
			t.Fatalf("failing handler: %d", code)
		}
		srv.App.Client.Wallet.Create().SetID(w3.ID).SetUserID(w3.UserID).SetCurrency(w3.Currency).
			SetBalance(w3.Balance).SetPendingDeposits(w3.PendingDeposits).SetTotalSpent(w3.TotalSpent).ExecX(ctx)
		for range 2 {
			if code := deliver("/webhooks/stripe", good); code != http.StatusOK {
				t.Fatalf("retry: %d", code)
			}
		}
		if w := readWallet(t, c); w.Wallet.Balance != "85.00" || w.Wallet.PendingDeposits != "0.00" {
			t.Fatalf("after retry: %+v", w.Wallet)
		}

		// An abandoned Checkout expires; a failed delayed payment fails.
		for typ, want := range map[stripe.EventType]deposit.Status{
			stripe.EventTypeCheckoutSessionExpired:            deposit.StatusEXPIRED,
			stripe.EventTypeCheckoutSessionAsyncPaymentFailed: deposit.StatusFAILED,
		} {
			d := startedDeposit(t, srv, u.ID, 3000)
			ev := servertest.StripeEvent(t, "evt_"+string(typ), typ, map[string]any{
				"id": *d.StripeCheckoutSessionID, "object": "checkout.session", "payment_status": "unpaid",
				"metadata": map[string]string{"deposit_id": string(d.ID)},
			})
			if code := deliver("/webhooks/stripe", ev); code != http.StatusOK {
				t.Fatalf("%s: %d", typ, code)
			}
			if got := srv.App.Client.Deposit.GetX(ctx, d.ID); got.Status != want {
				t.Fatalf("%s: deposit %s", typ, got.Status)
			}
		}
		if w := readWallet(t, c); w.Wallet.Balance != "85.00" || w.Wallet.PendingDeposits != "0.00" {
			t.Fatalf("after expiry: %+v", w.Wallet)
		}
		srv.RequireLedgerVerified(t)
	})
}

// TestRealtimeAcrossInstances: two servers on one database; a webhook on
// B reaches a subscriber on A, and nobody else. Through PostgreSQL's
// LISTEN/NOTIFY, and through NATS (NATS_URL) on either database.
func TestRealtimeAcrossInstances(t *testing.T) {
	for _, tc := range []struct {
		name string
		db   servertest.Database
		nats bool
	}{
		{"postgres", servertest.Postgres, false},
		{"postgres+nats", servertest.Postgres, true},
		{"sqlite+nats", servertest.SQLite, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.db == servertest.Postgres {
				servertest.RequirePostgres(t)
			}
			env := stripeEnv(t, tc.db)
			if tc.nats {
				env["NATS_URL"] = natstest.Require(t)
			}
			a := servertest.Start(t, env)
			b := servertest.Start(t, withoutPublicURL(env))
			if _, onNATS := b.App.Broker.(*realtime.NATS); onNATS != tc.nats {
				t.Fatalf("broker %T", b.App.Broker)
			}
			testRealtimeAcross(t, a, b)
		})
	}
}

// testRealtimeAcross: a webhook on b reaches a subscriber on a, and nobody
// else.
func testRealtimeAcross(t *testing.T, a, b *servertest.Server) {
	alice, bob := a.Register(t, "CUSTOMER"), a.Register(t, "CUSTOMER")

	aliceWS, err := a.DialWebsocket(t, servertest.LegacyWS, map[string]any{"Authorization": "Bearer " + alice.AccessToken}, nil)
	if err != nil {
		t.Fatal(err)
	}
	walletSub := aliceWS.Subscribe(t, walletSubscription, nil)
	depositSub := aliceWS.Subscribe(t, depositSubscription, nil)
	bobWS, err := a.DialWebsocket(t, servertest.TransportWS, map[string]any{"Authorization": "Bearer " + bob.AccessToken}, nil)
	if err != nil {
		t.Fatal(err)
	}
	bobSub := bobWS.Subscribe(t, walletSubscription, nil)
	// Subscriptions are live once a query on the same socket has answered.
	aliceWS.Query(t, `{ me { id } }`, nil)
	bobWS.Query(t, `{ me { id } }`, nil)

	d := startedDeposit(t, b, alice.ID, 4200)
	payload := sessionCompleted(t, d, "evt_x1")
	if code := b.PostWebhook(t, "/webhooks/stripe", payload, servertest.Sign(payload, servertest.WebhookSecret, time.Time{})); code != http.StatusOK {
		t.Fatalf("webhook on B: %d", code)
	}
	seen := map[string]bool{}
	for len(seen) < 2 {
		id, r := aliceWS.Next(t)
		if len(r.Errors) > 0 {
			t.Fatalf("subscription error: %s", r.ErrorSummary())
		}
		seen[id] = true
	}
	if !seen[walletSub] || !seen[depositSub] {
		t.Fatalf("alice's subscriptions: %v", seen)
	}

	// Bob's first event is his own deposit, not Alice's.
	d2 := startedDeposit(t, b, bob.ID, 1100)
	p2 := sessionCompleted(t, d2, "evt_x2")
	b.PostWebhook(t, "/webhooks/stripe", p2, servertest.Sign(p2, servertest.WebhookSecret, time.Time{}))
	id, r := bobWS.Next(t)
	if id != bobSub || !strings.Contains(string(r.Data), `"11.00"`) {
		t.Fatalf("bob received %s: %s", id, r.Data)
	}
	a.RequireLedgerVerified(t)
}

// TestSubscriptionsLeaveNothingBehind: 1,000 subscribe/unsubscribe cycles
// end with the server's goroutine count where it started.
func TestSubscriptionsLeaveNothingBehind(t *testing.T) {
	srv := servertest.New(t, servertest.SQLite)
	u := srv.Register(t, "CUSTOMER")
	ws, err := srv.DialWebsocket(t, servertest.TransportWS, map[string]any{"Authorization": "Bearer " + u.AccessToken}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ws.Query(t, `{ me { id } }`, nil)
	before := runtime.NumGoroutine()
	for range 1000 {
		id := ws.Subscribe(t, walletSubscription, nil)
		ws.Unsubscribe(t, id)
	}
	ws.Query(t, `{ me { id } }`, nil)
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+5 && time.Now().Before(deadline) {
		runtime.Gosched()
		time.Sleep(10 * time.Millisecond)
	}
	if after := runtime.NumGoroutine(); after > before+5 {
		t.Fatalf("goroutines: %d before, %d after 1,000 cycles", before, after)
	}
}
