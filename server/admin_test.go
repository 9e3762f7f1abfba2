package server_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/jobsphere/jobsphere/server/servertest"
)

// The operator console's API: the admins' queue feed, the split preview,
// a user's money and the user search.

// newConsoleWorld is the authorization matrix's cast without its
// objects: customer A (funded), contractor A (verified, funded), an admin.
func newConsoleWorld(t *testing.T) *authzWorld {
	t.Helper()
	srv := secStart(t, "REQUIRE_WITHDRAWAL_APPROVAL", "true")
	w := &authzWorld{srv: srv}
	w.users[asOwner] = srv.Register(t, "CUSTOMER")
	w.users[asCustomer] = srv.Register(t, "CUSTOMER")
	w.users[asParty] = verifiedContractor(t, srv, "verified")
	w.users[asAdmin] = srv.Admin(t)
	srv.Fund(t, w.users[asOwner].ID, 1_000_00)
	srv.Fund(t, w.users[asParty].ID, 100_00)
	w.wallet = w.do(t, asOwner, `{ wallet { id } }`, nil, "wallet", "id")
	return w
}

func TestAdminQueueChanged(t *testing.T) {
	w := newConsoleWorld(t)
	ws, err := w.srv.DialWebsocket(t, servertest.TransportWS, map[string]any{"Authorization": "Bearer " + w.users[asAdmin].AccessToken}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ws.Subscribe(t, `subscription { adminQueueChanged { queue itemId } }`, nil)
	waitFor(t, func() bool { return w.srv.App.Broker.Subscriptions() == 1 })

	// expect reads events until the queue's item shows up, keeping what
	// it read: other changes may come first, and in any order.
	type event struct{ Queue, ItemID string }
	seen := map[event]bool{}
	expect := func(queue, item string) {
		t.Helper()
		for want := (event{queue, item}); !seen[want]; {
			_, resp := ws.Next(t)
			if len(resp.Errors) > 0 {
				t.Fatalf("waiting for %s %s: %s", queue, item, resp.ErrorSummary())
			}
			var ev struct{ AdminQueueChanged event }
			if err := json.Unmarshal(resp.Data, &ev); err != nil {
				t.Fatal(err)
			}
			seen[ev.AdminQueueChanged] = true
		}
		delete(seen, event{queue, item}) // the next change of it is another event
	}

	contract := w.releaseRequested(t)
	expect("RELEASES", contract)
	w.do(t, asAdmin, `mutation($id: ID!) { approveFundRelease(contractId: $id) { status } }`, map[string]any{"id": contract})
	expect("RELEASES", contract)

	withdrawal := w.pendingWithdrawal(t)
	expect("WITHDRAWALS", withdrawal)
	w.do(t, asAdmin, `mutation($id: ID!) { rejectWithdrawal(id: $id, reason: "Wrong account") { status } }`, map[string]any{"id": withdrawal})
	expect("WITHDRAWALS", withdrawal)

	expect("DISPUTES", w.openedDispute(t))

	w.freezeOwner(t, "Chargeback pattern")
	expect("FROZEN_WALLETS", w.wallet)

	// The sandbox's disputed card (0259) makes a chargeback; its
	// fraud-warning card (5423) an early fraud warning, which also
	// freezes the payer's wallet.
	admin := w.srv.Client(w.users[asAdmin].AccessToken)
	stranger := w.srv.Client(w.users[asCustomer].AccessToken)
	for _, card := range []string{"4000000000000259", "4000000000005423"} {
		d := startDeposit(t, stranger, map[string]any{"amount": "20.00"})
		if resp, _ := payCheckout(t, *d.Deposit.CheckoutURL, card); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("pay with %s: %d", card, resp.StatusCode)
		}
	}
	var cases chargebackList
	admin.MustDo(t, chargebacksQuery, map[string]any{"s": "OPEN"}, &cases)
	var warnings struct {
		FraudWarnings struct {
			Edges []struct{ Node struct{ ID string } }
		}
	}
	admin.MustDo(t, `{ fraudWarnings(first: 10) { edges { node { id } } } }`, nil, &warnings)
	if len(cases.Chargebacks.Edges) != 1 || len(warnings.FraudWarnings.Edges) != 1 {
		t.Fatalf("chargebacks %+v, fraud warnings %+v", cases.Chargebacks, warnings.FraudWarnings)
	}
	expect("CHARGEBACKS", cases.Chargebacks.Edges[0].Node.ID)
	expect("CHARGEBACKS", warnings.FraudWarnings.Edges[0].Node.ID)
	expect("FROZEN_WALLETS", w.do(t, asCustomer, `{ wallet { id } }`, nil, "wallet", "id"))
	w.srv.RequireLedgerVerified(t)
}

