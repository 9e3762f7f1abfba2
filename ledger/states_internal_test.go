package ledger

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/jobsphere/jobsphere/app/database/dbtest"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/ledgertransaction"
	"github.com/jobsphere/jobsphere/ent/schema"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
)

// TestTransactionTransitions: every pair of transaction statuses outside
// transactionMoves is refused by the database update itself.
func TestTransactionTransitions(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		ctx, client, n := context.Background(), dbtest.Open(t, db), 0
		dbtest.CheckTransitions(t, client, transactionMoves, dbtest.Statuses[ledgertransaction.Status](t, schema.LedgerTransaction{}.Fields()),
			func(st ledgertransaction.Status) pulid.ID {
				n++
				return client.LedgerTransaction.Create().SetIdempotencyKey(fmt.Sprintf("table:%d", n)).SetRequestHash("h").
					SetType(ledgertransaction.TypeWITHDRAWAL).SetAmount(100).SetCurrency("usd").SetStatus(st).SaveX(ctx).ID
			},
			func(tx *ent.Tx, id pulid.ID, to ledgertransaction.Status) error {
				return moveTransaction(ctx, tx.Client(), id, to, nil, nil)
			},
			func(id pulid.ID) ledgertransaction.Status { return client.LedgerTransaction.GetX(ctx, id).Status })
	})
}

// TestStateMachinesDocumented: docs/state-machines.md shows the table as
// the code has it.
func TestStateMachinesDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/state-machines.md")
	if err != nil {
		t.Fatal(err)
	}
	if err := transactionMoves.DocumentedIn(string(doc)); err != nil {
		t.Error(err)
	}
}
