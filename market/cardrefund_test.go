package market_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/app/database/dbtest"
	"github.com/jobsphere/jobsphere/auth"
	"github.com/jobsphere/jobsphere/ent/escrow"
	"github.com/jobsphere/jobsphere/market"
)

// scriptedRefunder answers refunds to the card with its next scripted
// answer (a nil error: refunded) and remembers the keys it was asked with.
type scriptedRefunder struct {
	answers []refundAnswer
	keys    []string
}

type refundAnswer struct {
	refused bool
	err     error
}

func (r *scriptedRefunder) RefundCard(_ context.Context, key, _ string, _ int64) (bool, error) {
	r.keys = append(r.keys, key)
	a := r.answers[0]
	r.answers = r.answers[1:]
	return a.refused, a.err
}

// TestInterruptedCardRefund: a refund to the card is claimed (committed)
// before Stripe is asked. A refusal lifts the claim; an answer that may hide
// a refund made (a timeout, a process killed after Stripe refunded) keeps
// it, and then no release can pay the money out too: a retry or the sweep
// finishes the refund, with the same key, once.
func TestInterruptedCardRefund(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		f := newFixture(t, db)
		c, k, admin := f.customer(t, 0), f.contractor(t), f.admin(t)
		j := f.createJob(t, c)
		tx, err := f.client.Tx(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.m.FundFromCheckout(f.ctx, tx, market.JobPayment{JobID: j.ID, CustomerID: c.ID, ContractorID: k.ID,
			Split: hundredSplit, SessionID: "cs_test_interrupted", PaymentIntentID: "pi_test_interrupted"}); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		f.verify(t)
		esc, err := f.client.Escrow.Query().Where(escrow.StripeCheckoutSessionID("cs_test_interrupted")).WithContract().Only(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		toCard, toWallet := escrow.FundingSourceCHECKOUT, escrow.FundingSourceWALLET
		refund := func(v auth.Viewer, to *escrow.FundingSource) error {
			_, err := f.m.RefundEscrow(f.ctx, v, market.RefundEscrowInput{ContractID: esc.ContractID, RefundTo: to})
			return err
		}
		claimed := func() bool {
			e, err := f.client.Escrow.Get(f.ctx, esc.ID)
			if err != nil {
				t.Fatal(err)
			}
			return e.CardRefundStartedAt != nil
		}

		r := &scriptedRefunder{answers: []refundAnswer{
			{refused: true, err: errors.New("charge is disputed")},
			{err: errors.New("stripe: timeout")}, // maybe refunded
			{},                                   // the sweep's retry
		}}
		f.m = f.m.WithCardRefunder(r)

		// Refused by Stripe: nothing happened, the claim is lifted.
		if err := refund(c.V, &toCard); err == nil || claimed() {
			t.Fatalf("refused refund: err %v, claimed %v", err, claimed())
		}
		// Maybe refunded: the claim stays, and the money can only go back to the card.
		if err := refund(c.V, &toCard); err == nil || !claimed() {
			t.Fatalf("unsure refund: err %v, claimed %v", err, claimed())
		}
		for what, err := range map[string]error{
			"release requested": func() error { _, err := f.m.RequestFundRelease(f.ctx, c.V, esc.ContractID); return err }(),
			"release approved":  func() error { _, err := f.m.ApproveFundRelease(f.ctx, admin.V, esc.ContractID); return err }(),
			"refund to wallet":  refund(admin.V, &toWallet),
		} {
			if jobsphere.ErrorCode(err) != jobsphere.Conflict {
				t.Errorf("%s during the card refund: %v, want CONFLICT", what, err)
			}
		}
		f.verify(t)

		// The sweep finishes it, once, with the same key.
		if n, err := f.m.SweepCardRefunds(f.ctx, 0); n != 1 || err != nil {
			t.Fatalf("sweep: %d, %v", n, err)
		}
		if n, err := f.m.SweepCardRefunds(f.ctx, 0); n != 0 || err != nil {
			t.Fatalf("second sweep: %d, %v", n, err)
		}
		done, err := f.client.Escrow.Get(f.ctx, esc.ID)
		if err != nil || done.Status != escrow.StatusREFUNDED {
			t.Fatalf("after the sweep: %+v, %v", done, err)
		}
		want := "escrow:" + string(esc.ID) + ":refund"
		if len(r.keys) != 3 || r.keys[0] != want || r.keys[1] != want || r.keys[2] != want {
			t.Fatalf("refund keys %v, want 3× %s", r.keys, want)
		}
		f.verify(t)
	})
}
