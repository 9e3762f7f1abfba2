package server_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/ledgeraccount"
	"github.com/jobsphere/jobsphere/ent/ledgertransaction"
	"github.com/jobsphere/jobsphere/ent/posting"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/ledger/ledgertest"
	"github.com/jobsphere/jobsphere/server/servertest"
)

const statementQuery = `query($u: ID, $from: Time!, $to: Time!) { statement(userId: $u, from: $from, to: $to) {
  user { id } from to openingAvailable closingAvailable openingEscrow closingEscrow openingOwed closingOwed
  lines { account amount balanceAfter transaction { id type description createdAt } } } }`

type statementResult struct {
	Statement struct {
		User                               struct{ ID string }
		From, To                           time.Time
		OpeningAvailable, ClosingAvailable string
		OpeningEscrow, ClosingEscrow       string
		OpeningOwed, ClosingOwed           string
		Lines                              []struct {
			Account, Amount, BalanceAfter string
			Transaction                   struct {
				ID, Type, Description string
				CreatedAt             time.Time
			}
		}
	}
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// statementVars are statement's variables; user "" leaves userId out.
func statementVars(user string, from, to time.Time) map[string]any {
	vars := map[string]any{"from": rfc3339(from), "to": rfc3339(to)}
	if user != "" {
		vars["u"] = user
	}
	return vars
}

// requireStatementIsWallet fails unless the statement closes at the
// viewer's wallet (balance, escrowBalance, amountOwed), read through the API.
func requireStatementIsWallet(t *testing.T, owner *servertest.Client, s statementResult) {
	t.Helper()
	var w owedWallet
	owner.MustDo(t, owedWalletQuery, nil, &w)
	st := s.Statement
	if st.ClosingAvailable != w.Wallet.Balance || st.ClosingEscrow != w.Wallet.EscrowBalance || st.ClosingOwed != w.Wallet.AmountOwed {
		t.Fatalf("statement closes at available %s, escrow %s, owed %s; the wallet has %+v",
			st.ClosingAvailable, st.ClosingEscrow, st.ClosingOwed, w.Wallet)
	}
}

// exportCSV is GET /api/statements.csv with query as token ("": none).
func exportCSV(t *testing.T, srv *servertest.Server, token string, query url.Values) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/api/statements.csv?"+query.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read the export: %v", err)
	}
	return resp, body
}

// exportRows is a successful export's rows, the header row checked and
// left out.
func exportRows(t *testing.T, srv *servertest.Server, token string, query url.Values) [][]string {
	t.Helper()
	resp, body := exportCSV(t, srv, token, query)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" {
		t.Fatalf("export: HTTP %d %s: %.300s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("the export is not CSV: %v", err)
	}
	if want := []string{"time", "transaction_id", "type", "description", "account", "amount", "balance_after"}; len(rows) == 0 || !slices.Equal(rows[0], want) {
		t.Fatalf("header row %v, want %v", rows[:min(1, len(rows))], want)
	}
	return rows[1:]
}

func period(from, to time.Time) url.Values {
	return url.Values{"from": {rfc3339(from)}, "to": {rfc3339(to)}}
}

