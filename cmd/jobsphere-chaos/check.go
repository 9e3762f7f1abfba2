package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"sort"
	"strings"

	_ "github.com/lib/pq" // PostgreSQL driver, for the checks and the fresh database
)

// report prints each check as it is made and counts the violations.
type report struct {
	w          io.Writer
	violations int
}

// check prints one check: OK with its summary, or every problem (the
// first twenty).
func (r *report) check(name, summary string, problems []string) {
	if len(problems) == 0 {
		fmt.Fprintf(r.w, "OK    %s: %s\n", name, summary)
		return
	}
	r.violations += len(problems)
	fmt.Fprintf(r.w, "FAIL  %s: %d violation(s); %s\n", name, len(problems), summary)
	for i, p := range problems {
		if i == 20 {
			fmt.Fprintf(r.w, "        … and %d more\n", len(problems)-20)
			break
		}
		fmt.Fprintf(r.w, "        - %s\n", p)
	}
}

// ledgerTxn is one ledger transaction with what it moved across the
// EXTERNAL account (positive: money left for the outside world).
type ledgerTxn struct {
	typ              string
	amount, external int64
}

// snapshot is everything the checks compare: the database's records and
// the fake Stripe's objects, read after every process stopped.
type snapshot struct {
	txns        map[string]*ledgerTxn // by idempotency key
	deposits    map[string]depositRow
	escrows     []escrowRow
	offers      []offerRow
	withdrawals []withdrawalRow
	connect     map[string]string // Stripe account → status
	events      map[string]int    // Stripe event id → times recorded
	wallets     struct {
		balance, escrow, pending int64
		n                        int
	}
	revenue     int64
	external    int64
	receivable  int64             // users' receivable accounts: negative what they owe
	losses      int64             // the platform's losses account: negative what it lost
	chargebacks map[string]string // Stripe dispute → the case's status
	dupTransfer []string
	jobs        map[string]int // by status
	jobsAstray  []string       // jobs whose contract or escrow disagree with them

	sessions  []fsSession
	intents   map[string]fsIntent
	refunds   []fsRefund
	disputes  []fsDispute
	transfers []fsTransfer
	accounts  []fsAccount
	stripeEvs []string
	balance   int64
}

type depositRow struct {
	amount int64
	status string
}

type escrowRow struct {
	id, status, funding, session, intent, offer string
	amount, platformFee, serviceFee, earning    int64
	// Of its disputes: how many are OPEN, and the settled one's
	// contractor share (-1: none settled).
	openDisputes int
	share        int64
}

type offerRow struct {
	id, status  string
	platformFee int64
	contracted  bool
}

type withdrawalRow struct {
	id, status, transfer string
	amount               int64
}

