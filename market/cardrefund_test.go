package market_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/app/database/dbtest"
	"github.com/jobsphere/jobsphere/audit"
	"github.com/jobsphere/jobsphere/auth"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/contract"
	"github.com/jobsphere/jobsphere/ent/escrow"
	"github.com/jobsphere/jobsphere/ent/job"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
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

// TestCardRefundAudit: an admin's refund of an escrow to the card, or
// cancel of its job, is in the audit log once, written by the transaction
// that records the refund: the admin's request's own or, Stripe's answer
// lost, the sweep's — still as the admin's, with the reason and the
// admin's request id, never before the refund is recorded. A refund Stripe
// refused leaves no row, and the customer's own refund to the card none,
// even after an admin's refused one.
func TestCardRefundAudit(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		f := newFixture(t, db)
		c, k, admin := f.customer(t, 0), f.contractor(t), f.admin(t)
		r := &scriptedRefunder{}
		f.m = f.m.WithCardRefunder(r)
		lost := refundAnswer{err: errors.New("stripe: timeout")} // maybe refunded
		refused := refundAnswer{refused: true, err: errors.New("charge is disputed")}
		toCard, fraud, spam := escrow.FundingSourceCHECKOUT, "fraud", "Spam listing"
		paid := func(session string) *ent.Contract {
			t.Helper()
			j := f.createJob(t, c)
			if err := f.payJob(j, c, k, session); err != nil {
				t.Fatal(err)
			}
			f.verify(t)
			return f.contractOf(t, j.ID)
		}
		refund := func(v auth.Viewer, requestID string, ctr *ent.Contract, answers ...refundAnswer) error {
			r.answers = answers
			_, err := f.m.RefundEscrow(audit.WithRequestID(f.ctx, requestID), v,
				market.RefundEscrowInput{ContractID: ctr.ID, CancelReason: &fraud, RefundTo: &toCard})
			return err
		}
		entries := func() []*ent.AuditEntry {
			t.Helper()
			all, err := f.client.AuditEntry.Query().All(f.ctx)
			if err != nil {
				t.Fatal(err)
			}
			return all
		}
		// sweep finishes the one refund left, recorded only then: the log
		// holds the entries before of the refunds recorded already.
		sweep := func(before int) {
			t.Helper()
			if n := len(entries()); n != before {
				t.Fatalf("%d audit entries before the sweep, want %d", n, before)
			}
			r.answers = []refundAnswer{{}}
			if n, err := f.m.SweepCardRefunds(f.ctx, 0); n != 1 || err != nil {
				t.Fatalf("sweep: %d, %v", n, err)
			}
		}

		byAdmin, swept, cancelled, own := paid("cs_test_audit_admin"), paid("cs_test_audit_swept"), paid("cs_test_audit_cancel"), paid("cs_test_audit_own")
		if err := refund(admin.V, "rid-refund", byAdmin, refundAnswer{}); err != nil {
			t.Fatal(err)
		}
		if err := refund(admin.V, "rid-lost", swept, lost); err == nil {
			t.Fatal("a refund whose answer was lost succeeded")
		}
		sweep(1)
		r.answers = []refundAnswer{lost}
		if _, err := f.m.CancelJob(audit.WithRequestID(f.ctx, "rid-cancel"), admin.V, cancelled.JobID, &spam); err == nil {
			t.Fatal("a cancel whose refund's answer was lost succeeded")
		}
		sweep(2)
		if err := refund(admin.V, "rid-refused", own, refused); err == nil {
			t.Fatal("a refused refund succeeded")
		}
		if err := refund(c.V, "rid-own", own, refundAnswer{}); err != nil {
			t.Fatal(err)
		}
		if n, err := f.m.SweepCardRefunds(f.ctx, 0); n != 0 || err != nil {
			t.Fatalf("a sweep with nothing to finish: %d, %v", n, err)
		}

		type entry struct{ actor, action, before, after, reason, requestID string }
		want := map[pulid.ID]entry{
			byAdmin.ID:      {string(admin.ID), "REFUND_ESCROW", "FUNDED", "REFUNDED", fraud, "rid-refund"},
			swept.ID:        {string(admin.ID), "REFUND_ESCROW", "FUNDED", "REFUNDED", fraud, "rid-lost"},
			cancelled.JobID: {string(admin.ID), "CANCEL_JOB", "ASSIGNED", "CANCELLED", spam, "rid-cancel"},
		}
		got := entries()
		if len(got) != len(want) {
			t.Fatalf("%d audit entries, want %d: %+v", len(got), len(want), got)
		}
		for _, e := range got {
			if w, g := want[e.TargetID], (entry{string(e.ActorID), e.Action, deref(e.Before), deref(e.After), deref(e.Reason), deref(e.RequestID)}); g != w {
				t.Errorf("audit entry of %s: %+v, want %+v", e.TargetID, g, w)
			}
		}
		// The sweep's refunds keep the reasons their requests gave.
		for j, reason := range map[pulid.ID]string{swept.JobID: fraud, cancelled.JobID: spam} {
			if got := f.client.Job.GetX(f.ctx, j); got.Status != job.StatusCANCELLED || deref(got.CancellationReason) != reason {
				t.Errorf("job %s: %s, reason %v; want CANCELLED, %s", j, got.Status, deref(got.CancellationReason), reason)
			}
		}
		for _, ctr := range []*ent.Contract{byAdmin, swept, cancelled, own} {
			f.requireContract(t, ctr.JobID, contract.StatusCANCELLED, escrow.StatusREFUNDED)
		}
		f.verify(t)
	})
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
