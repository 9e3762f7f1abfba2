package database_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/jobsphere/jobsphere/app/database"
	"github.com/jobsphere/jobsphere/app/database/dbtest"
	"github.com/jobsphere/jobsphere/auth/role"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/wallet"
)

// TestMigrateKeepsOldFreezeReasons: a wallet frozen before freezes had a
// kind kept the admin's free text in frozen_reason; migrating makes it an
// ADMIN freeze with that text as its note, and migrating again changes
// nothing.
func TestMigrateKeepsOldFreezeReasons(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		ctx := context.Background()
		var (
			sqlDB  *sql.DB
			client *ent.Client
			err    error
		)
		if db == dbtest.Postgres {
			sqlDB, client, err = database.OpenPostgres(dbtest.FreshPostgres(t), 4, database.OpenDB)
		} else {
			sqlDB, client, err = database.OpenSQLite(filepath.Join(t.TempDir(), "old.db"), database.OpenDB)
		}
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		if err := database.Migrate(ctx, sqlDB, client, db == dbtest.Postgres); err != nil {
			t.Fatal(err)
		}
		u := client.User.Create().SetEmail("old@freeze.test").SetPasswordHash("x").SetName("Old").SetRole(role.Customer).SaveX(ctx)
		w := client.Wallet.Create().SetUserID(u.ID).SetCurrency("USD").SetIsFrozen(true).SaveX(ctx)
		if _, err := client.ExecContext(ctx, `UPDATE wallets SET frozen_reason = 'Chargeback under review' WHERE id = `+placeholder(db), string(w.ID)); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := database.Migrate(ctx, sqlDB, client, db == dbtest.Postgres); err != nil {
				t.Fatal(err)
			}
			got := client.Wallet.Query().Where(wallet.ID(w.ID)).OnlyX(ctx)
			if got.FrozenReason == nil || *got.FrozenReason != wallet.FrozenReasonADMIN || got.FrozenNote == nil || *got.FrozenNote != "Chargeback under review" {
				t.Fatalf("after migrating: reason %v, note %v", got.FrozenReason, got.FrozenNote)
			}
		}
	})
}

func placeholder(db dbtest.Database) string {
	if db == dbtest.Postgres {
		return "$1"
	}
	return "?"
}
