// Package dbtest gives a test a fresh, migrated database of its own,
// without the HTTP stack: a new PostgreSQL database (on TEST_DATABASE_URL's
// server, else the local one) dropped when the test ends, or a SQLite file
// in the test's temporary folder. Where no PostgreSQL answers, PostgreSQL
// tests are skipped with a clear message, except under CI=true, where
// they fail.
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/jobsphere/jobsphere/app/database"
	"github.com/jobsphere/jobsphere/ent"
)

// Database names the two databases the suite runs on.
type Database string

// The databases.
const (
	SQLite   Database = "sqlite"
	Postgres Database = "postgres"
)

// EachDatabase runs fn as a subtest on SQLite and on PostgreSQL. Where no
// PostgreSQL server answers, the PostgreSQL half is skipped with a clear
// message, except under CI=true, where it fails.
func EachDatabase(t *testing.T, fn func(t *testing.T, db Database)) {
	t.Helper()
	for _, db := range []Database{SQLite, Postgres} {
		t.Run(string(db), func(t *testing.T) {
			if db == Postgres {
				RequirePostgres(t)
			}
			fn(t, db)
		})
	}
}

// DefaultPostgresURL is the server used when TEST_DATABASE_URL is unset.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

var (
	pgOnce sync.Once
	pgErr  error
)

// PostgresURL is the administrative database the tests create theirs from.
func PostgresURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultPostgresURL
}

// RequirePostgres skips (or, in CI, fails) the test when PostgreSQL is
// not reachable.
func RequirePostgres(t testing.TB) {
	t.Helper()
	pgOnce.Do(func() {
		db, err := sql.Open("postgres", PostgresURL())
		if err == nil {
			err = db.Ping()
			db.Close()
		}
		pgErr = err
	})
	if pgErr == nil {
		return
	}
	msg := fmt.Sprintf("PostgreSQL is not reachable at %s (set TEST_DATABASE_URL): %v", redact(PostgresURL()), pgErr)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " — PostgreSQL is mandatory in CI")
	}
	t.Skip(msg + " — only the SQLite half runs here")
}

// FreshPostgres creates an empty database for one test and drops it after.
func FreshPostgres(t testing.TB) string {
	t.Helper()
	RequirePostgres(t)
	admin, err := sql.Open("postgres", PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	name := "jobsphere_test_" + strings.ToLower(rand.Text())
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		admin.Close()
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		if _, err := admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// Open returns a client on a fresh database of kind db, migrated, closed
// when the test ends.
func Open(t testing.TB, db Database) *ent.Client {
	t.Helper()
	if db == Postgres {
		return Replicas(t, 1)[0]
	}
	sqlDB, client, err := database.OpenSQLite(filepath.Join(t.TempDir(), "test.db"), database.OpenDB)
	return migrated(t, sqlDB, client, err, false)
}

// Replicas returns n clients on one fresh PostgreSQL database, migrated,
// each with a connection pool of its own: the database as n replicas of
// the server share it.
func Replicas(t testing.TB, n int) []*ent.Client {
	t.Helper()
	url := FreshPostgres(t)
	clients := make([]*ent.Client, n)
	for i := range clients {
		sqlDB, client, err := database.OpenPostgres(url, 20, database.OpenDB)
		clients[i] = migrated(t, sqlDB, client, err, true)
	}
	return clients
}

// migrated migrates what was just opened (failing the test if the opening
// did) and closes it when the test ends.
func migrated(t testing.TB, sqlDB *sql.DB, client *ent.Client, err error, postgres bool) *ent.Client {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	if err := database.Migrate(context.Background(), sqlDB, client, postgres); err != nil {
		t.Fatal(err)
	}
	return client
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