func load(ctx context.Context, db *sql.DB, s *fakeStripe) (*snapshot, error) {
	sn := &snapshot{txns: map[string]*ledgerTxn{}, deposits: map[string]depositRow{},
		connect: map[string]string{}, chargebacks: map[string]string{}, events: map[string]int{}, intents: map[string]fsIntent{}, jobs: map[string]int{}}
	queries := []struct {
		q    string
		scan func(*sql.Rows) error
	}{
		{`SELECT t.idempotency_key, t.type, t.amount,
		         COALESCE(SUM(CASE WHEN a.kind = 'EXTERNAL' THEN p.amount ELSE 0 END), 0)
		    FROM ledger_transactions t
		    LEFT JOIN postings p ON p.transaction_id = t.id
		    LEFT JOIN ledger_accounts a ON a.id = p.account_id
		   GROUP BY t.id, t.idempotency_key, t.type, t.amount`, func(r *sql.Rows) error {
			var key string
			t := &ledgerTxn{}
			err := r.Scan(&key, &t.typ, &t.amount, &t.external)
			sn.txns[key] = t
			return err
		}},
		{`SELECT id, amount, status FROM deposits`, func(r *sql.Rows) error {
			var id string
			var d depositRow
			err := r.Scan(&id, &d.amount, &d.status)
			sn.deposits[id] = d
			return err
		}},
		{`SELECT e.id, e.status, e.funding_source, COALESCE(e.stripe_checkout_session_id, ''), COALESCE(e.stripe_payment_intent_id, ''),
		         COALESCE(c.offer_id, ''), e.amount, e.platform_fee, e.service_fee, e.freelancer_earning,
		         (SELECT COUNT(*) FROM disputes d WHERE d.contract_id = c.id AND d.status = 'OPEN'),
		         COALESCE((SELECT d.contractor_amount FROM disputes d WHERE d.contract_id = c.id AND d.status = 'SETTLED'), -1)
		    FROM escrows e JOIN contracts c ON c.id = e.contract_id`, func(r *sql.Rows) error {
			var e escrowRow
			err := r.Scan(&e.id, &e.status, &e.funding, &e.session, &e.intent, &e.offer, &e.amount, &e.platformFee, &e.serviceFee, &e.earning,
				&e.openDisputes, &e.share)
			sn.escrows = append(sn.escrows, e)
			return err
		}},
		{`SELECT o.id, o.status, o.platform_fee, EXISTS (SELECT 1 FROM contracts c WHERE c.offer_id = o.id) FROM offers o`, func(r *sql.Rows) error {
			var o offerRow
			err := r.Scan(&o.id, &o.status, &o.platformFee, &o.contracted)
			sn.offers = append(sn.offers, o)
			return err
		}},
		{`SELECT status, COUNT(*) FROM jobs GROUP BY 1`, func(r *sql.Rows) error {
			var st string
			var n int
			err := r.Scan(&st, &n)
			sn.jobs[st] = n
			return err
		}},
		// The stages a job may be in, written here apart from ledger verify's.
		{`SELECT j.id, j.status, COALESCE(c.status, 'none'), COALESCE(e.status, 'none')
		    FROM jobs j LEFT JOIN contracts c ON c.job_id = j.id LEFT JOIN escrows e ON e.contract_id = c.id
		   WHERE NOT ((j.status = 'OPEN' AND c.id IS NULL)
		           OR (j.status IN ('ASSIGNED', 'IN_PROGRESS') AND c.status = 'ACTIVE' AND e.status IN ('FUNDED', 'RELEASE_REQUESTED', 'DISPUTED'))
		           OR (j.status = 'COMPLETED' AND c.status = 'COMPLETED' AND e.status IN ('RELEASED', 'SETTLED'))
		           OR (j.status = 'CANCELLED' AND (c.id IS NULL OR (c.status = 'CANCELLED' AND e.status = 'REFUNDED'))))`, func(r *sql.Rows) error {
			var id, js, cs, es string
			err := r.Scan(&id, &js, &cs, &es)
			sn.jobsAstray = append(sn.jobsAstray, fmt.Sprintf("job %s is %s, its contract %s, its escrow %s", id, js, cs, es))
			return err
		}},
		{`SELECT id, status, COALESCE(stripe_transfer_id, ''), amount FROM withdrawals`, func(r *sql.Rows) error {
			var w withdrawalRow
			err := r.Scan(&w.id, &w.status, &w.transfer, &w.amount)
			sn.withdrawals = append(sn.withdrawals, w)
			return err
		}},
		{`SELECT stripe_transfer_id FROM withdrawals WHERE stripe_transfer_id IS NOT NULL GROUP BY 1 HAVING COUNT(*) > 1`, func(r *sql.Rows) error {
			var id string
			err := r.Scan(&id)
			sn.dupTransfer = append(sn.dupTransfer, id)
			return err
		}},
		{`SELECT stripe_account_id, status FROM connect_accounts`, func(r *sql.Rows) error {
			var id, st string
			err := r.Scan(&id, &st)
			sn.connect[id] = st
			return err
		}},
		{`SELECT stripe_event_id, COUNT(*) FROM stripe_events GROUP BY 1`, func(r *sql.Rows) error {
			var id string
			var n int
			err := r.Scan(&id, &n)
			sn.events[id] = n
			return err
		}},
		{`SELECT COALESCE(SUM(balance), 0), COALESCE(SUM(escrow_balance), 0), COALESCE(SUM(pending_deposits), 0), COUNT(*) FROM wallets`, func(r *sql.Rows) error {
			return r.Scan(&sn.wallets.balance, &sn.wallets.escrow, &sn.wallets.pending, &sn.wallets.n)
		}},
		{`SELECT COALESCE(SUM(CASE WHEN a.kind = 'REVENUE' THEN p.amount ELSE 0 END), 0),
		         COALESCE(SUM(CASE WHEN a.kind = 'EXTERNAL' THEN p.amount ELSE 0 END), 0),
		         COALESCE(SUM(CASE WHEN a.kind = 'RECEIVABLE' THEN p.amount ELSE 0 END), 0),
		         COALESCE(SUM(CASE WHEN a.kind = 'LOSSES' THEN p.amount ELSE 0 END), 0)
		    FROM postings p JOIN ledger_accounts a ON a.id = p.account_id`, func(r *sql.Rows) error {
			return r.Scan(&sn.revenue, &sn.external, &sn.receivable, &sn.losses)
		}},
		{`SELECT stripe_dispute_id, status FROM chargebacks`, func(r *sql.Rows) error {
			var id, st string
			err := r.Scan(&id, &st)
			sn.chargebacks[id] = st
			return err
		}},
	}
	for _, q := range queries {
		rows, err := db.QueryContext(ctx, q.q)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", strings.Fields(q.q)[1], err)
		}
		for rows.Next() {
			if err := q.scan(rows); err != nil {
				rows.Close()
				return nil, err
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	for _, cs := range s.sessions {
		sn.sessions = append(sn.sessions, *cs)
	}
	for id, pi := range s.intents {
		sn.intents[id] = *pi
	}
	for _, r := range s.refunds {
		sn.refunds = append(sn.refunds, *r)
	}
	for _, d := range s.disputes {
		sn.disputes = append(sn.disputes, *d)
	}
	for _, t := range s.transfers {
		sn.transfers = append(sn.transfers, *t)
	}
	for _, a := range s.accounts {
		sn.accounts = append(sn.accounts, *a)
	}
	for _, e := range s.events {
		sn.stripeEvs = append(sn.stripeEvs, e.ID)
	}
	sn.balance = s.balance
	return sn, nil
}

// stripeMoney is what Stripe says came in and went out.
type stripeMoney struct {
	depositsIn, jobsIn, transfers, reversed, refunds int64
	chargedBack                                      int64 // disputes' funds and fees withdrawn, less what came back
	nDeposits, nJobs, nTransfers, nRefunds           int
}

// verify runs every check on the snapshot.
func (sn *snapshot) verify(r *report) {
	var sm stripeMoney
	sn.checkDeposits(r, &sm)
	sn.checkJobPayments(r, &sm)
	sn.checkEscrows(r, &sm)
	sn.checkOffers(r)
	r.check("job states agree with contracts and escrows", fmt.Sprintf("jobs %v", sn.jobs), sn.jobsAstray)
	sn.checkWithdrawals(r, &sm)
	sn.checkChargebacks(r, &sm)
	sn.checkMoney(r, sm)
	sn.checkEvents(r)
	sn.checkAccounts(r)
}

func (sn *snapshot) has(key string) bool { return sn.txns[key] != nil }

// checkDeposits: every deposit Stripe was paid for is SUCCEEDED and
// credited once, with its amount; nothing else is.
func (sn *snapshot) checkDeposits(r *report, sm *stripeMoney) {
	paid := map[string][]int64{}
	for _, cs := range sn.sessions {
		if cs.Kind != "job_payment" && cs.Paid {
			id := cs.Metadata["deposit_id"]
			paid[id] = append(paid[id], cs.Amount)
		}
	}
	for _, pi := range sn.intents {
		if !pi.ViaCheckout && pi.Status == "succeeded" {
			id := pi.Metadata["deposit_id"]
			paid[id] = append(paid[id], pi.Amount)
		}
	}
	var problems []string
	var credited int64
	succeeded := 0
	for id, amounts := range paid {
		for _, a := range amounts {
			sm.depositsIn += a
			sm.nDeposits++
		}
		if len(amounts) > 1 {
			problems = append(problems, fmt.Sprintf("deposit %s was paid %d times at Stripe (%v)", id, len(amounts), amounts))
		}
		d, ok := sn.deposits[id]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("Stripe took %s for deposit %q, which does not exist", money(amounts[0]), id))
			continue
		case d.status != "SUCCEEDED":
			problems = append(problems, fmt.Sprintf("deposit %s was paid at Stripe (%s) but is %s", id, money(amounts[0]), d.status))
		case d.amount != amounts[0]:
			problems = append(problems, fmt.Sprintf("deposit %s is %s, Stripe took %s", id, money(d.amount), money(amounts[0])))
		}
		if t := sn.txns["deposit:"+id]; t == nil {
			problems = append(problems, fmt.Sprintf("deposit %s paid at Stripe has no ledger credit", id))
		} else if -t.external != amounts[0] {
			problems = append(problems, fmt.Sprintf("deposit %s credited %s from outside, Stripe took %s", id, money(-t.external), money(amounts[0])))
		}
	}
	pending := 0
	for id, d := range sn.deposits {
		switch d.status {
		case "SUCCEEDED":
			succeeded++
			credited += d.amount
			if paid[id] == nil {
				problems = append(problems, fmt.Sprintf("deposit %s is SUCCEEDED (%s) but Stripe was never paid for it", id, money(d.amount)))
			}
		case "PENDING", "REQUIRES_ACTION":
			pending++
		}
	}
	for key := range sn.txns {
		if id, ok := strings.CutPrefix(key, "deposit:"); ok && sn.deposits[id].status != "SUCCEEDED" {
			problems = append(problems, fmt.Sprintf("ledger credit %s for a deposit that is %q", key, sn.deposits[id].status))
		}
	}
	sort.Strings(problems)
	r.check("deposits credited exactly once", fmt.Sprintf("%d paid at Stripe (%s) ↔ %d SUCCEEDED (%s); %d of %d deposits never confirmed",
		sm.nDeposits, money(sm.depositsIn), succeeded, money(credited), pending, len(sn.deposits)), problems)
}

