package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jobsphere/jobsphere/ent/ledgertransaction"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/ledger"
	"github.com/jobsphere/jobsphere/server/servertest"
)

// scriptedBalance answers stripe-go's balance transaction list (two per
// page, newest first, as Stripe pages) and balance from the movements a
// test scripts; the balance is what they add up to.
type scriptedBalance struct {
	mu    sync.Mutex
	moves []map[string]any // oldest first
	asked []string         // the list requests' query strings
}

// add scripts a balance transaction of type typ with its expanded source.
func (s *scriptedBalance) add(typ string, amount, fee int64, source map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.moves = append(s.moves, map[string]any{
		"id": "txn_" + strconv.Itoa(len(s.moves)+1), "object": "balance_transaction", "type": typ,
		"amount": amount, "fee": fee, "net": amount - fee, "currency": "usd", "status": "available",
		"created": time.Now().Unix(), "available_on": time.Now().Unix(), "source": source,
	})
}

func (s *scriptedBalance) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/v1/balance_transactions":
		s.asked = append(s.asked, r.URL.RawQuery)
		newest := slices.Clone(s.moves)
		slices.Reverse(newest)
		if after := r.URL.Query().Get("starting_after"); after != "" {
			i := slices.IndexFunc(newest, func(m map[string]any) bool { return m["id"] == after })
			newest = newest[i+1:]
		}
		page := newest[:min(2, len(newest))]
		_ = json.NewEncoder(w).Encode(map[string]any{"object": "list", "url": r.URL.Path, "data": page, "has_more": len(newest) > len(page)})
	case "/v1/balance":
		var total int64
		for _, m := range s.moves {
			total += m["net"].(int64)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"object": "balance", "livemode": false,
			"available": []any{map[string]any{"amount": total, "currency": "usd"}},
			"pending":   []any{map[string]any{"amount": 0, "currency": "usd"}}})
	default:
		w.WriteHeader(http.StatusNotFound)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"type": "invalid_request_error", "message": "not scripted: " + r.URL.Path}})
	}
}

func chargeSource(ch, pi string) map[string]any {
	return map[string]any{"id": ch, "object": "charge", "payment_intent": pi}
}

func refundSource(re, pi string) map[string]any {
	return map[string]any{"id": re, "object": "refund", "payment_intent": pi}
}

func transferSource(tr string) map[string]any { return map[string]any{"id": tr, "object": "transfer"} }