// TestStatementOfAJob: a customer's deposit, an offer's hold, its
// acceptance and the admin's release of the money, then a refund of the
// deposit made in Stripe's Dashboard (more than the wallet holds: the
// rest is owed) and a deposit paying part of it back. Each party's
// statement, by GraphQL and as CSV, closes at their wallet; the CSV has
// the statement's lines; an admin gets the customer's; the ledger
// verifies.
func TestStatementOfAJob(t *testing.T) {
	servertest.EachDatabase(t, func(t *testing.T, db servertest.Database) {
		srv := servertest.New(t, db)
		customer, contractor, admin := srv.Register(t, "CUSTOMER"), srv.Register(t, "CONTRACTOR"), srv.Admin(t)
		cc, kc, ac := srv.Client(customer.AccessToken), srv.Client(contractor.AccessToken), srv.Client(admin.AccessToken)
		start := time.Now().Add(-time.Minute)

		d := startDeposit(t, cc, map[string]any{"amount": "200.00", "paymentMethodId": "pm_card_visa"})
		jobID := postJob(t, cc)
		var applied struct{ ApplyToJob struct{ ID string } }
		kc.MustDo(t, `mutation($in: ApplyToJobInput!) { applyToJob(input: $in) { id } }`, map[string]any{"in": map[string]any{"jobId": jobID}}, &applied)
		var offer struct {
			SendOffer struct{ Offer struct{ ID string } }
		}
		cc.MustDo(t, `mutation($in: SendOfferInput!) { sendOffer(input: $in) { offer { id } } }`,
			map[string]any{"in": map[string]any{"applicationId": applied.ApplyToJob.ID, "amount": "100", "timeline": "7 days", "description": "Build the whole website"}}, &offer)
		var accepted struct {
			AcceptOffer struct{ Contract struct{ ID string } }
		}
		kc.MustDo(t, `mutation($id: ID!) { acceptOffer(offerId: $id) { contract { id } } }`, map[string]any{"id": offer.SendOffer.Offer.ID}, &accepted)
		contract := map[string]any{"id": accepted.AcceptOffer.Contract.ID}
		cc.MustDo(t, `mutation($id: ID!) { requestFundRelease(contractId: $id) { id } }`, contract, nil)
		ac.MustDo(t, `mutation($id: ID!) { approveFundRelease(contractId: $id) { status } }`, contract, nil)

		pi := stripeStr(d.Deposit.PaymentIntentID)
		resp, err := http.PostForm(srv.URL+"/sandbox/payments/"+pi+"/refund", url.Values{"amount": {"200.00"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("refund in the Dashboard: HTTP %d", resp.StatusCode)
		}
		startDeposit(t, cc, map[string]any{"amount": "30.00", "paymentMethodId": "pm_card_visa"})
		end := time.Now().Add(time.Minute)
		srv.RequireLedgerVerified(t)

		var own, asAdmin, theirs statementResult
		cc.MustDo(t, statementQuery, statementVars("", start, end), &own)
		requireStatementIsWallet(t, cc, own)
		if s := own.Statement; s.User.ID != customer.ID || s.OpeningAvailable != "0.00" || s.ClosingOwed == "0.00" || s.ClosingEscrow != "0.00" {
			t.Fatalf("customer's statement: %+v", s)
		}
		ac.MustDo(t, statementQuery, statementVars(customer.ID, start, end), &asAdmin)
		if fmt.Sprint(asAdmin) != fmt.Sprint(own) {
			t.Fatalf("the admin's copy differs:\n%+v\n%+v", asAdmin, own)
		}
		kc.MustDo(t, statementQuery, statementVars("", start, end), &theirs)
		requireStatementIsWallet(t, kc, theirs)
		if len(theirs.Statement.Lines) != 1 || theirs.Statement.Lines[0].Transaction.Type != "CONTRACTOR_PAYOUT" {
			t.Fatalf("contractor's statement: %+v", theirs.Statement)
		}
		// Another user's statement is the admins' alone.
		kc.Do(t, statementQuery, statementVars(customer.ID, start, end)).RequireError(t, "FORBIDDEN")

		// The CSV holds the same lines.
		for _, as := range []struct {
			token, user string
		}{{customer.AccessToken, ""}, {admin.AccessToken, customer.ID}} {
			q := period(start, end)
			if as.user != "" {
				q.Set("userId", as.user)
			}
			rows := exportRows(t, srv, as.token, q)
			if len(rows) != len(own.Statement.Lines) {
				t.Fatalf("%d rows, %d lines", len(rows), len(own.Statement.Lines))
			}
			for i, l := range own.Statement.Lines {
				want := []string{rfc3339(l.Transaction.CreatedAt), l.Transaction.ID, l.Transaction.Type, l.Transaction.Description, l.Account, l.Amount, l.BalanceAfter}
				if !slices.Equal(rows[i], want) {
					t.Errorf("row %d: %q, want %q", i, rows[i], want)
				}
			}
		}
	})
}

// TestStatementExportRefusals: what comes back before the first byte,
// as JSON with its status.
func TestStatementExportRefusals(t *testing.T) {
	srv := servertest.New(t, servertest.SQLite)
	customer, other, admin := srv.Register(t, "CUSTOMER"), srv.Register(t, "CUSTOMER"), srv.Admin(t)
	now := time.Now()
	week := period(now.Add(-7*24*time.Hour), now)
	with := func(q url.Values, k, v string) url.Values {
		c := url.Values{}
		for key, vs := range q {
			c[key] = slices.Clone(vs)
		}
		c.Set(k, v)
		return c
	}
	for _, tc := range []struct {
		name, token string
		query       url.Values
		status      int
		code        string
	}{
		{"no token", "", week, http.StatusUnauthorized, "UNAUTHENTICATED"},
		{"a bad token", "not-a-token", week, http.StatusUnauthorized, "UNAUTHENTICATED"},
		{"another user's, not an admin", customer.AccessToken, with(week, "userId", other.ID), http.StatusForbidden, "FORBIDDEN"},
		{"no from", customer.AccessToken, url.Values{"to": {"2025-01-31"}}, http.StatusBadRequest, "BAD_USER_INPUT"},
		{"a bad to", customer.AccessToken, with(week, "to", "31/01/2025"), http.StatusBadRequest, "BAD_USER_INPUT"},
		{"to before from", customer.AccessToken, url.Values{"from": {"2025-02-01"}, "to": {"2025-01-01"}}, http.StatusBadRequest, "BAD_USER_INPUT"},
		{"an unknown user, as an admin", admin.AccessToken, with(week, "userId", "usr_01J0000000000000000000000Z"), http.StatusNotFound, "NOT_FOUND"},
	} {
		resp, body := exportCSV(t, srv, tc.token, tc.query)
		var got struct {
			Errors []struct {
				Message    string
				Extensions struct{ Code string }
			}
		}
		if err := json.Unmarshal(body, &got); err != nil || resp.StatusCode != tc.status || len(got.Errors) != 1 ||
			got.Errors[0].Extensions.Code != tc.code || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Errorf("%s: HTTP %d %s %s, want %d %s", tc.name, resp.StatusCode, resp.Header.Get("Content-Type"), body, tc.status, tc.code)
		}
	}
	// Dates, offsets sent with an unencoded '+', and an empty period's
	// header row alone.
	rows := exportRows(t, srv, customer.AccessToken, url.Values{"from": {"2025-01-01"}, "to": {"2025-01-02T00:00:00 01:00"}})
	if len(rows) != 0 {
		t.Fatalf("rows of an empty period: %v", rows)
	}
	resp, _ := exportCSV(t, srv, admin.AccessToken, with(week, "userId", other.ID))
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Disposition"), other.ID) || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("an admin's export of another user: HTTP %d %v", resp.StatusCode, resp.Header)
	}
}

