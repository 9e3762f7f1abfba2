// Command servicecheck tells, before the test suite runs, which of the
// services the suite uses answer: PostgreSQL (TEST_DATABASE_URL, else the
// local one) and NATS (TEST_NATS_URL, else the local one). `make test`
// prints its verdict so that a machine without one says so plainly instead
// of skipping its tests quietly. Under CI=true each is mandatory: a
// missing one is an error.
package main

import (
	"database/sql"
	"fmt"
	"net/url"
	"os"

	_ "github.com/lib/pq"

	"github.com/jobsphere/jobsphere/app/database/dbtest"
	"github.com/jobsphere/jobsphere/realtime/natstest"
)

// service is one the suite uses, and what runs without it.
type service struct {
	name, shown, variable string
	without               string // what the suite does when it does not answer
	err                   error
}

func main() {
	services := []service{
		{
			name: "PostgreSQL", shown: redacted(dbtest.PostgresURL()), variable: "TEST_DATABASE_URL",
			without: "Only the SQLite half of the suite runs", err: pingPostgres(dbtest.PostgresURL()),
		},
		{
			name: "NATS", shown: redacted(natstest.URL()), variable: "TEST_NATS_URL",
			without: "The tests of realtime events on NATS are skipped", err: natstest.Ping(natstest.URL()),
		},
	}
	ci := os.Getenv("CI") == "true"
	failed := false
	for _, s := range services {
		switch {
		case s.err == nil:
			fmt.Printf("%s at %s: reachable — its tests run\n", s.name, s.shown)
		case ci:
			fmt.Fprintf(os.Stderr, "%s at %s is not reachable (%v); it is mandatory in CI\n", s.name, s.shown, s.err)
			failed = true
		default:
			fmt.Printf("*** %s at %s is not reachable (%v).\n*** %s; set %s to include %s.\n", s.name, s.shown, s.err, s.without, s.variable, s.name)
		}
	}
	if failed {
		os.Exit(1)
	}
}

func pingPostgres(url string) error {
	db, err := sql.Open("postgres", url)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.Ping()
}

func redacted(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return "(unparsable URL)"
}