// checkJobPayments: every paid job Checkout came in once, to the job's
// escrow or (job taken) the customer's wallet; no escrow without a paid
// session.
func (sn *snapshot) checkJobPayments(r *report, sm *stripeMoney) {
	var problems []string
	paid := map[string]int64{}
	funded := map[string]bool{}
	for _, e := range sn.escrows {
		if e.funding == "CHECKOUT" {
			funded[e.session] = true
		}
	}
	toWallet := 0
	for _, cs := range sn.sessions {
		if cs.Kind != "job_payment" || !cs.Paid {
			continue
		}
		paid[cs.ID] = cs.Amount
		sm.jobsIn += cs.Amount
		sm.nJobs++
		t := sn.txns["checkout:"+cs.ID+":funding"]
		switch {
		case t == nil:
			problems = append(problems, fmt.Sprintf("job Checkout %s paid %s at Stripe, never credited", cs.ID, money(cs.Amount)))
		case -t.external != cs.Amount:
			problems = append(problems, fmt.Sprintf("job Checkout %s paid %s at Stripe, credited %s", cs.ID, money(cs.Amount), money(-t.external)))
		}
		if !funded[cs.ID] {
			toWallet++
		}
	}
	for key := range sn.txns {
		if id, ok := strings.CutPrefix(key, "checkout:"); ok {
			if id = strings.TrimSuffix(id, ":funding"); paid[id] == 0 {
				problems = append(problems, fmt.Sprintf("ledger credit %s for a session Stripe was not paid for", key))
			}
		}
	}
	for s := range funded {
		if paid[s] == 0 {
			problems = append(problems, fmt.Sprintf("escrow funded by Checkout %s, which Stripe was not paid for", s))
		}
	}
	sort.Strings(problems)
	r.check("job payments credited exactly once", fmt.Sprintf("%d paid job Checkouts (%s): %d funded an escrow, %d went to the wallet (job taken)",
		sm.nJobs, money(sm.jobsIn), sm.nJobs-toWallet, toWallet), problems)
}