// The preview is the settlement: what it shows is what resolveDispute pays.
func TestDisputeSplitPreview(t *testing.T) {
	w := newConsoleWorld(t)
	dispute := w.openedDispute(t) // a $10.00 contract: platform fee $0.50, service fee 20%
	const preview = `query($id: ID!, $x: Decimal!) { disputeSplitPreview(disputeId: $id, contractorAmount: $x) {
		contractorAmount serviceFee contractorPayout customerRefund platformFeeKept platformFeeRefunded } }`
	var got struct {
		DisputeSplitPreview struct {
			ContractorAmount, ServiceFee, ContractorPayout, CustomerRefund, PlatformFeeKept, PlatformFeeRefunded string
		}
	}
	w.srv.Client(w.users[asAdmin].AccessToken).MustDo(t, preview, map[string]any{"id": dispute, "x": "3.33"}, &got)
	// fee: 20% of 3.33 = 0.666 → 0.67; kept: 0.50 × 3.33 / 10 = 0.1665 → 0.17.
	want := got.DisputeSplitPreview
	want.ContractorAmount, want.ServiceFee, want.ContractorPayout = "3.33", "0.67", "2.66"
	want.CustomerRefund, want.PlatformFeeKept, want.PlatformFeeRefunded = "6.67", "0.17", "0.33"
	if got.DisputeSplitPreview != want {
		t.Fatalf("preview of 3.33: %+v, want %+v", got.DisputeSplitPreview, want)
	}

	for _, tc := range []struct {
		who  authzViewer
		x    string
		code string
	}{{asCustomer, "3.33", "FORBIDDEN"}, {asAdmin, "10.01", "BAD_USER_INPUT"}, {asParty, "-1", "BAD_USER_INPUT"}} {
		w.srv.Client(w.users[tc.who].AccessToken).Do(t, preview, map[string]any{"id": dispute, "x": tc.x}).RequireError(t, tc.code)
	}

	balance := func(v authzViewer) string { return w.do(t, v, `{ wallet { balance } }`, nil, "wallet", "balance") }
	contractorBefore := balance(asParty)
	var resolved struct {
		ResolveDispute struct{ ContractorAmount, CustomerRefund string }
	}
	w.srv.Client(w.users[asAdmin].AccessToken).MustDo(t,
		`mutation($id: ID!) { resolveDispute(input: {disputeId: $id, contractorAmount: "3.33", note: "Half done"}) { contractorAmount customerRefund } }`,
		map[string]any{"id": dispute}, &resolved)
	if r := resolved.ResolveDispute; r.ContractorAmount != "3.33" || r.CustomerRefund != "7.00" { // 6.67 + 0.33
		t.Fatalf("resolved: %+v", r)
	}
	if before, after := contractorBefore, balance(asParty); before != "100.00" || after != "102.66" {
		t.Fatalf("contractor's balance %s → %s, want 100.00 → 102.66", before, after)
	}
	w.srv.RequireLedgerVerified(t)
}

func TestUserAccountForAdmins(t *testing.T) {
	w := newConsoleWorld(t)
	owner := w.users[asOwner]
	w.freezeOwner(t, "Card testing")
	const account = `query($id: ID!) { node(id: $id) { ... on User { email
		wallet { balance isFrozen frozenReason frozenNote }
		transactions(first: 10, type: DEPOSIT) { totalCount }
		deposits(first: 10) { totalCount } withdrawals(first: 10) { totalCount } disputes(first: 10) { totalCount } } } }`
	var got struct {
		Node struct {
			Email  *string
			Wallet *struct {
				Balance      string
				IsFrozen     bool
				FrozenReason *string
				FrozenNote   *string
			}
			Transactions *struct{ TotalCount int }
		}
	}
	w.srv.Client(w.users[asAdmin].AccessToken).MustDo(t, account, map[string]any{"id": owner.ID}, &got)
	n := got.Node
	if n.Email == nil || *n.Email != owner.Email || n.Wallet == nil || n.Wallet.Balance != "1000.00" || !n.Wallet.IsFrozen ||
		n.Wallet.FrozenNote == nil || *n.Wallet.FrozenNote != "Card testing" || n.Transactions == nil || n.Transactions.TotalCount != 1 {
		t.Fatalf("admin's view of %s: %+v", owner.ID, n)
	}
	// The owner sees their money but not the admin's note; a stranger nothing.
	w.srv.Client(owner.AccessToken).MustDo(t, account, map[string]any{"id": owner.ID}, &got)
	if got.Node.Wallet == nil || got.Node.Wallet.FrozenNote != nil {
		t.Fatalf("owner's view: %+v", got.Node.Wallet)
	}
	got.Node.Wallet, got.Node.Transactions = nil, nil
	w.srv.Client(w.users[asCustomer].AccessToken).MustDo(t, account, map[string]any{"id": owner.ID}, &got)
	if got.Node.Wallet != nil || got.Node.Transactions != nil || got.Node.Email != nil {
		t.Fatalf("a stranger's view: %+v", got.Node)
	}

	// users(search): an id, part of an email, part of a name, in any case.
	for _, search := range []string{owner.ID, owner.Email[:len(owner.Email)-5], "TEST CUSTOMER"} {
		var found struct {
			Users struct {
				Edges []struct{ Node struct{ ID string } }
			}
		}
		w.srv.Client(w.users[asAdmin].AccessToken).MustDo(t, `query($s: String) { users(search: $s, first: 100) { edges { node { id } } } }`,
			map[string]any{"s": search}, &found)
		seen := false
		for _, e := range found.Users.Edges {
			seen = seen || e.Node.ID == owner.ID
		}
		if !seen {
			t.Errorf("users(search: %q) misses %s: %+v", search, owner.ID, found.Users.Edges)
		}
	}
}
