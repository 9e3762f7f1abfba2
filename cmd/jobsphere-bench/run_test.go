package main

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jobsphere/jobsphere/realtime/natstest"
)

// requirePostgres skips the test (fails it under CI=true) when the
// bench's PostgreSQL does not answer.
func requirePostgres(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: the bench starts servers and PostgreSQL databases")
	}
	u := firstNonEmpty(os.Getenv("BENCH_DATABASE_URL"), os.Getenv("TEST_DATABASE_URL"), defaultDatabaseURL)
	db, err := sql.Open("postgres", u)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = db.PingContext(ctx)
		cancel()
		db.Close()
	}
	if err != nil {
		msg := "PostgreSQL is not reachable at " + redact(u) + ": " + err.Error()
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
}

func runBench(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out bytes.Buffer
	err := run(ctx, append([]string{"jobsphere-bench"}, args...), os.Getenv, &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatalf("jobsphere-bench %s: %v", strings.Join(args, " "), err)
	}
	return out.String()
}

// requireRows fails unless the table has a row starting with each prefix.
func requireRows(t *testing.T, table string, prefixes ...string) {
	t.Helper()
	for _, p := range prefixes {
		if !strings.Contains(table, "\n"+p) {
			t.Errorf("no row %q in the table", p)
		}
	}
}

// TestQuick runs every phase at tiny sizes against real servers: the
// bench must keep working as the server changes, and what it checks
// (no errors, every event delivered and credited once, the ledger
// verified) must hold.
func TestQuick(t *testing.T) {
	requirePostgres(t)
	table := runBench(t, "-quick")
	requireRows(t, table,
		"| money | cycles/s |",
		"| money | errors | 0 | 0 ✅ |",
		"| money | ledger verify after the run | OK |",
		"| reads | errors | 0 | 0 ✅ |",
		"| fanout | delivered",
		"| fanout | webhook errors / subscriber errors or closes | 0 / 0 |",
		"| webhooks | non-200 answers (events / duplicates) | 0 / 0 |",
		"| webhooks | credited exactly once (a wallet checked, ledger verify) | OK |",
		"| export | rows/s (",
		"| export | server RSS before → peak during the export |",
		"| export | every row, ending at the wallet; ledger verify | OK |",
		"| coldstart | binary size",
	)
	if strings.Contains(table, "FAILED") {
		t.Errorf("a phase failed")
	}
}

// TestQuickFanoutBrokers runs the fan-out phase on NATS and in-process
// (SQLite); TestQuick runs it on LISTEN/NOTIFY.
func TestQuickFanoutBrokers(t *testing.T) {
	requirePostgres(t)
	natstest.Require(t)
	for _, broker := range []string{"nats", "memory"} {
		t.Run(broker, func(t *testing.T) {
			table := runBench(t, "-quick", "-only", "fanout", "-broker", broker)
			requireRows(t, table,
				"| fanout | realtime broker (-broker) | "+broker+": ",
				"| fanout | delivered (4 deposit webhooks, 4 users, full speed (64 at a time)) | 4 of 4 | all ✅ |",
				"| fanout | webhook errors / subscriber errors or closes | 0 / 0 |",
			)
		})
	}
}

// TestQuickProfile serves in-process and writes a CPU profile.
func TestQuickProfile(t *testing.T) {
	requirePostgres(t)
	dir := t.TempDir()
	table := runBench(t, "-quick", "-only", "webhooks", "-profile", dir)
	requireRows(t, table, "| webhooks | credited exactly once (a wallet checked, ledger verify) | OK |", "### CPU profile: webhooks")
	if fi, err := os.Stat(filepath.Join(dir, "webhooks.pprof")); err != nil || fi.Size() == 0 {
		t.Errorf("profile: %v", err)
	}
}

func TestPercentile(t *testing.T) {
	var l []time.Duration
	for i := 1; i <= 100; i++ {
		l = append(l, time.Duration(i)*time.Millisecond)
	}
	for p, want := range map[float64]time.Duration{0.5: 50 * time.Millisecond, 0.99: 99 * time.Millisecond, 1: 100 * time.Millisecond, 0: time.Millisecond} {
		if got := percentile(l, p); got != want {
			t.Errorf("percentile(%v) = %v, want %v", p, got, want)
		}
	}
	if percentile(nil, 0.5) != 0 {
		t.Error("percentile of nothing")
	}
}

func TestOptions(t *testing.T) {
	o, err := parseOptions([]string{"b", "-quick", "-clients", "3", "-only", "pgbench,fanout", "-env", "A=b=c"}, func(string) string { return "" }, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if o.clients != 3 || o.subscribers != 8 || o.exportTransactions != 1000 || o.duration != time.Second || !o.only["pgbench"] || !o.only["fanout"] || o.only["money"] {
		t.Errorf("options: %+v", o)
	}
	if o.serverEnv["A"] != "b=c" {
		t.Errorf("-env: %v", o.serverEnv)
	}
	if o.databaseURL != defaultDatabaseURL {
		t.Errorf("database URL %q", o.databaseURL)
	}
	if o.broker != "postgres" || o.natsURL != defaultNATSURL {
		t.Errorf("broker %q on %q", o.broker, o.natsURL)
	}
	if _, err := parseOptions([]string{"b", "-only", "nope"}, func(string) string { return "" }, &bytes.Buffer{}); err == nil {
		t.Error("-only nope accepted")
	}
	if _, err := parseOptions([]string{"b", "-broker", "kafka"}, func(string) string { return "" }, &bytes.Buffer{}); err == nil {
		t.Error("-broker kafka accepted")
	}
}
