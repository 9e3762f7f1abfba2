package server_test

import (
	"encoding/json"
	"testing"

	"github.com/jobsphere/jobsphere/ent/ledgertransaction"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/ledger"
	"github.com/jobsphere/jobsphere/server/servertest"
)

const walletQuery = `{ wallet { id currency balance escrowBalance pendingDeposits totalEarnings totalSpent totalWithdrawals isActive isFrozen user { id } } }`

type walletResult struct {
	Wallet struct {
		ID, Currency, Balance, EscrowBalance, PendingDeposits string
		TotalEarnings, TotalSpent, TotalWithdrawals           string
		IsActive, IsFrozen                                    bool
		User                                                  struct{ ID string }
	}
}

const transactionsQuery = `query($first: Int, $after: Cursor, $last: Int, $before: Cursor, $type: TransactionType) {
  transactions(first: $first, after: $after, last: $last, before: $before, type: $type) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id type status amount currency description from { id } to { id } createdAt completedAt } }
  }
}`

type txnPage struct {
	Transactions struct {
		TotalCount int
		PageInfo   struct {
			HasNextPage, HasPreviousPage bool
			StartCursor, EndCursor       string
		}
		Edges []struct {
			Cursor string
			Node   struct {
				ID, Type, Status, Amount, Currency, Description string
				From, To                                        *struct{ ID string }
			}
		}
	}
}

func (p txnPage) amounts() []string {
	out := make([]string, len(p.Transactions.Edges))
	for i, e := range p.Transactions.Edges {
		out[i] = e.Node.Amount
	}
	return out
}

func TestWalletAndTransactionHistory(t *testing.T) {
	servertest.EachDatabase(t, func(t *testing.T, db servertest.Database) {
		srv := servertest.New(t, db)
		alice, bob := srv.Register(t, "CUSTOMER"), srv.Register(t, "CONTRACTOR")
		ac := srv.Client(alice.AccessToken)

		var w walletResult
		ac.MustDo(t, walletQuery, nil, &w)
		if w.Wallet.Balance != "0.00" || w.Wallet.Currency != "USD" || w.Wallet.IsFrozen || !w.Wallet.IsActive || w.Wallet.User.ID != alice.ID {
			t.Fatalf("new wallet: %+v", w.Wallet)
		}

		// Five deposits of distinct amounts, a hold, and a payment to Bob.
		for i := int64(1); i <= 5; i++ {
			srv.Fund(t, alice.ID, i*1000+1)
		}
		hold(t, srv, alice.ID, 2500)
		pay(t, srv, alice.ID, bob.ID, 1000)

		ac.MustDo(t, walletQuery, nil, &w)
		if w.Wallet.Balance != "125.05" || w.Wallet.EscrowBalance != "15.00" || w.Wallet.TotalSpent != "10.00" {
			t.Fatalf("wallet after activity: %+v", w.Wallet)
		}

		// Deposits only, two at a time, newest first, with cursors.
		var page txnPage
		ac.MustDo(t, transactionsQuery, map[string]any{"type": "DEPOSIT", "first": 2}, &page)
		if page.Transactions.TotalCount != 5 || !page.Transactions.PageInfo.HasNextPage || !equal(page.amounts(), "50.01", "40.01") {
			t.Fatalf("first page: %+v", page.Transactions)
		}
		if n := page.Transactions.Edges[0].Node; n.Type != "DEPOSIT" || n.Status != "COMPLETED" || n.Currency != "USD" || n.To == nil || n.To.ID != alice.ID {
			t.Fatalf("deposit node: %+v", n)
		}
		ac.MustDo(t, transactionsQuery, map[string]any{"type": "DEPOSIT", "first": 2, "after": page.Transactions.PageInfo.EndCursor}, &page)
		if !equal(page.amounts(), "30.01", "20.01") || !page.Transactions.PageInfo.HasNextPage {
			t.Fatalf("second page: %+v", page.Transactions)
		}
		ac.MustDo(t, transactionsQuery, map[string]any{"type": "DEPOSIT", "first": 2, "after": page.Transactions.PageInfo.EndCursor}, &page)
		if !equal(page.amounts(), "10.01") || page.Transactions.PageInfo.HasNextPage {
			t.Fatalf("last page: %+v", page.Transactions)
		}
		// And backwards from the end.
		ac.MustDo(t, transactionsQuery, map[string]any{"type": "DEPOSIT", "last": 2, "before": page.Transactions.PageInfo.StartCursor}, &page)
		if !equal(page.amounts(), "30.01", "20.01") || !page.Transactions.PageInfo.HasPreviousPage {
			t.Fatalf("page before the last: %+v", page.Transactions)
		}

		// All types: 5 deposits, the hold, the payment.
		ac.MustDo(t, transactionsQuery, map[string]any{}, &page)
		if page.Transactions.TotalCount != 7 || page.Transactions.Edges[0].Node.Type != "CONTRACTOR_PAYOUT" {
			t.Fatalf("all transactions: %+v", page.Transactions)
		}
		aliceTxn := page.Transactions.Edges[len(page.Transactions.Edges)-1].Node.ID

		// Bob sees only the payment he received.
		bc := srv.Client(bob.AccessToken)
		bc.MustDo(t, transactionsQuery, map[string]any{}, &page)
		if page.Transactions.TotalCount != 1 || page.Transactions.Edges[0].Node.From.ID != alice.ID {
			t.Fatalf("bob's history: %+v", page.Transactions)
		}
		var bw walletResult
		bc.MustDo(t, walletQuery, nil, &bw)
		if bw.Wallet.Balance != "10.00" || bw.Wallet.TotalEarnings != "10.00" {
			t.Fatalf("bob's wallet: %+v", bw.Wallet)
		}

		// Nobody reads another user's wallet or transactions through node().
		node := `query($id: ID!) { node(id: $id) { id } }`
		for _, id := range []string{w.Wallet.ID, aliceTxn} {
			var out struct{ Node *struct{ ID string } }
			bc.MustDo(t, node, map[string]any{"id": id}, &out)
			if out.Node != nil {
				t.Fatalf("bob read %s", id)
			}
			ac.MustDo(t, node, map[string]any{"id": id}, &out)
			if out.Node == nil || out.Node.ID != id {
				t.Fatalf("alice cannot read her own %s", id)
			}
		}

		// Page sizes are bounded.
		ac.Do(t, transactionsQuery, map[string]any{"first": 101}).RequireError(t, "BAD_USER_INPUT")
		srv.RequireLedgerVerified(t)
	})
}

