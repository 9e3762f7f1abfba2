package sandbox_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
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
