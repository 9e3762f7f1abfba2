package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"

	"github.com/jobsphere/jobsphere/server/servertest"
)

const connectWebhookSecret = "whsec_connect_test"

const lifecycleStatus = `{ connectAccountStatus { hasAccount accountId status onboardingComplete payoutsEnabled payoutFailure } }`

type lifecycle struct {
	HasAccount, OnboardingComplete, PayoutsEnabled bool
	AccountID, Status, PayoutFailure               *string
}

// connectStripe is a scripted Stripe for the Connect lifecycle: each
// idempotency key of /v1/accounts makes an account of its own (as Stripe
// does; stripe-mock answers one fixed id), and transfers succeed.
type connectStripe struct {
	mu       sync.Mutex
	accounts map[string]string // idempotency key → account id
}

func startConnectStripe(t *testing.T) (*connectStripe, string) {
	cs := &connectStripe{accounts: map[string]string{}}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		key := r.Header.Get("Idempotency-Key")
		switch r.URL.Path {
		case "/v1/accounts":
			cs.mu.Lock()
			id, ok := cs.accounts[key]
			if !ok {
				id = fmt.Sprintf("acct_scripted%d", len(cs.accounts)+1)
				cs.accounts[key] = id
			}
			cs.mu.Unlock()
			_, _ = fmt.Fprintf(w, `{"id":%q,"object":"account","type":"express"}`, id)
		case "/v1/account_links":
			_, _ = io.WriteString(w, `{"object":"account_link","url":"https://connect.example.test/onboard","created":1700000000,"expires_at":1700000300}`)
		case "/v1/transfers":
			_, _ = fmt.Fprintf(w, `{"id":"tr_%x","object":"transfer","amount":%s}`, key, r.FormValue("amount"))
		default:
			t.Errorf("unexpected Stripe request %s %s", r.Method, r.URL.Path)
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(api.Close)
	return cs, api.URL
}

// connectLifecycleServer starts a server on the scripted Stripe, with a
// Connect endpoint secret of its own, and a contractor whose account is
// VERIFIED (by an account.updated of a minute ago) holding $100.00.
func connectLifecycleServer(t *testing.T, db servertest.Database) (*servertest.Server, *servertest.Client, *connectStripe, string) {
	t.Helper()
	cs, apiURL := startConnectStripe(t)
	env := servertest.Env(t, db)
	servertest.StripeEnv(env, apiURL)
	env["STRIPE_CONNECT_WEBHOOK_SECRET"] = connectWebhookSecret
	env["REQUIRE_WITHDRAWAL_APPROVAL"] = "false"
	srv := servertest.Start(t, env)
	k := srv.Register(t, "CONTRACTOR")
	kc := srv.Client(k.AccessToken)
	var created struct{ CreateConnectAccount struct{ AccountID string } }
	kc.MustDo(t, createConnect, nil, &created)
	acct := created.CreateConnectAccount.AccountID
	postConnectEvent(t, srv, "evt_verified", stripe.EventTypeAccountUpdated, acct, time.Now().Add(-time.Minute), accountObject(acct, true))
	if s := lifecycleOf(t, kc); *s.Status != "VERIFIED" {
		t.Fatalf("onboarded: %+v", s)
	}
	srv.Fund(t, k.ID, 10000)
	return srv, kc, cs, acct
}

func accountObject(acct string, verified bool) map[string]any {
	return map[string]any{
		"id": acct, "object": "account", "charges_enabled": verified, "payouts_enabled": verified, "details_submitted": true,
		"requirements": map[string]any{"currently_due": []string{}, "pending_verification": []string{}, "errors": []any{}},
	}
}

// postConnectEvent delivers a connected account's event, made by Stripe at
// created, signed with the Connect endpoint's secret; it must be taken.
func postConnectEvent(t *testing.T, srv *servertest.Server, id string, typ stripe.EventType, account string, created time.Time, object map[string]any) {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal(servertest.StripeEvent(t, id, typ, object), &ev); err != nil {
		t.Fatal(err)
	}
	ev["created"] = created.Unix()
	if account != "" {
		ev["account"] = account
	}
	raw, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	if code := srv.PostWebhook(t, "/webhooks/stripe", raw, servertest.Sign(raw, connectWebhookSecret, time.Time{})); code != http.StatusOK {
		t.Fatalf("%s %s: %d", typ, id, code)
	}
}

func lifecycleOf(t *testing.T, c *servertest.Client) lifecycle {
	t.Helper()
	var s struct{ ConnectAccountStatus lifecycle }
	c.MustDo(t, lifecycleStatus, nil, &s)
	return s.ConnectAccountStatus
}

// TestConnectDeauthorizedAndReconnected: account.application.deauthorized
// (twice, and with account.updated events older and newer around it)
// makes the account DISCONNECTED for good; withdrawals are refused until
// the contractor onboards a new Stripe account, whose events alone count.
func TestConnectDeauthorizedAndReconnected(t *testing.T) {
	servertest.EachDatabase(t, func(t *testing.T, db servertest.Database) {
		srv, kc, cs, acct := connectLifecycleServer(t, db)
		deauthorized := map[string]any{"id": "ca_platform", "object": "application", "name": "JobSphere"}
		for range 2 { // a redelivery changes nothing
			postConnectEvent(t, srv, "evt_deauth", stripe.EventTypeAccountApplicationDeauthorized, acct, time.Now().Add(-30*time.Second), deauthorized)
		}
		if s := lifecycleOf(t, kc); *s.Status != "DISCONNECTED" || s.PayoutsEnabled || s.OnboardingComplete || *s.AccountID != acct {
			t.Fatalf("deauthorized: %+v", s)
		}
		// Out of order: an account.updated made before the deauthorization,
		// delivered after it, and one made after it: neither brings it back.
		postConnectEvent(t, srv, "evt_old", stripe.EventTypeAccountUpdated, acct, time.Now().Add(-45*time.Second), accountObject(acct, true))
		postConnectEvent(t, srv, "evt_new", stripe.EventTypeAccountUpdated, acct, time.Now(), accountObject(acct, true))
		if s := lifecycleOf(t, kc); *s.Status != "DISCONNECTED" {
			t.Fatalf("a report of a disconnected account applied: %+v", s)
		}
		if e := kc.Do(t, withdrawMutation, map[string]any{"a": "20"}).RequireError(t, "CONFLICT"); e.Message != "Please reconnect your Stripe account" {
			t.Fatalf("withdraw while disconnected: %q", e.Message)
		}
		if w := walletOf(t, kc); w.Wallet.Balance != "100.00" {
			t.Fatalf("wallet after the refusal: %+v", w)
		}

		// Reconnecting makes a new Stripe account, onboarded from PENDING;
		// a second request does not make another.
		var refreshed struct {
			RefreshConnectOnboardingLink struct{ AccountID, OnboardingURL string }
		}
		kc.MustDo(t, `mutation { refreshConnectOnboardingLink { accountId onboardingUrl } }`, nil, &refreshed)
		next := refreshed.RefreshConnectOnboardingLink.AccountID
		if next == acct || refreshed.RefreshConnectOnboardingLink.OnboardingURL == "" {
			t.Fatalf("reconnect: %+v (was %s)", refreshed, acct)
		}
		if s := lifecycleOf(t, kc); *s.Status != "PENDING" || *s.AccountID != next || s.PayoutsEnabled {
			t.Fatalf("reconnected: %+v", s)
		}
		if e := kc.Do(t, createConnect, nil).RequireError(t, "CONFLICT"); e.Message != "Stripe Connect account already exists" {
			t.Fatalf("create after reconnect: %q", e.Message)
		}
		cs.mu.Lock()
		if len(cs.accounts) != 2 {
			t.Fatalf("Stripe accounts made: %v", cs.accounts)
		}
		cs.mu.Unlock()
		// The old account's late events find no account of ours.
		postConnectEvent(t, srv, "evt_late", stripe.EventTypeAccountUpdated, acct, time.Now().Add(time.Minute), accountObject(acct, true))
		postConnectEvent(t, srv, "evt_deauth2", stripe.EventTypeAccountApplicationDeauthorized, acct, time.Now(), deauthorized)
		if s := lifecycleOf(t, kc); *s.Status != "PENDING" || *s.AccountID != next {
			t.Fatalf("the old account's events moved the new one: %+v", s)
		}
		kc.Do(t, withdrawMutation, map[string]any{"a": "20"}).RequireError(t, "CONFLICT")
		postConnectEvent(t, srv, "evt_next", stripe.EventTypeAccountUpdated, next, time.Now(), accountObject(next, true))
		var out withdrawResult
		kc.MustDo(t, withdrawMutation, map[string]any{"a": "20"}, &out)
		if out.Withdraw.Withdrawal.Status != "COMPLETED" || out.Withdraw.Wallet.Balance != "80.00" {
			t.Fatalf("withdraw after reconnecting: %+v", out.Withdraw)
		}
		srv.RequireLedgerVerified(t)
	})
}

// TestConnectPayoutFailure: payout.failed on the connected account shows
// in connectAccountStatus with Stripe's code and message, in any order
// and any number of times; a later payout.paid clears it; the ledger does
// not move.
func TestConnectPayoutFailure(t *testing.T) {
	servertest.EachDatabase(t, func(t *testing.T, db servertest.Database) {
		srv, kc, _, acct := connectLifecycleServer(t, db)
		var out withdrawResult
		kc.MustDo(t, withdrawMutation, map[string]any{"a": "50"}, &out)
		payout := func(id string, failed bool) map[string]any {
			po := map[string]any{"id": id, "object": "payout", "amount": 5000, "currency": "usd",
				"arrival_date": time.Now().Add(48 * time.Hour).Unix(), "status": "paid", "type": "bank_account"}
			if failed {
				po["status"], po["failure_code"], po["failure_message"] = "failed", "account_closed", "The bank account has been closed"
			}
			return po
		}
		now := time.Now()
		for range 2 {
			postConnectEvent(t, srv, "evt_po1_failed", stripe.EventTypePayoutFailed, acct, now.Add(-20*time.Second), payout("po_1", true))
		}
		want := "account_closed: The bank account has been closed"
		if s := lifecycleOf(t, kc); s.PayoutFailure == nil || *s.PayoutFailure != want || *s.Status != "VERIFIED" {
			t.Fatalf("payout failed: %+v", s)
		}
		// The failed payout's own paid, of the same second: it was paid,
		// then failed.
		postConnectEvent(t, srv, "evt_po1_paid", stripe.EventTypePayoutPaid, acct, now.Add(-20*time.Second), payout("po_1", false))
		if s := lifecycleOf(t, kc); s.PayoutFailure == nil {
			t.Fatalf("the failed payout's paid cleared the failure: %+v", s)
		}
		// An older payout's paid, delivered late, does not clear it.
		postConnectEvent(t, srv, "evt_po0_paid", stripe.EventTypePayoutPaid, acct, now.Add(-time.Minute), payout("po_0", false))
		if s := lifecycleOf(t, kc); s.PayoutFailure == nil || *s.PayoutFailure != want {
			t.Fatalf("a stale payout.paid cleared the failure: %+v", s)
		}
		// The platform's own payouts are not a contractor's.
		postConnectEvent(t, srv, "evt_platform_po", stripe.EventTypePayoutPaid, "", now, payout("po_platform", false))
		if s := lifecycleOf(t, kc); s.PayoutFailure == nil {
			t.Fatalf("the platform's payout cleared the failure: %+v", s)
		}
		postConnectEvent(t, srv, "evt_po2_paid", stripe.EventTypePayoutPaid, acct, now, payout("po_2", false))
		if s := lifecycleOf(t, kc); s.PayoutFailure != nil {
			t.Fatalf("a later payout.paid: %+v", s)
		}
		// The failure of before, again (a new delivery id): older, ignored.
		postConnectEvent(t, srv, "evt_po1_failed_again", stripe.EventTypePayoutFailed, acct, now.Add(-20*time.Second), payout("po_1", true))
		if s := lifecycleOf(t, kc); s.PayoutFailure != nil {
			t.Fatalf("a stale payout.failed: %+v", s)
		}
		if w := walletOf(t, kc); w.Wallet.Balance != "50.00" {
			t.Fatalf("wallet: %+v", w)
		}
		srv.RequireLedgerVerified(t)
	})
}

// TestConnectLifecycleInTheSandbox: the sandbox's onboarding page pays the
// account's balance out to its bank (failed, then paid) and disconnects
// it, with signed events through the webhook route; the contractor then
// onboards a new account and withdraws again.
func TestConnectLifecycleInTheSandbox(t *testing.T) {
	srv := servertest.New(t, servertest.SQLite)
	k := verifiedContractor(t, srv, "verified")
	kc := srv.Client(k.AccessToken)
	srv.Fund(t, k.ID, 10000)
	acct := *lifecycleOf(t, kc).AccountID
	onboard := srv.URL + "/sandbox/connect/" + acct
	if _, body := srv.Get(t, "/sandbox/connect/"+acct+"/onboard"); !strings.Contains(body, "Disconnect the account") || !strings.Contains(body, "Bank payout fails") {
		t.Fatalf("onboarding page: %s", body)
	}
	post := func(path string, form url.Values, status int) {
		t.Helper()
		resp, err := http.PostForm(onboard+path, form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != status {
			t.Fatalf("POST %s %v: %d", path, form, resp.StatusCode)
		}
	}
	post("/payout", url.Values{"outcome": {"failed"}}, http.StatusConflict) // nothing transferred yet
	var out withdrawResult
	kc.MustDo(t, withdrawMutation, map[string]any{"a": "30"}, &out)
	post("/payout", url.Values{"outcome": {"failed"}}, http.StatusOK)
	if s := lifecycleOf(t, kc); s.PayoutFailure == nil || *s.PayoutFailure != "account_closed: The bank account has been closed" {
		t.Fatalf("sandbox payout failed: %+v", s)
	}
	post("/payout", url.Values{"outcome": {"paid"}}, http.StatusOK)
	if s := lifecycleOf(t, kc); s.PayoutFailure != nil {
		t.Fatalf("sandbox payout paid: %+v", s)
	}
	post("/payout", url.Values{"outcome": {"paid"}}, http.StatusConflict) // paid out already

	post("/deauthorize", nil, http.StatusOK)
	if s := lifecycleOf(t, kc); *s.Status != "DISCONNECTED" {
		t.Fatalf("sandbox disconnect: %+v", s)
	}
	kc.Do(t, withdrawMutation, map[string]any{"a": "10"}).RequireError(t, "CONFLICT")
	var created struct {
		CreateConnectAccount struct{ AccountID, OnboardingURL string }
	}
	kc.MustDo(t, createConnect, nil, &created)
	if created.CreateConnectAccount.AccountID == acct {
		t.Fatalf("reconnected to the disconnected account: %+v", created)
	}
	resp, err := http.PostForm(created.CreateConnectAccount.OnboardingURL, url.Values{"outcome": {"verified"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	kc.MustDo(t, withdrawMutation, map[string]any{"a": "10"}, &out)
	if out.Withdraw.Withdrawal.Status != "COMPLETED" || out.Withdraw.Wallet.Balance != "60.00" {
		t.Fatalf("withdraw after reconnecting: %+v", out.Withdraw)
	}
	srv.RequireLedgerVerified(t)
}
