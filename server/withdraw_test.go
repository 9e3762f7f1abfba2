package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"

	"github.com/jobsphere/jobsphere/server/servertest"
)

const withdrawMutation = `mutation($a: Decimal!, $k: String) { withdraw(amount: $a, idempotencyKey: $k) {
  withdrawal { id status amount stripeTransferId failureReason } wallet { balance escrowBalance totalWithdrawals } estimatedArrival } }`

type withdrawResult struct {
	Withdraw struct {
		Withdrawal struct {
			ID, Status, Amount              string
			StripeTransferID, FailureReason *string
		}
		Wallet           struct{ Balance, EscrowBalance, TotalWithdrawals string }
		EstimatedArrival string
	}
}

// verifiedContractor registers a contractor and onboards them in the sandbox.
func verifiedContractor(t *testing.T, srv *servertest.Server, outcome string) servertest.User {
	t.Helper()
	u := srv.Register(t, "CONTRACTOR")
	var created struct {
		CreateConnectAccount struct{ OnboardingURL string }
	}
	srv.Client(u.AccessToken).MustDo(t, createConnect, nil, &created)
	if outcome != "" {
		resp, err := http.PostForm(created.CreateConnectAccount.OnboardingURL, url.Values{"outcome": {outcome}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	return u
}

func TestWithdrawInTheSandbox(t *testing.T) {
	servertest.EachDatabase(t, func(t *testing.T, db servertest.Database) {
		srv := servertest.New(t, db)
		k := verifiedContractor(t, srv, "verified")
		kc := srv.Client(k.AccessToken)
		srv.Fund(t, k.ID, 10000) // earned

		ws, err := srv.DialWebsocket(t, servertest.TransportWS, map[string]any{"Authorization": "Bearer " + k.AccessToken}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ws.Subscribe(t, `subscription { walletUpdated { kind wallet { balance } } }`, nil)
		ws.Query(t, `{ me { id } }`, nil)

		var out withdrawResult
		kc.MustDo(t, withdrawMutation, map[string]any{"a": "50", "k": "w-1"}, &out)
		w := out.Withdraw
		if w.Withdrawal.Status != "COMPLETED" || w.Withdrawal.StripeTransferID == nil || w.EstimatedArrival != "1-2 business days" ||
			w.Wallet.Balance != "50.00" || w.Wallet.EscrowBalance != "0.00" || w.Wallet.TotalWithdrawals != "50.00" {
			t.Fatalf("withdraw: %+v", w)
		}
		if _, r := ws.Next(t); !strings.Contains(string(r.Data), "WITHDRAWAL_UPDATED") {
			t.Fatalf("walletUpdated: %s", r.Data)
		}
		// The same request again (same key): the first withdrawal, nothing more.
		var again withdrawResult
		kc.MustDo(t, withdrawMutation, map[string]any{"a": "50", "k": "w-1"}, &again)
		if again.Withdraw.Withdrawal.ID != w.Withdrawal.ID || again.Withdraw.Wallet.Balance != "50.00" {
			t.Fatalf("retry: %+v", again.Withdraw)
		}
		kc.Do(t, withdrawMutation, map[string]any{"a": "40", "k": "w-1"}).RequireError(t, "CONFLICT")

		// Stripe refuses (sandbox: amounts ending in .13): FAILED, money back.
		kc.MustDo(t, withdrawMutation, map[string]any{"a": "20.13"}, &out)
		if out.Withdraw.Withdrawal.Status != "FAILED" || out.Withdraw.Withdrawal.FailureReason == nil || out.Withdraw.Wallet.Balance != "50.00" {
			t.Fatalf("failed transfer: %+v", out.Withdraw)
		}
		// Three an hour (replays of a key do not count): the fourth is refused.
		kc.MustDo(t, withdrawMutation, map[string]any{"a": "10"}, &out)
		kc.Do(t, withdrawMutation, map[string]any{"a": "10"}).RequireError(t, "RATE_LIMITED")

		var got struct{ Withdrawal *struct{ Status string } }
		kc.MustDo(t, `query($id: ID!) { withdrawal(id: $id) { status } }`, map[string]any{"id": w.Withdrawal.ID}, &got)
		if got.Withdrawal == nil || got.Withdrawal.Status != "COMPLETED" { // the first one
			t.Fatalf("withdrawal(id): %+v", got)
		}
		other := srv.Register(t, "CONTRACTOR")
		srv.Client(other.AccessToken).MustDo(t, `query($id: ID!) { withdrawal(id: $id) { status } }`, map[string]any{"id": w.Withdrawal.ID}, &got)
		if got.Withdrawal != nil {
			t.Fatal("another contractor read the withdrawal")
		}
		srv.RequireLedgerVerified(t)
	})
}

func TestWithdrawRefusals(t *testing.T) {
	srv := servertest.New(t, servertest.SQLite)
	customer := srv.Register(t, "CUSTOMER")
	for _, tc := range []struct {
		user    servertest.User
		amount  string
		code    string
		message string
	}{
		{customer, "50", "FORBIDDEN", "Only contractors can withdraw funds"},
		{srv.Register(t, "CONTRACTOR"), "20", "CONFLICT", "Please complete Stripe Connect onboarding"},
		{verifiedContractor(t, srv, ""), "20", "CONFLICT", "Stripe Connect account is pending verification"},
		{verifiedContractor(t, srv, "rejected"), "20", "CONFLICT", "Your Stripe account is not fully activated"},
		{verifiedContractor(t, srv, "verified"), "5000", "INSUFFICIENT_FUNDS", "Insufficient balance. Available: $30.00"},
		{verifiedContractor(t, srv, "verified"), "9.99", "BAD_USER_INPUT", "Amount must be between $10.00 and $10,000.00"},
	} {
		if tc.user.Role == "CONTRACTOR" {
			srv.Fund(t, tc.user.ID, 3000)
		}
		e := srv.Client(tc.user.AccessToken).Do(t, withdrawMutation, map[string]any{"a": tc.amount}).RequireError(t, tc.code)
		if e.Message != tc.message {
			t.Fatalf("want %q, got %q", tc.message, e.Message)
		}
	}
	frozen := verifiedContractor(t, srv, "verified")
	srv.Fund(t, frozen.ID, 3000)
	admin := srv.Admin(t)
	srv.Client(admin.AccessToken).MustDo(t, `mutation($u: ID!) { freezeWallet(userId: $u, reason: "review") { isFrozen } }`, map[string]any{"u": frozen.ID}, nil)
	srv.Client(frozen.AccessToken).Do(t, withdrawMutation, map[string]any{"a": "10"}).RequireError(t, "WALLET_FROZEN")
	srv.RequireLedgerVerified(t)
}

func TestWithdrawalApproval(t *testing.T) {
	servertest.EachDatabase(t, func(t *testing.T, db servertest.Database) {
		env := servertest.Env(t, db)
		env["REQUIRE_WITHDRAWAL_APPROVAL"] = "true"
		srv := servertest.Start(t, env)
		k := verifiedContractor(t, srv, "verified")
		kc := srv.Client(k.AccessToken)
		srv.Fund(t, k.ID, 10000)
		admin1, admin2 := srv.Admin(t), srv.Admin(t)

		var out withdrawResult
		kc.MustDo(t, withdrawMutation, map[string]any{"a": "60"}, &out)
		if out.Withdraw.Withdrawal.Status != "PENDING" || out.Withdraw.Wallet.Balance != "40.00" || out.Withdraw.Wallet.EscrowBalance != "60.00" {
			t.Fatalf("pending: %+v", out.Withdraw)
		}
		id := out.Withdraw.Withdrawal.ID
		// The admins' queue, the contractor's history, nobody else's.
		queue := `query($s: WithdrawalStatus) { withdrawals(status: $s) { totalCount edges { node { id status } } } }`
		for _, c := range []struct {
			who    *servertest.Client
			status any
			want   int
		}{
			{srv.Client(admin1.AccessToken), "PENDING", 1},
			{srv.Client(admin1.AccessToken), "COMPLETED", 0},
			{kc, nil, 1},
			{srv.Client(srv.Register(t, "CONTRACTOR").AccessToken), nil, 0},
		} {
			var list struct {
				Withdrawals struct {
					TotalCount int
					Edges      []struct{ Node struct{ ID string } }
				}
			}
			c.who.MustDo(t, queue, map[string]any{"s": c.status}, &list)
			if list.Withdrawals.TotalCount != c.want || (c.want == 1 && list.Withdrawals.Edges[0].Node.ID != id) {
				t.Fatalf("withdrawals(status: %v): %+v, want %d", c.status, list.Withdrawals, c.want)
			}
		}
		approve := `mutation($id: ID!) { approveWithdrawal(id: $id) { status stripeTransferId } }`
		kc.Do(t, approve, map[string]any{"id": id}).RequireError(t, "FORBIDDEN")

		// Two admins at once: one transfer, one COMPLETED, one CONFLICT.
		var wg sync.WaitGroup
		results := make([]servertest.Response, 2)
		start := make(chan struct{})
		for i, a := range []servertest.User{admin1, admin2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				results[i] = srv.Client(a.AccessToken).Do(t, approve, map[string]any{"id": id})
			}()
		}
		close(start)
		wg.Wait()
		ok, conflicts := 0, 0
		for _, r := range results {
			switch {
			case len(r.Errors) == 0:
				ok++
			case r.Errors[0].Code() == "CONFLICT":
				conflicts++
			default:
				t.Fatalf("approve: %s", r.ErrorSummary())
			}
		}
		if ok != 1 || conflicts != 1 {
			t.Fatalf("approvals: %d ok, %d conflicts", ok, conflicts)
		}
		if w := walletOf(t, kc); w.Wallet.Balance != "40.00" || w.Wallet.EscrowBalance != "0.00" {
			t.Fatalf("after approval: %+v", w)
		}

		// Reject: the money comes back.
		kc.MustDo(t, withdrawMutation, map[string]any{"a": "30"}, &out)
		reject := `mutation($id: ID!, $r: String!) { rejectWithdrawal(id: $id, reason: $r) { status failureReason } }`
		kc.Do(t, reject, map[string]any{"id": out.Withdraw.Withdrawal.ID, "r": "no"}).RequireError(t, "FORBIDDEN")
		var rejected struct {
			RejectWithdrawal struct{ Status, FailureReason string }
		}
		srv.Client(admin1.AccessToken).MustDo(t, reject, map[string]any{"id": out.Withdraw.Withdrawal.ID, "r": "Bank details mismatch"}, &rejected)
		if rejected.RejectWithdrawal.Status != "REJECTED" || rejected.RejectWithdrawal.FailureReason != "Bank details mismatch" {
			t.Fatalf("reject: %+v", rejected)
		}
		if w := walletOf(t, kc); w.Wallet.Balance != "40.00" || w.Wallet.EscrowBalance != "0.00" {
			t.Fatalf("after reject: %+v", w)
		}
		srv.RequireLedgerVerified(t)
	})
}

// TestWithdrawAgainstStripeMockAndReversal: the transfer request goes to
// Stripe (stripe-mock) with the withdrawal's key; a signed
// transfer.reversed event puts the money back, once.
func TestWithdrawAgainstStripeMockAndReversal(t *testing.T) {
	env := servertest.Env(t, servertest.SQLite)
	servertest.StripeEnv(env, servertest.StripeMock(t))
	srv := servertest.Start(t, env)
	k := srv.Register(t, "CONTRACTOR")
	kc := srv.Client(k.AccessToken)
	var created struct{ CreateConnectAccount struct{ AccountID string } }
	kc.MustDo(t, createConnect, nil, &created)
	acct := created.CreateConnectAccount.AccountID
	sign := func(ev []byte) string { return servertest.Sign(ev, servertest.WebhookSecret, time.Time{}) }
	verified := servertest.StripeEvent(t, "evt_v", stripe.EventTypeAccountUpdated, map[string]any{
		"id": acct, "object": "account", "charges_enabled": true, "payouts_enabled": true, "details_submitted": true,
		"requirements": map[string]any{"currently_due": []string{}, "pending_verification": []string{}, "errors": []any{}},
	})
	verified = []byte(strings.Replace(string(verified), `"object":"event"`, `"object":"event","account":"`+acct+`"`, 1))
	if code := srv.PostWebhook(t, "/webhooks/stripe", verified, sign(verified)); code != http.StatusOK {
		t.Fatalf("account.updated: %d", code)
	}
	srv.Fund(t, k.ID, 10000)
	var out withdrawResult
	kc.MustDo(t, withdrawMutation, map[string]any{"a": "50"}, &out)
	if out.Withdraw.Withdrawal.Status != "COMPLETED" || out.Withdraw.Withdrawal.StripeTransferID == nil {
		t.Fatalf("withdraw: %+v", out.Withdraw)
	}
	reversed := servertest.StripeEvent(t, "evt_r", stripe.EventTypeTransferReversed, map[string]any{
		"id": *out.Withdraw.Withdrawal.StripeTransferID, "object": "transfer", "amount": 5000, "currency": "usd", "reversed": true,
	})
	for range 2 {
		if code := srv.PostWebhook(t, "/webhooks/stripe", reversed, sign(reversed)); code != http.StatusOK {
			t.Fatalf("transfer.reversed: %d", code)
		}
	}
	if w := walletOf(t, kc); w.Wallet.Balance != "100.00" {
		t.Fatalf("after reversal: %+v", w)
	}
	var page txnPage
	kc.MustDo(t, transactionsQuery, map[string]any{"type": "WITHDRAWAL"}, &page)
	statuses := map[string]int{}
	for _, e := range page.Transactions.Edges {
		statuses[e.Node.Status]++
	}
	if statuses["REVERSED"] != 1 {
		t.Fatalf("withdrawal transactions: %+v", statuses)
	}
	srv.RequireLedgerVerified(t)
}

// scriptedConnect starts a server on a scripted Stripe whose transfers
// the given handler answers, with a verified contractor holding $100.00.
func scriptedConnect(t *testing.T, transfer http.HandlerFunc) (*servertest.Server, *servertest.Client) {
	t.Helper()
	stripeAPI := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/accounts":
			_, _ = io.WriteString(w, `{"id":"acct_scripted","object":"account"}`)
		case "/v1/account_links":
			_, _ = io.WriteString(w, `{"object":"account_link","url":"https://connect.example.test/onboard","created":1700000000,"expires_at":1700000300}`)
		case "/v1/transfers":
			if r.Header.Get("Idempotency-Key") == "" {
				t.Errorf("transfer without an idempotency key")
			}
			transfer(w, r)
		default:
			t.Errorf("unexpected Stripe request %s %s", r.Method, r.URL.Path)
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(stripeAPI.Close)
	env := servertest.Env(t, servertest.SQLite)
	servertest.StripeEnv(env, stripeAPI.URL)
	env["REQUIRE_WITHDRAWAL_APPROVAL"] = "false"
	srv := servertest.Start(t, env)
	k := srv.Register(t, "CONTRACTOR")
	kc := srv.Client(k.AccessToken)
	kc.MustDo(t, createConnect, nil, nil)
	ev := servertest.StripeEvent(t, "evt_v", stripe.EventTypeAccountUpdated, map[string]any{
		"id": "acct_scripted", "object": "account", "charges_enabled": true, "payouts_enabled": true,
		"requirements": map[string]any{"currently_due": []string{}},
	})
	ev = []byte(strings.Replace(string(ev), `"object":"event"`, `"object":"event","account":"acct_scripted"`, 1))
	if code := srv.PostWebhook(t, "/webhooks/stripe", ev, servertest.Sign(ev, servertest.WebhookSecret, time.Time{})); code != http.StatusOK {
		t.Fatalf("account.updated: %d", code)
	}
	srv.Fund(t, k.ID, 10000)
	return srv, kc
}

func TestWithdrawScriptedTransferFailure(t *testing.T) {
	var transfers atomic.Int32
	srv, kc := scriptedConnect(t, func(w http.ResponseWriter, r *http.Request) {
		transfers.Add(1)
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":{"type":"invalid_request_error","code":"balance_insufficient","message":"Insufficient funds in Stripe account."}}`)
	})
	var out withdrawResult
	kc.MustDo(t, withdrawMutation, map[string]any{"a": "50"}, &out)
	w := out.Withdraw
	if w.Withdrawal.Status != "FAILED" || w.Withdrawal.FailureReason == nil ||
		*w.Withdrawal.FailureReason != "Transfer failed: Insufficient funds in Stripe account." ||
		w.Wallet.Balance != "100.00" || w.Wallet.EscrowBalance != "0.00" || w.Wallet.TotalWithdrawals != "0.00" {
		t.Fatalf("refused transfer: %+v", w)
	}
	if transfers.Load() != 1 {
		t.Fatalf("transfer requests: %d", transfers.Load())
	}
	srv.RequireLedgerVerified(t)
}

// TestWithdrawUnsureTransfer: Stripe makes the transfer but its answer is
// lost (a 500 here; a process killed at that moment is the same). The
// withdrawal stays PENDING with the money held, no admin can reject it
// and give the money back, and the client's retry with its idempotencyKey
// (or the sweeper) records the one transfer Stripe made.
func TestWithdrawUnsureTransfer(t *testing.T) {
	var mu sync.Mutex
	made := map[string]string{} // idempotency key → transfer id
	answer := false
	srv, kc := scriptedConnect(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		key := r.Header.Get("Idempotency-Key")
		if made[key] == "" {
			made[key] = fmt.Sprintf("tr_scripted_%d", len(made)+1)
		}
		if !answer {
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, `{"error":{"type":"api_error","message":"An unknown error occurred"}}`)
			return
		}
		_, _ = io.WriteString(w, `{"id":"`+made[key]+`","object":"transfer"}`)
	})
	var out withdrawResult
	kc.MustDo(t, withdrawMutation, map[string]any{"a": "50", "k": "payout-1"}, &out)
	w := out.Withdraw
	if w.Withdrawal.Status != "PENDING" || w.Wallet.Balance != "50.00" || w.Wallet.EscrowBalance != "50.00" {
		t.Fatalf("unsure transfer: %+v", w)
	}
	admin := srv.Client(srv.Admin(t).AccessToken)
	admin.Do(t, `mutation($id: ID!) { rejectWithdrawal(id: $id, reason: "changed my mind") { status } }`,
		map[string]any{"id": w.Withdrawal.ID}).RequireError(t, "CONFLICT")

	mu.Lock()
	answer = true
	mu.Unlock()
	kc.MustDo(t, withdrawMutation, map[string]any{"a": "50", "k": "payout-1"}, &out)
	w = out.Withdraw
	if w.Withdrawal.Status != "COMPLETED" || w.Withdrawal.StripeTransferID == nil || *w.Withdrawal.StripeTransferID != "tr_scripted_1" ||
		w.Wallet.Balance != "50.00" || w.Wallet.EscrowBalance != "0.00" || w.Wallet.TotalWithdrawals != "50.00" {
		t.Fatalf("after the retry: %+v", w)
	}
	mu.Lock()
	if len(made) != 1 {
		t.Fatalf("transfers made: %v", made)
	}
	mu.Unlock()
	if n, err := srv.App.Payments.SweepTransfers(context.Background(), 0); n != 0 || err != nil {
		t.Fatalf("sweep after completion: %d, %v", n, err)
	}

	// A client that never retries: the sweeper finishes it.
	mu.Lock()
	answer = false
	mu.Unlock()
	kc.MustDo(t, withdrawMutation, map[string]any{"a": "20"}, &out)
	if out.Withdraw.Withdrawal.Status != "PENDING" {
		t.Fatalf("second unsure transfer: %+v", out.Withdraw)
	}
	mu.Lock()
	answer = true
	mu.Unlock()
	if n, err := srv.App.Payments.SweepTransfers(context.Background(), 0); n != 1 || err != nil {
		t.Fatalf("sweep: %d, %v", n, err)
	}
	var got struct{ Withdrawal struct{ Status string } }
	kc.MustDo(t, `query($id: ID!) { withdrawal(id: $id) { status } }`, map[string]any{"id": out.Withdraw.Withdrawal.ID}, &got)
	mu.Lock()
	defer mu.Unlock()
	if got.Withdrawal.Status != "COMPLETED" || len(made) != 2 {
		t.Fatalf("after the sweep: %s, transfers %v", got.Withdrawal.Status, made)
	}
	srv.RequireLedgerVerified(t)
}