// checkEscrows: each escrow is released or refunded, never both — or,
// settled by a dispute, split as its dispute says — and its ledger
// agrees; card refunds at Stripe match the escrows refunded to the card.
func (sn *snapshot) checkEscrows(r *report, sm *stripeMoney) {
	var problems []string
	byIntent := map[string][]fsRefund{} // the server's refunds of escrows (whole, or a dispute's split)
	for _, rf := range sn.refunds {
		sm.refunds += rf.Amount
		sm.nRefunds++
		if strings.HasPrefix(rf.Key, "escrow:") || strings.HasPrefix(rf.Key, "dispute:") {
			byIntent[rf.PaymentIntent] = append(byIntent[rf.PaymentIntent], rf)
		}
	}
	counts := map[string]int{}
	escrowOf := map[string]escrowRow{}
	for _, e := range sn.escrows {
		counts[e.status]++
		if e.intent != "" {
			escrowOf[e.intent] = e
		}
		k := "escrow:" + e.id
		payout, fee, refund := sn.has(k+":payout"), sn.has(k+":service-fee"), sn.txns[k+":refund"]
		if (e.status == "DISPUTED") != (e.openDisputes == 1) || e.openDisputes > 1 {
			problems = append(problems, fmt.Sprintf("escrow %s is %s with %d open disputes", e.id, e.status, e.openDisputes))
		}
		if e.share >= 0 {
			var paid int64
			for _, part := range []string{":payout", ":service-fee"} {
				if t := sn.txns[k+part]; t != nil {
					paid += t.amount
				}
			}
			if paid != e.share {
				problems = append(problems, fmt.Sprintf("escrow %s (%s): its dispute gave the contractor %s, the ledger %s", e.id, e.status, money(e.share), money(paid)))
			}
		}
		switch e.status {
		case "SETTLED":
			if !payout || refund == nil || e.share <= 0 || e.share >= e.amount {
				problems = append(problems, fmt.Sprintf("escrow %s SETTLED without a split: payout %v, refund %v, share %s", e.id, payout, refund != nil, money(e.share)))
			}
		case "RELEASED":
			if refund != nil {
				problems = append(problems, fmt.Sprintf("escrow %s RELEASED and also refunded (%s)", e.id, money(refund.amount)))
			}
			if (e.earning > 0 && !payout) || (e.serviceFee > 0 && !fee) {
				problems = append(problems, fmt.Sprintf("escrow %s RELEASED without its payout or service fee", e.id))
			}
		case "REFUNDED":
			if payout || fee {
				problems = append(problems, fmt.Sprintf("escrow %s REFUNDED and also paid out", e.id))
			}
			if refund == nil {
				problems = append(problems, fmt.Sprintf("escrow %s REFUNDED without a refund in the ledger", e.id))
			}
		default:
			if payout || fee || refund != nil {
				problems = append(problems, fmt.Sprintf("escrow %s is %s but has a payout, fee or refund posted", e.id, e.status))
			}
		}
		var atStripe int64
		for _, rf := range byIntent[e.intent] {
			atStripe += rf.Amount
		}
		toCard := int64(0)
		if refund != nil {
			toCard = refund.external
		}
		if toCard != atStripe {
			problems = append(problems, fmt.Sprintf("escrow %s (%s, %s): Stripe refunded %s to the card, the ledger says %s",
				e.id, e.status, e.funding, money(atStripe), money(toCard)))
		}
	}
	for pi, rfs := range byIntent {
		if _, ok := escrowOf[pi]; !ok {
			problems = append(problems, fmt.Sprintf("Stripe refunded %d time(s) PaymentIntent %s, which funds no escrow", len(rfs), pi))
		}
		if len(rfs) > 1 {
			problems = append(problems, fmt.Sprintf("PaymentIntent %s refunded %d times at Stripe", pi, len(rfs)))
		}
	}
	sort.Strings(problems)
	r.check("escrows released xor refunded", fmt.Sprintf("%d escrows %v; %d card refunds at Stripe (%s)",
		len(sn.escrows), counts, sm.nRefunds, money(sm.refunds)), problems)
}

