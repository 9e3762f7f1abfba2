package dbtest

import (
	"context"
	"fmt"
	"slices"
	"testing"

	entpkg "entgo.io/ent"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
)

// CheckTransitions tries every (from, to) pair of statuses on a row really
// in from (made by create, directly, as no move could): a pair in the table
// must move the row; any other must be refused by move with CONFLICT and
// leave the row as it was. Run against a move function that checks nothing
// before its conditional update, it shows the database itself refuses
// every move outside the table.
func CheckTransitions[S ~string](t *testing.T, client *ent.Client, table jobsphere.Transitions[S], all []S,
	create func(S) pulid.ID, move func(*ent.Tx, pulid.ID, S) error, read func(pulid.ID) S) {
	t.Helper()
	for from, tos := range table.Moves {
		for _, s := range append([]S{from}, tos...) {
			if !slices.Contains(all, s) {
				t.Errorf("%s table names %s, which is not a status", table.Name, s)
			}
		}
	}
	for _, from := range all {
		for _, to := range all {
			id := create(from)
			err := client.WithTx(context.Background(), func(tx *ent.Tx) error { return move(tx, id, to) })
			got := read(id)
			pair := fmt.Sprintf("%s %s → %s", table.Name, from, to)
			switch {
			case table.Allows(from, to) && (err != nil || got != to):
				t.Errorf("%s is in the table: %v, now %s", pair, err, got)
			case !table.Allows(from, to) && (jobsphere.ErrorCode(err) != jobsphere.Conflict || got != from):
				t.Errorf("%s is not in the table: %v (code %s), now %s; want CONFLICT and %s", pair, err, jobsphere.ErrorCode(err), got, from)
			}
		}
	}
}

// Statuses are the values of the "status" enum among an ent schema's
// fields (schema.Job{}.Fields()).
func Statuses[S ~string](t *testing.T, fields []entpkg.Field) []S {
	t.Helper()
	for _, f := range fields {
		if d := f.Descriptor(); d.Name == "status" {
			var out []S
			for _, e := range d.Enums {
				out = append(out, S(e.V))
			}
			return out
		}
	}
	t.Fatal("no status field")
	return nil
}
