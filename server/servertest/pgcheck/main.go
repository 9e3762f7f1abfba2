// Command pgcheck tells, before the test suite runs, whether its
// PostgreSQL half will run: `make test` prints its verdict so a machine
// without PostgreSQL says so plainly instead of skipping quietly. Under
// CI=true a missing PostgreSQL is an error.
package main

import (
	"database/sql"
	"fmt"
	"net/url"
	"os"

	_ "github.com/lib/pq"

	"github.com/jobsphere/jobsphere/app/database/dbtest"
)

func main() {
	target := dbtest.PostgresURL()
	shown := "(unparsable URL)"
	if u, err := url.Parse(target); err == nil {
		shown = u.Redacted()
	}
	db, err := sql.Open("postgres", target)
	if err == nil {
		err = db.Ping()
		db.Close()
	}
	switch {
	case err == nil:
		fmt.Printf("PostgreSQL at %s: reachable — the suite runs on PostgreSQL and SQLite\n", shown)
	case os.Getenv("CI") == "true":
		fmt.Fprintf(os.Stderr, "PostgreSQL at %s is not reachable (%v); it is mandatory in CI\n", shown, err)
		os.Exit(1)
	default:
		fmt.Printf("*** PostgreSQL at %s is not reachable (%v).\n*** Only the SQLite half of the suite runs; set TEST_DATABASE_URL to include PostgreSQL.\n", shown, err)
	}
}
