package database_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/lib/pq"

	"github.com/jobsphere/jobsphere/app/database"
	"github.com/jobsphere/jobsphere/app/database/dbtest"
)

// TestStatementsArePreparedOncePerConnection: on PostgreSQL a statement
// with arguments is prepared the first time a connection runs it (one
// round trip more, once) and then executed in one round trip, with
// PostgreSQL holding it prepared; a preparation outlives the rollback of
// the transaction that made it; a statement without arguments runs as it
// is.
func TestStatementsArePreparedOncePerConnection(t *testing.T) {
	ctx := context.Background()
	meter := &database.Meter{}
	sqlDB, _, err := database.OpenPostgres(dbtest.FreshPostgres(t), 1, meter.Wrap(database.OpenDB))
	if err != nil {
		t.Fatal(err)
	}
	defer sqlDB.Close()
	if _, err := sqlDB.ExecContext(ctx, "CREATE TABLE prepared (n integer); INSERT INTO prepared VALUES (1), (2)"); err != nil {
		t.Fatalf("statements without arguments, in one string: %v", err)
	}
	const query = "SELECT count(*) FROM prepared WHERE n >= $1"
	tripsOf := func(what string, run func() error) uint64 {
		t.Helper()
		before := meter.RoundTrips()
		if err := run(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return meter.RoundTrips() - before
	}
	count := func(q interface {
		QueryRowContext(context.Context, string, ...any) *sql.Row
	}, min int) func() error {
		return func() error {
			var n int
			if err := q.QueryRowContext(ctx, query, min).Scan(&n); err != nil {
				return err
			}
			if want := 3 - min; n != want {
				t.Errorf("count(n >= %d): %d, want %d", min, n, want)
			}
			return nil
		}
	}

	tx, err := sqlDB.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := tripsOf("first run, in a transaction", count(tx, 1)); got != 2 {
		t.Errorf("first run: %d round trips, want 2 (prepare, execute)", got)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	for _, min := range []int{2, 1} {
		if got := tripsOf("a later run", count(sqlDB, min)); got != 1 {
			t.Errorf("a later run: %d round trips, want 1", got)
		}
	}
	var held int
	err = sqlDB.QueryRowContext(ctx, "SELECT count(*) FROM pg_prepared_statements WHERE statement = $1", query).Scan(&held)
	if err != nil || held != 1 {
		t.Errorf("PostgreSQL holds the statement prepared %d times (%v), want 1", held, err)
	}
}

// TestPreparedStatementsMakeRoom: a connection keeps at most its size of
// prepared statements, closing the least recently used (in PostgreSQL
// too), and prepares a closed one again when it runs again.
func TestPreparedStatementsMakeRoom(t *testing.T) {
	ctx := context.Background()
	connector, err := pq.NewConnector(dbtest.FreshPostgres(t))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(database.PreparingConnector(connector, 2))
	defer db.Close()
	db.SetMaxOpenConns(1)
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	run := func(query string) {
		t.Helper()
		var n int
		if err := conn.QueryRowContext(ctx, query, 1).Scan(&n); err != nil || n != 1 {
			t.Fatalf("%s: %d, %v", query, n, err)
		}
	}
	held := func() map[string]bool {
		t.Helper()
		rows, err := conn.QueryContext(ctx, "SELECT statement FROM pg_prepared_statements")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		got := map[string]bool{}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			got[s] = true
		}
		return got
	}
	const a, b, c = "SELECT $1::int", "SELECT $1::int + 0", "SELECT $1::int * 1"
	run(a)
	run(b)
	run(a) // a is now the more recent
	run(c) // b makes room
	if got := held(); len(got) != 2 || !got[a] || !got[c] {
		t.Errorf("prepared after a, b, a, c with room for 2: %v, want a and c", got)
	}
	run(b)
	if got := held(); len(got) != 2 || !got[b] || !got[c] {
		t.Errorf("prepared after b again: %v, want b and c", got)
	}
}