// TestReconcile: `jobsphere reconcile` against a scripted Stripe. A
// deposit (less Stripe's fee), its partial refund and a withdrawal's
// transfer reconcile clean; then Stripe shows a deposit the ledger never
// credited, the transfer twice and a refund of a payment the ledger does
// not know: each is reported, the balance differs, and the exit status is 1.
func TestReconcile(t *testing.T) {
	servertest.EachDatabase(t, func(t *testing.T, db servertest.Database) {
		stripe := &scriptedBalance{}
		api := httptest.NewServer(stripe)
		t.Cleanup(api.Close)
		env := servertest.Env(t, db)
		servertest.StripeEnv(env, api.URL)
		srv := servertest.Start(t, env)
		since := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
		customer, contractor := pulid.ID(srv.Register(t, "CUSTOMER").ID), pulid.ID(srv.Register(t, "CONTRACTOR").ID)
		post := func(e ledger.Entry) {
			t.Helper()
			if _, err := srv.Post(t, e); err != nil {
				t.Fatal(err)
			}
		}
		// What the services book: a deposit, its refund to the card, a
		// contractor's deposit, and a withdrawal's hold and payout.
		post(ledger.Entry{Key: "deposit:dep_a", Type: ledgertransaction.TypeDEPOSIT, StripePaymentIntentID: "pi_a",
			Moves: []ledger.Move{{From: ledger.External, To: ledger.Available(customer), Amount: 5000}}})
		post(ledger.Entry{Key: "deposit:dep_a:refund:1", Type: ledgertransaction.TypeREFUND, StripePaymentIntentID: "pi_a",
			Moves: []ledger.Move{{From: ledger.Available(customer), To: ledger.External, Amount: 1000}}})
		post(ledger.Entry{Key: "deposit:dep_b", Type: ledgertransaction.TypeDEPOSIT, StripePaymentIntentID: "pi_b",
			Moves: []ledger.Move{{From: ledger.External, To: ledger.Available(contractor), Amount: 3000}}})
		post(ledger.Entry{Key: "withdrawal:wd_a:hold", Type: ledgertransaction.TypeWITHDRAWAL,
			Moves: []ledger.Move{{From: ledger.Available(contractor), To: ledger.Escrow(contractor), Amount: 2000}}})
		post(ledger.Entry{Key: "withdrawal:wd_a:payout", Type: ledgertransaction.TypeWITHDRAWAL, StripeTransferID: "tr_a",
			Moves: []ledger.Move{{From: ledger.Escrow(contractor), To: ledger.External, Amount: 2000}}})
		stripe.add("charge", 5000, 175, chargeSource("ch_a", "pi_a"))
		stripe.add("refund", -1000, 0, refundSource("re_a", "pi_a"))
		stripe.add("charge", 3000, 117, chargeSource("ch_b", "pi_b"))
		stripe.add("transfer", -2000, 0, transferSource("tr_a"))
		srv.RequireLedgerVerified(t)

		reconcile := func() (string, error) {
			out := &servertest.SyncBuffer{}
			err := run(context.Background(), []string{"jobsphere", "reconcile", "--since", since}, getenv(env), out, out)
			return out.String(), err
		}
		out, err := reconcile()
		if err != nil || !strings.Contains(out, "matched 4 movement(s), 110.00 in and out") ||
			!strings.Contains(out, "Stripe's fees (not in the ledger) 2.92") ||
			!strings.Contains(out, "Stripe holds 47.08, the ledger says 47.08: difference 0.00") || !strings.Contains(out, "reconciliation clean") {
			t.Fatalf("clean reconcile: %v\n%s", err, out)
		}
		if q := stripe.asked[0]; !strings.Contains(q, "created[gte]=") || !strings.Contains(q, "expand[0]=data.source") {
			t.Fatalf("list request: %s", q)
		}
		if len(stripe.asked) != 2 { // four movements, two a page
			t.Fatalf("%d list requests, want 2 pages", len(stripe.asked))
		}

		// A deposit charged but never credited, the transfer again, a
		// refund of a payment the ledger does not know.
		stripe.add("charge", 4000, 146, chargeSource("ch_c", "pi_c"))
		stripe.add("transfer", -2000, 0, transferSource("tr_a"))
		stripe.add("refund", -700, 0, refundSource("re_x", "pi_x"))
		out, err = reconcile()
		if exitStatus(err) != 1 {
			t.Fatalf("mismatch: exit %d (%v)\n%s", exitStatus(err), err, out)
		}
		for _, want := range []string{
			"unmatched at Stripe: 3",
			"- charge ch_c 40.00: no ledger transaction of payment pi_c",
			"- transfer tr_a -20.00: no ledger transaction of transfer tr_a left: it is booked once and appears again at Stripe",
			"- refund re_x -7.00: no ledger transaction of refund pi_x",
			"matched 4 movement(s)",
			"difference 13.00", // 40.00 − 20.00 − 7.00: the fee is Stripe's, accounted for
		} {
			if !strings.Contains(out, want) {
				t.Errorf("the report does not say %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "unmatched in the ledger") || strings.Contains(out, "reconciliation clean") {
			t.Errorf("report:\n%s", out)
		}

		// A ledger credit Stripe never saw is reported from the other side.
		post(ledger.Entry{Key: "deposit:dep_d", Type: ledgertransaction.TypeDEPOSIT, StripePaymentIntentID: "pi_d",
			Moves: []ledger.Move{{From: ledger.External, To: ledger.Available(customer), Amount: 1200}}})
		if out, err = reconcile(); exitStatus(err) != 1 || !strings.Contains(out, "unmatched in the ledger: 1") ||
			!strings.Contains(out, "- payment pi_d 12.00: not at Stripe in the period") {
			t.Fatalf("ledger side: %v\n%s", err, out)
		}
		srv.RequireLedgerVerified(t)
	})
}

// TestReconcileSince: --since takes a date or an RFC 3339 time; anything
// else is refused with the usage, before the configuration is read.
func TestReconcileSince(t *testing.T) {
	for _, s := range []string{"2026-12-01", "2026-12-01T09:30:00Z", "2026-12-01T09:30:00+02:00"} {
		if _, err := parseSince(s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	if d, _ := parseSince("2026-12-01"); !d.Equal(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("a date is midnight UTC: %v", d)
	}
	_, stderr, status, configured := cli(t, "reconcile", "--since", "yesterday")
	if status != 2 || configured || !strings.Contains(stderr, "want a date such as 2026-12-01") || !strings.Contains(stderr, "usage: jobsphere reconcile [--since DATE]") {
		t.Fatalf("bad --since: status %d, configured %v, stderr %q", status, configured, stderr)
	}
}
