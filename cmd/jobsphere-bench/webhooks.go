package main

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"time"
)

// depositsPerUser is the deposit rate limit (five an hour per user).
const depositsPerUser = 5

// webhookPhase: distinct, validly signed checkout.session.completed
// events, each crediting its own pending deposit, as fast as -clients
// senders go; then every event again (Stripe redelivers).
func (b *bench) webhookPhase(ctx context.Context, rep *report) error {
	o := b.opts
	n := o.events
	t, err := b.phaseServer(ctx, "webhooks", true)
	if err != nil {
		return err
	}
	defer t.stop()
	c := newClient(t.url, 64)
	defer c.close()

	nUsers := (n + depositsPerUser - 1) / depositsPerUser
	b.logf("webhooks: %d users, %d pending deposits", nUsers, n)
	users, err := c.registerMany(ctx, b.runID, "CUSTOMER", nUsers, 32)
	if err != nil {
		return fmt.Errorf("sign-up: %w", err)
	}
	deposits := make([]pendingDeposit, n)
	if err := forEach(ctx, n, 32, func(ctx context.Context, i int) error {
		return retry(ctx, func() (err error) {
			deposits[i], err = c.deposit(ctx, users[i/depositsPerUser], 1000+int64(i%depositsPerUser)*100)
			return err
		})
	}); err != nil {
		return fmt.Errorf("deposits: %w", err)
	}
	// Sent round-robin over the users (each user's first deposit, then
	// each one's second, …): events in flight at once are for different
	// wallets, as Stripe's are, not five at a time for one wallet.
	payloads := make([][]byte, 0, n)
	for slot := range depositsPerUser {
		for u := range nUsers {
			if i := u*depositsPerUser + slot; i < n {
				payloads = append(payloads, checkoutCompleted(fmt.Sprintf("evt_bench_%s_in_%d", b.runID, i), deposits[i]))
			}
		}
	}

	// deliver sends every payload once, o.clients at a time.
	deliver := func() (lat []time.Duration, failed int64, elapsed time.Duration) {
		lat = make([]time.Duration, n)
		var errs atomic.Int64
		start := time.Now()
		_ = forEach(ctx, n, o.clients, func(ctx context.Context, i int) error {
			t0 := time.Now()
			if err := c.webhook(ctx, payloads[i], b.webhookSecret); err != nil {
				errs.Add(1)
			}
			lat[i] = time.Since(t0)
			return nil
		})
		elapsed = time.Since(start)
		slices.Sort(lat)
		return lat, errs.Load(), elapsed
	}

	b.logf("webhooks: %d distinct events, %d senders", n, o.clients)
	stopProfile, err := b.startProfile("webhooks")
	if err != nil {
		return err
	}
	b.waitQuiet(ctx)
	stopWaits := b.sampleWaits(ctx, t.env["DATABASE_URL"], "webhook ingestion")
	stopCPU := b.cpuWindow()
	before, err := c.cost(ctx)
	if err != nil {
		return err
	}
	lat, failed, elapsed := deliver()
	after, err := c.cost(ctx)
	if err != nil {
		return err
	}
	cpu := stopCPU()
	waits := stopWaits()
	top, err := stopProfile()
	if err != nil {
		return err
	}
	b.logf("webhooks: the same %d events again", n)
	dupLat, dupFailed, dupElapsed := deliver()
	if err := ctx.Err(); err != nil {
		return err
	}
	dupAfter, err := c.cost(ctx)
	if err != nil {
		return err
	}
	b.costs.add(costRow{op: "webhook checkout.session.completed (credits a deposit)", n: n, cost: after.perOperation(before, n), bounded: true})
	b.costs.add(costRow{op: "the same webhook again (a duplicate)", n: n, cost: dupAfter.perOperation(after, n)})

	evRate := rate(n, elapsed)
	rep.add("webhooks", fmt.Sprintf("distinct checkout.session.completed events/s (each credits a deposit; %d events, %d senders)", n, o.clients), fmt.Sprintf("%.0f", evRate), goal("≥ 1,000/s", evRate >= 1000))
	rep.add("webhooks", "event latency p50 / p99", p50p99(lat), "")
	rep.add("webhooks", "CPU meanwhile; \"others\" are not this run's", cpu, "")
	rep.add("webhooks", "duplicates (the same events redelivered)/s", fmt.Sprintf("%.0f", rate(n, dupElapsed)), "")
	rep.add("webhooks", "duplicate latency p50 / p99", p50p99(dupLat), "")
	rep.add("webhooks", "non-200 answers (events / duplicates)", fmt.Sprintf("%d / %d", failed, dupFailed), goal("0 / 0", failed == 0 && dupFailed == 0))
	for _, s := range []string{waits, top} {
		if s != "" {
			rep.section(s)
		}
	}

	// Credited once each: the first user's wallet and the whole ledger.
	var want int64
	for _, d := range deposits {
		if d.UserID == users[0].ID {
			want += d.Minor
		}
	}
	var w struct {
		Wallet struct{ Balance, PendingDeposits string }
	}
	if err := c.do(ctx, users[0].Token, "", `{ wallet { balance pendingDeposits } }`, nil, &w); err != nil {
		return err
	}
	wantText := fmt.Sprintf("%d.%02d", want/100, want%100)
	check := "OK"
	if w.Wallet.Balance != wantText || w.Wallet.PendingDeposits != "0.00" {
		check = fmt.Sprintf("first user's wallet: balance %s, pending %s; want %s, 0.00", w.Wallet.Balance, w.Wallet.PendingDeposits, wantText)
	}
	if err := b.ledgerVerify(ctx, t); err != nil {
		check = "ledger verify FAILED: " + err.Error()
	}
	rep.add("webhooks", "credited exactly once (a wallet checked, ledger verify)", check, goal("OK", check == "OK"))
	return nil
}