func TestFreezeWalletAndPlatformStats(t *testing.T) {
	servertest.EachDatabase(t, func(t *testing.T, db servertest.Database) {
		srv := servertest.New(t, db)
		customer, contractor, admin := srv.Register(t, "CUSTOMER"), srv.Register(t, "CONTRACTOR"), srv.Admin(t)
		srv.Fund(t, customer.ID, 20000)
		hold(t, srv, customer.ID, 10500)
		fee(t, srv, customer.ID, 500)

		freeze := `mutation($u: ID!, $r: String!) { freezeWallet(userId: $u, reason: $r) { isFrozen balance } }`
		unfreeze := `mutation($u: ID!) { unfreezeWallet(userId: $u) { isFrozen } }`
		srv.Client(customer.AccessToken).Do(t, freeze, map[string]any{"u": customer.ID, "r": "x"}).RequireError(t, "FORBIDDEN")
		srv.Client(admin.AccessToken).Do(t, freeze, map[string]any{"u": customer.ID, "r": " "}).RequireError(t, "BAD_USER_INPUT")
		srv.Client(admin.AccessToken).Do(t, freeze, map[string]any{"u": "usr_nobody", "r": "fraud"}).RequireError(t, "NOT_FOUND")

		var frozen struct{ FreezeWallet struct{ IsFrozen bool } }
		srv.Client(admin.AccessToken).MustDo(t, freeze, map[string]any{"u": customer.ID, "r": "chargeback review"}, &frozen)
		if !frozen.FreezeWallet.IsFrozen {
			t.Fatal("not frozen")
		}
		_, err := srv.Post(t, holdEntry(customer.ID, 100))
		if err == nil || err.Error() != "WALLET_FROZEN: Wallet is frozen. Please contact support" {
			t.Fatalf("spend from a frozen wallet: %v", err)
		}
		var thawed struct{ UnfreezeWallet struct{ IsFrozen bool } }
		srv.Client(admin.AccessToken).MustDo(t, unfreeze, map[string]any{"u": customer.ID}, &thawed)
		if thawed.UnfreezeWallet.IsFrozen {
			t.Fatal("still frozen")
		}
		if _, err := srv.Post(t, holdEntry(customer.ID, 100)); err != nil {
			t.Fatalf("spend after unfreeze: %v", err)
		}

		stats := `{ platformStats { revenue escrowHeld walletBalances pendingWithdrawals ledgerBalanced } }`
		srv.Client(contractor.AccessToken).Do(t, stats, nil).RequireError(t, "FORBIDDEN")
		var out struct {
			PlatformStats struct {
				Revenue, EscrowHeld, WalletBalances, PendingWithdrawals string
				LedgerBalanced                                          bool
			}
		}
		srv.Client(admin.AccessToken).MustDo(t, stats, nil, &out)
		got, _ := json.Marshal(out.PlatformStats)
		if string(got) != `{"Revenue":"5.00","EscrowHeld":"101.00","WalletBalances":"94.00","PendingWithdrawals":"0.00","LedgerBalanced":true}` {
			t.Fatalf("platform stats: %s", got)
		}
		srv.RequireLedgerVerified(t)
	})
}

func holdEntry(userID string, amount int64) ledger.Entry {
	u := pulid.ID(userID)
	return ledger.Entry{Key: "test-hold:" + string(pulid.New("k")), Type: ledgertransaction.TypeESCROW_HOLD,
		Moves: []ledger.Move{{From: ledger.Available(u), To: ledger.Escrow(u), Amount: amount}}}
}

func hold(t *testing.T, srv *servertest.Server, userID string, amount int64) {
	t.Helper()
	if _, err := srv.Post(t, holdEntry(userID, amount)); err != nil {
		t.Fatal(err)
	}
}

func fee(t *testing.T, srv *servertest.Server, userID string, amount int64) {
	t.Helper()
	_, err := srv.Post(t, ledger.Entry{Key: "test-fee:" + string(pulid.New("k")), Type: ledgertransaction.TypePLATFORM_FEE,
		Moves: []ledger.Move{{From: ledger.Escrow(pulid.ID(userID)), To: ledger.Revenue, Amount: amount}}})
	if err != nil {
		t.Fatal(err)
	}
}

func pay(t *testing.T, srv *servertest.Server, from, to string, amount int64) {
	t.Helper()
	_, err := srv.Post(t, ledger.Entry{Key: "test-pay:" + string(pulid.New("k")), Type: ledgertransaction.TypeCONTRACTOR_PAYOUT,
		Moves: []ledger.Move{{From: ledger.Escrow(pulid.ID(from)), To: ledger.Available(pulid.ID(to)), Amount: amount}}})
	if err != nil {
		t.Fatal(err)
	}
}

func equal(got []string, want ...string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}
