package servertest

import (
	"context"
	"testing"

	"github.com/jobsphere/jobsphere/ent/ledgertransaction"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/ledger"
)

// Post writes a ledger entry in its own database transaction, as a
// service would, and returns what the ledger said.
func (s *Server) Post(t testing.TB, e ledger.Entry) (*ledger.Posted, error) {
	t.Helper()
	ctx := context.Background()
	tx, err := s.App.Client.Tx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.App.Ledger.Post(ctx, tx.Client(), e)
	if err != nil {
		_ = tx.Rollback()
		return nil, err
	}
	return p, tx.Commit()
}

// Fund credits a user's available balance as a confirmed deposit would.
func (s *Server) Fund(t testing.TB, userID string, amount int64) {
	t.Helper()
	_, err := s.Post(t, ledger.Entry{
		Key: "test-fund:" + string(pulid.New("k")), Type: ledgertransaction.TypeDEPOSIT,
		Description: "Test deposit",
		Moves:       []ledger.Move{{From: ledger.External, To: ledger.Available(pulid.ID(userID)), Amount: amount}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// RequireLedgerVerified fails the test unless the ledger verifies: every
// money scenario ends with it.
func (s *Server) RequireLedgerVerified(t testing.TB) *ledger.Report {
	t.Helper()
	r, err := s.App.Ledger.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() {
		t.Fatalf("ledger does not verify: %v", r.Problems)
	}
	return r
}