// checkOffers: an accepted offer's hold was never returned, an ended
// one's was, once, and only accepted ones have contracts.
func (sn *snapshot) checkOffers(r *report) {
	var problems []string
	counts := map[string]int{}
	for _, o := range sn.offers {
		counts[o.status]++
		k := "offer:" + o.id
		released, fee := sn.has(k+":release"), sn.has(k+":platform-fee")
		if !sn.has(k + ":hold") {
			problems = append(problems, fmt.Sprintf("offer %s (%s) has no hold", o.id, o.status))
		}
		switch o.status {
		case "ACCEPTED":
			if released {
				problems = append(problems, fmt.Sprintf("offer %s ACCEPTED but its hold was returned", o.id))
			}
			if !o.contracted || (o.platformFee > 0 && !fee) {
				problems = append(problems, fmt.Sprintf("offer %s ACCEPTED without its contract or platform fee", o.id))
			}
		case "PENDING":
			if released || o.contracted || fee {
				problems = append(problems, fmt.Sprintf("offer %s PENDING but released, charged or contracted", o.id))
			}
		default:
			if !released || o.contracted || fee {
				problems = append(problems, fmt.Sprintf("offer %s %s: hold returned %v, contract %v, fee charged %v", o.id, o.status, released, o.contracted, fee))
			}
		}
	}
	sort.Strings(problems)
	r.check("offers accepted xor returned", fmt.Sprintf("%d offers %v", len(sn.offers), counts), problems)
}

