package server

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	_ "github.com/lib/pq"  // PostgreSQL driver "postgres"
	_ "modernc.org/sqlite" // pure-Go SQLite driver "sqlite"

	"github.com/jobsphere/jobsphere/config"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/migrate"
)

// openDatabase connects to PostgreSQL when DATABASE_URL is set and to the
// embedded SQLite file otherwise, with open (sql.Open, or its traced
// stand-in).
func openDatabase(cfg *config.Config, open func(driverName, dsn string) (*sql.DB, error)) (*sql.DB, *ent.Client, error) {
	if !cfg.Embedded() {
		db, err := open("postgres", cfg.DatabaseURL)
		if err != nil {
			return nil, nil, fmt.Errorf("open postgres: %w", err)
		}
		db.SetMaxOpenConns(cfg.DBMaxOpenConns)
		db.SetMaxIdleConns(max(cfg.DBMaxOpenConns/2, 1))
		return db, ent.NewClient(ent.Driver(entsql.OpenDB(dialect.Postgres, db))), nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("create data dir: %w", err)
	}
	db, err := open("sqlite", sqliteDSN(cfg.SQLitePath()))
	if err != nil {
		return nil, nil, fmt.Errorf("open sqlite: %w", err)
	}
	return db, ent.NewClient(ent.Driver(entsql.OpenDB(dialect.SQLite, db))), nil
}

// sqliteDSN: WAL lets readers run beside the writer; write transactions
// begin IMMEDIATE so two of them queue on busy_timeout instead of
// deadlocking when both try to upgrade a read lock.
func sqliteDSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	// Times as sortable text ("2006-01-02 15:04:05.999999999-07:00");
	// the driver's default, time.String(), even carries the monotonic
	// clock, so stored times would not compare with query parameters.
	q.Set("_time_format", "sqlite")
	return "file:" + path + "?" + q.Encode()
}

// migrationLockKey is the PostgreSQL advisory lock that serialises schema
// migration when several replicas start at once.
const migrationLockKey = 7_391_555_001

// migrateSchema brings the database schema up to date. On PostgreSQL it
// holds an advisory lock so concurrent starts migrate one at a time.
func migrateSchema(ctx context.Context, db *sql.DB, client *ent.Client, postgres bool) error {
	if postgres {
		conn, err := db.Conn(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrationLockKey); err != nil {
			return fmt.Errorf("migration lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLockKey) //nolint:errcheck // released with the connection anyway
	}
	if err := client.Schema.Create(ctx, migrate.WithDropIndex(true)); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, stmt := range appendOnlyPostings[postgres] {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("migrate: postings trigger: %w", err)
		}
	}
	return nil
}

// appendOnlyPostings makes the database itself refuse to change or delete
// a posting: corrections are reversing transactions, never edits.
var appendOnlyPostings = map[bool][]string{
	true: { // PostgreSQL
		`CREATE OR REPLACE FUNCTION postings_append_only() RETURNS trigger AS $$
BEGIN
	RAISE EXCEPTION 'postings are append-only: post a reversing transaction instead';
END;
$$ LANGUAGE plpgsql`,
		`CREATE OR REPLACE TRIGGER postings_append_only BEFORE UPDATE OR DELETE ON postings
	FOR EACH ROW EXECUTE FUNCTION postings_append_only()`,
	},
	false: { // SQLite
		`CREATE TRIGGER IF NOT EXISTS postings_no_update BEFORE UPDATE ON postings
	BEGIN SELECT RAISE(ABORT, 'postings are append-only: post a reversing transaction instead'); END`,
		`CREATE TRIGGER IF NOT EXISTS postings_no_delete BEFORE DELETE ON postings
	BEGIN SELECT RAISE(ABORT, 'postings are append-only: post a reversing transaction instead'); END`,
	},
}
