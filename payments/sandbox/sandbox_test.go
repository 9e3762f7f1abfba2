package sandbox_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/app/database/dbtest"
	"github.com/jobsphere/jobsphere/payments"
	"github.com/jobsphere/jobsphere/payments/sandbox"
)

// TestSandboxPaidOnlyWhenRecorded: a sandbox Checkout session counts as
// paid only once the server recorded its event. A delivery that fails (the
// webhook answered 500, say on a deadlock) leaves it payable, and the page
// says what happened; the next pay goes through, then the session is paid.
func TestSandboxPaidOnlyWhenRecorded(t *testing.T) {
	dbtest.EachDatabase(t, testSandboxPaidOnlyWhenRecorded)
}

func testSandboxPaidOnlyWhenRecorded(t *testing.T, db dbtest.Database) {
	ctx := context.Background()
	sb := sandbox.New("http://localhost", "whsec_test", jobsphere.USD, dbtest.Open(t, db), slog.New(slog.NewTextHandler(io.Discard, nil)))
	failures := 1
	delivered := 0
	sb.DeliverTo(func(context.Context, []byte, string) error {
		if failures > 0 {
			failures--
			return errors.New("webhook answered 500")
		}
		delivered++
		return nil
	})
	cs, err := sb.CreateCheckoutSession(ctx, payments.CheckoutParams{Amount: 5000, Currency: "usd", IdempotencyKey: "k1",
		SuccessURL: "http://localhost/ok", CancelURL: "http://localhost/cancel"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sb.PayCheckout(ctx, cs.ID, "4242 4242 4242 4242"); err == nil {
		t.Fatal("pay with a failed delivery: no error")
	}
	out, err := sb.PayCheckout(ctx, cs.ID, "4242 4242 4242 4242")
	if err != nil || !out.Paid {
		t.Fatalf("pay again after the failed delivery: %+v, %v; want paid", out, err)
	}
	if _, err := sb.PayCheckout(ctx, cs.ID, "4242 4242 4242 4242"); jobsphere.ErrorCode(err) != jobsphere.Conflict {
		t.Fatalf("pay a paid session: %v, want CONFLICT", err)
	}
	if delivered != 1 {
		t.Fatalf("%d completed events recorded, want 1", delivered)
	}
	// The payment is booked once, less the card fee, in the database.
	books, err := sb.BalanceTransactions(ctx, time.Now().Add(-time.Minute), "USD")
	if err != nil || len(books) != 1 || books[0].Type != payments.BalanceCharge || books[0].Amount != 5000 ||
		books[0].Net != 5000-sandbox.CardFee(5000) {
		t.Fatalf("books: %+v %v; want one charge of 50.00", books, err)
	}
	if b, err := sb.Balance(ctx, "usd"); err != nil || b.Available != books[0].Net {
		t.Fatalf("balance %+v %v; want %d", b, err, books[0].Net)
	}
}

// TestSandboxRefundOncePerKey: requests under one idempotency key refund
// once, even at the same time (a second one meanwhile is told the key is
// in use, as Stripe says); a refund refused frees its key.
func TestSandboxRefundOncePerKey(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		ctx := context.Background()
		sb := sandbox.New("http://localhost", "whsec_test", jobsphere.USD, dbtest.Open(t, db), slog.New(slog.NewTextHandler(io.Discard, nil)))
		sb.DeliverTo(func(context.Context, []byte, string) error { return nil })
		pi, err := sb.CreatePaymentIntent(ctx, payments.PaymentIntentParams{IdempotencyKey: "pay", Amount: 5000, Currency: "usd", PaymentMethodID: "pm_card_visa"})
		if err != nil {
			t.Fatal(err)
		}
		refund := payments.RefundParams{IdempotencyKey: "refund:1", PaymentIntentID: pi.ID, Amount: 1000}
		ids := make([]string, 8)
		var wg sync.WaitGroup
		for i := range ids {
			wg.Go(func() { ids[i], _ = sb.Refund(ctx, refund) })
		}
		wg.Wait()
		again, err := sb.Refund(ctx, refund)
		if err != nil || again == "" {
			t.Fatalf("the refund again: %q, %v", again, err)
		}
		for _, id := range ids {
			if id != "" && id != again {
				t.Fatalf("two refunds under one key: %q and %q", id, again)
			}
		}
		if ch, err := sb.Charge(pi.ID); err != nil || ch.Refunded != 1000 {
			t.Fatalf("refunded %d (%v), want 10.00 once", ch.Refunded, err)
		}
		// A refund refused (more than is left) leaves its key free.
		over := payments.RefundParams{IdempotencyKey: "refund:2", PaymentIntentID: pi.ID, Amount: 9000}
		if _, err := sb.Refund(ctx, over); err == nil {
			t.Fatal("a refund of more than is left: no error")
		}
		over.Amount = 4000
		if id, err := sb.Refund(ctx, over); err != nil || id == "" {
			t.Fatalf("the key again, for what is left: %q, %v", id, err)
		}
		books, err := sb.BalanceTransactions(ctx, time.Now().Add(-time.Minute), "usd")
		if err != nil || len(books) != 3 {
			t.Fatalf("books: %+v %v; want the charge and two refunds", books, err)
		}
	})
}
