// Package database opens JobSphere's database — PostgreSQL when a URL is
// configured, the embedded SQLite file otherwise — and brings its schema up
// to date. The binary, the test harness and the tests of every package
// open it the same way.
package database

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/lib/pq"
	"modernc.org/sqlite"

	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/migrate"
)

// Opener makes a *sql.DB of a driver's connector: OpenDB, or a traced or
// metered stand-in. dialect is ent's name of the database ("postgres",
// "sqlite3").
type Opener func(dialect string, c driver.Connector) *sql.DB

// OpenDB is the plain Opener, sql.OpenDB.
func OpenDB(_ string, c driver.Connector) *sql.DB { return sql.OpenDB(c) }

// connMaxIdleTime is how long an idle PostgreSQL connection stays open.
const connMaxIdleTime = 5 * time.Minute

// OpenPostgres connects to the PostgreSQL database at url, with at most
// maxOpenConns connections (so replicas fit the server's limit).
//
// Unless url says otherwise, lib/pq runs with binary_parameters: it then
// sends a statement and its arguments in one round trip instead of two
// (prepare, then execute). Byte arguments are then binary data, so JSON
// columns are written as text (pulid.IDs). Each connection prepares the
// statements it runs (preparingConnector): PostgreSQL parses a statement
// once per connection, not at every run.
func OpenPostgres(url string, maxOpenConns int, open Opener) (*sql.DB, *ent.Client, error) {
	cfg, err := pq.NewConfig(url)
	if err != nil {
		return nil, nil, fmt.Errorf("open postgres: %w", err)
	}
	if !strings.Contains(url, "binary_parameters") {
		cfg.BinaryParameters = true
	}
	connector, err := pq.NewConnectorConfig(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("open postgres: %w", err)
	}
	db := open(dialect.Postgres, preparingConnector{Connector: connector, size: preparedPerConn})
	db.SetMaxOpenConns(maxOpenConns)
	// Every connection opened under load stays for the next request: one
	// closed and opened again is a new PostgreSQL backend each time (a
	// fork, authentication, its caches warmed again). Idle for
	// connMaxIdleTime, it closes.
	db.SetMaxIdleConns(maxOpenConns)
	db.SetConnMaxIdleTime(connMaxIdleTime)
	return db, ent.NewClient(ent.Driver(entsql.OpenDB(dialect.Postgres, db))), nil
}

// OpenSQLite opens (creating it and its folder when missing) the SQLite
// file at path.
func OpenSQLite(path string, open Opener) (*sql.DB, *ent.Client, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, nil, fmt.Errorf("create data dir: %w", err)
	}
	db := open(dialect.SQLite, dsnConnector{driver: &sqlite.Driver{}, dsn: sqliteDSN(path)})
	return db, ent.NewClient(ent.Driver(entsql.OpenDB(dialect.SQLite, db))), nil
}

// dsnConnector is database/sql's own connector for a driver without one.
type dsnConnector struct {
	driver driver.Driver
	dsn    string
}

func (c dsnConnector) Connect(context.Context) (driver.Conn, error) { return c.driver.Open(c.dsn) }
func (c dsnConnector) Driver() driver.Driver                        { return c.driver }

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

// Migrate brings the database schema up to date. On PostgreSQL it holds an
// advisory lock so concurrent starts migrate one at a time.
func Migrate(ctx context.Context, db *sql.DB, client *ent.Client, postgres bool) error {
	if postgres {
		conn, err := db.Conn(ctx)
		if err != nil {
			return fmt.Errorf("migrate: connect: %w", err)
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
	for _, t := range appendOnly {
		for _, stmt := range appendOnlyTriggers(postgres, t.table, t.instead) {
			if _, err := db.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("migrate: %s trigger: %w", t.table, err)
			}
		}
	}
	if _, err := db.ExecContext(ctx, adminFreezeNotes); err != nil {
		return fmt.Errorf("migrate: freeze reasons: %w", err)
	}
	return nil
}

// adminFreezeNotes moves the free-text freeze reasons of databases made
// before freezes had a kind (ADMIN, CHARGEBACK, FRAUD_WARNING) to the
// admin's note, and marks those freezes ADMIN. A no-op once done.
const adminFreezeNotes = `UPDATE wallets SET frozen_note = frozen_reason, frozen_reason = 'ADMIN'
	WHERE frozen_reason IS NOT NULL AND frozen_reason NOT IN ('ADMIN', 'CHARGEBACK', 'FRAUD_WARNING')`

// appendOnly are the tables whose rows the database itself refuses to
// change or delete, with what to do instead: postings (corrections are
// reversing transactions) and the audit log.
var appendOnly = []struct{ table, instead string }{
	{"postings", "post a reversing transaction instead"},
	{"audit_entries", "the audit log only grows"},
}

// appendOnlyTriggers are the statements that make table append-only.
func appendOnlyTriggers(postgres bool, table, instead string) []string {
	msg := table + " are append-only: " + instead
	if postgres {
		return []string{
			`CREATE OR REPLACE FUNCTION ` + table + `_append_only() RETURNS trigger AS $$
BEGIN
	RAISE EXCEPTION '` + msg + `';
END;
$$ LANGUAGE plpgsql`,
			`CREATE OR REPLACE TRIGGER ` + table + `_append_only BEFORE UPDATE OR DELETE ON ` + table + `
	FOR EACH ROW EXECUTE FUNCTION ` + table + `_append_only()`,
		}
	}
	return []string{
		`CREATE TRIGGER IF NOT EXISTS ` + table + `_no_update BEFORE UPDATE ON ` + table + `
	BEGIN SELECT RAISE(ABORT, '` + msg + `'); END`,
		`CREATE TRIGGER IF NOT EXISTS ` + table + `_no_delete BEFORE DELETE ON ` + table + `
	BEGIN SELECT RAISE(ABORT, '` + msg + `'); END`,
	}
}
