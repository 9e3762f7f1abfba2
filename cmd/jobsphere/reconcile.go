package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"
)

// reconcileCommand is `reconcile [--since DATE]`: the report goes to
// stdout, and any mismatch makes the command fail.
func reconcileCommand(fs *flag.FlagSet) action {
	since := time.Now().AddDate(0, 0, -30)
	fs.Func("since", "reconcile what happened from `DATE` on: 2026-12-01 (UTC midnight) or RFC 3339 (default: 30 days ago)", func(s string) error {
		t, err := parseSince(s)
		since = t
		return err
	})
	return func(ctx context.Context, e env) error {
		app, err := e.open(ctx)
		if err != nil {
			return err
		}
		defer app.Close()
		r, err := app.Payments.Reconcile(ctx, since)
		if err != nil {
			return fmt.Errorf("reconcile: %w", err)
		}
		r.Print(e.stdout, app.Config.Currency.Format)
		if !r.Clean() {
			return fmt.Errorf("reconcile: %d unmatched at Stripe, %d in the ledger, balance difference %s",
				len(r.UnmatchedAtStripe), len(r.UnmatchedInLedger), app.Config.Currency.Format(r.BalanceDifference()))
		}
		return nil
	}
}

// parseSince reads a date (2026-12-01, midnight UTC) or an RFC 3339 time.
func parseSince(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, errors.New("want a date such as 2026-12-01 or an RFC 3339 time such as 2026-12-01T09:30:00Z")
}
