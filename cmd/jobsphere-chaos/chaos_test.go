package main

import (
	"context"
	"database/sql"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jobsphere/jobsphere/app/database/dbtest"
	"github.com/jobsphere/jobsphere/server/servertest"
)

// TestChaosShort runs the short form of the chaos run: two processes,
// ten clients, 200 operations, a SIGKILL every two seconds. It skips where
// no PostgreSQL answers (fails under CI=true), like the rest of the suite.
func TestChaosShort(t *testing.T) {
	if err := pingPostgres(); err != nil && os.Getenv("CI") != "true" {
		t.Skipf("the chaos run needs PostgreSQL, which is not reachable at %s (set TEST_DATABASE_URL): %v",
			redact(dbtest.PostgresURL()), err)
	}
	servertest.RequirePostgres(t) // under CI=true, a missing PostgreSQL fails the test
	ctx := context.Background()
	if deadline, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(-5*time.Second))
		defer cancel()
	}
	out := &servertest.SyncBuffer{}
	err := run(ctx, []string{"jobsphere-chaos", "-short", "-keep-failed=false"}, os.Getenv, out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatalf("chaos run: %v", err)
	}
	if !strings.Contains(out.String(), "RESULT: OK") {
		t.Fatal("no RESULT: OK line")
	}
}

func pingPostgres() error {
	db, err := sql.Open("postgres", dbtest.PostgresURL())
	if err != nil {
		return err
	}
	defer db.Close()
	return db.Ping()
}
