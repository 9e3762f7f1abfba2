package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/jobsphere/jobsphere/ent/deposit"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/server/servertest"
)

const stripeDepositMutation = `mutation($input: DepositInput!) {
  deposit(input: $input) {
    deposit { id amount status method checkoutUrl stripeCheckoutSessionId stripePaymentIntentId failureReason completedAt }
    wallet { balance pendingDeposits }
    checkoutUrl sessionId requiresAction clientSecret paymentIntentId
  }
}`

type stripeDepositPayload struct {
	Deposit struct {
		Deposit struct {
			ID, Amount, Status, Method string
			CheckoutURL                *string
			StripeCheckoutSessionID    *string
			StripePaymentIntentID      *string
			FailureReason              *string
			CompletedAt                *string
		}
		Wallet          struct{ Balance, PendingDeposits string }
		CheckoutURL     *string
		SessionID       *string
		RequiresAction  bool
		ClientSecret    *string
		PaymentIntentID *string
	}
}

const stripeDepositQuery = `query($id: ID!) { deposit(id: $id) { id amount status method stripePaymentIntentId failureReason completedAt } }`

func stripeStr(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// TestDepositAgainstStripeMock runs both deposit flows through stripe-go
// against stripe-mock, which validates every request against Stripe's
// OpenAPI spec and answers with fixed fixtures.
func TestDepositAgainstStripeMock(t *testing.T) {
	servertest.EachDatabase(t, func(t *testing.T, db servertest.Database) {
		env := servertest.Env(t, db)
		servertest.StripeEnv(env, servertest.StripeMock(t))
		srv := servertest.Start(t, env)
		alice := srv.Register(t, "CUSTOMER")
		ac := srv.Client(alice.AccessToken)

		var cfg struct {
			StripeConfig struct {
				PublishableKey, Currency string
				Sandbox                  bool
			}
		}
		ac.MustDo(t, `{ stripeConfig { publishableKey currency sandbox } }`, nil, &cfg)
		if cfg.StripeConfig.Sandbox || cfg.StripeConfig.PublishableKey != "pk_test_123" || cfg.StripeConfig.Currency != "usd" {
			t.Fatalf("stripeConfig against stripe-mock: %+v", cfg.StripeConfig)
		}

		// (a) Checkout.
		var co stripeDepositPayload
		ac.MustDo(t, stripeDepositMutation, map[string]any{"input": map[string]any{"amount": "25.00"}}, &co)
		p := co.Deposit
		if stripeStr(p.CheckoutURL) == "" || stripeStr(p.SessionID) == "" {
			t.Fatalf("checkout deposit: checkoutUrl %q, sessionId %q: want stripe-mock's fixture values", stripeStr(p.CheckoutURL), stripeStr(p.SessionID))
		}
		if p.RequiresAction || p.ClientSecret != nil || p.PaymentIntentID != nil {
			t.Errorf("checkout deposit has PaymentIntent fields: requiresAction %v, clientSecret %q, paymentIntentId %q",
				p.RequiresAction, stripeStr(p.ClientSecret), stripeStr(p.PaymentIntentID))
		}
		d := p.Deposit
		if d.Status != "PENDING" || d.Method != "CHECKOUT" || d.Amount != "25.00" || !strings.HasPrefix(d.ID, "dep_") {
			t.Errorf("checkout deposit: %+v", d)
		}
		if stripeStr(d.StripeCheckoutSessionID) != stripeStr(p.SessionID) || stripeStr(d.CheckoutURL) != stripeStr(p.CheckoutURL) {
			t.Errorf("checkout deposit record: session %q url %q, payload session %q url %q",
				stripeStr(d.StripeCheckoutSessionID), stripeStr(d.CheckoutURL), stripeStr(p.SessionID), stripeStr(p.CheckoutURL))
		}
		if p.Wallet.PendingDeposits != "25.00" || p.Wallet.Balance != "0.00" {
			t.Errorf("wallet after checkout deposit: %+v, want pendingDeposits 25.00, balance 0.00", p.Wallet)
		}

		// (b) PaymentIntent confirmed server-side. stripe-mock's fixture
		// is in requires_payment_method: no 3-D Secure, still pending.
		var pi stripeDepositPayload
		ac.MustDo(t, stripeDepositMutation, map[string]any{"input": map[string]any{"amount": "30.00", "paymentMethodId": "pm_card_visa"}}, &pi)
		p = pi.Deposit
		if stripeStr(p.PaymentIntentID) == "" {
			t.Fatalf("payment intent deposit: empty paymentIntentId")
		}
		if p.RequiresAction || p.CheckoutURL != nil || p.SessionID != nil {
			t.Errorf("payment intent deposit: requiresAction %v, checkoutUrl %q, sessionId %q", p.RequiresAction, stripeStr(p.CheckoutURL), stripeStr(p.SessionID))
		}
		d = p.Deposit
		if d.Status != "PENDING" || d.Method != "PAYMENT_INTENT" || d.Amount != "30.00" || stripeStr(d.StripePaymentIntentID) != stripeStr(p.PaymentIntentID) {
			t.Errorf("payment intent deposit: %+v (paymentIntentId %q)", d, stripeStr(p.PaymentIntentID))
		}
		if p.Wallet.PendingDeposits != "55.00" || p.Wallet.Balance != "0.00" {
			t.Errorf("wallet after payment intent deposit: %+v, want pendingDeposits 55.00, balance 0.00", p.Wallet)
		}

		// Nothing is posted before Stripe's event says the money arrived.
		srv.RequireLedgerVerified(t)
		var w walletResult
		ac.MustDo(t, walletQuery, nil, &w)
		if w.Wallet.Balance != "0.00" || w.Wallet.PendingDeposits != "55.00" {
			t.Errorf("wallet: %+v, want balance 0.00, pendingDeposits 55.00", w.Wallet)
		}
		if n := srv.App.Client.LedgerTransaction.Query().CountX(context.Background()); n != 0 {
			t.Errorf("%d ledger transactions posted, want none before any webhook", n)
		}
	})
}

// stripeScriptRequest is one request the scripted Stripe received.
type stripeScriptRequest struct {
	Form           url.Values
	IdempotencyKey string
	Auth           string
}

// stripeScript answers POST /v1/payment_intents like Stripe's API, by
// the payment_method of the request; anything else fails the test.
type stripeScript struct {
	t       *testing.T
	answers map[string]stripeScriptAnswer // by payment_method

	mu       sync.Mutex
	requests map[string][]stripeScriptRequest // by payment_method
}

type stripeScriptAnswer struct {
	status int
	body   string
}

func (s *stripeScript) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/payment_intents" {
		s.t.Errorf("scripted Stripe: unexpected %s %s", r.Method, r.URL)
		http.Error(w, `{"error":{"type":"invalid_request_error","message":"unexpected request"}}`, http.StatusNotFound)
		return
	}
	if err := r.ParseForm(); err != nil {
		s.t.Errorf("scripted Stripe: parse form: %v", err)
		http.Error(w, `{"error":{"type":"invalid_request_error","message":"bad form"}}`, http.StatusBadRequest)
		return
	}
	pm := r.PostForm.Get("payment_method")
	s.mu.Lock()
	s.requests[pm] = append(s.requests[pm], stripeScriptRequest{Form: r.PostForm, IdempotencyKey: r.Header.Get("Idempotency-Key"), Auth: r.Header.Get("Authorization")})
	s.mu.Unlock()
	a, ok := s.answers[pm]
	if !ok {
		s.t.Errorf("scripted Stripe: no answer for payment_method %q", pm)
		a = stripeScriptAnswer{http.StatusBadRequest, `{"error":{"type":"invalid_request_error","message":"unscripted payment method"}}`}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Request-Id", "req_scripted")
	w.WriteHeader(a.status)
	_, _ = io.WriteString(w, a.body)
}