// checkWithdrawals: Stripe transferred once per COMPLETED withdrawal and
// for nothing else.
func (sn *snapshot) checkWithdrawals(r *report, sm *stripeMoney) {
	var problems []string
	byWithdrawal := map[string][]fsTransfer{}
	for _, t := range sn.transfers {
		byWithdrawal[t.WithdrawalID] = append(byWithdrawal[t.WithdrawalID], t)
		if t.Reversed {
			sm.reversed += t.Amount
		} else {
			sm.transfers += t.Amount
			sm.nTransfers++
		}
	}
	counts := map[string]int{}
	known := map[string]bool{}
	var completed int64
	for _, w := range sn.withdrawals {
		counts[w.status]++
		known[w.id] = true
		trs := byWithdrawal[w.id]
		k := "withdrawal:" + w.id
		payout, release, reversal := sn.txns[k+":payout"], sn.has(k+":release"), sn.has(k+":reversal")
		if len(trs) > 1 {
			problems = append(problems, fmt.Sprintf("withdrawal %s paid %d times at Stripe", w.id, len(trs)))
		}
		var tr *fsTransfer
		if len(trs) > 0 {
			tr = &trs[0]
		}
		switch {
		case w.status == "COMPLETED":
			completed += w.amount
			switch {
			case tr == nil:
				problems = append(problems, fmt.Sprintf("withdrawal %s COMPLETED (%s) without a transfer at Stripe", w.id, w.transfer))
			case tr.Reversed || tr.ID != w.transfer || tr.Amount != w.amount:
				problems = append(problems, fmt.Sprintf("withdrawal %s COMPLETED as %s %s; Stripe has %s %s reversed=%v",
					w.id, w.transfer, money(w.amount), tr.ID, money(tr.Amount), tr.Reversed))
			}
			if payout == nil || payout.external != w.amount || release {
				problems = append(problems, fmt.Sprintf("withdrawal %s COMPLETED but its ledger payout is missing or released", w.id))
			}
		case tr != nil && tr.Reversed:
			if w.status != "FAILED" || !reversal {
				problems = append(problems, fmt.Sprintf("withdrawal %s: Stripe reversed transfer %s, the withdrawal is %s (reversal posted %v)", w.id, tr.ID, w.status, reversal))
			}
		case tr != nil:
			problems = append(problems, fmt.Sprintf("withdrawal %s is %s but Stripe transferred %s (%s) for it: paid out and %s",
				w.id, w.status, money(tr.Amount), tr.ID, map[bool]string{true: "also given back", false: "still held"}[release]))
		case w.status == "PENDING":
			if payout != nil || release {
				problems = append(problems, fmt.Sprintf("withdrawal %s PENDING but paid out or released in the ledger", w.id))
			}
		default: // FAILED or REJECTED without a transfer
			if !release || payout != nil {
				problems = append(problems, fmt.Sprintf("withdrawal %s %s: hold returned %v, payout posted %v", w.id, w.status, release, payout != nil))
			}
		}
	}
	for id, trs := range byWithdrawal {
		if !known[id] {
			problems = append(problems, fmt.Sprintf("Stripe transferred %s for withdrawal %q, which does not exist", money(trs[0].Amount), id))
		}
	}
	for _, id := range sn.dupTransfer {
		problems = append(problems, "transfer "+id+" recorded on more than one withdrawal")
	}
	if counts["COMPLETED"] != sm.nTransfers {
		problems = append(problems, fmt.Sprintf("%d COMPLETED withdrawals (%s), %d transfers standing at Stripe (%s)",
			counts["COMPLETED"], money(completed), sm.nTransfers, money(sm.transfers)))
	}
	sort.Strings(problems)
	r.check("withdrawals paid exactly once", fmt.Sprintf("%d withdrawals %v; %d transfers standing at Stripe (%s), %s reversed",
		len(sn.withdrawals), counts, sm.nTransfers, money(sm.transfers), money(sm.reversed)), problems)
}

