package payments

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jobsphere/jobsphere/ledger"
)

// Reconciliation compares the ledger with Stripe (docs/stripe.md,
// "Reconciliation with Stripe"): every movement of the platform's Stripe balance in a
// period is matched to a ledger transaction posting against EXTERNAL, by
// the Stripe object both name and the amount, and what Stripe holds is
// compared with what the ledger says it should.
//
// A movement's match key is what the ledger stores of it:
//   - a charge: its PaymentIntent (stripe_payment_intent_id of a deposit's
//     or a job Checkout's credit), the amount coming in;
//   - a refund: its PaymentIntent too (of an escrow's, a deposit's or a
//     Dashboard refund's debit), the amount going out: a payment's
//     refunds pair one to one by amount, so no refund id is stored; those
//     left over are matched by their total per payment, as the ledger may
//     book two Dashboard refunds reported together as one debit;
//   - a transfer: its id (stripe_transfer_id of a withdrawal's payout),
//     and a transfer reversal the transfer it reverses (of the payout's
//     reversal);
//   - a dispute's funds withdrawn or reinstated: the dispute
//     ("dispute:<dp>:funds-…" keys), and its fee, which Stripe takes and
//     returns with them, the dispute's "dispute:<dp>:fee…" transactions.
//
// Stripe's processing fees (on charges, and its own stripe_fee charges)
// are Stripe's cost, not booked in the ledger: they are counted apart
// (StripeFees), as the platform's payouts to its own bank are (PaidOut),
// and the expected balance allows for both. A ledger transaction undone
// by its exact reversal before reaching Stripe (a refund Stripe refused)
// is left out with its reversal.
type Reconciliation struct {
	Since, CheckedAt time.Time
	// Matched movements, and their amounts in and out added up.
	Matched       int
	MatchedAmount int64
	// StripeFees is what Stripe kept in the period that the ledger does
	// not book; PaidOut what payouts took to the platform's bank (≤ 0).
	StripeFees, PaidOut int64
	UnmatchedAtStripe   []ReconciliationItem
	UnmatchedInLedger   []ReconciliationItem
	// StripeBalance is what Stripe holds for the platform (available and
	// pending); ExpectedBalance what the ledger says it should: minus
	// EXTERNAL's balance, less the period's StripeFees, plus PaidOut.
	StripeBalance, ExpectedBalance int64
}

// ReconciliationItem is a movement on one side without its match on the
// other.
type ReconciliationItem struct {
	StripeID string // the Stripe object (ch_/re_/tr_/trr_/dp_…; pi_/tr_/dp_ in the ledger), or the ledger transaction's id when it names none
	Kind     string // Stripe's balance transaction type, or the ledger's movement: payment, refund, transfer, transfer_reversal, dispute, dispute_fee
	Amount   int64  // signed: into the Stripe balance positive
	Problem  string
}

// BalanceDifference is what Stripe holds beyond what the ledger says it
// should (negative: less).
func (r *Reconciliation) BalanceDifference() int64 { return r.StripeBalance - r.ExpectedBalance }

// Clean reports that everything matched and the balances agree.
func (r *Reconciliation) Clean() bool {
	return len(r.UnmatchedAtStripe) == 0 && len(r.UnmatchedInLedger) == 0 && r.BalanceDifference() == 0
}

// Print writes the report for people, amounts formatted by fmtAmount.
func (r *Reconciliation) Print(w io.Writer, fmtAmount func(int64) string) {
	fmt.Fprintf(w, "reconciliation with Stripe since %s (checked %s)\n", r.Since.UTC().Format(time.RFC3339), r.CheckedAt.UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "matched %d movement(s), %s in and out\n", r.Matched, fmtAmount(r.MatchedAmount))
	fmt.Fprintf(w, "Stripe's fees (not in the ledger) %s, paid out to the platform's bank %s\n", fmtAmount(r.StripeFees), fmtAmount(r.PaidOut))
	fmt.Fprintf(w, "Stripe holds %s, the ledger says %s: difference %s\n",
		fmtAmount(r.StripeBalance), fmtAmount(r.ExpectedBalance), fmtAmount(r.BalanceDifference()))
	for _, side := range []struct {
		name  string
		items []ReconciliationItem
	}{{"at Stripe", r.UnmatchedAtStripe}, {"in the ledger", r.UnmatchedInLedger}} {
		if len(side.items) > 0 {
			fmt.Fprintf(w, "unmatched %s: %d\n", side.name, len(side.items))
		}
		for _, it := range side.items {
			fmt.Fprintf(w, "  - %s %s %s: %s\n", it.Kind, it.StripeID, fmtAmount(it.Amount), it.Problem)
		}
	}
	if r.Clean() {
		fmt.Fprintln(w, "reconciliation clean: every movement matched, the balances agree")
	}
}

