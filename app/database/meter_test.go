package database_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/jobsphere/jobsphere/app/database"
	"github.com/jobsphere/jobsphere/app/database/dbtest"
)

// TestMeterCountsStatementsAndRoundTrips: a transaction of one insert
// and one parameterised select is four statements (BEGIN, INSERT, SELECT,
// COMMIT) and, on PostgreSQL, four round trips once the connection has
// prepared both statements (two more the first time).
func TestMeterCountsStatementsAndRoundTrips(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		ctx := context.Background()
		meter := &database.Meter{}
		var (
			sqlDB *sql.DB
			err   error
		)
		if db == dbtest.Postgres {
			sqlDB, _, err = database.OpenPostgres(dbtest.FreshPostgres(t), 1, meter.Wrap(database.OpenDB))
		} else {
			sqlDB, _, err = database.OpenSQLite(filepath.Join(t.TempDir(), "meter.db"), meter.Wrap(database.OpenDB))
		}
		if err != nil {
			t.Fatal(err)
		}
		defer sqlDB.Close()
		if _, err := sqlDB.ExecContext(ctx, "CREATE TABLE metered (n integer)"); err != nil {
			t.Fatal(err)
		}
		for pass, wantPG := range []uint64{6, 4} {
			statements, roundTrips := meter.Statements(), meter.RoundTrips()
			tx, err := sqlDB.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO metered (n) VALUES ($1)", 7); err != nil {
				t.Fatal(err)
			}
			var n int
			if err := tx.QueryRowContext(ctx, "SELECT n FROM metered WHERE n = $1 LIMIT 1", 7).Scan(&n); err != nil || n != 7 {
				t.Fatalf("select: %d, %v", n, err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}

			if got := meter.Statements() - statements; got != 4 {
				t.Errorf("pass %d: statements: %d, want 4", pass, got)
			}
			wantTrips := uint64(0)
			if db == dbtest.Postgres {
				wantTrips = wantPG
			}
			if got := meter.RoundTrips() - roundTrips; got != wantTrips {
				t.Errorf("pass %d: round trips: %d, want %d", pass, got, wantTrips)
			}
		}
	})
}