// checkMoney: the money identity, from the ledger and from Stripe.
func (sn *snapshot) checkMoney(r *report, sm stripeMoney) {
	// What is owed counts against the platform (receivable below zero),
	// and so does what it lost.
	held := sn.wallets.balance + sn.wallets.escrow + sn.revenue + sn.receivable + sn.losses
	var in, paidOut, toCards, chargedBack int64
	other := map[string]int64{}
	for _, t := range sn.txns {
		switch t.typ {
		case "DEPOSIT":
			in -= t.external
		case "WITHDRAWAL":
			paidOut += t.external
		case "REFUND":
			toCards += t.external
		case "CHARGEBACK", "CHARGEBACK_REVERSAL":
			chargedBack += t.external
		default:
			if t.external != 0 {
				other[t.typ] += t.external
			}
		}
	}
	stripeIn := sm.depositsIn + sm.jobsIn
	stripeNet := stripeIn - sm.transfers - sm.refunds - sm.chargedBack
	var problems []string
	if held != in-paidOut-toCards-chargedBack {
		problems = append(problems, fmt.Sprintf("wallets + escrow + revenue − owed − losses = %s, but deposits credited − withdrawals paid − card refunds − chargebacks = %s",
			money(held), money(in-paidOut-toCards-chargedBack)))
	}
	if held != -sn.external {
		problems = append(problems, fmt.Sprintf("wallets + escrow + revenue = %s, the outside-world account holds %s", money(held), money(sn.external)))
	}
	if held != stripeNet {
		problems = append(problems, fmt.Sprintf("wallets + escrow + revenue = %s, but Stripe holds %s for the platform (in %s, transferred %s, refunded %s)",
			money(held), money(stripeNet), money(stripeIn), money(sm.transfers), money(sm.refunds)))
	}
	for _, p := range []struct {
		what          string
		ledger, truth int64
	}{{"money in", in, stripeIn}, {"withdrawals paid out", paidOut, sm.transfers}, {"refunds to cards", toCards, sm.refunds},
		{"chargebacks", chargedBack, sm.chargedBack}} {
		if p.ledger != p.truth {
			problems = append(problems, fmt.Sprintf("%s: ledger %s, Stripe %s", p.what, money(p.ledger), money(p.truth)))
		}
	}
	if sn.balance != stripeNet {
		problems = append(problems, fmt.Sprintf("the fake Stripe's own balance %s ≠ %s (a bug of the chaos run)", money(sn.balance), money(stripeNet)))
	}
	for typ, v := range other {
		problems = append(problems, fmt.Sprintf("%s transactions moved %s across the outside world", typ, money(v)))
	}
	r.check("money identity", fmt.Sprintf("wallets %s + escrow %s + revenue %s − owed %s − losses %s = %s = deposits credited %s − withdrawals paid %s − card refunds %s − chargebacks %s (Stripe: %s)",
		money(sn.wallets.balance), money(sn.wallets.escrow), money(sn.revenue), money(-sn.receivable), money(-sn.losses), money(held),
		money(in), money(paidOut), money(toCards), money(chargedBack), money(stripeNet)), problems)
}