func (s *stripeScript) received(pm string) []stripeScriptRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]stripeScriptRequest(nil), s.requests[pm]...)
}

// cardError is Stripe's 402 body for a declined confirmation.
func stripeCardError(code, declineCode, message string, amount int64) string {
	pi := map[string]any{
		"id": "pi_declined_" + code, "object": "payment_intent", "status": "requires_payment_method",
		"amount": amount, "currency": "usd", "client_secret": "pi_declined_" + code + "_secret_x",
	}
	e := map[string]any{
		"type": "card_error", "code": code, "message": message, "payment_intent": pi,
		"doc_url": "https://stripe.com/docs/error-codes/" + strings.ReplaceAll(code, "_", "-"),
	}
	if declineCode != "" {
		e["decline_code"] = declineCode
	}
	raw, err := json.Marshal(map[string]any{"error": e})
	if err != nil {
		panic(err)
	}
	return string(raw)
}

// TestDepositScriptedStripe drives the PaymentIntent flow through stripe-go
// against a server that answers like Stripe does for 3-D Secure and for
// declined cards, which stripe-mock cannot.
func TestDepositScriptedStripe(t *testing.T) {
	type decline struct {
		pm, code, declineCode, stripeMessage string
		amount                               string
		minor                                int64
		want                                 string // the client's message
	}
	declines := []decline{
		{"pm_generic_decline", "card_declined", "generic_decline", "Your card was declined.", "11.00", 1100, "Your card was declined"},
		{"pm_insufficient_funds", "card_declined", "insufficient_funds", "Your card has insufficient funds.", "12.00", 1200, "Your card has insufficient funds"},
		{"pm_expired_card", "expired_card", "expired_card", "Your card has expired.", "13.00", 1300, "Your card has expired"},
		{"pm_incorrect_cvc", "incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect.", "14.00", 1400, "Your card's security code is incorrect"},
		{"pm_processing_error", "processing_error", "", "An error occurred while processing your card. Try again in a little bit.", "15.00", 1500, "An error occurred. Please try again"},
	}
	const threeDS = "pm_3ds"
	answers := map[string]stripeScriptAnswer{
		threeDS: {http.StatusOK, `{"id":"pi_3ds_1","object":"payment_intent","status":"requires_action","client_secret":"pi_3ds_1_secret_abc",` +
			`"amount":4000,"currency":"usd","next_action":{"type":"use_stripe_sdk","use_stripe_sdk":{}}}`},
	}
	for _, c := range declines {
		answers[c.pm] = stripeScriptAnswer{http.StatusPaymentRequired, stripeCardError(c.code, c.declineCode, c.stripeMessage, c.minor)}
	}

	servertest.EachDatabase(t, func(t *testing.T, db servertest.Database) {
		ctx := context.Background()
		stripe := &stripeScript{t: t, answers: answers, requests: map[string][]stripeScriptRequest{}}
		api := httptest.NewServer(stripe)
		t.Cleanup(api.Close)
		env := servertest.Env(t, db)
		servertest.StripeEnv(env, api.URL)
		srv := servertest.Start(t, env)

		// checkRequest asserts the one request Stripe got for a deposit.
		checkRequest := func(t *testing.T, pm string, minor int64, depositID string) {
			t.Helper()
			reqs := stripe.received(pm)
			if len(reqs) != 1 {
				t.Fatalf("Stripe got %d requests with payment_method %s, want exactly 1", len(reqs), pm)
			}
			r := reqs[0]
			want := map[string]string{
				"amount":               fmt.Sprint(minor),
				"currency":             "usd",
				"payment_method":       pm,
				"confirm":              "true",
				"metadata[deposit_id]": depositID,
			}
			for k, v := range want {
				if got := r.Form.Get(k); got != v {
					t.Errorf("Stripe request %s = %q, want %q (form %v)", k, got, v, r.Form)
				}
			}
			if !strings.HasPrefix(r.Form.Get("metadata[deposit_id]"), "dep_") {
				t.Errorf("metadata[deposit_id] = %q, want a dep_ id", r.Form.Get("metadata[deposit_id]"))
			}
			if ru := r.Form.Get("return_url"); !strings.HasPrefix(ru, srv.URL+"/") {
				t.Errorf("return_url = %q, want a page of %s", ru, srv.URL)
			}
			if r.IdempotencyKey != "deposit:"+depositID {
				t.Errorf("Idempotency-Key = %q, want %q", r.IdempotencyKey, "deposit:"+depositID)
			}
			if r.Auth != "Bearer "+servertest.StripeTestSecretKey {
				t.Errorf("Authorization = %q, want the secret key as bearer", r.Auth)
			}
		}

		requireNothingPosted := func(t *testing.T) {
			t.Helper()
			if n := srv.App.Client.LedgerTransaction.Query().CountX(ctx); n != 0 {
				t.Errorf("%d ledger transactions posted, want none", n)
			}
			srv.RequireLedgerVerified(t)
		}

		t.Run("3-D Secure", func(t *testing.T) {
			u := srv.Register(t, "CUSTOMER")
			c := srv.Client(u.AccessToken)
			var out stripeDepositPayload
			c.MustDo(t, stripeDepositMutation, map[string]any{"input": map[string]any{"amount": "40.00", "paymentMethodId": threeDS}}, &out)
			p := out.Deposit
			if !p.RequiresAction || stripeStr(p.ClientSecret) != "pi_3ds_1_secret_abc" || stripeStr(p.PaymentIntentID) != "pi_3ds_1" {
				t.Errorf("3-D Secure deposit: requiresAction %v, clientSecret %q, paymentIntentId %q, want true, pi_3ds_1_secret_abc, pi_3ds_1",
					p.RequiresAction, stripeStr(p.ClientSecret), stripeStr(p.PaymentIntentID))
			}
			d := p.Deposit
			if d.Status != "REQUIRES_ACTION" || d.Method != "PAYMENT_INTENT" || d.Amount != "40.00" || stripeStr(d.StripePaymentIntentID) != "pi_3ds_1" {
				t.Errorf("3-D Secure deposit: %+v", d)
			}
			if p.Wallet.PendingDeposits != "40.00" || p.Wallet.Balance != "0.00" {
				t.Errorf("wallet after 3-D Secure deposit: %+v, want pendingDeposits 40.00, balance 0.00", p.Wallet)
			}
			var w walletResult
			c.MustDo(t, walletQuery, nil, &w)
			if w.Wallet.PendingDeposits != "40.00" || w.Wallet.Balance != "0.00" {
				t.Errorf("wallet: %+v, want pendingDeposits 40.00, balance 0.00", w.Wallet)
			}
			checkRequest(t, threeDS, 4000, d.ID)
			requireNothingPosted(t)
		})

		for _, tc := range declines {
			t.Run(tc.pm, func(t *testing.T) {
				u := srv.Register(t, "CUSTOMER")
				c := srv.Client(u.AccessToken)
				resp := c.Do(t, stripeDepositMutation, map[string]any{"input": map[string]any{"amount": tc.amount, "paymentMethodId": tc.pm}})
				e := resp.RequireError(t, "PAYMENT_FAILED")
				if e.Message != tc.want {
					t.Errorf("message %q, want %q", e.Message, tc.want)
				}
				if got := e.Extensions["stripeCode"]; got != tc.code {
					t.Errorf("extensions.stripeCode = %v, want %q", got, tc.code)
				}
				if got, ok := e.Extensions["declineCode"]; tc.declineCode == "" && ok {
					t.Errorf("extensions.declineCode = %v, want none", got)
				} else if tc.declineCode != "" && got != tc.declineCode {
					t.Errorf("extensions.declineCode = %v, want %q", got, tc.declineCode)
				}
				if string(resp.Data) != "null" {
					t.Errorf("data = %s, want null", resp.Data)
				}

				var w walletResult
				c.MustDo(t, walletQuery, nil, &w)
				if w.Wallet.Balance != "0.00" || w.Wallet.PendingDeposits != "0.00" {
					t.Errorf("wallet after a decline: %+v, want balance and pendingDeposits 0.00", w.Wallet)
				}

				dep, err := srv.App.Client.Deposit.Query().Where(deposit.UserID(pulid.ID(u.ID))).Only(ctx)
				if err != nil {
					t.Fatalf("the declined deposit's record: %v", err)
				}
				if dep.Status != deposit.StatusFAILED || dep.Method != deposit.MethodPAYMENT_INTENT || dep.Amount != tc.minor ||
					stripeStr(dep.FailureReason) != tc.want || dep.CompletedAt == nil || dep.TransactionID != nil {
					t.Errorf("declined deposit: status %s, method %s, amount %d, failureReason %q, completedAt %v, transaction %v",
						dep.Status, dep.Method, dep.Amount, stripeStr(dep.FailureReason), dep.CompletedAt, dep.TransactionID)
				}
				// The customer sees it failed too.
				var q struct {
					Deposit *struct {
						ID, Status    string
						FailureReason *string
					}
				}
				c.MustDo(t, stripeDepositQuery, map[string]any{"id": string(dep.ID)}, &q)
				if q.Deposit == nil || q.Deposit.Status != "FAILED" || stripeStr(q.Deposit.FailureReason) != tc.want {
					t.Errorf("deposit(id) after a decline: %+v", q.Deposit)
				}

				// A card error is final: stripe-go does not retry it.
				checkRequest(t, tc.pm, tc.minor, string(dep.ID))
				requireNothingPosted(t)
			})
		}
	})
}