// The kinds of movement reconciliation matches.
const (
	movePayment          = "payment"
	moveRefund           = "refund"
	moveTransfer         = "transfer"
	moveTransferReversal = "transfer_reversal"
	moveDispute          = "dispute"
	moveDisputeFee       = "dispute_fee"
)

// stripeKinds are the balance transaction types matched by the payment
// or transfer they belong to, and the movement each is.
var stripeKinds = map[string]string{
	BalanceCharge: movePayment, BalancePayment: movePayment,
	BalanceRefund: moveRefund, BalancePaymentRefund: moveRefund,
	BalanceTransfer: moveTransfer, BalanceTransferRefund: moveTransferReversal,
}

// matchKey is what a movement is matched by, besides its amount: its kind
// and the Stripe object both sides name.
type matchKey struct{ kind, id string }

// ledgerMove is a ledger transaction's movement awaiting its match.
type ledgerMove struct {
	txn     ledger.ExternalTransaction
	key     matchKey
	matched bool
}

// Reconcile matches Stripe's balance transactions created at or after
// since with the ledger's transactions against EXTERNAL of the same
// period, and compares the balances.
func (s *Service) Reconcile(ctx context.Context, since time.Time) (*Reconciliation, error) {
	r := &Reconciliation{Since: since, CheckedAt: time.Now()}
	txns, err := s.ledger.ExternalTransactions(ctx, since)
	if err != nil {
		return nil, err
	}
	bts, err := s.gateway.BalanceTransactions(ctx, since, s.cfg.Currency.Code)
	if err != nil {
		return nil, fmt.Errorf("list Stripe's balance transactions: %w", err)
	}
	balance, err := s.gateway.Balance(ctx, s.cfg.Currency.Code)
	if err != nil {
		return nil, fmt.Errorf("read Stripe's balance: %w", err)
	}
	external, err := s.ledger.ExternalBalance(ctx)
	if err != nil {
		return nil, err
	}
	byKey := map[matchKey][]*ledgerMove{}
	var order []*ledgerMove
	for _, t := range withoutUndone(txns) {
		m := &ledgerMove{txn: t, key: ledgerKey(t)}
		byKey[m.key] = append(byKey[m.key], m)
		order = append(order, m)
	}
	var missing []stripePart
	for _, bt := range bts {
		missing = append(missing, r.match(bt, byKey)...)
	}
	for _, p := range r.matchRefundTotals(missing, byKey) {
		r.UnmatchedAtStripe = append(r.UnmatchedAtStripe, ReconciliationItem{StripeID: or(p.bt.SourceID, p.bt.ID), Kind: p.bt.Type,
			Amount: p.amount, Problem: stripeProblem(p.key, byKey[p.key], p.bt.ID, s.cfg.Currency.Display)})
	}
	for _, m := range order {
		if !m.matched {
			r.UnmatchedInLedger = append(r.UnmatchedInLedger, ledgerItem(m, byKey[m.key], s.cfg.Currency.Display))
		}
	}
	r.StripeBalance = balance.Total()
	r.ExpectedBalance = external - r.StripeFees + r.PaidOut
	return r, nil
}

// stripePart is what a Stripe movement asks to match: the movement
// itself, or a dispute's fee beside its funds.
type stripePart struct {
	bt     BalanceTransaction
	key    matchKey
	amount int64
}

// match books one Stripe movement: its fees and payouts apart, its parts
// matched each to a ledger movement; it returns those left unmatched.
func (r *Reconciliation) match(bt BalanceTransaction, byKey map[matchKey][]*ledgerMove) []stripePart {
	type part = stripePart
	var parts []part
	switch kind, ok := stripeKinds[bt.Type]; {
	case ok:
		parts = []part{{bt, matchKey{kind, or(bt.PaymentIntentID, bt.TransferID, bt.SourceID)}, bt.Amount}}
		r.StripeFees += bt.Fee // Stripe's processing fee: not in the ledger
	case bt.Type == BalanceAdjustment && strings.HasPrefix(bt.SourceID, "dp_"):
		parts = []part{{bt, matchKey{moveDispute, bt.SourceID}, bt.Amount}}
		if bt.Fee != 0 { // the dispute fee, which the ledger books
			parts = append(parts, part{bt, matchKey{moveDisputeFee, bt.SourceID}, -bt.Fee})
		}
	case bt.Type == BalancePayout || bt.Type == BalancePayoutCancel || bt.Type == BalancePayoutFailure:
		r.PaidOut += bt.Net
		return nil
	case bt.Type == BalanceStripeFee:
		r.StripeFees -= bt.Net
		return nil
	default:
		r.UnmatchedAtStripe = append(r.UnmatchedAtStripe, ReconciliationItem{StripeID: or(bt.SourceID, bt.ID), Kind: bt.Type, Amount: bt.Net,
			Problem: "a kind of movement the ledger does not book (balance transaction " + bt.ID + ")"})
		return nil
	}
	var missing []stripePart
	for _, p := range parts {
		if m := takeMatch(byKey[p.key], p.amount); m != nil {
			r.matched(p.amount)
			continue
		}
		missing = append(missing, p)
	}
	return missing
}