// checkChargebacks: each card dispute at Stripe is one case here, in the
// state Stripe left it, and moved its money once: the funds and the fee
// withdrawn, and back when it was won.
func (sn *snapshot) checkChargebacks(r *report, sm *stripeMoney) {
	var problems []string
	counts := map[string]int{}
	want := map[string]string{"needs_response": "OPEN", "won": "WON", "lost": "LOST"}
	for _, d := range sn.disputes {
		counts[d.Status]++
		if st := sn.chargebacks[d.ID]; st != want[d.Status] {
			problems = append(problems, fmt.Sprintf("Stripe dispute %s is %s, its case here %q", d.ID, d.Status, st))
		}
		k := "dispute:" + d.ID + ":"
		steps := map[string]int64{"funds-withdrawn": d.Amount, "fee": disputeFee}
		if d.Status == "won" {
			steps["funds-reinstated"], steps["fee-returned"] = -d.Amount, -disputeFee
		}
		for step, external := range steps {
			sm.chargedBack += external
			if t := sn.txns[k+step]; t == nil || t.external != external {
				problems = append(problems, fmt.Sprintf("Stripe dispute %s (%s): its %s should move %s to the outside world, the ledger has %+v",
					d.ID, d.Status, step, money(external), t))
			}
		}
		if d.Status != "won" && (sn.has(k+"funds-reinstated") || sn.has(k+"fee-returned")) {
			problems = append(problems, fmt.Sprintf("Stripe dispute %s is %s but its funds were reinstated here", d.ID, d.Status))
		}
	}
	if len(sn.chargebacks) != len(sn.disputes) {
		problems = append(problems, fmt.Sprintf("%d chargeback cases here, %d disputes at Stripe", len(sn.chargebacks), len(sn.disputes)))
	}
	sort.Strings(problems)
	r.check("chargebacks booked once", fmt.Sprintf("%d disputes at Stripe %v (%s charged back net); owed %s, losses %s",
		len(sn.disputes), counts, money(sm.chargedBack), money(-sn.receivable), money(-sn.losses)), problems)
}

// checkEvents: every event Stripe sent is recorded, once.
func (sn *snapshot) checkEvents(r *report) {
	var problems []string
	for _, id := range sn.stripeEvs {
		switch n := sn.events[id]; n {
		case 1:
		case 0:
			problems = append(problems, "event "+id+" was never recorded")
		default:
			problems = append(problems, fmt.Sprintf("event %s recorded %d times", id, n))
		}
	}
	if len(sn.events) != len(sn.stripeEvs) {
		problems = append(problems, fmt.Sprintf("%d events recorded, Stripe sent %d", len(sn.events), len(sn.stripeEvs)))
	}
	r.check("webhook events recorded once", fmt.Sprintf("%d events, each delivered %d times", len(sn.stripeEvs), copiesPerEvent), problems)
}

// checkAccounts: each Connect account ends as Stripe last said, whatever
// order its account.updated events arrived in.
func (sn *snapshot) checkAccounts(r *report) {
	var problems []string
	orphans := 0
	for _, a := range sn.accounts {
		st, ok := sn.connect[a.ID]
		if !ok {
			orphans++
			continue
		}
		if want := strings.ToUpper(a.State); st != want {
			problems = append(problems, fmt.Sprintf("Connect account %s is %s at Stripe but %s here: an older account.updated was applied last, or the newer one came before the account was recorded and was dropped", a.ID, want, st))
		}
	}
	sort.Strings(problems)
	r.check("Connect accounts match Stripe", fmt.Sprintf("%d accounts at Stripe, %d recorded (%d never recorded: their contractor's call was lost and not retried)",
		len(sn.accounts), len(sn.connect), orphans), problems)
}