// TestStatementExportOfManyTransactions: the CSV of 100,000 transactions
// (written in bulk, deposits and holds, descriptions with commas, quotes
// and line breaks) parses back equal to the ledger's postings, row by row,
// and ends at the wallet; the same period is too long for the GraphQL
// statement, which points to the export; a statement of the time since
// closes at the wallet. Under the race detector (or -short) the history
// is 7,000 transactions, 10,500 lines, just past the GraphQL statement's
// limit: the detector slows the database driver (pure Go SQLite) and
// ent about fifteen times and finds nothing more in a longer history.
func TestStatementExportOfManyTransactions(t *testing.T) {
	n := 100_000
	if raceEnabled || testing.Short() {
		n = 7_000
	}
	servertest.EachDatabase(t, func(t *testing.T, db servertest.Database) {
		srv := servertest.New(t, db)
		ctx := context.Background()
		user := srv.Register(t, "CUSTOMER")
		uc := srv.Client(user.AccessToken)
		start := time.Now().Add(-time.Duration(n)*time.Second - time.Hour).Truncate(time.Second)
		h, err := ledgertest.WriteHistory(ctx, srv.App.Client, pulid.ID(user.ID), n, start, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		srv.RequireLedgerVerified(t)
		end := time.Now().Add(time.Minute)

		rows := exportRows(t, srv, user.AccessToken, period(start, end))
		want := ledgerLines(t, srv.App.Client, pulid.ID(user.ID))
		if len(rows) != h.Lines || len(want) != h.Lines {
			t.Fatalf("%d rows, %d postings, history of %d lines", len(rows), len(want), h.Lines)
		}
		for i := range rows {
			if !slices.Equal(rows[i], want[i]) {
				t.Fatalf("row %d: %q, the ledger says %q", i, rows[i], want[i])
			}
		}
		var w owedWallet
		uc.MustDo(t, owedWalletQuery, nil, &w)
		last := map[string]string{}
		for _, r := range rows {
			last[r[4]] = r[6]
		}
		if last["AVAILABLE"] != w.Wallet.Balance || last["ESCROW"] != w.Wallet.EscrowBalance {
			t.Fatalf("the export ends at %v; the wallet has %+v", last, w.Wallet)
		}

		e := uc.Do(t, statementQuery, statementVars("", start, end)).RequireError(t, "BAD_USER_INPUT")
		if !strings.Contains(e.Message, "/api/statements.csv") {
			t.Fatalf("a statement of %d lines: %q", h.Lines, e.Message)
		}
		var since statementResult
		uc.MustDo(t, statementQuery, statementVars("", start.Add(time.Duration(n)*time.Second), end), &since)
		requireStatementIsWallet(t, uc, since)
		if len(since.Statement.Lines) != 0 || since.Statement.OpeningAvailable != w.Wallet.Balance {
			t.Fatalf("the statement since the history: %+v", since.Statement)
		}
	})
}

// ledgerLines is what the export of all of a user's postings must be,
// computed from the ledger's rows here: ordered by their transaction's
// time and id, then their own id, each with its account's running
// balance (owed: the negative of the receivable).
func ledgerLines(t *testing.T, client *ent.Client, user pulid.ID) [][]string {
	t.Helper()
	ctx := context.Background()
	accounts := client.LedgerAccount.Query().Where(ledgeraccount.UserID(user)).AllX(ctx)
	kinds := map[pulid.ID]ledgeraccount.Kind{}
	ids := make([]pulid.ID, len(accounts))
	for i, a := range accounts {
		kinds[a.ID], ids[i] = a.Kind, a.ID
	}
	ps := client.Posting.Query().Where(posting.AccountIDIn(ids...)).
		Select(posting.FieldID, posting.FieldAccountID, posting.FieldTransactionID, posting.FieldAmount).AllX(ctx)
	txns := map[pulid.ID]*ent.LedgerTransaction{}
	for _, txn := range client.LedgerTransaction.Query().
		Where(ledgertransaction.Or(ledgertransaction.FromUserID(user), ledgertransaction.ToUserID(user))).
		Select(ledgertransaction.FieldID, ledgertransaction.FieldCreatedAt, ledgertransaction.FieldType, ledgertransaction.FieldDescription).AllX(ctx) {
		txns[txn.ID] = txn
	}
	slices.SortFunc(ps, func(a, b *ent.Posting) int {
		ta, tb := txns[a.TransactionID], txns[b.TransactionID]
		if c := ta.CreatedAt.Compare(tb.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(string(ta.ID)+string(a.ID), string(tb.ID)+string(b.ID))
	})
	shown := map[ledgeraccount.Kind]string{ledgeraccount.KindAVAILABLE: "AVAILABLE", ledgeraccount.KindESCROW: "ESCROW", ledgeraccount.KindRECEIVABLE: "OWED"}
	balance := map[ledgeraccount.Kind]int64{}
	out := make([][]string, len(ps))
	for i, p := range ps {
		kind, amount := kinds[p.AccountID], p.Amount
		if kind == ledgeraccount.KindRECEIVABLE {
			amount = -amount
		}
		balance[kind] += amount
		txn := txns[p.TransactionID]
		out[i] = []string{rfc3339(txn.CreatedAt), string(txn.ID), string(txn.Type), txn.Description, shown[kind],
			jobsphere.USD.Format(amount), jobsphere.USD.Format(balance[kind])}
	}
	return out
}