func (r *Reconciliation) matched(amount int64) {
	r.Matched++
	r.MatchedAmount += abs(amount)
}

// matchRefundTotals matches a payment's refunds left unmatched one by one
// by their total: the ledger books a refund made outside the server
// (in the Dashboard) from the charge's running total refunded, as Stripe's
// events report it, so two such refunds reported at once are one debit
// in the ledger. It returns the parts still unmatched.
func (r *Reconciliation) matchRefundTotals(missing []stripePart, byKey map[matchKey][]*ledgerMove) []stripePart {
	atStripe := map[matchKey]int64{}
	for _, p := range missing {
		if p.key.kind == moveRefund {
			atStripe[p.key] += p.amount
		}
	}
	settled := map[matchKey]bool{}
	for key, total := range atStripe {
		var inLedger int64
		for _, m := range byKey[key] {
			if !m.matched {
				inLedger += m.txn.Amount
			}
		}
		if inLedger != total {
			continue
		}
		settled[key] = true
		for _, m := range byKey[key] {
			m.matched = true
		}
	}
	var left []stripePart
	for _, p := range missing {
		if settled[p.key] {
			r.matched(p.amount)
		} else {
			left = append(left, p)
		}
	}
	return left
}

// takeMatch marks and returns the first unmatched movement of amount.
func takeMatch(moves []*ledgerMove, amount int64) *ledgerMove {
	for _, m := range moves {
		if !m.matched && m.txn.Amount == amount {
			m.matched = true
			return m
		}
	}
	return nil
}

// stripeProblem says why a Stripe movement found no match among the
// ledger's movements of its key.
func stripeProblem(key matchKey, moves []*ledgerMove, btID string, display func(int64) string) string {
	what := "no ledger transaction of " + key.kind + " " + key.id
	for _, m := range moves {
		if !m.matched {
			return what + " with this amount: the ledger books " + display(m.txn.Amount) + " (" + string(m.txn.ID) + ")"
		}
	}
	if len(moves) > 0 {
		return what + " left: it is booked once and appears again at Stripe (balance transaction " + btID + ")"
	}
	return what + " (balance transaction " + btID + ")"
}

// ledgerItem reports a ledger movement Stripe did not show.
func ledgerItem(m *ledgerMove, sameKey []*ledgerMove, display func(int64) string) ReconciliationItem {
	problem := "not at Stripe in the period"
	if m.key.id == "" {
		problem = "names no Stripe object"
	} else if len(sameKey) > 1 {
		problem = fmt.Sprintf("not at Stripe in the period with this amount (%d ledger transactions of this %s)", len(sameKey), m.key.kind)
	}
	id := or(m.key.id, string(m.txn.ID))
	return ReconciliationItem{StripeID: id, Kind: or(m.key.kind, strings.ToLower(string(m.txn.Type))), Amount: m.txn.Amount,
		Problem: fmt.Sprintf("%s: ledger transaction %s (%s) of %s", problem, m.txn.ID, m.txn.Key, display(m.txn.Amount))}
}

// ledgerKey is the match key of a ledger transaction against EXTERNAL;
// an empty id when it names no Stripe object.
func ledgerKey(t ledger.ExternalTransaction) matchKey {
	if dp, fee, ok := ledger.DisputeOf(t.Key); ok {
		if fee {
			return matchKey{moveDisputeFee, dp}
		}
		return matchKey{moveDispute, dp}
	}
	switch {
	case t.StripeTransferID != "" && t.Amount < 0:
		return matchKey{moveTransfer, t.StripeTransferID}
	case t.StripeTransferID != "":
		return matchKey{moveTransferReversal, t.StripeTransferID}
	case t.StripePaymentIntentID != "" && t.Amount > 0:
		return matchKey{movePayment, t.StripePaymentIntentID}
	case t.StripePaymentIntentID != "":
		return matchKey{moveRefund, t.StripePaymentIntentID}
	}
	return matchKey{}
}

// withoutUndone leaves out each transaction undone by its exact reversal
// (ledger.Reverse, which names no Stripe object) together with the
// reversal: that money never reached Stripe.
func withoutUndone(txns []ledger.ExternalTransaction) []ledger.ExternalTransaction {
	amounts := map[string]int64{}
	for _, t := range txns {
		amounts[string(t.ID)] = t.Amount
	}
	undone := map[string]bool{}
	for _, t := range txns {
		orig, ok := amounts[string(t.ReversalOf)]
		if t.ReversalOf != "" && ok && orig == -t.Amount && t.StripePaymentIntentID == "" && t.StripeTransferID == "" {
			undone[string(t.ID)], undone[string(t.ReversalOf)] = true, true
		}
	}
	out := txns[:0:0]
	for _, t := range txns {
		if !undone[string(t.ID)] {
			out = append(out, t)
		}
	}
	return out
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}
